"""Prometheus metrics: requests by route and status, latency, queue depth."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send


class QueueDepthCollector:
    def __init__(self, depth: Callable[[], dict[str, int]]) -> None:
        self._depth = depth

    def collect(self):
        family = GaugeMetricFamily(
            "reach_queue_depth", "Messages waiting in each job queue.", labels=["queue"]
        )
        try:
            for queue, depth in self._depth().items():
                family.add_metric([queue], depth)
        except Exception:  # noqa: S110 - a scrape must not fail because Redis is down
            pass
        yield family


class SendsCollector:
    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self._counts = counts

    def collect(self):
        family = CounterMetricFamily(
            "reach_sends", "Messages finished by channel and status.", labels=["channel", "status"]
        )
        try:
            for (channel, status), count in sorted(self._counts().items()):
                family.add_metric([channel, status], count)
        except Exception:  # noqa: S110 - a scrape must not fail because Redis is down
            pass
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reach_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reach_http_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
        )

        self.events = Counter(
            "reach_ingested_events",
            "Tracked messages by outcome (accepted, duplicate, rejected).",
            ["outcome"],
            registry=self.registry,
        )

    def count_ingest(self, accepted: int, duplicates: int, rejected: int) -> None:
        for outcome, n in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            if n:
                self.events.labels(outcome).inc(n)

    def watch_queues(self, depth: Callable[[], dict[str, int]]) -> None:
        self.registry.register(QueueDepthCollector(depth))

    def watch_sends(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.registry.register(SendsCollector(counts))


class MetricsMiddleware:
    """Counts requests under their route template, so ids never explode the label set."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = "unmatched"
        for candidate in scope["app"].routes if "app" in scope else []:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = getattr(candidate, "path", "unmatched")
                break
        status = 500
        started = time.perf_counter()

        async def observe(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
