"""GET /dashboard (the page) and /dashboard/static/* (its modules and style sheet)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
# A Host header fit to name the page's own websocket origin in the policy, nothing else.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def policy(host: str | None) -> str:
    """CSP of every dashboard response. connect-src names the page's own ws/wss origin
    as well as 'self', for browsers whose 'self' does not cover websockets."""
    connect = "'self'"
    if host and _HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _secure(headers: MutableHeaders, host: str | None) -> None:
    headers["Content-Security-Policy"] = policy(host)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    # Revalidated on every load (ETag / Last-Modified answer 304): edits show at once.
    headers["Cache-Control"] = "no-cache"


class _Static(StaticFiles):
    def file_response(self, full_path, stat_result, scope: Scope, status_code: int = 200):
        response = super().file_response(full_path, stat_result, scope, status_code)
        _secure(response.headers, Headers(scope=scope).get("host"))
        return response


async def page(request: Request) -> Response:
    response = FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
    _secure(response.headers, request.headers.get("host"))
    return response


async def slash(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/dashboard{query}", status_code=308)


routes = [
    Route("/dashboard", page),
    Route("/dashboard/", slash),
    Mount("/dashboard/static", app=_Static(directory=STATIC), name="dashboard-static"),
]
