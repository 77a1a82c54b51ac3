"""The local store: everything is written here first, then synced."""
