"""Stepping journey runs: a run moves through the graph, waits, sends, and leaves.

A run moves as far as it can at once: every instant transition (trigger, branch, split,
exit, a wait already over, and the sends on the way) is computed in Python
(engine.journeys.path) and written in ONE conditional update on (enrollment id, step
counter) that records every node in its history; the step counter rises by the number of
transitions, so whoever moves a run first wins and a duplicated message, a second worker
or a late wake-up finds the step changed and does nothing. Runs are stepped a page at a
time (one read, one queue call per send round, one bulk write). A send is queued with an
idempotency key of (journey, run, node) *before* the run moves on, so a step retried after
a crash queues nothing twice (messaging.queue returns the existing message).

`due_at` on each run says when the runner must look at it next: a wait's wake-up, or a
lease while a step message is on its way (journeys.handoff). journeys.wakeups (the
scheduler's job every few seconds) picks every run that is due, so a lost Redis message or
a worker restarted in the middle of a wait loses nobody. Everything takes `now`, so tests
move time by passing it (and `inline=True` runs steps in the caller instead of the queue).

Events reach runs through journeys.listeners (registered with resolvers.reactions).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo import UpdateOne

from documents.contact import Contact
from documents.event import Event
from documents.journey import LIVE, Enrollment, Journey
from documents.message import ENGAGEMENT_STAMPS, SENT_STATUSES, OutboundMessage
from documents.template import Template
from engine import delivery
from engine.event_names import name_key
from engine.journeys import path as paths
from engine.journeys import step as stepping
from engine.journeys.conditions import Facts, leaves
from engine.journeys.model import Graph
from resolvers.core.context import parse_id
from resolvers.journeys import handoff, run_events
from resolvers.journeys.versions import version_graph, workspace_timezone
from resolvers.messaging import queue

# A run handed to a step message is looked at again after this; the sweep then renews the
# lease while the broker still holds that message (journeys.handoff), so the lease bounds
# how late a lost message is noticed, not how long a queue may be.
LEASE = timedelta(minutes=3)
ARCHIVE_PAGE = 1000  # runs ended (and told to partners) per write when a journey is archived


HISTORY = paths.HISTORY  # steps kept on a run


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
    """The `journey_step` actor (one run; messages queued before page messages existed)."""
    return await step_runs(workspace_id, [(enrollment_id, expected_step)], now)


async def step_runs(
    workspace_id: str,
    runs: Sequence[Sequence[Any]],
    now: datetime | None = None,
    token: str | None = None,
) -> int:
    """The `journey_steps` actor: continue each run [(id, expected step)] that is still at
    its expected step, then clear the message's hand-off marker (journeys.handoff). One
    read for the page; returns the transitions made."""
    made = await _step_runs(workspace_id, runs, now)
    await handoff.arrived(token)
    return made


async def _step_runs(workspace_id: str, runs: Sequence[Sequence[Any]], now: datetime | None) -> int:
    wid = parse_id(workspace_id)
    expected = {oid: int(s) for i, s in runs if (oid := parse_id(str(i))) is not None}
    if wid is None or not expected:
        return 0
    rows = (
        await Enrollment.get_pymongo_collection()
        .find({"_id": {"$in": list(expected)}, "workspace_id": wid})
        .to_list(None)
    )
    rows = [r for r in rows if r["step"] == expected[r["_id"]]]
    return await advance_many(rows, current_time(now))


async def transition_run(
    run: dict[str, Any], sets: dict[str, Any], entry: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Apply `sets` if nobody moved the run since we read it; the run after, or None.

    A conditional update_one on (_id, step), not findAndModify (SecantusDB scans the
    collection on its write); the after-image is computed here from the run as read."""
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


ended_fields = paths.ended


async def advance(run: dict[str, Any], now: datetime, resume: stepping.Move | None = None) -> int:
    """Move one run as far as it can go now (after `resume`, the move that ends its wait,
    when given): one conditional update. Returns the transitions made."""
    return await advance_many([run], now, {run["_id"]: resume} if resume else None)


@dataclass
class _Walk:
    run: dict[str, Any]
    graph: Graph
    path: paths.Path
    facts: Facts | None = None


async def advance_many(
    runs: list[dict[str, Any]],
    now: datetime,
    resumes: dict[Any, stepping.Move] | None = None,
) -> int:
    """Move runs (as read) as far as each can go now: every instant node, sends queued
    on the way (one queue call per round for all of them), until each parks at a wait
    or ends; then one conditional update per run, all in one bulk write. A run that
    another process moved since it was read is left alone. Returns the transitions made.

    Round trips for a page of runs of one workspace: the journeys, the contacts, per send
    node on the way one queue call (messaging.queue: a fixed number), the run facts of
    branches that read engagement or events since entry, and the bulk write."""
    by_workspace: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_workspace[run["workspace_id"]].append(run)
    made = 0
    for workspace_id, group in by_workspace.items():
        made += await _advance_workspace(workspace_id, group, now, resumes or {})
    return made


async def _advance_workspace(
    workspace_id: PydanticObjectId,
    runs: list[dict[str, Any]],
    now: datetime,
    resumes: dict[Any, stepping.Move],
) -> int:
    journey_ids = list({r["journey_id"] for r in runs})
    journeys = {
        j["_id"]: j
        for j in await Journey.get_pymongo_collection()
        .find({"_id": {"$in": journey_ids}, "workspace_id": workspace_id}, {"status": 1})
        .to_list(None)
    }
    writes: list[tuple[dict[str, Any], dict[str, Any], int]] = []  # run, update, transitions
    walks: list[_Walk] = []
    for run in runs:
        journey = journeys.get(run["journey_id"])
        if journey is None or journey["status"] == "completed":
            writes.append((run, {"$set": ended_fields("archived", now), "$inc": {"step": 1}}, 1))
            continue
        move = resumes.get(run["_id"])
        if journey["status"] != "published":  # paused: keep the place, look again on resume
            if move is None:
                writes.append((run, {"$set": {"due_at": None}}, 0))
                continue
            # A waiting run's event still counts while paused: it moves on at resume.
            update = paths.update(paths.resumed(run["node_id"], move, now), now, LEASE)
            update["$set"]["due_at"] = None
            writes.append((run, update, 1))
            continue
        loaded = await version_graph(workspace_id, run["journey_id"], run["version"])
        if loaded is None:
            ended = {"$set": ended_fields("version_missing", now), "$inc": {"step": 1}}
            writes.append((run, ended, 1))
            continue
        graph = loaded[0]
        if move is not None:
            path = paths.resumed(run["node_id"], move, now)
        elif run["status"] == "waiting":
            wake = as_aware(run.get("wake_at"))
            if wake is None or wake > now:  # woken early (a duplicate): keep waiting
                if as_aware(run.get("due_at")) != wake:
                    writes.append((run, {"$set": {"due_at": wake}}, 0))
                continue
            path = paths.resumed(run["node_id"], stepping.on_wake(graph, run["node_id"]), now)
        elif run["status"] == "active":
            path = paths.Path(run["node_id"])
        else:
            continue
        walks.append(_Walk(run, graph, path))
    if walks:
        await _contact_facts(workspace_id, walks, now)
        writes += await _walk_all(workspace_id, walks, now)
    return await _write(workspace_id, writes)


async def _contact_facts(workspace_id: PydanticObjectId, walks: list[_Walk], now: datetime) -> None:
    """The contacts of the runs in one read; a run whose contact is gone ends."""
    ids = list({w.run["contact_id"] for w in walks})
    contacts = {
        c["_id"]: c
        for c in await Contact.get_pymongo_collection()
        .find({"_id": {"$in": ids}, "workspace_id": workspace_id})
        .to_list(None)
    }
    fallback = await workspace_timezone(workspace_id)
    for walk in walks:
        contact = contacts.get(walk.run["contact_id"])
        if contact is None:
            continue
        zone = delivery.contact_timezone(contact, fallback)
        walk.facts = Facts(contact=contact, trigger=walk.run.get("trigger") or {}, timezone=zone)


async def _walk_all(
    workspace_id: PydanticObjectId, walks: list[_Walk], now: datetime
) -> list[tuple[dict[str, Any], dict[str, Any], int]]:
    """Walk every run to its next waiting point, doing the runner's part for all of them
    together at each stop (queue the sends, load branch facts)."""
    writes = []
    walking = []
    for walk in walks:
        if walk.facts is None:  # the contact was deleted
            walk.path.status, walk.path.outcome = "exited", "contact_deleted"
            writes.append((walk.run, paths.update(walk.path, now, LEASE), len(walk.path.entries)))
        else:
            walking.append(walk)
    while walking:
        for walk in walking:
            paths.walk(walk.path, walk.graph, walk.facts, now, salt=str(walk.run["journey_id"]))
        for walk in walking:
            if not walk.path.blocked:  # parked, ended (or out of transitions): written below
                writes.append(
                    (walk.run, paths.update(walk.path, now, LEASE), len(walk.path.entries))
                )
        walking = [w for w in walking if w.path.blocked]
        sends = [w for w in walking if w.path.send is not None]
        needs = [w for w in walking if w.path.needs is not None]
        if sends:
            outcomes = await _send_all(workspace_id, sends, now)
            for walk, outcome in zip(sends, outcomes, strict=True):
                paths.sent(walk.path, now, outcome)
        if needs:
            await _run_facts(workspace_id, needs)
            for walk in needs:
                paths.loaded(walk.path)
    return writes


async def _write(
    workspace_id: PydanticObjectId, writes: list[tuple[dict[str, Any], dict[str, Any], int]]
) -> int:
    """Every run's update in one bulk write, each conditional on the step it was read at.
    Returns the transitions applied."""
    if not writes:
        return 0
    collection = Enrollment.get_pymongo_collection()
    result = await collection.bulk_write(
        [
            UpdateOne({"_id": r["_id"], "workspace_id": workspace_id, "step": r["step"]}, u)
            for r, u, _ in writes
        ],
        ordered=False,
    )
    if result.matched_count == len(writes):
        await _ended(workspace_id, [(r, u) for r, u, _ in writes])
        return sum(t for _, _, t in writes)
    if len(writes) == 1:
        return 0
    # Some runs were moved by someone else meanwhile (a duplicate message, an event): a
    # bulk write does not say which, the steps read back do (a rival that made the very
    # same transitions at the same time is counted here too: this is a count, not a lock).
    steps = {
        row["_id"]: row["step"]
        for row in await collection.find(
            {"_id": {"$in": [r["_id"] for r, _, _ in writes]}, "workspace_id": workspace_id},
            {"step": 1},
        ).to_list(None)
    }
    applied = [(r, u, t) for r, u, t in writes if t and steps.get(r["_id"]) == r["step"] + t]
    await _ended(workspace_id, [(r, u) for r, u, _ in applied])
    return sum(t for _, _, t in applied)


async def _ended(
    workspace_id: PydanticObjectId, applied: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    ended = [(run, update["$set"]) for run, update in applied if run_events.ends(update)]
    if ended:
        await run_events.emit_ended(workspace_id, ended)


async def _run_facts(workspace_id: PydanticObjectId, walks: list[_Walk]) -> None:
    """What the branches the walks stopped at read beyond the contact: engagement of this
    run's earlier sends (one read for all the runs) and its events since entry (one read
    per run and event name)."""
    wanted: dict[int, tuple[list[str], list[str]]] = {}
    keys: dict[str, tuple[int, str]] = {}
    for i, walk in enumerate(walks):
        node = walk.graph.node(walk.path.needs)
        found = [leaf for case in node["settings"]["cases"] for leaf in leaves(case["rules"])]
        sends = sorted({leaf["node"] for leaf in found if "engaged" in leaf})
        names = sorted({leaf["since_entry"] for leaf in found if "since_entry" in leaf})
        wanted[i] = (sends, names)
        for send_node in sends:
            keys[send_key(walk.run["journey_id"], walk.run["_id"], send_node)] = (i, send_node)
    engaged: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    if keys:
        for row in (
            await OutboundMessage.get_pymongo_collection()
            .find({"workspace_id": workspace_id, "idempotency_key": {"$in": list(keys)}})
            .to_list(None)
        ):
            i, send_node = keys[row["idempotency_key"]]
            engaged[i][send_node] |= _engagement_kinds(row)

    async def since(i: int, walk: _Walk) -> None:
        sends, names = wanted[i]
        if sends:
            walk.facts.engagement = {n: set(engaged[i].get(n, set())) for n in sends}
        if names:
            walk.facts.since_entry = await _events_since(
                workspace_id, walk.run["contact_id"], names, walk.run
            )

    await asyncio.gather(*(since(i, walk) for i, walk in enumerate(walks)))


async def _events_since(
    workspace_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    names: list[str],
    run: dict[str, Any],
) -> list[dict[str, Any]]:
    """The contact's newest SINCE_ENTRY_LIMIT events of these names since the run entered.
    One query per name (the index is (workspace_id, contact_id, name_key, timestamp, _id):
    an `$in` on event beside the timestamp range is two operator fields), merged here."""
    events = Event.get_pymongo_collection()

    async def newest(name: str) -> list[dict[str, Any]]:
        query = {
            "workspace_id": workspace_id,
            "contact_id": contact_id,
            "name_key": name_key(name),
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


def _engagement_kinds(row: dict[str, Any]) -> set[str]:
    kinds = set()
    if row.get("status") in SENT_STATUSES or row.get("sent_at"):
        kinds.add("sent")
    if row.get("status") == "failed":
        kinds.add("failed")
    for kind, name in ENGAGEMENT_FIELDS.items():
        if row.get(name):
            kinds.add(kind)
    return kinds


async def _send_all(workspace_id: PydanticObjectId, walks: list[_Walk], now: datetime) -> list[str]:
    """Queue the message of the send node each walk stopped at (once per run and node: the
    idempotency key), all in one messaging.queue call; the outcome each records in history."""
    template_ids = {t for w in walks for t in (w.path.send.templates or {}).values() if parse_id(t)}
    fields: dict[str, dict[str, Any]] = {}
    if template_ids:
        rows = (
            await Template.get_pymongo_collection()
            .find(
                {"_id": {"$in": [parse_id(t) for t in template_ids]}, "workspace_id": workspace_id}
            )
            .to_list(None)
        )
        fields = {str(r["_id"]): r.get("fields") or {} for r in rows}
    outcomes: list[str | None] = []
    requests: list[queue.SendRequest] = []
    for walk in walks:
        run, node_id, decision = walk.run, walk.path.node_id, walk.path.send
        content, channels = dict(decision.content), list(decision.channels)
        for channel, template_id in (decision.templates or {}).items():
            if template_id in fields:
                content[channel] = fields[template_id]
            else:  # deleted since: that channel cannot be used
                channels.remove(channel)
        if not channels:
            outcomes.append("skipped:template_deleted")
            continue
        trigger = run.get("trigger") or {}
        outcomes.append(None)
        requests.append(
            queue.SendRequest(
                workspace_id=workspace_id,
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
        )
    queued = iter(await queue.queue(requests, now=now) if requests else [])
    out = []
    for outcome in outcomes:
        if outcome is None:
            q = next(queued)
            said = q.reason if q.status == "skipped" else q.channel
            outcome = f"{q.status}:{said or ''}"
        out.append(outcome)
    return out


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
    """End every live run of a journey (archive). The runs are read first so that each
    one's end is told to partners; the ones that ended otherwise meanwhile are not."""
    collection = Enrollment.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "journey_id": journey_id}
    sets = ended_fields(outcome, datetime.now(UTC))
    ended = 0
    while runs := await collection.find({**scope, "status": {"$in": list(LIVE)}}).to_list(
        ARCHIVE_PAGE
    ):
        ids = [r["_id"] for r in runs]
        result = await collection.update_many(
            {**scope, "_id": {"$in": ids}, "status": {"$in": list(LIVE)}},
            {"$set": sets, "$inc": {"step": 1}},
        )
        ended += result.modified_count
        if result.modified_count != len(runs):  # some ended otherwise meanwhile
            mine = {
                r["_id"]
                for r in await collection.find(
                    {**scope, "_id": {"$in": ids}, "ended_at": sets["ended_at"]},
                    {"outcome": 1},
                ).to_list(None)
                if r.get("outcome") == outcome
            }
            runs = [r for r in runs if r["_id"] in mine]
        await run_events.emit_ended(workspace_id, [(r, sets) for r in runs])
    return ended
