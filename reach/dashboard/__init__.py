"""The dashboard: static HTML + ES modules at /dashboard, speaking only the public API
(/auth/login, /graphql over HTTP and graphql-transport-ws), as an outside front end would.

No build step: the files under static/ are what the browser runs, so `make run` serves
the dashboard with nothing installed. Every response carries a strict Content-Security-
Policy (scripts and styles from this origin only, nothing inline, no framing) and
`Cache-Control: no-cache` with validators, so an edited file shows on the next reload.
"""

from __future__ import annotations

from reach.dashboard.routes import routes

__all__ = ["routes"]
