"""CORS, with one policy for the tracking API and another for the dashboard API.

Write keys are public by design (they sit in every page of a customer's site), so the
tracking API answers any origin unless configured otherwise. `/graphql` and `/auth/*`
take secret keys and sessions: no origin may call them cross-site until it is listed.
Neither policy allows credentials (cookies): Reach's credentials are explicit headers,
and a browser sends them only after a preflight this middleware answered for an
allowed origin. Each policy is Starlette's own CORSMiddleware; this only picks one.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

TRACKING_HEADERS = ["authorization", "content-type", "content-encoding", "x-retry-count"]
API_HEADERS = ["authorization", "content-type", "accept"]


def parse_origins(value: str) -> list[str]:
    """'*' or a comma-separated list of origins such as https://app.example.com."""
    return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]


def _policy(app: ASGIApp, origins: list[str], headers: list[str]) -> CORSMiddleware | None:
    """Starlette's CORS for these origins; None (no CORS headers at all) for none."""
    if not origins:
        return None
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=headers,
        max_age=600,
    )


class CorsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        tracking_paths: Iterable[str],
        tracking_prefixes: Iterable[str],
        tracking_origins: list[str],
        api_paths: Iterable[str],
        api_origins: list[str],
    ) -> None:
        self.app = app
        self.tracking_paths = frozenset(tracking_paths)
        self.tracking_prefixes = tuple(tracking_prefixes)
        self.api_paths = frozenset(api_paths)
        self.tracking = _policy(app, tracking_origins, TRACKING_HEADERS)
        self.api = _policy(app, api_origins, API_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path in self.tracking_paths or path.startswith(self.tracking_prefixes):
                if self.tracking is not None:
                    return await self.tracking(scope, receive, send)
            elif path in self.api_paths and self.api is not None:
                return await self.api(scope, receive, send)
        await self.app(scope, receive, send)
