"""The HTTP client of protocol v1 (standard library only)."""
