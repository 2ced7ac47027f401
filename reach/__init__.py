"""Reach: the composition root (settings, embedded servers, the ASGI app and the CLI)."""
