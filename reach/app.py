"""The Starlette application: /graphql, /auth/*, /dashboard, /healthz, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from reach import auth_routes, engagement_http, imports_http, sdk_settings, tracking, webhooks
from reach.dashboard import routes as dashboard_routes
from reach.graphql_view import ReachGraphQL
from reach.http.cors import CorsMiddleware, parse_origins
from reach.http.limits import BodyLimitMiddleware
from reach.http.metrics import Metrics, MetricsMiddleware
from reach.services import Services
from reach.settings import Settings
from schema import build_schema
from workers.broker import queue_depth, send_counts

LANDING = """<!doctype html><meta charset="utf-8"><title>Reach</title>
<h1>Reach</h1><p>GraphQL API and GraphiQL: <a href="/graphql">/graphql</a>
(set the header <code>Authorization: Bearer &lt;secret key&gt;</code>).</p>
<p>Dashboard: <a href="/dashboard">/dashboard</a></p>
<p><a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></p>"""


def create_app(
    settings: Settings,
    services: Services | None = None,
    lifespan_services: Callable[[], Awaitable[Services]] | None = None,
    on_close: Callable[[Services], Awaitable[None]] | None = None,
) -> Starlette:
    """Either pass open `services`, or a `lifespan_services` factory run at startup."""
    metrics = Metrics()
    holder: dict[str, Services] = {}
    if services is not None:
        holder["services"] = services
        metrics.watch_queues(lambda: queue_depth(services.broker))
        metrics.watch_sends(lambda: send_counts(services.broker))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if lifespan_services is None:
            yield
            return
        opened = await lifespan_services()
        holder["services"] = opened
        metrics.watch_queues(lambda: queue_depth(opened.broker))
        metrics.watch_sends(lambda: send_counts(opened.broker))
        try:
            yield
        finally:
            if on_close is not None:
                await on_close(opened)

    graphql = ReachGraphQL(
        build_schema(
            mask_errors=settings.production,
            introspection=settings.introspection_enabled,
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_cost=settings.max_query_cost,
        ),
        graphql_ide="graphiql",
        # Bearer-token auth only (no cookies), so multipart requests carry no CSRF risk.
        multipart_uploads_enabled=True,
        recheck_seconds=settings.subscription_recheck_seconds,
    )

    async def healthz(request: Request) -> JSONResponse:
        checks = await holder["services"].check()
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", **checks},
            status_code=200 if healthy else 503,
        )

    async def metrics_endpoint(request: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def landing(request: Request) -> HTMLResponse:
        return HTMLResponse(LANDING)

    routes = [
        Route("/", landing),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/auth/login", auth_routes.login, methods=["POST"]),
        Route("/auth/accept-invitation", auth_routes.accept_invitation, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        *tracking.routes,
        *sdk_settings.routes(settings.public_url),
        *imports_http.routes,
        *webhooks.routes,
        *engagement_http.routes,
        *dashboard_routes,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(
                CorsMiddleware,
                tracking_paths=[route.path for route in tracking.routes],
                tracking_prefixes=["/v1/projects/"],
                tracking_origins=parse_origins(settings.tracking_cors_origins),
                api_paths=["/graphql", "/auth/login", "/auth/accept-invitation"],
                api_origins=parse_origins(settings.cors_origins),
            ),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app
