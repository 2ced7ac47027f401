"""Cost of an authenticated GraphQL request, as ratios to /healthz in the same run.

    .venv/bin/python -m bench.auth [--requests 300]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) and a
uvicorn server on loopback (bench.harness). Reports requests/s, the ratio of each case's
time per request to the /healthz baseline (which pings MongoDB and Redis once each), and
MongoDB round trips per request, which do not depend on the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import httpx

from bench import report
from bench.harness import CommandCounter, bench_server
from resolvers.accounts.bootstrap import provision


async def measure(client: httpx.AsyncClient, counter: CommandCounter, n: int, request):
    for _ in range(10):  # warm-up (and the once-a-minute last_used_at write)
        await request(client)
    before, started = counter.count, time.perf_counter()
    for _ in range(n):
        response = await request(client)
        assert response.status_code == 200, response.text
    elapsed = time.perf_counter() - started
    return elapsed / n, (counter.count - before) / n


async def main(requests: int, json_path: str | None = None) -> None:
    async with bench_server("auth") as bench:
        counter = bench.counter
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        async with httpx.AsyncClient(base_url=bench.base_url) as client:
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
        print(f"{requests} sequential requests per case (engine: {bench.engine})")
        print(f"{'case':32} {'req/s':>8} {'x baseline':>11} {'mongo trips/req':>16}")
        for name, (per_request, trips) in results.items():
            print(f"{name:32} {1 / per_request:8.0f} {per_request / base:11.2f} {trips:16.2f}")
        report.write(
            json_path,
            "auth",
            f"{requests} sequential requests per case",
            [
                report.context(f"{name}: time per request x /healthz", per_request / base)
                for name, (per_request, _) in results.items()
                if not name.startswith("baseline")
            ]
            + [
                report.context(f"{name}: MongoDB round trips per request", trips)
                for name, (_, trips) in results.items()
            ],
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", help="write the figures here (bench.report)")
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.json))
