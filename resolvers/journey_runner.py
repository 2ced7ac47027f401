"""Running journeys: contacts enter, step through the graph, wait, and leave.

Every transition of a run is one conditional update on (enrollment id, step counter),
so whoever moves a run first wins and a duplicated message, a second worker or a late
wake-up finds the step changed and does nothing. A send is queued with an idempotency
key of (journey, run, node) *before* the run moves on, so a step retried after a crash
queues nothing twice (resolvers.sending returns the existing message).

`due_at` on each run says when the runner must look at it next: a wait's wake-up, or a
short lease while a step message is on its way. `run_wakeups` (the scheduler's job every
few seconds) picks every run that is due, so a lost Redis message or a worker restarted
in the middle of a wait loses nobody. Everything takes `now`, so tests move time by
passing it (and `inline=True` runs steps in the caller instead of the queue).

Events arrive through resolvers.reactions (`on_events`): triggers start runs, the events
waits wait for move those runs on, exit events and leaving the exit segment end runs,
goal events count conversions (and end the run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.base import up_to
from documents.contact import Contact
from documents.event import Event
from documents.journey import LIVE, Enrollment, Journey, JourneyVersion
from documents.listener import Listener
from documents.message import ENGAGEMENT_STAMPS, SENT_STATUSES, OutboundMessage
from documents.template import Template
from documents.workspace import Workspace
from engine import delivery
from engine.journeys import dates
from engine.journeys import options as journey_options
from engine.journeys import step as stepping
from engine.journeys.conditions import Facts, leaves
from engine.journeys.model import Graph
from resolvers import jobs, sending
from resolvers.context import parse_id

log = logging.getLogger("reach.journeys")

# A run handed to a step message is looked at again after this. Minutes, not seconds: a
# lease shorter than the step queue's backlog (bulk enrolment) makes the sweep re-send
# messages still waiting in the queue, which lengthens the backlog (bench/journeys.py:
# 5,423 no-op messages for 1,000 runs with 30 s).
LEASE = timedelta(minutes=3)
HISTORY = 100  # steps kept on a run
WAKEUP_LIMIT = 1000  # runs picked per wake-up sweep
MAX_TRANSITIONS = 1000  # per call: a graph is acyclic and has at most 200 nodes
CONTACT_PAGE = 500
SINCE_ENTRY_LIMIT = 200  # events a branch's since-entry conditions read, newest first
# What branches and analytics read of a send: engagement, not failures.
ENGAGEMENT_FIELDS = {k: v for k, v in ENGAGEMENT_STAMPS.items() if k != "failed"}

_versions: dict[tuple[str, int], tuple[Graph, dict[str, Any]]] = {}
_zones: dict[PydanticObjectId, tuple[float, str]] = {}


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def version_graph(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, version: int
) -> tuple[Graph, dict[str, Any]] | None:
    """A published version's graph and settings (immutable, so cached per process)."""
    key = (str(journey_id), version)
    if key not in _versions:
        found = await JourneyVersion.get_pymongo_collection().find_one(
            {"workspace_id": workspace_id, "journey_id": journey_id, "version": version}
        )
        if found is None:
            return None
        _versions[key] = (Graph.of(found["nodes"], found["edges"]), found.get("settings") or {})
    return _versions[key]


async def workspace_timezone(workspace_id: PydanticObjectId) -> str:
    cached = _zones.get(workspace_id)
    if cached and time.monotonic() - cached[0] < 60:
        return cached[1]
    row = await Workspace.get_pymongo_collection().find_one({"_id": workspace_id}, {"timezone": 1})
    zone = (row or {}).get("timezone") or "UTC"
    _zones[workspace_id] = (time.monotonic(), zone)
    return zone


# --- entering ------------------------------------------------------------------------------


async def enroll(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    trigger: dict[str, Any],
    *,
    entry_key: str | None = None,
    location_id: str | None = None,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment | None:
    """Start a run of the journey's published version, if its re-entry rule allows one;
    None when it does not (or when this entry key has started a run already)."""
    now = _now(now)
    if journey.status != "published" or not journey.published_version:
        return None
    loaded = await version_graph(workspace_id, journey.id, journey.published_version)
    if loaded is None:
        return None
    graph, options = loaded
    previous = (
        await Enrollment.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "journey_id": journey.id, "contact_id": contact_id})
        .sort("entered_at", -1)
        .limit(1)
        .to_list(None)
    )
    if not journey_options.may_enter(options, previous[0] if previous else None, now):
        return None
    enrollment = Enrollment(
        workspace_id=workspace_id,
        journey_id=journey.id,
        version=journey.published_version,
        contact_id=contact_id,
        node_id=graph.trigger["id"],
        entered_at=now,
        due_at=now + LEASE,
        trigger=trigger,
        entry_key=entry_key,
        location_id=location_id,
    )
    try:
        await enrollment.insert()
    except DuplicateKeyError:
        return None
    if inline:
        stored = await Enrollment.get_pymongo_collection().find_one(
            {"_id": enrollment.id, "workspace_id": workspace_id}
        )
        await advance(stored, now)
        return await Enrollment.find_one({"_id": enrollment.id, "workspace_id": workspace_id})
    await jobs.enqueue("journey_step", str(workspace_id), str(enrollment.id), 0)
    return enrollment  # as entered: its steps run in the worker


async def enroll_by_id(
    workspace_id: str,
    journey_id: str,
    contact_id: str,
    data: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
    inline: bool = False,
) -> Enrollment | None:
    """`enroll` with plain ids (scripts, benchmarks): an API-triggered run of a published
    journey; None when the journey or contact is not found or re-entry forbids a run."""
    wid, jid, cid = parse_id(workspace_id), parse_id(journey_id), parse_id(contact_id)
    if wid is None or jid is None or cid is None:
        return None
    journey = await Journey.find_one({"_id": jid, "workspace_id": wid})
    found = await Contact.get_pymongo_collection().find_one(
        {"_id": cid, "workspace_id": wid}, {"_id": 1}
    )
    if journey is None or found is None:
        return None
    trigger = {"id": None, "name": "api", "properties": data or {}}
    return await enroll(wid, journey, cid, trigger, now=now, inline=inline)


# --- stepping ------------------------------------------------------------------------------


async def step(
    workspace_id: str, enrollment_id: str, expected_step: int, now: datetime | None = None
) -> int:
    """The `journey_step` actor: continue a run if it is still at `expected_step`.
    Returns the number of transitions made."""
    wid, eid = parse_id(workspace_id), parse_id(enrollment_id)
    if wid is None or eid is None:
        return 0
    run = await Enrollment.get_pymongo_collection().find_one({"_id": eid, "workspace_id": wid})
    if run is None or run["step"] != expected_step:
        return 0
    return await advance(run, _now(now))


async def _transition(
    run: dict[str, Any], sets: dict[str, Any], entry: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Apply `sets` if nobody moved the run since we read it; the run after, or None.

    A conditional update_one on (_id, step), not findAndModify (SecantusDB scans the
    collection on its write); the after-image is computed here from the run as read, as
    the update makes it (a concurrent write that does not move the step, such as a
    conversion, is not in it: nothing downstream reads those fields)."""
    update: dict[str, Any] = {"$set": sets, "$inc": {"step": 1}}
    if entry is not None:
        update["$push"] = {"history": {"$each": [entry], "$slice": -HISTORY}}
    result = await Enrollment.get_pymongo_collection().update_one(
        {"_id": run["_id"], "workspace_id": run["workspace_id"], "step": run["step"]}, update
    )
    if result.modified_count != 1:
        return None
    after = {**run, **sets, "step": run["step"] + 1}
    if entry is not None:
        after["history"] = [*(run.get("history") or []), entry][-HISTORY:]
    return after


def _resumed(node_id: str, now: datetime) -> dict[str, Any]:
    """A waiting run moves on (its timer ran out, or its event came): active at `node_id`,
    leased to the step message that continues it."""
    return {
        "status": "active",
        "node_id": node_id,
        "wake_at": None,
        "waiting_for": None,
        "due_at": now + LEASE,
    }


def _ended(outcome: str, now: datetime) -> dict[str, Any]:
    status = "completed" if outcome == "exit" else "exited"
    return {
        "status": status,
        "outcome": outcome,
        "ended_at": now,
        "due_at": None,
        "wake_at": None,
        "waiting_for": None,
    }


async def advance(run: dict[str, Any], now: datetime) -> int:
    """Move a run as far as it can go now: through instant nodes, sends (queued), until it
    parks at a wait or ends. Stops quietly when another process moved it first."""
    workspace_id = run["workspace_id"]
    journey = await Journey.get_pymongo_collection().find_one(
        {"_id": run["journey_id"], "workspace_id": workspace_id}, {"status": 1}
    )
    if journey is None or journey["status"] == "completed":
        done = await _transition(run, _ended("archived", now), None)
        return 1 if done else 0
    if journey["status"] != "published":  # paused: keep the place, look again on resume
        await Enrollment.get_pymongo_collection().update_one(
            {"_id": run["_id"], "workspace_id": workspace_id, "step": run["step"]},
            {"$set": {"due_at": None}},
        )
        return 0
    loaded = await version_graph(workspace_id, run["journey_id"], run["version"])
    if loaded is None:
        done = await _transition(run, _ended("version_missing", now), None)
        return 1 if done else 0
    graph = loaded[0]
    facts: Facts | None = None
    moves = 0
    while moves < MAX_TRANSITIONS and run is not None:
        status, node_id = run["status"], run["node_id"]
        if status == "waiting":
            wake = _aware(run.get("wake_at"))
            if wake is None or wake > now:
                if _aware(run.get("due_at")) != wake:
                    await Enrollment.get_pymongo_collection().update_one(
                        {"_id": run["_id"], "workspace_id": workspace_id, "step": run["step"]},
                        {"$set": {"due_at": wake}},
                    )
                return moves
            move = stepping.on_wake(graph, node_id)
            run = await _transition(
                run,
                _resumed(move.to, now),
                {"node": node_id, "at": now, "outcome": move.outcome},
            )
            moves += run is not None
            continue
        if status != "active":
            return moves
        if facts is None or graph.node(node_id)["type"] == "branch":
            facts = await _facts(run, graph, node_id, facts)
            if facts is None:
                run = await _transition(run, _ended("contact_deleted", now), None)
                return moves + (1 if run else 0)
        decision = stepping.decide(graph, node_id, facts, now, salt=str(run["journey_id"]))
        if isinstance(decision, stepping.Move):
            sets = {"node_id": decision.to, "due_at": now + LEASE}
            run = await _transition(
                run, sets, {"node": node_id, "at": now, "outcome": decision.outcome}
            )
        elif isinstance(decision, stepping.Send):
            outcome = await _send(run, node_id, decision, now)
            sets = {"node_id": decision.to, "due_at": now + LEASE}
            run = await _transition(run, sets, {"node": node_id, "at": now, "outcome": outcome})
        elif isinstance(decision, stepping.Park):
            waiting_for = None
            if decision.event:
                waiting_for = {
                    "event": decision.event,
                    "where": decision.where or [],
                    "timeout_at": decision.wake_at,
                }
            sets = {
                "status": "waiting",
                "wake_at": decision.wake_at,
                "waiting_for": waiting_for,
                "due_at": decision.wake_at,
            }
            run = await _transition(run, sets, {"node": node_id, "at": now, "outcome": "waiting"})
            return moves + (1 if run else 0)
        else:
            run = await _transition(
                run, _ended(decision.outcome, now), {"node": node_id, "at": now, "outcome": "exit"}
            )
            return moves + (1 if run else 0)
        moves += run is not None
    return moves


async def _facts(
    run: dict[str, Any], graph: Graph, node_id: str, known: Facts | None
) -> Facts | None:
    """The contact (once per call) and, for a branch, what its conditions read."""
    workspace_id = run["workspace_id"]
    if known is None:
        contact = await Contact.get_pymongo_collection().find_one(
            {"_id": run["contact_id"], "workspace_id": workspace_id}
        )
        if contact is None:
            return None
        zone = delivery.contact_timezone(contact, await workspace_timezone(workspace_id))
        known = Facts(contact=contact, trigger=run.get("trigger") or {}, timezone=zone)
    node = graph.node(node_id)
    if node["type"] != "branch":
        return known
    conditions = [leaf for case in node["settings"]["cases"] for leaf in leaves(case["rules"])]
    sends = sorted({leaf["node"] for leaf in conditions if "engaged" in leaf})
    names = sorted({leaf["since_entry"] for leaf in conditions if "since_entry" in leaf})
    if sends:
        known.engagement = await _engagement(run, sends)
    if names:
        known.since_entry = await _events_since(workspace_id, run["contact_id"], names, run)
    return known


async def _events_since(
    workspace_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    names: list[str],
    run: dict[str, Any],
) -> list[dict[str, Any]]:
    """The contact's newest SINCE_ENTRY_LIMIT events of these names since the run entered.
    One query per name (the index is (workspace_id, contact_id, event, timestamp, _id):
    an `$in` on event beside the timestamp range is two operator fields), merged here."""
    events = Event.get_pymongo_collection()

    async def newest(name: str) -> list[dict[str, Any]]:
        query = {
            "workspace_id": workspace_id,
            "contact_id": contact_id,
            "event": name,
            "timestamp": {"$gte": run["entered_at"]},
        }
        return (
            await events.find(query, {"event": 1, "properties": 1, "timestamp": 1})
            .sort([("timestamp", -1), ("_id", -1)])
            .limit(SINCE_ENTRY_LIMIT)
            .to_list(None)
        )

    found = [row for rows in await asyncio.gather(*map(newest, names)) for row in rows]
    found.sort(key=lambda row: (row["timestamp"], row["_id"]), reverse=True)
    return found[:SINCE_ENTRY_LIMIT]


def send_key(journey_id: Any, enrollment_id: Any, node_id: str) -> str:
    return f"journey:{journey_id}:{enrollment_id}:{node_id}"


async def _engagement(run: dict[str, Any], nodes: list[str]) -> dict[str, set[str]]:
    keys = {send_key(run["journey_id"], run["_id"], n): n for n in nodes}
    rows = (
        await OutboundMessage.get_pymongo_collection()
        .find({"workspace_id": run["workspace_id"], "idempotency_key": {"$in": list(keys)}})
        .to_list(None)
    )
    out: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        kinds = out[keys[row["idempotency_key"]]]
        if row.get("status") in SENT_STATUSES or row.get("sent_at"):
            kinds.add("sent")
        if row.get("status") == "failed":
            kinds.add("failed")
        for kind, name in ENGAGEMENT_FIELDS.items():
            if row.get(name):
                kinds.add(kind)
    return out


async def _send(run: dict[str, Any], node_id: str, decision: stepping.Send, now: datetime) -> str:
    """Queue the node's message (once per run and node); the outcome recorded in history."""
    content = dict(decision.content)
    channels = list(decision.channels)
    if decision.templates:
        ids = [parse_id(t) for t in decision.templates.values()]
        rows = (
            await Template.get_pymongo_collection()
            .find({"_id": {"$in": [i for i in ids if i]}, "workspace_id": run["workspace_id"]})
            .to_list(None)
        )
        fields = {str(r["_id"]): r.get("fields") or {} for r in rows}
        for channel, template_id in decision.templates.items():
            if template_id in fields:
                content[channel] = fields[template_id]
            else:  # deleted since: that channel cannot be used
                channels.remove(channel)
    if not channels:
        return "skipped:template_deleted"
    trigger = run.get("trigger") or {}
    request = sending.SendRequest(
        workspace_id=run["workspace_id"],
        contact_id=run["contact_id"],
        source="journey",
        source_id=str(run["journey_id"]),
        idempotency_key=send_key(run["journey_id"], run["_id"], node_id),
        channels=channels,
        content=content,
        step=node_id,
        location_id=parse_id(run["location_id"]) if run.get("location_id") else None,
        event={"name": trigger.get("name"), "properties": trigger.get("properties") or {}},
    )
    [queued] = await sending.queue([request], now=now)
    if queued.status == "skipped":
        return f"skipped:{queued.reason or ''}"
    return f"{queued.status}:{queued.channel or ''}"


# --- waking up -----------------------------------------------------------------------------


async def run_wakeups(
    now: datetime | None = None, *, inline: bool = False, limit: int = WAKEUP_LIMIT
) -> int:
    """Every run that is due (a wait over, or a step message that never arrived), across
    workspaces: enqueue a step for each (or run it here with `inline`). Returns how many."""
    now = _now(now)
    collection = Enrollment.get_pymongo_collection()
    # A range never matches null or a missing field (MongoDB and SecantusDB alike), so
    # ended runs (due_at None) are not picked; the (due_at) index serves filter and sort.
    due = up_to(now)
    rows = (
        await collection.find({"due_at": due}, {"workspace_id": 1, "step": 1})
        .sort("due_at", 1)
        .limit(limit)
        .to_list(None)
    )
    if not rows:
        return 0
    if inline:
        for row in rows:
            await step(str(row["workspace_id"]), str(row["_id"]), row["step"], now=now)
        return len(rows)
    # Leased: the next sweeps leave them alone while their step messages are on the way.
    await collection.update_many(
        {"_id": {"$in": [r["_id"] for r in rows]}, "due_at": due},
        {"$set": {"due_at": now + LEASE}},
    )
    await jobs.enqueue_many(
        "journey_step", [(str(r["workspace_id"]), str(r["_id"]), r["step"]) for r in rows]
    )
    return len(rows)


async def hold(workspace_id: PydanticObjectId, journey_id: PydanticObjectId) -> None:
    """Pausing: nothing is due until resumed (places are kept)."""
    await Enrollment.get_pymongo_collection().update_many(
        {"workspace_id": workspace_id, "journey_id": journey_id, "status": {"$in": list(LIVE)}},
        {"$set": {"due_at": None}},
    )


async def release(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, now: datetime | None = None
) -> None:
    """Resuming: active runs are due now, waiting ones at their wake-up (the wake-up job
    picks them, or runs whose wait ended during the pause, within seconds)."""
    now = _now(now)
    collection = Enrollment.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "journey_id": journey_id}
    await collection.update_many({**scope, "status": "active"}, {"$set": {"due_at": now}})
    await collection.update_many({**scope, "status": "waiting"}, [{"$set": {"due_at": "$wake_at"}}])


async def end_all(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, outcome: str
) -> int:
    result = await Enrollment.get_pymongo_collection().update_many(
        {"workspace_id": workspace_id, "journey_id": journey_id, "status": {"$in": list(LIVE)}},
        {"$set": _ended(outcome, datetime.now(UTC)), "$inc": {"step": 1}},
    )
    return result.modified_count


# --- events --------------------------------------------------------------------------------


async def on_events(
    workspace_id: PydanticObjectId,
    events: list[dict[str, Any]],
    listeners: list[Listener],
    now: datetime | None = None,
) -> None:
    """Stored events (oldest first) meet the journeys listening to their names: goals,
    exits, waits and triggers, in that order for each event."""
    now = _now(now)
    wanted: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for listener in listeners:
        journey_id = listener.owner.split(":", 1)[1]
        wanted[journey_id][listener.event].add(listener.purpose)
    ids = [oid for oid in (parse_id(j) for j in wanted) if oid is not None]
    # Point lookups by _id; the status is checked here.
    found = await Journey.find({"_id": {"$in": ids}, "workspace_id": workspace_id}).to_list()
    journeys = [j for j in found if j.status in ("published", "paused")]
    for event in events:
        contact_id = event.get("contact_id")
        name = event.get("event")
        if contact_id is None or not name:
            continue
        for journey in journeys:
            purposes = wanted[str(journey.id)].get(name, set())
            if not purposes:
                continue
            try:
                await _react(workspace_id, journey, event, purposes, now)
            except Exception:
                log.exception("journey %s failed on event %s", journey.id, event.get("_id"))
                raise


async def _react(
    workspace_id: PydanticObjectId,
    journey: Journey,
    event: dict[str, Any],
    purposes: set[str],
    now: datetime,
) -> None:
    contact_id, name = event["contact_id"], event["event"]
    properties = event.get("properties") or {}
    settings = journey.settings or {}
    at = _aware(event.get("timestamp")) or now
    if "goal" in purposes and (settings.get("goal") or {}).get("event") == name:
        await _goal(workspace_id, journey, contact_id, at, now)
    if "exit" in purposes:
        if settings.get("exit_event") == name:
            await end_contact_runs(workspace_id, journey.id, contact_id, "exit_event", now)
        elif (
            name == "segment_exited"
            and settings.get("exit_segment_id")
            and properties.get("segment_id") == settings["exit_segment_id"]
        ):
            await end_contact_runs(workspace_id, journey.id, contact_id, "segment_exited", now)
    if "wait" in purposes:
        await _resume_waiting(workspace_id, journey, contact_id, event, now)
    if "trigger" in purposes and journey.status == "published" and journey.published_version:
        loaded = await version_graph(workspace_id, journey.id, journey.published_version)
        if loaded and stepping.trigger_matches(loaded[0].trigger["settings"], event, now):
            trigger = {"id": str(event["_id"]), "name": name, "properties": properties}
            await enroll(
                workspace_id,
                journey,
                contact_id,
                trigger,
                entry_key=f"event:{event['_id']}",
                location_id=event.get("location_id"),
                now=now,
                inline=True,
            )


async def _resume_waiting(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    event: dict[str, Any],
    now: datetime,
) -> None:
    runs = (
        await Enrollment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "journey_id": journey.id,
                "contact_id": contact_id,
                "status": "waiting",
            }
        )
        .to_list(None)
    )
    for run in runs:  # at most one (one live run per contact and journey)
        if (run.get("waiting_for") or {}).get("event") != event["event"]:
            continue
        loaded = await version_graph(workspace_id, journey.id, run["version"])
        if loaded is None:
            continue
        move = stepping.on_event(loaded[0], run["node_id"], event, now)
        if move is None:
            continue
        moved = await _transition(
            run,
            _resumed(move.to, now),
            {"node": run["node_id"], "at": now, "outcome": move.outcome},
        )
        if moved is not None:
            await advance(moved, now)


async def end_contact_runs(
    workspace_id: PydanticObjectId,
    journey_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    outcome: str,
    now: datetime,
) -> int:
    runs = (
        await Enrollment.get_pymongo_collection()
        .find(
            {
                "workspace_id": workspace_id,
                "journey_id": journey_id,
                "contact_id": contact_id,
                "status": {"$in": list(LIVE)},
            }
        )
        .to_list(None)
    )
    ended = 0
    for run in runs:
        entry = {"node": run["node_id"], "at": now, "outcome": outcome}
        if await _transition(run, _ended(outcome, now), entry):
            ended += 1
    return ended


async def _goal(
    workspace_id: PydanticObjectId,
    journey: Journey,
    contact_id: PydanticObjectId,
    at: datetime,
    now: datetime,
) -> None:
    """The goal event: a conversion for each run of the contact it falls within the window
    of (counted once per run), and the end of the live one."""
    window = timedelta(hours=(journey.settings.get("goal") or {}).get("window_hours") or 0)
    collection = Enrollment.get_pymongo_collection()
    entered = await collection.find(
        {
            "workspace_id": workspace_id,
            "journey_id": journey.id,
            "contact_id": contact_id,
            "entered_at": {"$lte": at, "$gte": at - window},
        },
        {"converted_at": 1},
    ).to_list(None)
    ids = [r["_id"] for r in entered if r.get("converted_at") is None]
    if ids:  # by _id; `converted_at: None` again so that a run converts once
        await collection.update_many(
            {"_id": {"$in": ids}, "workspace_id": workspace_id, "converted_at": None},
            {"$set": {"converted_at": at}},
        )
    await end_contact_runs(workspace_id, journey.id, contact_id, "goal", now)


# --- date triggers -------------------------------------------------------------------------


async def run_date_triggers(now: datetime | None = None, *, inline: bool = False) -> int:
    """The hourly job: start the runs date-property triggers owe today (idempotent: the
    local day is each run's entry key). Runs across workspaces. Returns runs started."""
    now = _now(now)
    started = 0
    journeys = await Journey.find({"status": "published", "trigger_kind": "date"}).to_list()
    for journey in journeys:
        loaded = await version_graph(
            journey.workspace_id, journey.id, journey.published_version or 0
        )
        if loaded is None:
            continue
        settings = loaded[0].trigger["settings"]
        fallback = await workspace_timezone(journey.workspace_id)
        # No index can serve a range on an arbitrary property, so this reads the whole
        # workspace's contacts in _id pages ((workspace_id, _id) index): one pass per
        # date-triggered journey per run of this hourly job, only the two properties
        # read. Only stored dates are candidates (as before); fire_day decides the day.
        prop = settings["property"]
        projection = {f"properties.{prop}": 1, "properties.timezone": 1}
        if "." in prop:  # a dotted name could collide with properties.timezone
            projection = {"properties": 1}
        scope = {"workspace_id": journey.workspace_id}
        after: PydanticObjectId | None = None
        while True:
            page_query = scope if after is None else {**scope, "_id": {"$gt": after}}
            contacts = (
                await Contact.get_pymongo_collection()
                .find(page_query, projection)
                .sort("_id", 1)
                .limit(CONTACT_PAGE)
                .to_list(None)
            )
            if not contacts:
                break
            after = contacts[-1]["_id"]
            for contact in contacts:
                if not isinstance((contact.get("properties") or {}).get(prop), datetime):
                    continue
                zone = delivery.contact_timezone(contact, fallback)
                day = dates.fire_day(settings, contact, now, zone)
                if day is None:
                    continue
                trigger = {
                    "id": None,
                    "name": "date",
                    "properties": {"property": settings["property"], "date": day.isoformat()},
                }
                run = await enroll(
                    journey.workspace_id,
                    journey,
                    contact["_id"],
                    trigger,
                    entry_key=f"date:{day.isoformat()}",
                    now=now,
                    inline=inline,
                )
                started += run is not None
    return started


# --- analytics -----------------------------------------------------------------------------
