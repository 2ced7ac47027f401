"""CSV import and export over HTTP (filled in by the import work)."""

from __future__ import annotations

routes: list = []
