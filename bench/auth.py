"""Cost of an authenticated GraphQL request, as ratios to /healthz in the same run.

    .venv/bin/python -m bench.auth [--requests 300]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) and a
uvicorn server on loopback. Reports requests/s, the ratio of each case's time per
request to the /healthz baseline (which pings MongoDB and Redis once each), and
MongoDB round trips per request, which do not depend on the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from pymongo import monitoring

from reach.app import create_app
from reach.embedded.mongo import EmbeddedMongo
from reach.embedded.redis import EmbeddedRedis
from reach.services import close_services, open_services
from reach.settings import Settings
from resolvers.bootstrap import provision


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def measure(client: httpx.AsyncClient, counter: CommandCounter, n: int, request):
    for _ in range(10):  # warm-up (and the once-a-minute last_used_at write)
        await request(client)
    before, started = counter.count, time.perf_counter()
    for _ in range(n):
        response = await request(client)
        assert response.status_code == 200, response.text
    elapsed = time.perf_counter() - started
    return elapsed / n, (counter.count - before) / n


async def main(requests: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="reach-bench-"))
    mongo = redis = None
    mongodb_uri, redis_url = os.environ.get("MONGODB_URI"), os.environ.get("REDIS_URL")
    if not mongodb_uri:
        mongo = EmbeddedMongo(None)
        mongodb_uri = mongo.start()
    if not redis_url:
        redis = EmbeddedRedis(data_dir / "redis" / "bench.rdb")
        redis_url = redis.start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        env="test",
        data_dir=data_dir,
        port=port,
        mongodb_db=f"reach_bench_{uuid.uuid4().hex[:8]}",
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
            await asyncio.sleep(0.02)
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            login = await client.post(
                "/auth/login", json={"email": tenant.owner_email, "password": "bench password"}
            )
            session = login.json()["token"]
            query = {"query": "{ viewer { kind workspaceId } }"}

            def graphql(token):
                headers = {"Authorization": f"Bearer {token}"}
                return lambda c: c.post("/graphql", json=query, headers=headers)

            cases = {
                "baseline GET /healthz": lambda c: c.get("/healthz"),
                "viewer, secret key": graphql(tenant.secret_key),
                "viewer, session token": graphql(session),
                "locations page, secret key": lambda c: c.post(
                    "/graphql",
                    json={"query": "{ locations(first: 20) { totalCount edges { node { id } } } }"},
                    headers={"Authorization": f"Bearer {tenant.secret_key}"},
                ),
            }
            results = {
                name: await measure(client, counter, requests, fn) for name, fn in cases.items()
            }
        base = results["baseline GET /healthz"][0]
        print(
            f"{requests} sequential requests per case (engine: {'embedded' if mongo else 'MongoDB'})"
        )
        print(f"{'case':32} {'req/s':>8} {'x baseline':>11} {'mongo trips/req':>16}")
        for name, (per_request, trips) in results.items():
            print(f"{name:32} {1 / per_request:8.0f} {per_request / base:11.2f} {trips:16.2f}")
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
