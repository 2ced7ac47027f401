"""The send queue: one row per message, decided once, sent at most once.

`queue` writes an OutboundMessage per idempotency key *before* anything is sent, with the
channel chosen (priority order, address and consent), frequency caps and quiet hours
applied; rows due now get delivery jobs of up to deliver.BATCH messages each (`enqueue`).
messaging.deliver (that job) claims its rows with one conditional update (queued ->
sending), checks consent again, renders the templates against the contacts as they are
now, calls the providers and records the outcomes together; a job delivered twice finds
the rows claimed or done and does nothing. messaging.dispatch (every few seconds) wakes
rows whose time came and re-enqueues queued rows whose job was lost, so neither a
restart nor a lost Redis message loses a send.

A worker that dies during the provider call leaves its row in `sending`; after a lease the
dispatcher marks it failed ("interrupted") rather than sending again: we cannot know
whether the provider got it, and a duplicate is the one thing we promise not to do.
"""

from __future__ import annotations

import time as time_module
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import BulkWriteError

from documents.contact import Contact
from documents.message import OutboundMessage
from documents.workspace import Workspace
from engine import delivery
from resolvers.core import jobs
from resolvers.messaging import deliver
from resolvers.messaging.deliver import DUPLICATE_KEY

CAP_COUNTED = ("queued", "sending", "sent", "delivered", "bounced", "scheduled", "paused")


@dataclass
class SendRequest:
    workspace_id: PydanticObjectId
    contact_id: PydanticObjectId
    source: str  # campaign | journey
    source_id: str
    idempotency_key: str
    channels: list[str]
    content: dict[str, dict[str, str]]
    variant: str | None = None
    location_id: PydanticObjectId | None = None
    step: str = ""
    run: int = 0
    event: dict[str, Any] | None = None
    not_before: datetime | None = None


@dataclass
class Queued:
    key: str
    message_id: PydanticObjectId | None
    status: str  # queued | scheduled | skipped | (any status of an existing row)
    reason: str | None = None
    channel: str | None = None
    duplicate: bool = False


@dataclass
class _Rules:
    caps: list[delivery.FrequencyCap] = field(default_factory=list)
    quiet: delivery.QuietHours | None = None
    timezone: str = "UTC"


def _rules(workspace: Workspace | None) -> _Rules:
    if workspace is None:
        return _Rules()
    caps = [
        delivery.FrequencyCap(c.get("channel"), int(c["limit"]), int(c["days"]))
        for c in workspace.frequency_caps
    ]
    quiet = None
    if workspace.quiet_hours:
        quiet = delivery.QuietHours(
            time.fromisoformat(workspace.quiet_hours["start"]),
            time.fromisoformat(workspace.quiet_hours["end"]),
        )
    return _Rules(caps, quiet, workspace.timezone or "UTC")


_rules_seen: dict[PydanticObjectId, tuple[float, _Rules]] = {}


RULES_TTL = 5.0  # seconds a workspace's caps and quiet hours are remembered per process


def forget_rules(workspace_id: PydanticObjectId) -> None:
    """The rules changed (in this process): read them again on the next send."""
    _rules_seen.pop(workspace_id, None)


async def _workspace_rules(workspace_id: PydanticObjectId) -> _Rules:
    """A journey queues one message at a time: the workspace is read every few seconds,
    not for every send. Changed rules apply within RULES_TTL."""
    seen = _rules_seen.get(workspace_id)
    if seen and seen[0] > time_module.monotonic():
        return seen[1]
    rules = _rules(await Workspace.get(workspace_id))
    if len(_rules_seen) > 1000:
        _rules_seen.clear()
    _rules_seen[workspace_id] = (time_module.monotonic() + RULES_TTL, rules)
    return rules


async def queue(requests: list[SendRequest], now: datetime | None = None) -> list[Queued]:
    """Decide and record each request's message; enqueue those due now. Costs a fixed
    number of round trips per call (workspace, contacts, existing rows, recent sends when
    capped, one insert), whatever the number of requests."""
    now = now or datetime.now(UTC)
    by_workspace: dict[PydanticObjectId, list[SendRequest]] = defaultdict(list)
    for request in requests:
        by_workspace[request.workspace_id].append(request)
    outcome: dict[str, Queued] = {}
    for workspace_id, batch in by_workspace.items():
        outcome.update(await _queue_batch(workspace_id, batch, now))
    return [outcome[r.idempotency_key] for r in requests]


async def _queue_batch(
    workspace_id: PydanticObjectId, batch: list[SendRequest], now: datetime
) -> dict[str, Queued]:
    outcome: dict[str, Queued] = {}
    keys = list(dict.fromkeys(r.idempotency_key for r in batch))
    messages = OutboundMessage.get_pymongo_collection()
    for row in await messages.find(
        {"workspace_id": workspace_id, "idempotency_key": {"$in": keys}},
        {"idempotency_key": 1, "status": 1, "reason": 1, "channel": 1},
    ).to_list(None):
        outcome[row["idempotency_key"]] = Queued(
            row["idempotency_key"],
            row["_id"],
            row["status"],
            row.get("reason"),
            row.get("channel"),
            duplicate=True,
        )
    fresh = [r for r in batch if r.idempotency_key not in outcome]
    fresh = list({r.idempotency_key: r for r in fresh}.values())
    if not fresh:
        return outcome
    rules = await _workspace_rules(workspace_id)
    ids = list({r.contact_id for r in fresh})
    contacts = {
        c["_id"]: c
        for c in await Contact.get_pymongo_collection()
        .find(
            {"_id": {"$in": ids}, "workspace_id": workspace_id},
            {"email": 1, "phone": 1, "consent": 1, "devices": 1, "properties.timezone": 1},
        )
        .to_list(None)
    }
    recent = await _recent_sends(workspace_id, ids, rules.caps, now)
    rows: list[dict[str, Any]] = []
    for request in fresh:
        row, decided = _decide(request, contacts.get(request.contact_id), rules, recent, now)
        rows.append(row)
        outcome[request.idempotency_key] = decided
        if decided.status in ("queued", "scheduled") and decided.channel:
            recent[request.contact_id].append((decided.channel, now))
    inserted = await _insert(rows)
    due = []
    for row in rows:
        decided = outcome[row["idempotency_key"]]
        if row["_id"] not in inserted:  # lost a race with an identical request
            existing = await messages.find_one(
                {"workspace_id": workspace_id, "idempotency_key": row["idempotency_key"]}
            )
            decided.message_id, decided.status = existing["_id"], existing["status"]
            decided.duplicate = True
            continue
        decided.message_id = row["_id"]
        if row["status"] == "queued":
            due.append(str(row["_id"]))
    await enqueue(workspace_id, due)
    return outcome


async def enqueue(workspace_id: PydanticObjectId, message_ids: list[str]) -> None:
    """Delivery jobs for queued rows of one workspace: `deliver_messages` per BATCH; a
    lone message keeps the one-message job `send_message` (the same code, a batch of one)."""
    chunks = deliver.batches(message_ids)
    single = [(str(workspace_id), chunk[0]) for chunk in chunks if len(chunk) == 1]
    many = [(str(workspace_id), chunk) for chunk in chunks if len(chunk) > 1]
    await jobs.enqueue_many("send_message", single)
    await jobs.enqueue_many("deliver_messages", many)


def _decide(
    request: SendRequest,
    contact: dict[str, Any] | None,
    rules: _Rules,
    recent: dict[PydanticObjectId, list[tuple[str, datetime]]],
    now: datetime,
) -> tuple[dict[str, Any], Queued]:
    row: dict[str, Any] = {
        "_id": PydanticObjectId(),
        "workspace_id": request.workspace_id,
        "idempotency_key": request.idempotency_key,
        "contact_id": request.contact_id,
        "source": request.source,
        "source_id": request.source_id,
        "step": request.step,
        "run": request.run,
        "variant": request.variant,
        "location_id": request.location_id,
        "event": request.event,
        "channel": request.channels[0] if request.channels else "",
        "provider": "",
        "to": None,
        "template": {},
        "status": "skipped",
        "reason": None,
        "attempts": 0,
        "due_at": None,
        "revenue": 0.0,
        "created_at": now,
    }

    def done(status: str, reason: str | None = None) -> tuple[dict[str, Any], Queued]:
        row["status"], row["reason"] = status, reason
        return row, Queued(request.idempotency_key, None, status, reason, row["channel"])

    if contact is None:
        return done("skipped", "contact_deleted")
    channel, passed = delivery.choose_channel(request.channels, contact)
    if channel is None:
        detail = ", ".join(f"{c}: {why}" for c, why in passed) or "no channel"
        return done("skipped", f"no_channel ({detail})")
    row["channel"] = channel
    row["to"] = delivery.address(channel, contact)
    row["template"] = dict(request.content.get(channel) or {})
    history = recent.get(request.contact_id, [])  # (channel, time): each cap filters
    if rules.caps and delivery.cap_reached(rules.caps, channel, history, now):
        return done("skipped", "frequency_cap")
    due = request.not_before if request.not_before and request.not_before > now else None
    reason = "send_time" if due else None
    tz = delivery.contact_timezone(contact, rules.timezone)
    opens = delivery.quiet_until(due or now, tz, rules.quiet)
    if opens is not None:
        due, reason = opens, "quiet_hours"
    if due is not None:
        row["due_at"] = due
        return done("scheduled", reason)
    row["due_at"] = now
    return done("queued")


async def _recent_sends(
    workspace_id: PydanticObjectId,
    ids: list[PydanticObjectId],
    caps: list[delivery.FrequencyCap],
    now: datetime,
) -> dict[PydanticObjectId, list[tuple[str, datetime]]]:
    recent: dict[PydanticObjectId, list[tuple[str, datetime]]] = defaultdict(list)
    if not caps:
        return recent
    since = now - timedelta(days=max(cap.days for cap in caps))
    # Planned: the contacts' rows on (workspace_id, contact_id, sent_at); the window and
    # the statuses in a second stage (a second operator field would defeat the index).
    cursor = await OutboundMessage.get_pymongo_collection().aggregate(
        [
            {"$match": {"workspace_id": workspace_id, "contact_id": {"$in": ids}}},
            {"$match": {"created_at": {"$gte": since}, "status": {"$in": list(CAP_COUNTED)}}},
            {
                "$project": {
                    "contact_id": 1,
                    "channel": 1,
                    "sent_at": 1,
                    "created_at": 1,
                    "due_at": 1,
                }
            },
        ]
    )
    for row in await cursor.to_list(None):
        at = row.get("sent_at") or row.get("due_at") or row["created_at"]
        recent[row["contact_id"]].append((row["channel"], _aware(at)))
    return recent


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _insert(rows: list[dict[str, Any]]) -> set[PydanticObjectId]:
    if not rows:
        return set()
    try:
        await OutboundMessage.get_pymongo_collection().insert_many(rows, ordered=False)
    except BulkWriteError as error:
        failed = set()
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            failed.add(problem["index"])
        return {row["_id"] for i, row in enumerate(rows) if i not in failed}
    return {row["_id"] for row in rows}


async def hold(workspace_id: PydanticObjectId, source_id: str) -> int:
    result = await OutboundMessage.get_pymongo_collection().update_many(
        {
            "workspace_id": workspace_id,
            "source_id": source_id,
            "status": {"$in": ["scheduled", "queued"]},
        },
        {"$set": {"status": "paused"}},
    )
    return result.modified_count


async def cancel(workspace_id: PydanticObjectId, source_id: str) -> int:
    """Messages of a cancelled source not yet handed to a provider are skipped."""
    result = await OutboundMessage.get_pymongo_collection().update_many(
        {
            "workspace_id": workspace_id,
            "source_id": source_id,
            "status": {"$in": ["scheduled", "queued", "paused"]},
        },
        {"$set": {"status": "skipped", "reason": "cancelled"}},
    )
    return result.modified_count


RELEASE_PAGE = 1000  # held rows released per round: never a whole audience in memory


async def release(
    workspace_id: PydanticObjectId, source_id: str, now: datetime | None = None
) -> int:
    """Held rows go back: those due later to scheduled, the rest to queued with their
    delivery jobs, a page at a time."""
    now = now or datetime.now(UTC)
    collection = OutboundMessage.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "source_id": source_id, "status": "paused"}
    # (workspace_id, source_id, status, due_at) serves both filters.
    later = await collection.update_many(
        {**scope, "due_at": {"$gt": now}}, {"$set": {"status": "scheduled"}}
    )
    released = later.modified_count
    while True:
        page = await collection.find(scope, {"_id": 1}).limit(RELEASE_PAGE).to_list(None)
        if not page:
            return released
        ids = [row["_id"] for row in page]
        moved = await collection.update_many(
            {"_id": {"$in": ids}, "workspace_id": workspace_id, "status": "paused"},
            {"$set": {"status": "queued", "due_at": now, "reason": None}},
        )
        released += moved.modified_count
        await enqueue(workspace_id, [str(i) for i in ids])
