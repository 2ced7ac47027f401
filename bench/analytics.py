"""Analytics latency on a 100k-event workspace: trends, a funnel, retention, the report.

    .venv/bin/python -m bench.analytics [--events 100000] [--contacts 10000] [--runs 3]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) and a uvicorn
server (bench.harness). Setup (not measured): one tenant; --contacts contacts (a `plan`
property, a third in one segment) and --events events over 90 days, written straight
into the database in the shape ingestion stores (name_key, properties, timestamp,
location_id), of five names, with sends of two campaigns for the report.

Measured: each query through POST /graphql, --runs times, the median and the worst
reported in seconds, against the issue's "answers in seconds" (target: at most 5 s):
a daily trend of three events over 90 days in Europe/Paris, the same as unique contacts
split by a contact property (top 5 + other) inside a segment, an hourly trend of one
event over 7 days split by an event property, a 3-step funnel over 30 days, weekly
retention over 8 weeks, and the campaign report with last-touch attribution.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId

from bench import report
from bench.harness import bench_server
from engine.event_names import name_key
from engine.identity import identity_keys
from resolvers.accounts.bootstrap import provision

NAMES = ["Page Viewed", "Product Viewed", "Added To Cart", "Order Completed", "App Opened"]
WEIGHTS = [40, 25, 15, 8, 12]
END = datetime(2026, 6, 1, tzinfo=UTC)
START = END - timedelta(days=90)

TREND = "query($i: TrendInput!) { trend(input: $i) { buckets series { event total } } }"
FUNNEL = "query($i: FunnelInput!) { funnel(input: $i) { steps { count } } }"
RETENTION = "query($i: RetentionInput!) { retention(input: $i) { cohorts { size returned } } }"
REPORT = "query($i: ReportInput!) { analyticsReport(input: $i) { rows { sent converted } } }"


async def _seed(db, ws: ObjectId, contacts: int, events: int, segment_id: str) -> None:
    rng = random.Random(7)
    ids = [ObjectId() for _ in range(contacts)]
    people = [
        {
            "_id": cid,
            "workspace_id": ws,
            "user_id": f"u{n}",
            "properties": {
                "plan": rng.choice(["free", "plus", "pro", "team", "edu", "trial", "gov"])
            },
            "segments": [segment_id] if n % 3 == 0 else [],
            "event_stats": {},
            "created_at": START,
            "updated_at": START,
        }
        for n, cid in enumerate(ids)
    ]
    for doc in people:
        doc["identity_keys"] = identity_keys(doc)
    for at in range(0, contacts, 5000):
        await db.contacts.insert_many(people[at : at + 5000], ordered=False)
    span = (END - START).total_seconds()
    batch = []
    for n in range(events):
        name = rng.choices(NAMES, WEIGHTS)[0]
        at = START + timedelta(seconds=rng.random() * span)
        batch.append(
            {
                "_id": ObjectId(),
                "workspace_id": ws,
                "contact_id": rng.choice(ids),
                "type": "track",
                "message_id": f"bench-{n}",
                "event": name,
                "name_key": name_key(name),
                "properties": {"sku": f"s{rng.randrange(30)}", "revenue": rng.randrange(100)},
                "traits": {},
                "context": {},
                "timestamp": at,
                "received_at": at,
                "location_id": f"loc-{rng.randrange(4)}",
                "source": "api",
            }
        )
        if len(batch) == 5000:
            await db.events.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db.events.insert_many(batch, ordered=False)
    sends = []
    for n, cid in enumerate(ids[: contacts // 2]):
        sent = START + timedelta(seconds=rng.random() * span)
        sends.append(
            {
                "_id": ObjectId(ObjectId.from_datetime(sent).binary[:4] + n.to_bytes(8, "big")),
                "workspace_id": ws,
                "idempotency_key": f"bench:{n}",
                "channel": "email" if n % 2 else "sms",
                "contact_id": cid,
                "source": "campaign",
                "source_id": f"{n % 2:024x}",
                "status": "sent",
                "sent_at": sent,
                "opened_at": sent if n % 4 == 0 else None,
                "revenue": 0.0,
            }
        )
    for at in range(0, len(sends), 5000):
        await db.outbound_messages.insert_many(sends[at : at + 5000], ordered=False)


async def main(events: int, contacts: int, runs: int, json_path: str | None) -> int:
    async with bench_server("analytics") as bench:
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        ws = ObjectId(tenant.workspace_id)
        db = bench.services.mongo[bench.settings.mongodb_db]
        headers = {"Authorization": f"Bearer {tenant.secret_key}"}
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=600) as client:

            async def gql(query: str, variables: dict) -> dict:
                answer = await client.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = answer.json()
                assert answer.status_code == 200 and not body.get("errors"), body
                return body["data"]

            made = await gql(
                'mutation { createSegment(input: {name: "Bench", rules: {tag: "bench"}}) '
                "{ segment { id } } }",
                {},
            )
            segment_id = made["createSegment"]["segment"]["id"]
            started = time.perf_counter()
            await _seed(db, ws, contacts, events, segment_id)
            print(
                f"seeded {events} events, {contacts} contacts in {time.perf_counter() - started:.1f} s"
            )
            window = {"from": START.isoformat(), "to": END.isoformat()}
            month = {"from": (END - timedelta(days=30)).isoformat(), "to": END.isoformat()}
            queries = {
                "trend: 3 events, daily, 90 days, Europe/Paris": (
                    TREND,
                    {"events": NAMES[:3], "timeZone": "Europe/Paris", **window},
                ),
                "trend: unique contacts by contact plan (top 5), in a segment": (
                    TREND,
                    {
                        "events": NAMES[:3],
                        "measure": "UNIQUE_CONTACTS",
                        "breakdown": {"source": "CONTACT", "property": "plan", "limit": 5},
                        "segmentId": segment_id,
                        **window,
                    },
                ),
                "trend: hourly, 7 days, by event sku (top 10)": (
                    TREND,
                    {
                        "events": ["Page Viewed"],
                        "interval": "HOUR",
                        "breakdown": {"source": "EVENT", "property": "sku"},
                        "from": (END - timedelta(days=7)).isoformat(),
                        "to": END.isoformat(),
                    },
                ),
                "funnel: 3 steps, ordered, 30 days": (
                    FUNNEL,
                    {"steps": [{"event": n} for n in NAMES[1:4]], **month},
                ),
                "retention: weekly, 8 weeks": (
                    RETENTION,
                    {
                        "startEvent": "App Opened",
                        "returnEvent": "Page Viewed",
                        "interval": "WEEK",
                        "from": (END - timedelta(weeks=8)).isoformat(),
                        "to": END.isoformat(),
                    },
                ),
                "report: last-touch attribution, 90 days": (
                    REPORT,
                    {"conversionEvent": "Order Completed", **window},
                ),
            }
            figures = []
            for label, (query, variables) in queries.items():
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    await gql(query, {"i": variables})
                    times.append(time.perf_counter() - started)
                median, worst = statistics.median(times), max(times)
                print(f"  {label}: median {median:.2f} s, worst {worst:.2f} s")
                figures.append(report.at_most(f"{label}: median", median, 5.0, "s"))
                figures.append(report.context(f"{label}: worst of {runs}", worst, "s"))
    size = f"{events} events, {contacts} contacts, {runs} runs ({bench.engine})"
    report.write(json_path, "analytics", size, figures)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the figures here (bench.report)")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.events, args.contacts, args.runs, args.json)))
