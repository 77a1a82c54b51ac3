"""The capture daemon: its control socket, the service itself, and the agents' hooks."""
