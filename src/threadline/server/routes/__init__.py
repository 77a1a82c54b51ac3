"""The HTTP routes of protocol v1, one module per area, each with its ``router``."""
