"""Ingestion throughput through /v1/batch, as a ratio to raw insert_many in the same run.

    .venv/bin/python -m bench.ingest [--events 10000] [--batch-size 100] [--contacts N/5]
                                     [--no-second-pass] [--json PATH]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) and a uvicorn
server on loopback (bench.harness). Generates N Segment messages from --contacts users (an
identify on each user's first message and now and then after, the rest tracks with
properties and context; deterministic message ids) and measures:

- pipeline: the messages POSTed to /v1/batch in batches of --batch-size, sequentially
  (HTTP, auth, parsing, identity resolution, contact inserts/updates, event inserts);
- baseline: insert_many of the same event documents (built the way ingestion builds them)
  in batches of the same size, through the same AsyncMongoClient, into a fresh collection
  with the events collection's indexes.

Then both again with the same batches (every message a duplicate). Reports events/s, the
ratio pipeline/baseline, and MongoDB commands per event and per batch (PyMongo command
monitoring, counted only while measuring), which do not depend on the engine.

Also: the cost of 500 new contacts into the empty workspace (before the load) and into the
full one (after it), whose ratio must stay flat (issue 12: <= 1.5), and the engine's floor:
the contact writes alone (one update per distinct contact per batch, on a copy of the
contacts with their indexes), so that baseline / (baseline + floor) says what ratio any
pipeline keeping per-contact aggregates can reach on this engine.

Targets (first pass): at most 2 MongoDB round trips per event, throughput at least 50%
of the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from beanie import PydanticObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from bench import report
from bench.harness import BenchServer, bench_server
from documents.contact import Contact
from documents.event import Event
from engine.messages import parse_message
from resolvers.accounts.bootstrap import provision

MAX_TRIPS_PER_EVENT = 2.0
MIN_RATIO = 0.5
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # message timestamps: deterministic, in the past
PRODUCTS = [
    (f"sku-{i:04d}", name, price)
    for i, (name, price) in enumerate(
        [
            ("Linen shirt", 39.0),
            ("Canvas sneakers", 64.5),
            ("Leather wallet", 29.99),
            ("Wool scarf", 24.0),
            ("Denim jacket", 89.0),
            ("Silk tie", 19.5),
            ("Cotton socks (3 pairs)", 12.0),
            ("Rain coat", 120.0),
        ]
    )
]
EVENTS = [
    ("product_viewed", 0.45),
    ("product_added", 0.2),
    ("checkout_started", 0.1),
    ("order_completed", 0.08),
    ("newsletter_opened", 0.12),
    ("search_performed", 0.05),
]
FIRST_NAMES = ["Asha", "Ben", "Chen", "Dara", "Elif", "Femi", "Gita", "Hugo", "Ines", "Jon"]
CITIES = [("Mumbai", "IN"), ("Lisbon", "PT"), ("Austin", "US"), ("Lagos", "NG"), ("Oslo", "NO")]


def _context(rng: random.Random, user: int) -> dict[str, Any]:
    path = rng.choice(["/", "/shop", "/shop/shirts", "/cart", "/checkout", "/blog/spring"])
    return {
        "ip": f"10.{user % 250}.{(user // 250) % 250}.{rng.randint(1, 254)}",
        "locale": rng.choice(["en-US", "en-IN", "pt-PT", "nb-NO"]),
        "timezone": rng.choice(["Asia/Kolkata", "Europe/Lisbon", "America/Chicago"]),
        "userAgent": (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
        ),
        "library": {"name": "analytics.js", "version": "5.2.0"},
        "page": {
            "path": path,
            "url": f"https://shop.example.com{path}",
            "referrer": rng.choice(["", "https://www.google.com/", "https://t.co/x"]),
            "title": "Example Shop",
        },
        "campaign": {"source": "newsletter", "medium": "email", "name": "spring-sale"},
    }


def make_messages(n: int, contacts: int, seed: int = 7) -> list[dict[str, Any]]:
    """N deterministic Segment messages from `contacts` users, oldest first."""
    rng = random.Random(seed)
    names, weights = zip(*EVENTS, strict=True)
    seen: set[int] = set()
    messages = []
    for i in range(n):
        user = rng.randrange(contacts)
        common = {
            "userId": f"user-{user:06d}",
            "messageId": f"bench-{seed}-{i:08d}",
            "timestamp": (EPOCH + timedelta(seconds=30 * i)).isoformat(),
            "context": _context(rng, user),
        }
        if user not in seen or rng.random() < 0.03:
            seen.add(user)
            city, country = rng.choice(CITIES)
            traits = {
                "email": f"user-{user:06d}@example.com",
                "firstName": FIRST_NAMES[user % len(FIRST_NAMES)],
                "lastName": f"Tester{user}",
                "plan": rng.choice(["free", "plus", "pro"]),
                "address": {"city": city, "country": country},
                "visits": rng.randint(1, 400),
                "newsletter": rng.random() < 0.5,
            }
            messages.append({"type": "identify", **common, "traits": traits})
            continue
        event = rng.choices(names, weights)[0]
        sku, title, price = rng.choice(PRODUCTS)
        quantity = rng.randint(1, 3)
        properties: dict[str, Any] = {
            "product_id": sku,
            "sku": sku,
            "name": title,
            "price": price,
            "quantity": quantity,
            "currency": "USD",
            "category": rng.choice(["apparel", "accessories", "footwear"]),
            "url": f"https://shop.example.com/p/{sku}",
        }
        if event == "order_completed":
            properties.update(
                {"order_id": f"o-{i}", "total": round(price * quantity, 2), "coupon": None}
            )
        elif event == "search_performed":
            properties = {"query": rng.choice(["linen", "jacket", "gift for dad"]), "results": 12}
        messages.append({"type": "track", **common, "event": event, "properties": properties})
    return messages


def event_documents(
    messages: list[dict[str, Any]], workspace_id: PydanticObjectId
) -> list[dict[str, Any]]:
    """The documents ingestion stores for these messages (contact ids are stand-ins)."""
    received_at = datetime.now(UTC)
    contact_ids: dict[str, PydanticObjectId] = {}
    documents = []
    for raw in messages:
        message = parse_message(raw, received_at)
        document = message.document()
        contact_id = contact_ids.setdefault(message.user_id or "", PydanticObjectId())
        document.update(
            {
                "_id": PydanticObjectId(),
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "source": "api",
                "created_at": received_at,
            }
        )
        documents.append(document)
    return documents


def batches[T](items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class Phase:
    name: str
    events: int
    seconds: float
    commands: int
    by_name: Counter[str]  # commands by name
    micros: Counter[str]  # driver-measured time by command name

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def run_pipeline(
    bench: BenchServer,
    client: httpx.AsyncClient,
    write_key: str,
    chunks: list[list[dict]],
    name: str,
    expect_new: bool,
) -> Phase:
    auth = httpx.BasicAuth(write_key, "")
    snapshot, started = bench.counter.snapshot(), time.perf_counter()
    accepted = duplicates = 0
    for chunk in chunks:
        response = await client.post("/v1/batch", json={"batch": chunk}, auth=auth)
        assert response.status_code == 200, response.text
        report = response.json()
        assert not report["rejected"], report["rejected"][:3]
        accepted += report["accepted"]
        duplicates += report["duplicates"]
    seconds = time.perf_counter() - started
    commands, by_name, micros = bench.counter.since(snapshot)
    total = sum(len(c) for c in chunks)
    expected = (total, 0) if expect_new else (0, total)
    assert (accepted, duplicates) == expected, (accepted, duplicates)
    return Phase(name, total, seconds, commands, by_name, micros)


async def run_baseline(
    bench: BenchServer, collection, chunks: list[list[dict]], name: str, expect_new: bool
) -> Phase:
    snapshot, started = bench.counter.snapshot(), time.perf_counter()
    duplicates = 0
    for chunk in chunks:
        try:
            await collection.insert_many(chunk, ordered=False)
        except BulkWriteError as error:
            duplicates += len(error.details["writeErrors"])
    seconds = time.perf_counter() - started
    commands, by_name, micros = bench.counter.since(snapshot)
    total = sum(len(c) for c in chunks)
    assert duplicates == (0 if expect_new else total), duplicates
    return Phase(name, total, seconds, commands, by_name, micros)


async def baseline_collection(bench: BenchServer):
    """A fresh collection with the events collection's indexes."""
    database = bench.services.mongo[bench.settings.mongodb_db]
    collection = database[f"bench_baseline_events_{uuid.uuid4().hex[:6]}"]
    models = Event.Settings.indexes
    await collection.create_indexes(models)
    return collection


def _report(pipeline: Phase, baseline: Phase, batch_size: int, check: bool) -> bool:
    ratio = pipeline.rate / baseline.rate
    trips = pipeline.commands / pipeline.events
    n_batches = -(-pipeline.events // batch_size)
    per_batch = pipeline.commands / n_batches
    print(f"  {'':34} {'events/s':>9} {'seconds':>8} {'mongo cmds/event':>17}")
    for phase in (pipeline, baseline):
        print(
            f"  {phase.name:34} {phase.rate:9.0f} {phase.seconds:8.2f} "
            f"{phase.commands / phase.events:17.3f}"
        )
    breakdown = ", ".join(f"{k} {v / n_batches:.2f}" for k, v in sorted(pipeline.by_name.items()))
    print(f"  pipeline commands per batch: {per_batch:.2f} ({breakdown})")
    waits = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(pipeline.micros.items()))
    print(f"  pipeline seconds waiting on MongoDB, by command: {waits}")
    print(f"  ratio pipeline/baseline throughput: {ratio:.2f}")
    if not check:
        return True
    trips_ok, ratio_ok = trips <= MAX_TRIPS_PER_EVENT, ratio >= MIN_RATIO
    print(
        f"  target <= {MAX_TRIPS_PER_EVENT:g} round trips/event: "
        f"{'met' if trips_ok else 'NOT met'} ({trips:.3f})"
    )
    print(
        f"  target >= {MIN_RATIO:.0%} of baseline throughput: "
        f"{'met' if ratio_ok else 'NOT met'} ({ratio:.0%})"
    )
    return trips_ok and ratio_ok


GROWTH_CONTACTS = 500


def new_contacts(tag: str, n: int = GROWTH_CONTACTS) -> list[dict[str, Any]]:
    """Identify messages for `n` users the load never names: new contacts only."""
    return [
        {
            "type": "identify",
            "userId": f"growth-{tag}-{i:05d}",
            "messageId": f"growth-{tag}-{i:05d}",
            "timestamp": EPOCH.isoformat(),
            "traits": {"email": f"growth-{tag}-{i:05d}@example.com", "plan": "free"},
        }
        for i in range(n)
    ]


async def contact_writes_alone(
    bench: BenchServer, workspace_id: PydanticObjectId, chunks: list[list[dict]]
) -> float:
    """Seconds the engine takes for the contact writes the pipeline cannot avoid: one
    update per distinct contact per batch (activity and an aggregate), as bulk_write, on
    a copy of the workspace's contacts with the contacts collection's indexes. With the
    baseline's event inserts this is the floor of any pipeline that keeps per-contact
    aggregates, so baseline / (baseline + this) is the ratio the engine allows."""
    database = bench.services.mongo[bench.settings.mongodb_db]
    source = database[Contact.Settings.name]
    copy = database[f"bench_contacts_copy_{uuid.uuid4().hex[:6]}"]
    await copy.create_indexes(Contact.Settings.indexes)
    ids: dict[str, PydanticObjectId] = {}
    page = await source.find({"workspace_id": workspace_id}).to_list(None)
    for start in range(0, len(page), 1000):
        await copy.insert_many(page[start : start + 1000])
    ids = {d["user_id"]: d["_id"] for d in page if d.get("user_id")}
    started = time.perf_counter()
    for chunk in chunks:
        users = dict.fromkeys(m["userId"] for m in chunk)
        moment = datetime.now(UTC)
        await copy.bulk_write(
            [
                UpdateOne(
                    {"_id": ids[u], "workspace_id": workspace_id},
                    {
                        "$set": {"updated_at": moment},
                        "$max": {"last_active_at": moment},
                        "$inc": {"event_stats.bench.count": 1},
                    },
                )
                for u in users
                if u in ids
            ],
            ordered=False,
        )
    seconds = time.perf_counter() - started
    await copy.drop()
    return seconds


async def post_all(
    bench: BenchServer, client: httpx.AsyncClient, write_key: str, chunks: list[list[dict]]
) -> float:
    """POST the chunks; the seconds it took (and, printed, where MongoDB spent them)."""
    auth = httpx.BasicAuth(write_key, "")
    snapshot, started = bench.counter.snapshot(), time.perf_counter()
    for chunk in chunks:
        response = await client.post("/v1/batch", json={"batch": chunk}, auth=auth)
        assert response.status_code == 200 and response.json()["accepted"] == len(chunk)
    seconds = time.perf_counter() - started
    _, _, micros = bench.counter.since(snapshot)
    waits = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(micros.items()))
    print(f"  {sum(map(len, chunks))} new contacts in {seconds:.2f} s; MongoDB waits: {waits}")
    return seconds


async def main(
    events: int, batch_size: int, contacts: int, second_pass: bool, json_path: str | None = None
) -> int:
    messages = make_messages(events, contacts)
    chunks = batches(messages, batch_size)
    async with bench_server("ingest") as bench:
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        documents = event_documents(messages, PydanticObjectId(tenant.workspace_id))
        document_chunks = batches(documents, batch_size)
        collection = await baseline_collection(bench)
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=600) as client:
            # Warm-up: connection, key lookup and its once-a-minute last_used_at write.
            auth = httpx.BasicAuth(tenant.write_key, "")
            for _ in range(3):
                response = await client.post("/v1/batch", json={"batch": []}, auth=auth)
                assert response.status_code == 200, response.text
            await bench.services.mongo.admin.command("ping")

            print(
                f"{events} events ({sum(m['type'] == 'identify' for m in messages)} identify) "
                f"from {contacts} users, batches of {batch_size}, engine: {bench.engine}"
            )
            growth_chunks = batches(new_contacts("empty"), batch_size)
            growth_at_zero = await post_all(bench, client, tenant.write_key, growth_chunks)
            first = await run_pipeline(
                bench, client, tenant.write_key, chunks, "pipeline POST /v1/batch", True
            )
            base = await run_baseline(
                bench, collection, document_chunks, "baseline insert_many", True
            )
            print("first pass (new events):")
            ok = _report(first, base, batch_size, check=True)
            stored = await Contact.get_pymongo_collection().count_documents(
                {"workspace_id": PydanticObjectId(tenant.workspace_id)}
            )
            growth_chunks = batches(new_contacts("full"), batch_size)
            growth_at_full = await post_all(bench, client, tenant.write_key, growth_chunks)
            growth = growth_at_full / growth_at_zero
            print(
                f"  {GROWTH_CONTACTS} new contacts: {growth_at_zero:.2f} s into an empty workspace, "
                f"{growth_at_full:.2f} s into one of {stored}: x{growth:.2f}"
            )
            floor = await contact_writes_alone(bench, PydanticObjectId(tenant.workspace_id), chunks)
            ceiling = base.seconds / (base.seconds + floor)
            print(
                f"  engine floor: the contact writes alone (one per contact per batch) take "
                f"{floor:.2f} s against {base.seconds:.2f} s for the event inserts; "
                f"ceiling for the ratio on this engine: {ceiling:.2f}"
            )
            report.write(
                json_path,
                "ingest",
                f"{events} events into {contacts} contacts, batches of {batch_size}",
                [
                    report.at_least(
                        "events/s vs raw insert_many of the same documents",
                        first.rate / base.rate,
                        MIN_RATIO,
                    ),
                    report.context(
                        "engine ceiling for that ratio (event inserts + one write per contact)",
                        ceiling,
                    ),
                    report.context("MongoDB commands per event", first.commands / first.events),
                    report.at_most(
                        f"cost of {GROWTH_CONTACTS} new contacts at {stored} / at 0",
                        growth,
                        1.5,
                    ),
                ],
            )
            if second_pass:
                again = await run_pipeline(
                    bench, client, tenant.write_key, chunks, "pipeline POST /v1/batch", False
                )
                # A re-delivery has the same message ids and new _ids, as ingestion makes.
                fresh_ids = [
                    [{**d, "_id": PydanticObjectId()} for d in chunk] for chunk in document_chunks
                ]
                base_again = await run_baseline(
                    bench, collection, fresh_ids, "baseline insert_many", False
                )
                print("second pass (the same batches again: all duplicates):")
                _report(again, base_again, batch_size, check=False)
    # A target not met is a figure (in --json and above), not a failed run.
    return 0 if ok or json_path else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--contacts", type=int, help="distinct users (default: events / 5)")
    parser.add_argument("--json", help="write the figures here (bench.report)")
    parser.add_argument("--no-second-pass", action="store_true", help="skip re-sending the batches")
    args = parser.parse_args()
    contacts = args.contacts or max(1, args.events // 5)
    raise SystemExit(
        asyncio.run(
            main(args.events, args.batch_size, contacts, not args.no_second_pass, args.json)
        )
    )
