"""Stepping journey runs: a run moves through the graph, waits, sends, and leaves.

Every transition of a run is one conditional update on (enrollment id, step counter),
so whoever moves a run first wins and a duplicated message, a second worker or a late
wake-up finds the step changed and does nothing. A send is queued with an idempotency
key of (journey, run, node) *before* the run moves on, so a step retried after a crash
queues nothing twice (messaging.queue returns the existing message).

`due_at` on each run says when the runner must look at it next: a wait's wake-up, or a
short lease while a step message is on its way. journeys.wakeups (the scheduler's job every
few seconds) picks every run that is due, so a lost Redis message or a worker restarted
in the middle of a wait loses nobody. Everything takes `now`, so tests move time by
passing it (and `inline=True` runs steps in the caller instead of the queue).

Events reach runs through journeys.listeners (registered with resolvers.reactions).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.event import Event
from documents.journey import LIVE, Enrollment, Journey
from documents.message import ENGAGEMENT_STAMPS, SENT_STATUSES, OutboundMessage
from documents.template import Template
from engine import delivery
from engine.journeys import step as stepping
from engine.journeys.conditions import Facts, leaves
from engine.journeys.model import Graph
from resolvers.core.context import parse_id
from resolvers.journeys.versions import version_graph, workspace_timezone
from resolvers.messaging import queue

# A run handed to a step message is looked at again after this. Minutes, not seconds: a
# lease shorter than the step queue's backlog (bulk enrolment) makes the sweep re-send
# messages still waiting in the queue, which lengthens the backlog (bench/journeys.py:
# 5,423 no-op messages for 1,000 runs with 30 s).
LEASE = timedelta(minutes=3)


HISTORY = 100  # steps kept on a run


MAX_TRANSITIONS = 1000  # per call: a graph is acyclic and has at most 200 nodes


SINCE_ENTRY_LIMIT = 200  # events a branch's since-entry conditions read, newest first


# What branches and analytics read of a send: engagement, not failures.
ENGAGEMENT_FIELDS = {k: v for k, v in ENGAGEMENT_STAMPS.items() if k != "failed"}


def current_time(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def as_aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    return await advance(run, current_time(now))


async def transition_run(
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


def resumed_fields(node_id: str, now: datetime) -> dict[str, Any]:
    """A waiting run moves on (its timer ran out, or its event came): active at `node_id`,
    leased to the step message that continues it."""
    return {
        "status": "active",
        "node_id": node_id,
        "wake_at": None,
        "waiting_for": None,
        "due_at": now + LEASE,
    }


def ended_fields(outcome: str, now: datetime) -> dict[str, Any]:
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
        done = await transition_run(run, ended_fields("archived", now), None)
        return 1 if done else 0
    if journey["status"] != "published":  # paused: keep the place, look again on resume
        await Enrollment.get_pymongo_collection().update_one(
            {"_id": run["_id"], "workspace_id": workspace_id, "step": run["step"]},
            {"$set": {"due_at": None}},
        )
        return 0
    loaded = await version_graph(workspace_id, run["journey_id"], run["version"])
    if loaded is None:
        done = await transition_run(run, ended_fields("version_missing", now), None)
        return 1 if done else 0
    graph = loaded[0]
    facts: Facts | None = None
    moves = 0
    while moves < MAX_TRANSITIONS and run is not None:
        status, node_id = run["status"], run["node_id"]
        if status == "waiting":
            wake = as_aware(run.get("wake_at"))
            if wake is None or wake > now:
                if as_aware(run.get("due_at")) != wake:
                    await Enrollment.get_pymongo_collection().update_one(
                        {"_id": run["_id"], "workspace_id": workspace_id, "step": run["step"]},
                        {"$set": {"due_at": wake}},
                    )
                return moves
            move = stepping.on_wake(graph, node_id)
            run = await transition_run(
                run,
                resumed_fields(move.to, now),
                {"node": node_id, "at": now, "outcome": move.outcome},
            )
            moves += run is not None
            continue
        if status != "active":
            return moves
        if facts is None or graph.node(node_id)["type"] == "branch":
            facts = await _facts(run, graph, node_id, facts)
            if facts is None:
                run = await transition_run(run, ended_fields("contact_deleted", now), None)
                return moves + (1 if run else 0)
        decision = stepping.decide(graph, node_id, facts, now, salt=str(run["journey_id"]))
        if isinstance(decision, stepping.Move):
            sets = {"node_id": decision.to, "due_at": now + LEASE}
            run = await transition_run(
                run, sets, {"node": node_id, "at": now, "outcome": decision.outcome}
            )
        elif isinstance(decision, stepping.Send):
            outcome = await _send(run, node_id, decision, now)
            sets = {"node_id": decision.to, "due_at": now + LEASE}
            run = await transition_run(run, sets, {"node": node_id, "at": now, "outcome": outcome})
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
            run = await transition_run(
                run, sets, {"node": node_id, "at": now, "outcome": "waiting"}
            )
            return moves + (1 if run else 0)
        else:
            run = await transition_run(
                run,
                ended_fields(decision.outcome, now),
                {"node": node_id, "at": now, "outcome": "exit"},
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
    request = queue.SendRequest(
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
    [queued] = await queue.queue([request], now=now)
    if queued.status == "skipped":
        return f"skipped:{queued.reason or ''}"
    return f"{queued.status}:{queued.channel or ''}"


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
    now = current_time(now)
    collection = Enrollment.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "journey_id": journey_id}
    await collection.update_many({**scope, "status": "active"}, {"$set": {"due_at": now}})
    await collection.update_many({**scope, "status": "waiting"}, [{"$set": {"due_at": "$wake_at"}}])


async def end_all(
    workspace_id: PydanticObjectId, journey_id: PydanticObjectId, outcome: str
) -> int:
    result = await Enrollment.get_pymongo_collection().update_many(
        {"workspace_id": workspace_id, "journey_id": journey_id, "status": {"$in": list(LIVE)}},
        {"$set": ended_fields(outcome, datetime.now(UTC)), "$inc": {"step": 1}},
    )
    return result.modified_count
