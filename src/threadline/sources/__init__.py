"""Sources: read the transcripts AI coding agents write, line by line.

A source module (:mod:`.claude_code`, :mod:`.codex`) turns an agent's JSONL transcript into
:class:`~threadline.sources.model.ParsedLine` values and one
:class:`~threadline.sources.model.SessionInfo`. What they guarantee:

* every complete line of the file becomes exactly one ``ParsedLine`` whose ``line_no`` (1-based)
  is the line's position in the file, i.e. the stream ``seq``;
* ``raw`` is the line without its ``\\n``, byte for byte (``bytes`` when it is not valid UTF-8), so
  joining the raw lines with ``\\n`` rebuilds the file exactly;
* unknown record types and fields are kept: the raw line is the truth, the projection (``role``,
  ``parts``) is rebuilt from it and is never an error;
* a line that is not JSON is kept, flagged ``malformed`` with the error, never dropped;
* a last line without ``\\n`` is not parsed: it is returned as ``partial`` (the agent is still
  writing it).

:data:`SOURCES` maps each agent to its module's parser, summary and whole-file parse.

Standard library and ``zstandard`` only (for ``.jsonl.zst`` Codex rollouts).
"""

from __future__ import annotations

from threadline.sources.detect import SOURCES, AgentSource, detect, parse_file
from threadline.sources.model import ParsedLine, Parser, SessionInfo, Usage

__all__ = [
    "SOURCES",
    "AgentSource",
    "ParsedLine",
    "Parser",
    "SessionInfo",
    "Usage",
    "detect",
    "parse_file",
]
