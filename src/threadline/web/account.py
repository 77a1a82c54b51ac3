"""account of the web UI (being built)."""
