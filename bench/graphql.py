"""GraphQL for front ends: what a dashboard's two commonest pages cost through /graphql.

`python -m bench.graphql [--contacts 10000] [--requests 200] [--json PATH]`

Two workloads, each over real HTTP with a secret key, against a baseline in the same run
that issues the same MongoDB queries with the driver and encodes the same JSON:

- contacts: pages of 50 contacts with their properties and segment names, walking the
  list by cursor (what a contact table shows);
- segments: the segment list with member counts (a segment picker).

Figures: time per request ÷ the baseline's (target <= 1.5), MongoDB commands per request,
and the commands of a 5-contact page against a 50-contact one (equal: queries per request
do not grow with the page size).

The segment list is so small (one indexed read of 12 rows) that an HTTP round trip and
the key lookup are most of any server's time, which the in-process driver baseline does
not pay. A second baseline serves it from a plain Starlette route on the same uvicorn
and driver, with the same key lookup and the same JSON: that ratio is what the GraphQL
layer itself costs, and carries the target; the in-process one is kept as context.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import uvicorn
from bson import ObjectId
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench import report
from bench.harness import bench_server, free_port
from engine.identity import identity_keys
from engine.keys import hash_secret
from resolvers.accounts.bootstrap import provision

SEGMENTS = 12
PAGE = 50

CONTACTS = """query($first: Int!, $after: String) { contacts(first: $first, after: $after) {
  edges { cursor node { id properties segments { name } } }
  pageInfo { hasNextPage endCursor } } }"""

SEGMENT_LIST = """{ segments(first: 50) { edges { node { id name memberCount } } } }"""


async def _seed(db, workspace_id: ObjectId, contacts: int) -> list[ObjectId]:
    """Segments and contacts written with the driver (setup, not measured)."""
    now = time.time()
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(now, UTC)
    segments = [
        {
            "_id": ObjectId(),
            "workspace_id": workspace_id,
            "name": f"Segment {i}",
            "description": "",
            "tags": [],
            "kind": "static",
            "rules": None,
            "member_count": 0,
            "created_at": at,
            "updated_at": at,
        }
        for i in range(SEGMENTS)
    ]
    await db.segments.insert_many(segments)
    ids = [s["_id"] for s in segments]
    batch = []
    for i in range(contacts):
        doc = {
            "_id": ObjectId(),
            "workspace_id": workspace_id,
            "user_id": f"u{i}",
            "anonymous_ids": [],
            "email": f"u{i}@example.com",
            "phone": None,
            "properties": {"first_name": f"Name{i}", "plan": ("free", "pro")[i % 2], "n": i},
            "property_times": {},
            "tags": [],
            "segments": [str(ids[(i + k) % SEGMENTS]) for k in range(3)],
            "consent": {},
            "event_stats": {},
            "location_id": None,
            "devices": [],
            "created_at": at,
            "last_active_at": at,
            "updated_at": at,
        }
        doc["identity_keys"] = identity_keys(doc)
        doc["search_keys"] = []
        batch.append(doc)
        if len(batch) == 1000:
            await db.contacts.insert_many(batch)
            batch = []
    if batch:
        await db.contacts.insert_many(batch)
    for sid in ids:
        count = await db.contacts.count_documents(
            {"workspace_id": workspace_id, "segments": str(sid)}
        )
        await db.segments.update_one({"_id": sid}, {"$set": {"member_count": count}})
    return ids


async def _baseline_contacts(db, ws: ObjectId, pages: int) -> tuple[float, int]:
    """The same queries as the API (a page newest first, limit n+1; its segments by id),
    encoded as the same JSON; returns (seconds, pages walked)."""
    started = time.perf_counter()
    after = None
    walked = 0
    for _ in range(pages):
        query: dict[str, Any] = {"workspace_id": ws}
        if after is not None:
            query["_id"] = {"$lt": after}
        rows = await db.contacts.find(query).sort("_id", -1).limit(PAGE + 1).to_list(None)
        page = rows[:PAGE]
        wanted = list({ObjectId(s) for row in page for s in row["segments"]})
        found = db.segments.find({"_id": {"$in": wanted}, "workspace_id": ws})
        names = {str(s["_id"]): s["name"] for s in await found.to_list(None)}
        edges = [
            {
                "cursor": str(row["_id"]),
                "node": {
                    "id": str(row["_id"]),
                    "properties": row["properties"],
                    "segments": [{"name": names[s]} for s in row["segments"] if s in names],
                },
            }
            for row in page
        ]
        more = len(rows) > PAGE
        body = {"data": {"contacts": {"edges": edges, "pageInfo": {"hasNextPage": more}}}}
        json.dumps(body).encode()
        walked += 1
        after = page[-1]["_id"] if more else None
        if not more:
            after = None
    return time.perf_counter() - started, walked


async def _baseline_segments(db, ws: ObjectId, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        rows = await db.segments.find({"workspace_id": ws}).sort("_id", 1).limit(51).to_list(None)
        edges = [
            {"node": {"id": str(r["_id"]), "name": r["name"], "memberCount": r["member_count"]}}
            for r in rows[:50]
        ]
        json.dumps({"data": {"segments": {"edges": edges}}}).encode()
    return time.perf_counter() - started


async def _plain_route_server(db) -> tuple[uvicorn.Server, asyncio.Task, str]:
    """The segment list without GraphQL: the same key lookup and read, the same JSON."""

    async def segments(request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        key = await db.api_keys.find_one({"key_hash": hash_secret(token)})
        if key is None or key.get("revoked_at") is not None:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
        ws = key["workspace_id"]
        rows = await db.segments.find({"workspace_id": ws}).sort("_id", 1).limit(51).to_list(None)
        edges = [
            {"node": {"id": str(r["_id"]), "name": r["name"], "memberCount": r["member_count"]}}
            for r in rows[:50]
        ]
        return JSONResponse({"data": {"segments": {"edges": edges}}})

    port = free_port()
    app = Starlette(routes=[Route("/segments", segments, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}"


async def _plain_segments(base_url: str, headers: dict, requests: int) -> float:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for _ in range(5):  # warm up
            await client.post("/segments", headers=headers, json={})
        started = time.perf_counter()
        for _ in range(requests):
            answer = await client.post("/segments", headers=headers, json={})
            assert len(answer.json()["data"]["segments"]["edges"]) == SEGMENTS
        return time.perf_counter() - started


async def main(contacts: int, requests: int, json_path: str | None) -> int:
    async with bench_server("graphql") as bench:
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        ws = ObjectId(tenant.workspace_id)
        db = bench.services.mongo[bench.settings.mongodb_db]
        await _seed(db, ws, contacts)
        headers = {"Authorization": f"Bearer {tenant.secret_key}"}
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=120) as client:

            async def gql(query: str, variables: dict | None = None) -> dict:
                answer = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = answer.json()
                assert answer.status_code == 200 and not body.get("errors"), body
                return body["data"]

            async def commands_of(first: int) -> int:
                before = bench.counter.snapshot()
                await gql(CONTACTS, {"first": first})
                return bench.counter.since(before)[0]

            await gql(CONTACTS, {"first": PAGE})  # warm up both paths
            await _baseline_contacts(db, ws, 2)
            small, large = await commands_of(5), await commands_of(PAGE)

            pages = min(requests, contacts // PAGE)
            before = bench.counter.snapshot()
            started = time.perf_counter()
            after = None
            for _ in range(pages):
                data = (await gql(CONTACTS, {"first": PAGE, "after": after}))["contacts"]
                assert len(data["edges"]) == PAGE and all(
                    len(e["node"]["segments"]) == 3 for e in data["edges"]
                )
                after = data["pageInfo"]["endCursor"]
            api_contacts = time.perf_counter() - started
            contact_commands = bench.counter.since(before)[0] / pages
            base_contacts, _ = await _baseline_contacts(db, ws, pages)

            before = bench.counter.snapshot()
            started = time.perf_counter()
            for _ in range(requests):
                assert len((await gql(SEGMENT_LIST))["segments"]["edges"]) == SEGMENTS
            api_segments = time.perf_counter() - started
            segment_commands = bench.counter.since(before)[0] / requests
            base_segments = await _baseline_segments(db, ws, requests)
        plain, plain_task, plain_url = await _plain_route_server(db)
        try:
            plain_segments = await _plain_segments(plain_url, headers, requests)
        finally:
            plain.should_exit = True
            await plain_task

    size = f"{contacts} contacts, {pages} pages of {PAGE}, {requests} segment lists"
    print(f"graphql bench ({bench.engine}): {size}")
    print(
        f"  contacts page: {pages / api_contacts:.1f} req/s via GraphQL, "
        f"{pages / base_contacts:.1f} req/s baseline"
    )
    print(
        f"  segment list: {requests / api_segments:.1f} req/s via GraphQL, "
        f"{requests / base_segments:.1f} req/s in-process driver, "
        f"{requests / plain_segments:.1f} req/s plain HTTP route"
    )
    report.write(
        json_path,
        "graphql",
        size,
        [
            report.at_most(
                "contacts page: time vs driver baseline", api_contacts / base_contacts, 1.5, "x"
            ),
            report.at_most(
                "segment list: time vs the same queries on a plain HTTP route",
                api_segments / plain_segments,
                1.5,
                "x",
            ),
            report.context(
                "segment list: time vs in-process driver (no HTTP, no key lookup)",
                api_segments / base_segments,
                "x",
            ),
            report.context("contacts page: MongoDB commands per request", contact_commands),
            report.context("segment list: MongoDB commands per request", segment_commands),
            report.at_most("commands for 50 contacts minus for 5", large - small, 0),
            report.context("contacts page: requests/s via GraphQL", pages / api_contacts, "req/s"),
        ],
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", help="write the figures here (bench.report)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.contacts, args.requests, args.json)))
