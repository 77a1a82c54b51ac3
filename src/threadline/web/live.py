"""live of the web UI (being built)."""
