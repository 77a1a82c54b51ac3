"""Query expansion: the configured language model rewrites a question into search words.

Lexical retrieval misses a paraphrased question — "why did logins keep failing after the
deploy?" shares no word with the entry that says "the session cookie lost its SameSite
attribute". With a model configured, ask first asks it for the words and identifiers the
entries that answer the question would hold (synonyms, the technical terms a developer
would have written), and searches those beside the question's own terms.

What is sent and what is taken back is bounded:

- the model is sent the question and the earlier *questions* of the conversation only —
  never retrieved history text, nor earlier answers (they quote the history);
- the reply is read as plain words: its first :data:`MAX_REPLY_CHARS` characters are split
  into words as a question is (:func:`threadline.recall.terms.content_terms`: stop words
  dropped, stemmed), words longer than :data:`MAX_WORD_CHARS` are ignored, and at most
  :data:`MAX_EXPANSION_TERMS` distinct terms are kept. Nothing in the reply is followed or
  executed: it only ever becomes search words;
- the call asks for at most :data:`MAX_TOKENS` tokens and is given :data:`TIMEOUT` seconds in
  all (less if the configured model timeout is shorter); past it, or on any error of the
  model, :func:`expand` returns no term and retrieval is lexical alone (the failure is
  logged, the answer still comes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace

from threadline.errors import ModelFailed, ModelUnavailable
from threadline.recall import terms as t
from threadline.recall.llm import LanguageModel, client_for
from threadline.recall.prompt import Prompt

#: Tokens the model may write, seconds the whole call may take.
MAX_TOKENS = 80
TIMEOUT = 10.0
#: Characters of the reply read, longest word kept, most terms taken from the reply.
MAX_REPLY_CHARS = 1000
MAX_WORD_CHARS = 40
MAX_EXPANSION_TERMS = 10
#: Earlier questions of a conversation sent along (the newest), each cut to this length.
MAX_EARLIER = 3
MAX_EARLIER_CHARS = 500

SYSTEM = """\
You help search a software project's history of work with AI coding agents (prompts, \
replies, tool calls and results, notes). Given a question, reply with the words and \
identifiers likely to appear in the history entries that answer it: synonyms, and the \
technical terms, commands, file, function and library names a developer would have written. \
Do not repeat the question's own words. Reply with at most 10 words separated by spaces, \
nothing else; do not answer the question."""

QUESTION_LABEL = "Question:"
EARLIER_LABEL = "Earlier questions of this conversation (context only):"

logger = logging.getLogger(__name__)


def build(question: str, earlier: Sequence[str] = ()) -> Prompt:
    """The prompt asking for search words for ``question`` (after the conversation's
    ``earlier`` questions, the newest :data:`MAX_EARLIER`)."""
    lines: list[str] = []
    kept = [q[:MAX_EARLIER_CHARS] for q in earlier[-MAX_EARLIER:]]
    if kept:
        lines += [EARLIER_LABEL, *(f"- {q}" for q in kept), ""]
    lines += [QUESTION_LABEL, question]
    return Prompt(SYSTEM, [{"role": "user", "content": "\n".join(lines)}], "")


def parse(reply: str) -> list[t.Term]:
    """The search terms of a reply (see the module doc: plain words, bounded)."""
    words = [w for w in reply[:MAX_REPLY_CHARS].split() if len(w) <= MAX_WORD_CHARS]
    return t.content_terms(" ".join(words))[:MAX_EXPANSION_TERMS]


def expand(model: LanguageModel, question: str, earlier: Sequence[str] = ()) -> list[t.Term]:
    """The model's search terms for ``question``; none if it fails or takes too long."""
    timeout = min(TIMEOUT, model.config.read_timeout)
    config = replace(
        model.config,
        max_tokens=MAX_TOKENS,
        read_timeout=timeout,
        connect_timeout=min(timeout, model.config.connect_timeout),
        total_timeout=timeout,
    )
    try:
        return parse(_collect(client_for(config).stream(build(question, earlier))))
    except (ModelUnavailable, ModelFailed) as exc:
        logger.warning("query expansion skipped, searching the question alone: %s", exc)
        return []


def _collect(pieces: Iterator[str]) -> str:
    """The streamed ``pieces`` joined, stopping at :data:`MAX_REPLY_CHARS` characters (the
    stream is closed either way, so its connection is not left open). Its time is the
    client's to keep (``total_timeout``)."""
    text = ""
    try:
        for piece in pieces:
            text += piece
            if len(text) >= MAX_REPLY_CHARS:
                break
    finally:
        close = getattr(pieces, "close", None)
        if callable(close):
            close()
    return text
