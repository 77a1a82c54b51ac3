"""Threadline keeps the work of AI coding agents: notes and session transcripts.

Everything is written to a local store first and then synced to a self-hosted server.
"""

__version__ = "0.1.0"
