"""The web UI: server-rendered pages (Jinja2) with a little plain JavaScript, served by
``threadline serve`` itself — no build step, no extra service."""
