"""thread_page of the web UI (being built)."""
