"""A one-time campaign end to end, against Dramatiq actors that only write the rows.

    .venv/bin/python -m bench.send [--contacts 5000] [--growth-from N/10] [--threads 4]
                                   [--json PATH]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL), the API on
loopback (bench.harness) and, for each phase, a fresh worker *process*
(bench.send_worker: the production worker plus the baseline actor) whose resident memory
is sampled every 50 ms. Setup (not measured): N contacts with an email address, a
segment of all of them and one of the first `--growth-from` (default a tenth), email on the
sandbox provider.

- baseline: N `bench_write_message` jobs, each inserting one message-shaped document into
  a collection with the outbound messages' indexes (same broker, threads and MongoDB);
- campaign (small): a one-time campaign to the smaller segment, scheduled now, until every
  message is sent: fan-out in pages of 500 (one insert_many each), delivery jobs of up to
  50 messages (one claim, one read of rows and of contacts, render, concurrent provider
  calls, one outcome bulk_write, one insert_many of engagement events);
- campaign (all): the same to all N contacts.

Reports messages/s end to end and the ratio to the baseline, worker MongoDB commands per
message (PyMongo command monitoring in the worker), msg/s at N over msg/s at the smaller
size (cost per message flat with the audience), and the worker's peak memory above its
idle size for both audience sizes: it must not grow with the audience (fan-out pages,
never the whole audience in memory). `--json PATH` writes those figures (bench.report).

The completion probes are point reads: the campaign by _id (its run's phase), then one
live row of the campaign on (workspace_id, source_id, status, due_at), never a count of
every finished row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from beanie import PydanticObjectId

from bench import report
from bench.harness import BenchServer, bench_server, poll_interval
from bench.send_baseline import COLLECTION, create_indexes, register_baseline
from documents.campaign import Campaign
from documents.contact import Contact
from documents.message import LIVE_STATUSES, OutboundMessage
from documents.segment import Segment
from engine.identity import identity_keys
from resolvers.accounts.bootstrap import provision
from resolvers.core import jobs

CREATE_CAMPAIGN = """mutation($input: CampaignInput!) {
  createCampaign(input: $input) { campaign { id } userErrors { field message } } }"""
SCHEDULE = """mutation($id: ID!) {
  scheduleCampaign(id: $id) { campaign { status } userErrors { field message } } }"""
ANALYTICS = (
    """query($id: ID!) { campaign(id: $id) { analytics { totals { targeted sent failed } } } }"""
)
EMAIL = {
    "subject": "Hello {{ contact.first_name | default('there') }}",
    "text": "New arrivals in {{ contact.city | default('your city') }}. Unsubscribe: "
    "{{ message.unsubscribe_url }}",
    "html": "<p>Hello {{ contact.first_name | default('there') }}</p>"
    '<a href="https://shop.example/new">See what is new</a>',
}


@dataclass
class Phase:
    name: str
    messages: int
    seconds: float
    commands: int
    peak_rss: int  # bytes above the worker's idle size
    idle_rss: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


class WorkerProcess:
    """A worker process with its memory sampled while it runs."""

    def __init__(self, bench: BenchServer, threads: int) -> None:
        self.counts = Path(tempfile.mkdtemp(prefix="reach-bench-worker-")) / "counts.json"
        env = {
            **os.environ,
            "MONGODB_URI": bench.mongodb_uri,
            "REDIS_URL": bench.redis_url,
            "REACH_ENV": "test",
            "REACH_MONGODB_DB": bench.settings.mongodb_db,
            "REACH_QUEUE_NAMESPACE": bench.settings.queue_namespace,
            "REACH_SECRET_KEY": bench.settings.session_secret(),
            "REACH_DATA_DIR": str(bench.settings.data_dir),
            "REACH_WORKER_THREADS": str(threads),
            "REACH_PUBLIC_URL": bench.base_url,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.send_worker", str(self.counts)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"bench worker did not start: {line!r}")
        self.ps = psutil.Process(self.process.pid)
        time.sleep(0.5)
        self.idle = self.ps.memory_info().rss
        self.peak = self.idle

    def sample(self) -> None:
        self.peak = max(self.peak, self.ps.memory_info().rss)

    def stop(self) -> int:
        self.process.terminate()
        self.process.wait(60)
        counts = json.loads(self.counts.read_text())
        self.by_name = counts["by_name"]
        self.micros = counts.get("micros", {})
        return counts["commands"]


async def _until(probe, worker: WorkerProcess, timeout: float) -> None:
    started = time.perf_counter()
    deadline = started + timeout
    while not await probe():
        worker.sample()
        if time.perf_counter() > deadline:
            raise TimeoutError("the phase did not finish in time")
        await asyncio.sleep(poll_interval(started, 0.05))
    worker.sample()


FLAT_MB = 5.0  # peak memory growth from the small to the full audience still called flat


async def _setup(bench: BenchServer, contacts: int, small: int) -> tuple[str, str, str]:
    tenant = await provision(f"Bench {uuid.uuid4().hex[:6]}", "bench@example.com", "bench pass 123")
    ws = PydanticObjectId(tenant.workspace_id)
    # Setup, not measured: static segments written as the segment code leaves them
    # (membership on the contacts, the count on the segment). Creating them through the
    # API would record N segment_entered events, which is not what this bench measures.
    everyone = Segment(workspace_id=ws, name="Everyone", kind="static", member_count=contacts)
    quarter = Segment(workspace_id=ws, name="Small", kind="static", member_count=small)
    await everyone.insert()
    await quarter.insert()
    docs = [
        Contact(
            workspace_id=ws,
            email=f"person-{i}@example.com",
            segments=[str(everyone.id), str(quarter.id)] if i < small else [str(everyone.id)],
            properties={"first_name": f"P{i}", "city": ["Pune", "Delhi", "Goa"][i % 3]},
        ).model_dump(by_alias=True, exclude={"id"})
        for i in range(contacts)
    ]
    for doc in docs:
        doc["_id"] = PydanticObjectId()
        doc["identity_keys"] = identity_keys(doc)
    for start in range(0, len(docs), 1000):
        await Contact.get_pymongo_collection().insert_many(docs[start : start + 1000])
    ids = [str(everyone.id), str(quarter.id)]
    return tenant.secret_key, ids[0], ids[1]


async def _baseline(bench: BenchServer, messages: int, threads: int, workspace: str) -> Phase:
    database = OutboundMessage.get_pymongo_collection().database
    await create_indexes(database)
    worker = WorkerProcess(bench, threads)
    started = time.perf_counter()
    await jobs.enqueue_many("bench_write_message", [(workspace, i) for i in range(messages)])

    # Scoped by workspace: (workspace_id, idempotency_key) serves it, not a full scan.
    scope = {"workspace_id": PydanticObjectId(workspace)}

    async def done() -> bool:
        return await database[COLLECTION].count_documents(scope) >= messages

    await _until(done, worker, 3600)
    seconds = time.perf_counter() - started
    commands = worker.stop()
    return Phase("baseline", messages, seconds, commands, worker.peak - worker.idle, worker.idle)


async def _campaign(
    bench: BenchServer,
    key: str,
    workspace: str,
    segment_id: str,
    size: int,
    threads: int,
    name: str,
) -> Phase:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=bench.base_url, headers=headers, timeout=600) as http:

        async def gql(query: str, variables: dict) -> dict:
            answer = (
                await http.post("/graphql", json={"query": query, "variables": variables})
            ).json()
            assert "errors" not in answer, answer
            return answer["data"]

        definition = {
            "name": name,
            "segmentIds": [segment_id],
            "channels": ["email"],
            "variants": [{"key": "A", "weight": 100, "content": {"email": EMAIL}}],
        }
        created = (await gql(CREATE_CAMPAIGN, {"input": definition}))["createCampaign"]
        assert created["userErrors"] == [], created
        campaign_id = created["campaign"]["id"]
        worker = WorkerProcess(bench, threads)
        started = time.perf_counter()
        scheduled = (await gql(SCHEDULE, {"id": campaign_id}))["scheduleCampaign"]
        assert scheduled["userErrors"] == [], scheduled
        rows = OutboundMessage.get_pymongo_collection()
        scope = {"workspace_id": PydanticObjectId(workspace), "source_id": campaign_id}
        point = {"_id": PydanticObjectId(campaign_id), "workspace_id": scope["workspace_id"]}
        live = {**scope, "status": {"$in": list(LIVE_STATUSES)}}

        async def done() -> bool:
            # The run's phase by _id; then one live row, on (workspace_id, source_id,
            # status, due_at): both stop at the first key, whatever the audience.
            campaign = await Campaign.get_pymongo_collection().find_one(point, {"runs": 1})
            if ((campaign or {}).get("runs") or {}).get("run1", {}).get("phase") != "done":
                return False
            return await rows.find_one(live, {"_id": 1}) is None

        await _until(done, worker, 3600)
        seconds = time.perf_counter() - started
        commands = worker.stop()
        print(f"{name}: worker commands by name: {dict(sorted(worker.by_name.items()))}")
        waits = {k: round(v / 1e6, 1) for k, v in sorted(worker.micros.items()) if v > 1e5}
        print(f"{name}: worker seconds waiting on MongoDB, by command: {waits}")
        totals = (await gql(ANALYTICS, {"id": campaign_id}))["campaign"]["analytics"]["totals"]
        assert totals["sent"] == size and totals["failed"] == 0, totals
        keys = await rows.distinct("contact_id", scope)
        assert len(keys) == size  # one message per contact
    return Phase(name, size, seconds, commands, worker.peak - worker.idle, worker.idle)


async def main(contacts: int, small: int, threads: int, json_path: str | None) -> None:
    register_baseline()
    async with bench_server("send") as bench:
        print(f"engine: {bench.engine}; {contacts} contacts; {threads} worker threads")
        key, everyone, smaller = await _setup(bench, contacts, small)
        viewer = await httpx.AsyncClient(
            base_url=bench.base_url, headers={"Authorization": f"Bearer {key}"}
        ).post("/graphql", json={"query": "{ viewer { workspaceId } }"})
        workspace = viewer.json()["data"]["viewer"]["workspaceId"]
        baseline = await _baseline(bench, contacts, threads, workspace)
        little = await _campaign(
            bench, key, workspace, smaller, small, threads, f"campaign ({small})"
        )
        full = await _campaign(bench, key, workspace, everyone, contacts, threads, "campaign (all)")
    print()
    print(f"{'phase':<20}{'messages':>9}{'seconds':>9}{'msg/s':>8}{'cmds/msg':>10}{'peak MB':>9}")
    for phase in (baseline, little, full):
        print(
            f"{phase.name:<20}{phase.messages:>9}{phase.seconds:>9.1f}{phase.rate:>8.1f}"
            f"{phase.commands / phase.messages:>10.2f}{phase.peak_rss / 2**20:>9.1f}"
        )
    print()
    print(f"campaign (all) / baseline throughput: {full.rate / baseline.rate:.2f}")
    growth = (full.peak_rss - little.peak_rss) / 2**20
    print(
        f"worker peak memory above idle: {little.peak_rss / 2**20:.1f} MB for {little.messages} "
        f"contacts, {full.peak_rss / 2**20:.1f} MB for {full.messages} "
        f"({growth:+.1f} MB for {full.messages - little.messages} more contacts)"
    )
    figures = [
        report.at_least(
            f"msg/s vs one-write Dramatiq jobs, at {contacts}", full.rate / baseline.rate, 1.0
        ),
        report.at_most(
            "MongoDB commands per message in the worker", full.commands / full.messages, 1.5
        ),
        report.at_least(f"msg/s at {contacts} / msg/s at {small}", full.rate / little.rate, 0.8),
        report.Figure(
            f"worker peak memory above idle, {contacts} minus {small} contacts",
            growth,
            f"flat (<= {FLAT_MB:g} MB)",
            growth <= FLAT_MB,
            "MB",
        ),
        report.context(f"campaign msg/s at {contacts}", full.rate, "msg/s"),
        report.context(f"campaign msg/s at {small}", little.rate, "msg/s"),
        report.context("baseline msg/s (one insert per job)", baseline.rate, "msg/s"),
        report.context(f"worker peak above idle at {contacts}", full.peak_rss / 2**20, "MB"),
    ]
    report.write(json_path, "send", f"{contacts} contacts (growth from {small})", figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 5,000 by default: 10,000 took 5.6 min end to end on this 2-core machine (while two
    # other benchmarks ran), over make bench's share; `--contacts 10000` for the target size.
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument(
        "--growth-from", type=int, default=None, help="the smaller audience (default N/10)"
    )
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", default=None, help="write the figures here (bench.report)")
    options = parser.parse_args()
    small = options.growth_from or max(1, options.contacts // 10)
    asyncio.run(main(options.contacts, small, options.threads, options.json))
