"""The Model Context Protocol server for agents (``threadline mcp``) and its registration.

An agent — Claude Code, Codex or any MCP client — starts ``threadline mcp`` over stdio and gets
tools to search the user's history, ask it a question with citations, list threads, read the
entries around a hit and record a note (:mod:`.server`, :mod:`.tools`). Everything it reads is
marked as quoted data (:mod:`.render`). ``threadline mcp install`` registers the server in the
agents' own settings (:mod:`.install`). A client of the user's server like every other command:
it uses the token this machine signed in with.
"""
