"""Journey steps/s through the real worker, as a ratio to bare Dramatiq messages in the same run.

    .venv/bin/python -m bench.journeys [--contacts 10000] [--threads 4] [--enrollers 4]
                                       [--single] [--wait-seconds 0] [--lease-seconds S]
                                       [--baseline-messages 10000] [--timeout 3600]
                                       [--json PATH]

Starts its own embedded MongoDB and Redis (or uses MONGODB_URI / REDIS_URL) like the other
benchmarks (bench.harness), then a Dramatiq worker with --threads threads on the Redis
broker and the periodic scheduler (journey_wakeups, dispatch_due, ...), in this process,
as `reach serve` runs them. Setup (not measured): a tenant, --contacts contacts with an
email (every other one tagged `vip`), and a published 5-node journey

    trigger (api) -> send (email, sandbox provider) -> wait (--wait-seconds)
                  -> branch (tag vip / default) -> exit

Measured, journey: every contact enrolled through `enroll.enroll_by_ids` (the API
trigger's runner, pages of 500 contacts: one insert_many and one `journey_steps` message
per page; `--single`: one contact per `enroll_by_id` call), --enrollers calls at a time;
the worker's actors step the runs through the graph (a run's instant transitions in one
conditional update, a page's runs in one bulk write) and deliver the sends
(`send_message`). A wait of 0 s lets a run straight through; with --wait-seconds > 0 every
run parks and the scheduler's `journey_wakeups` sweep wakes it. The clock runs from the
first enrollment to every run completed (and, separately, to every message sent);
MongoDB commands are counted until the job queues are empty (duplicate step messages and
engagement reactions are the journey's work too).

Measured, baseline: bare Dramatiq messages, as many as the journey made steps up to
--baseline-messages (a rate needs a sample, not the whole 50,000 of a 10,000-contact run),
on the same queue, broker, worker threads, event loop and MongoDB, whose actor updates one
document each (`$inc` on one of --contacts documents), enqueued in one go; the clock runs
from the first enqueue to the last update (counted in process: no polling query).

Reports steps/s (a step is one transition of a run: one history entry, one increment of its
step counter), the ratio journey/baseline, MongoDB commands per step and per contact, by
job, command and collection with the mean driver-measured time of each (PyMongo command
monitoring; the benchmark's own polling is not counted), the slowest command, the outbound
messages created (must be one per contact), runs left behind (must be none), and step
messages that found nothing to do. Completion is polled (1% of the elapsed time, at least
0.2 s) with workspace-scoped, index-served reads: one live run or pending message
({workspace_id, journey_id | source_id, status: {$in}}), then one count when none is left.
`--json PATH` writes the figures of the issue's table (bench.report). `--lease-seconds`
replaces step.LEASE for the run, to see what re-sent step messages cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
from beanie import PydanticObjectId
from pymongo import monitoring
from pymongo.errors import AutoReconnect

from bench import report as results
from bench.harness import BenchServer, bench_server, poll_interval
from documents.contact import Contact
from documents.journey import LIVE, Enrollment
from documents.message import OutboundMessage
from engine.access import Permission
from engine.identity import identity_keys
from reach import scheduler
from resolvers.accounts.bootstrap import provision
from resolvers.campaigns import runs as campaign_runs
from resolvers.core.context import Principal, RequestContext
from resolvers.journeys import define, enroll, handoff, lifecycle, step, wakeups
from resolvers.messaging import deliver, dispatch
from resolvers.reactions import dispatch as reaction_dispatch
from resolvers.segments import recompute
from workers import broker as broker_setup
from workers import loop

POLL_SECONDS = 0.2
QUEUES = ("journeys", "sends", "reactions")  # what a journey run puts work on
CONTACT_CHUNK = 1000
ENROLL_PAGE = handoff.PAGE  # contacts per enroll_by_ids call (one insert, one step message)
STEPS_PER_RUN = 5  # the bench graph: trigger, send, wait, branch, exit
BASELINE_MESSAGES = 10_000  # at most: a rate, measured on a sample the size of a 2,000 run
DEFAULT_CONTACTS = 10_000
TARGET_RATIO = 0.5  # issue 12: steps/s vs bare one-update messages, at 10,000 contacts
TARGET_COMMANDS = 6.0  # issue 12: MongoDB commands per contact through the journey
# Jobs that are the send pipeline's (messaging.deliver and the reactions to its engagement
# events), reported apart so the journey's own share is visible.
SEND_JOBS = ("send_message", "deliver_messages", "react_to_events", "dispatch_due")
BASELINE_ACTOR = "bench_touch_document"
# The same queue and options as journey_step (workers.actors): only the actor's body differs.
BASELINE_OPTIONS = {"queue_name": "journeys", "max_retries": 10, "min_backoff": 500}

# Which job issued a MongoDB command (set inside the coroutines the actors run).
JOB: contextvars.ContextVar[str] = contextvars.ContextVar("bench_job", default="other")


class JobCommands(monitoring.CommandListener):
    """MongoDB commands by (job, "command collection"), attributed through the JOB context
    variable of the task that issued them, and the driver-measured time of each kind."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.micros: Counter[tuple[str, str]] = Counter()
        self.slowest: tuple[float, str, str] = (0.0, "", "")  # seconds, job, command
        self._pending: dict[int, tuple[str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        what = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        key = (JOB.get(), what)
        self.counts[key] += 1
        self._pending[event.request_id] = key

    def _done(self, event) -> None:
        key = self._pending.pop(event.request_id, ("other", event.command_name))
        self.micros[key] += event.duration_micros
        seconds = event.duration_micros / 1e6
        if seconds > self.slowest[0] and key[0] != "poll":
            self.slowest = (seconds, key[0], key[1])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event)

    def snapshot(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        return Counter(self.counts), Counter(self.micros)

    def since(self, snapshot) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        """(commands, microseconds) by (job, command) since `snapshot`, without polling."""
        counts, micros = snapshot
        return (
            Counter({k: v for k, v in (self.counts - counts).items() if k[0] != "poll"}),
            Counter({k: v for k, v in (self.micros - micros).items() if k[0] != "poll"}),
        )


@dataclass
class Calls:
    """What the wrapped resolver functions did (calls, and calls that did nothing)."""

    calls: Counter[str] = field(default_factory=Counter)
    noops: Counter[str] = field(default_factory=Counter)


CALLS = Calls()


def labelled(name: str, fn: Callable, noop: Callable[[Any], bool] | None = None) -> Callable:
    """`fn` (a coroutine function) running under JOB=name, its calls counted."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        token = JOB.set(name)
        try:
            result = await fn(*args, **kwargs)
        finally:
            JOB.reset(token)
        CALLS.calls[name] += 1
        if noop is not None and noop(result):
            CALLS.noops[name] += 1
        return result

    return wrapper


def install_labels() -> None:
    """Wrap what the actors call (looked up as module attributes at call time by
    workers.actors), so their commands and calls are attributed to their job."""
    step.step = labelled("journey_step", step.step, lambda r: r == 0)
    step.step_runs = labelled("journey_steps", step.step_runs, lambda r: r == 0)
    wakeups.run_wakeups = labelled("journey_wakeups", wakeups.run_wakeups)
    wakeups.run_date_triggers = labelled("journey_date_triggers", wakeups.run_date_triggers)
    deliver.deliver = labelled("send_message", deliver.deliver, lambda r: r == "noop")
    # A batch job (deliver_messages) and a lone send_message both run deliver_batch; the
    # commands of either are the send pipeline's.
    deliver.deliver_batch = labelled(
        "deliver_messages",
        deliver.deliver_batch,
        lambda r: all(status == "noop" for status in r.values()),
    )
    dispatch.dispatch_due = labelled("dispatch_due", dispatch.dispatch_due)
    reaction_dispatch.react = labelled("react_to_events", reaction_dispatch.react)
    recompute.refresh_time_windows = labelled("refresh_segments", recompute.refresh_time_windows)
    campaign_runs.tick = labelled("campaign_tick", campaign_runs.tick)


# --- the baseline actor ---------------------------------------------------------------------


_baseline: dict[str, Any] = {}  # the collection the baseline actor updates


async def _touch(document_id: str) -> None:
    collection = _baseline["collection"]
    await collection.update_one(
        {"_id": PydanticObjectId(document_id), "workspace_id": _baseline["workspace_id"]},
        {"$inc": {"n": 1}},
    )
    _baseline["done"] += 1  # counted in process (the worker runs here): no polling query


def bench_touch_document(document_id: str) -> None:
    """A bare message: one document updated, through the same loop hop as every actor."""
    loop.run(labelled("baseline", _touch)(document_id))


# --- setup ------------------------------------------------------------------------------------


def node(node_id: str, node_type: str, /, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "settings": settings}


def edge(source: str, target: str, label: str = "next") -> dict[str, Any]:
    return {"from": source, "to": target, "label": label}


def journey_graph(wait_seconds: int) -> dict[str, Any]:
    content = {
        "email": {
            "subject": "Hello {{ contact.first_name | default('there') }}",
            "text": "Something new for you, {{ contact.first_name | default('friend') }}.",
        }
    }
    return {
        "name": "Bench journey",
        "nodes": [
            node("start", "trigger", kind="api"),
            node("hello", "send", channels=["email"], content=content),
            node("pause", "wait", kind="duration", seconds=wait_seconds),
            node("vip", "branch", cases=[{"key": "vip", "rules": {"tag": "vip"}}]),
            node("done", "exit"),
        ],
        "edges": [
            edge("start", "hello"),
            edge("hello", "pause"),
            edge("pause", "vip"),
            edge("vip", "done", "vip"),
            edge("vip", "done", "default"),
        ],
        "settings": {},
    }


async def make_contacts(workspace_id: PydanticObjectId, n: int) -> list[str]:
    collection = Contact.get_pymongo_collection()
    now = datetime.now(UTC)
    ids: list[str] = []
    while len(ids) < n:
        start = len(ids)
        rows = []
        for i in range(start, min(n, start + CONTACT_CHUNK)):
            doc = Contact(
                workspace_id=workspace_id,
                email=f"bench-{i:06d}@example.com",
                properties={"first_name": f"User{i}"},
                tags=["vip"] if i % 2 == 0 else [],
                last_active_at=now,
                updated_at=now,
            ).model_dump(by_alias=True, exclude={"revision_id"})
            doc["_id"] = PydanticObjectId()
            doc["identity_keys"] = identity_keys(doc)
            rows.append(doc)
        await collection.insert_many(rows, ordered=False)
        ids += [str(r["_id"]) for r in rows]
    return ids


async def baseline_documents(bench: BenchServer, workspace_id: PydanticObjectId, n: int):
    database = bench.services.mongo[bench.settings.mongodb_db]
    collection = database[f"bench_baseline_{uuid.uuid4().hex[:6]}"]
    ids: list[str] = []
    for start in range(0, n, CONTACT_CHUNK):
        rows = [
            {"_id": PydanticObjectId(), "workspace_id": workspace_id, "n": 0}
            for _ in range(start, min(n, start + CONTACT_CHUNK))
        ]
        await collection.insert_many(rows)
        ids += [str(r["_id"]) for r in rows]
    return collection, ids


# --- measuring ----------------------------------------------------------------------------------


async def poll(check: Callable, timeout: float, what: str) -> float:
    """Poll `check` (its commands are not counted) until it is true; the time it was."""
    started = time.perf_counter()
    deadline = started + timeout
    token = JOB.set("poll")
    try:
        while True:
            if await check():
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
            await asyncio.sleep(poll_interval(started, POLL_SECONDS))
    finally:
        JOB.reset(token)


async def drain(bench: BenchServer, timeout: float) -> None:
    """Wait until the job queues the journey uses are empty and nothing is in flight."""
    broker = bench.services.broker

    def join() -> None:
        for queue in QUEUES:
            broker.join(queue, timeout=int(timeout * 1000))

    await asyncio.to_thread(join)


@dataclass
class Phase:
    name: str
    steps: int
    seconds: float
    commands: Counter[tuple[str, str]]  # by (job, "command collection")
    micros: Counter[tuple[str, str]]  # driver-measured time, same keys

    @property
    def rate(self) -> float:
        return self.steps / self.seconds

    @property
    def total(self) -> int:
        return sum(self.commands.values())


@dataclass
class JourneyRun:
    phase: Phase
    enroll_seconds: float
    sends_seconds: float
    drained_seconds: float
    slowest: tuple[float, str, str]  # the slowest MongoDB command: seconds, job, command
    runs: int
    completed: int
    left_behind: int
    outcomes: Counter[str]
    messages: int
    messages_by_status: Counter[str]
    message_contacts: int
    parked: int
    interrupted_enrollments: int
    step_calls: int
    step_noops: int
    steps_calls: int  # journey_steps (page) messages
    steps_noops: int
    deliver_calls: int
    deliver_noops: int


async def run_journey(
    bench: BenchServer,
    ctx: RequestContext,
    journey_id: str,
    contact_ids: list[str],
    enrollers: int,
    listener: JobCommands,
    timeout: float,
    single: bool = False,
    wait_for_sends: bool = True,
) -> JourneyRun:
    wid = ctx.workspace_id
    jid = PydanticObjectId(journey_id)
    runs = Enrollment.get_pymongo_collection()
    messages = OutboundMessage.get_pymongo_collection()
    scope = {"workspace_id": wid, "journey_id": jid}
    sends = {"workspace_id": wid, "source_id": journey_id}
    n = len(contact_ids)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for cid in contact_ids:
        queue.put_nowait(cid)
    refused: list[str] = []
    interrupted: list[str] = []
    calls_before = Counter(CALLS.calls), Counter(CALLS.noops)

    async def enroller() -> None:
        token = JOB.set("enroll")
        try:
            while not queue.empty():
                if single:
                    page = [queue.get_nowait()]
                else:
                    page = [queue.get_nowait() for _ in range(min(ENROLL_PAGE, queue.qsize()))]
                try:
                    started = await enroll.enroll_by_ids(str(wid), journey_id, page, {"b": 1})
                except AutoReconnect:
                    # The driver dropped its connections (a server stalled past the
                    # heartbeat): the runs may be stored without their step message, which
                    # the wake-up sweep is there to recover. Count them, check them later.
                    interrupted.extend(page)
                    continue
                entered = {str(r.contact_id) for r in started}
                refused.extend(cid for cid in page if cid not in entered)
        finally:
            JOB.reset(token)

    async def runs_done() -> bool:
        # No live run left: one index entry read on (ws, journey_id, status) while runs are
        # live; then all n there, counted once on (ws, journey_id, _id).
        if await runs.find_one({**scope, "status": {"$in": list(LIVE)}}, {"_id": 1}):
            return False
        return await runs.count_documents(scope) == n

    async def sends_done() -> bool:
        # The same on (ws, source_id, status): source_id alone names the journey.
        pending = {"$in": ["queued", "sending", "scheduled"]}
        if await messages.find_one({**sends, "status": pending}, {"_id": 1}):
            return False
        return await messages.count_documents(sends) >= n

    snapshot = listener.snapshot()
    listener.slowest = (0.0, "", "")
    started = time.perf_counter()
    await asyncio.gather(*(enroller() for _ in range(enrollers)))
    token = JOB.set("enroll")
    try:
        for cid in interrupted:  # stored before the interruption, or enrolled again now
            stored = await runs.count_documents({**scope, "contact_id": PydanticObjectId(cid)})
            again = stored or await enroll.enroll_by_id(str(wid), journey_id, cid)
            if again is None:
                refused.append(cid)
    finally:
        JOB.reset(token)
    enrolled = time.perf_counter()
    assert not refused, f"{len(refused)} enrollments refused"
    runs_at = await poll(runs_done, timeout, "runs")
    print(f"  runs completed after {runs_at - started:.2f} s", flush=True)
    if wait_for_sends:
        sends_at = await poll(sends_done, timeout, "sends")
        # Messages still queued (duplicate steps, engagement reactions) are the journey's
        # work too.
        await drain(bench, timeout)
        drained_at = time.perf_counter()
    else:  # --no-drain: commands counted until the runs completed, sends still under way
        sends_at = drained_at = runs_at
    commands, micros = listener.since(snapshot)

    token = JOB.set("poll")
    try:
        rows = await runs.find(scope, {"status": 1, "step": 1, "outcome": 1, "history": 1}).to_list(
            None
        )
        sent = await messages.find(sends, {"status": 1, "contact_id": 1}).to_list(None)
    finally:
        JOB.reset(token)
    steps = sum(r["step"] for r in rows)
    calls = CALLS.calls - calls_before[0]
    noops = CALLS.noops - calls_before[1]
    return JourneyRun(
        phase=Phase(
            "journey (enroll -> runs completed)", steps, runs_at - started, commands, micros
        ),
        enroll_seconds=enrolled - started,
        sends_seconds=sends_at - started,
        drained_seconds=drained_at - started,
        slowest=listener.slowest,
        runs=len(rows),
        completed=sum(1 for r in rows if r["status"] == "completed"),
        left_behind=sum(1 for r in rows if r["status"] in LIVE),
        outcomes=Counter(r.get("outcome") or r["status"] for r in rows),
        messages=len(sent),
        messages_by_status=Counter(m["status"] for m in sent),
        message_contacts=len({m["contact_id"] for m in sent}),
        parked=sum(1 for r in rows for h in r.get("history", []) if h["outcome"] == "waiting"),
        interrupted_enrollments=len(interrupted),
        step_calls=calls["journey_step"],
        step_noops=noops["journey_step"],
        steps_calls=calls["journey_steps"],
        steps_noops=noops["journey_steps"],
        deliver_calls=calls["send_message"],
        deliver_noops=noops["send_message"],
    )


async def run_baseline(
    collection, document_ids: list[str], messages: int, listener: JobCommands, timeout: float
) -> Phase:
    n = len(document_ids)
    calls = [(document_ids[i % n],) for i in range(messages)]
    expected = messages

    async def done() -> bool:
        return _baseline["done"] >= expected

    _baseline["done"] = 0
    snapshot = listener.snapshot()
    started = time.perf_counter()
    actor = dramatiq.get_broker().get_actor(BASELINE_ACTOR)

    def send_all() -> None:
        for args in calls:
            actor.send(*args)

    await asyncio.to_thread(send_all)
    finished = await poll(done, timeout, "baseline")
    commands, micros = listener.since(snapshot)
    name = "baseline (bare messages, 1 update each)"
    return Phase(name, messages, finished - started, commands, micros)


# --- report -------------------------------------------------------------------------------------


def by_job(commands: Counter[tuple[str, str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for (job, _), count in commands.items():
        out[job] += count
    return out


def by_name(commands: Counter[tuple[str, str]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for (_, what), count in commands.items():
        out[what.split(" ")[0]] += count
    return out


def report(
    journey: JourneyRun,
    baseline: Phase,
    contacts: int,
    threads: int,
    wait: int,
    engine: str,
    sends: bool = True,
) -> bool:
    phase = journey.phase
    print(
        f"\n{contacts} contacts, 5-node journey (wait {wait} s), {threads} worker threads, "
        f"step lease {step.LEASE.total_seconds():g} s, engine: {engine}"
    )
    print(f"  {'':42} {'steps/s':>8} {'steps':>7} {'seconds':>8} {'mongo cmds/step':>16}")
    for p in (phase, baseline):
        print(
            f"  {p.name:42} {p.rate:8.1f} {p.steps:7d} {p.seconds:8.2f} {p.total / p.steps:16.2f}"
        )
    print(f"  ratio journey/baseline steps/s: {phase.rate / baseline.rate:.3f}")
    print(
        f"  enrolling took {journey.enroll_seconds:.2f} s; every message sent after "
        f"{journey.sends_seconds:.2f} s ({journey.messages / journey.sends_seconds:.1f} sends/s), "
        f"queues empty after {journey.drained_seconds:.2f} s; "
        f"contacts through the journey: {contacts / phase.seconds:.1f}/s"
    )
    waited = sum(phase.micros.values()) / 1e6
    print(
        f"  mongo commands per contact {phase.total / contacts:.2f} (enrolled to message sent;"
        f" count per contact, mean ms; driver time {waited:.1f} s in all):"
    )
    for job, count in sorted(by_job(phase.commands).items(), key=lambda kv: -kv[1]):
        kinds = sorted(
            ((w, c) for (j, w), c in phase.commands.items() if j == job), key=lambda kv: -kv[1]
        )
        detail = ", ".join(
            f"{w} {c / contacts:.2f} ({phase.micros[(job, w)] / c / 1000:.0f})" for w, c in kinds
        )
        print(f"    {job:16} {count / contacts:6.2f}: {detail}")
    print(
        "  journey commands per step by name: "
        + ", ".join(
            f"{k} {v / phase.steps:.2f}" for k, v in sorted(by_name(phase.commands).items())
        )
    )
    print(
        "  baseline commands per message by job: "
        + ", ".join(
            f"{j} {c / baseline.steps:.3f}" for j, c in sorted(by_job(baseline.commands).items())
        )
    )
    seconds, job, what = journey.slowest
    print(f"  slowest MongoDB command of the journey: {seconds:.2f} s ({what} in {job})")
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(journey.messages_by_status.items()))
    outcomes = ", ".join(f"{s} {n}" for s, n in sorted(journey.outcomes.items()))
    print(
        f"  runs {journey.runs}: {outcomes}; steps per run {phase.steps / max(journey.runs, 1):.2f};"
        f" runs parked at the wait and woken by the sweep: {journey.parked}"
    )
    print(
        f"  journey_step messages run {journey.step_calls} (found nothing to do: "
        f"{journey.step_noops}); journey_steps (page) messages run {journey.steps_calls} "
        f"(found nothing to do: {journey.steps_noops}); send_message jobs run {journey.deliver_calls} "
        f"(found nothing to do: {journey.deliver_noops}); enroll calls cut off by a dropped "
        f"connection: {journey.interrupted_enrollments}"
    )
    ok_messages = not sends or (
        journey.messages == contacts and journey.message_contacts == contacts
    )
    ok_runs = journey.left_behind == 0 and journey.completed == contacts == journey.runs
    print(
        f"  outbound messages created {journey.messages} for {journey.message_contacts} contacts "
        f"({statuses}): {'one per contact' if ok_messages else 'NOT one per contact'}"
    )
    print(
        f"  runs left behind: {journey.left_behind}; completed {journey.completed} of {contacts}"
        f": {'ok' if ok_runs else 'NOT ok'}"
    )
    return ok_messages and ok_runs


def figures(
    journey: JourneyRun, baseline: Phase, contacts: int, sends: bool = True
) -> list[results.Figure]:
    phase = journey.phase
    commands = by_job(phase.commands)
    own = sum(c for j, c in commands.items() if j not in SEND_JOBS)
    total = results.at_most(
        "MongoDB commands per contact through the journey (every job, sends included)",
        phase.total / contacts,
        TARGET_COMMANDS,
    )
    if not sends:  # --no-drain: the sends' share is not all in it, so no verdict
        total = results.context(
            "MongoDB commands per contact until every run completed (sends partly counted)",
            phase.total / contacts,
        )
    return [
        results.at_least(
            f"journey steps/s vs bare one-update messages ({contacts:,} contacts)",
            phase.rate / baseline.rate,
            TARGET_RATIO,
            "x",
        ),
        total,
        results.context("of which the journey's own (enroll, steps, sweeps)", own / contacts),
        results.context("MongoDB commands per step", phase.total / phase.steps),
        results.context("journey steps/s", phase.rate),
        results.context("baseline messages/s", baseline.rate),
        results.context(
            "step messages that found nothing to do", journey.step_noops + journey.steps_noops
        ),
    ]


# --- main ---------------------------------------------------------------------------------------


async def main(
    contacts: int,
    threads: int,
    enrollers: int,
    wait: int,
    lease: int | None,
    timeout: float,
    single: bool = False,
    baseline_messages: int = BASELINE_MESSAGES,
    json_path: str | None = None,
    no_drain: bool = False,
) -> int:
    if lease is not None:  # an experiment: the runner's lease, as if it were configured so
        step.LEASE = timedelta(seconds=lease)
    listener = JobCommands()
    monitoring.register(listener)  # the harness's client is created after this
    install_labels()
    async with bench_server("journeys") as bench:
        setup_started = time.perf_counter()
        tenant = await provision(
            "Bench", f"bench-{uuid.uuid4().hex[:6]}@example.com", "bench password"
        )
        wid = PydanticObjectId(tenant.workspace_id)
        ctx = RequestContext(
            Principal(
                kind="secret_key",
                workspace_id=wid,
                organization_id=PydanticObjectId(tenant.organization_id),
                permissions=frozenset(Permission),
                label="bench",
            )
        )
        contact_ids = await make_contacts(wid, contacts)
        created, problems = await define.create_journey(ctx, journey_graph(wait))
        assert not problems, problems
        journey = await lifecycle.publish_journey(ctx, str(created.id))
        collection, document_ids = await baseline_documents(bench, wid, contacts)
        _baseline.update(collection=collection, workspace_id=wid)

        broker = bench.services.broker
        dramatiq.actor(
            bench_touch_document, actor_name=BASELINE_ACTOR, broker=broker, **BASELINE_OPTIONS
        )
        bench.services.worker = broker_setup.start_worker(broker, threads)
        bench.services.scheduler = scheduler.start(
            bench.services.redis, bench.settings.queue_namespace
        )
        print(
            f"setup: {contacts} contacts, journey published, {threads} worker threads, "
            f"{enrollers} enrollers ({'one contact' if single else f'{ENROLL_PAGE} contacts'}"
            f" per enroll call); {time.perf_counter() - setup_started:.1f} s"
        )

        # The baseline first: nothing of the journey (sends, reactions) runs beside it.
        sample = min(STEPS_PER_RUN * contacts, baseline_messages)
        base = await run_baseline(collection, document_ids, sample, listener, timeout)
        print(f"  baseline: {base.rate:.1f} messages/s", flush=True)
        result = await run_journey(
            bench,
            ctx,
            str(journey.id),
            contact_ids,
            enrollers,
            listener,
            timeout,
            single,
            wait_for_sends=not no_drain,
        )
        ok = report(result, base, contacts, threads, wait, bench.engine, sends=not no_drain)
        results.write(
            json_path,
            "journeys",
            f"{contacts:,} contacts",
            figures(result, base, contacts, not no_drain),
        )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=DEFAULT_CONTACTS)
    parser.add_argument("--threads", type=int, default=4, help="worker threads (serve's default)")
    parser.add_argument("--enrollers", type=int, default=4, help="concurrent enroll calls")
    parser.add_argument(
        "--single",
        action="store_true",
        help="enroll one contact per call (enroll_by_id) instead of pages of "
        f"{ENROLL_PAGE} (enroll_by_ids)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=int,
        default=0,
        help="the wait node's duration; above 0 every run parks and the wake-up sweep moves it",
    )
    parser.add_argument(
        "--lease-seconds",
        type=int,
        help="replace step.LEASE (how long a run handed to a step message is left "
        "alone before the wake-up sweep looks at it again) for this run",
    )
    parser.add_argument(
        "--baseline-messages",
        type=int,
        default=BASELINE_MESSAGES,
        help="bare messages in the baseline at most (default: as many as the journey's "
        f"steps, up to {BASELINE_MESSAGES:,})",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per phase at most")
    parser.add_argument("--json", help="write the figures here (bench.report)")
    parser.add_argument(
        "--no-drain",
        action="store_true",
        help="stop when every run completed: commands counted until then (the sends, "
        "delivered by messaging.deliver, still under way are not all in them)",
    )
    args = parser.parse_args()
    raise SystemExit(
        asyncio.run(
            main(
                args.contacts,
                args.threads,
                args.enrollers,
                args.wait_seconds,
                args.lease_seconds,
                args.timeout,
                args.single,
                args.baseline_messages,
                args.json,
                args.no_drain,
            )
        )
    )
