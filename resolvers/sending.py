"""Sending: one row per message, decided once, sent at most once.

`queue` writes an OutboundMessage per idempotency key *before* anything is sent, with the
channel chosen (priority order, address and consent), frequency caps and quiet hours
applied; rows due now get a `send_message` job. `deliver` (that job) claims its row
atomically (queued -> sending), checks consent again, renders the template against the
contact as it is now, calls the provider and records the outcome; a job delivered twice
finds the row claimed or done and does nothing. `dispatch_due` (every few seconds) wakes
rows whose time came and re-enqueues queued rows whose job was lost, so neither a
restart nor a lost Redis message loses a send.

A worker that dies during the provider call leaves its row in `sending`; after a lease the
dispatcher marks it failed ("interrupted") rather than sending again: we cannot know
whether the provider got it, and a duplicate is the one thing we promise not to do.
"""

from __future__ import annotations

import logging
import time as time_module
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import BulkWriteError

from channels.base import Outgoing, SendError
from documents.base import up_to
from documents.contact import Contact
from documents.inbox import InboxMessage
from documents.message import OutboundMessage
from documents.workspace import Location, Workspace
from engine import delivery, templates
from engine.errors import InvalidInput
from engine.links import track_html
from resolvers import channel_settings, ingest, jobs, links, live, rate_limits, runtime

log = logging.getLogger("reach.sending")

DUPLICATE_KEY = 11000
MAX_ATTEMPTS = 5
DISPATCH_LIMIT = 2000
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


# --- queueing ------------------------------------------------------------------------------


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
    if due:
        await jobs.enqueue_many("send_message", [(str(workspace_id), mid) for mid in due])
    return outcome


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


# --- pause and resume ------------------------------------------------------------------------


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


async def release(
    workspace_id: PydanticObjectId, source_id: str, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC)
    collection = OutboundMessage.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "source_id": source_id, "status": "paused"}
    # (workspace_id, source_id, status, due_at) serves both filters.
    later = await collection.update_many(
        {**scope, "due_at": {"$gt": now}}, {"$set": {"status": "scheduled"}}
    )
    due = [str(row["_id"]) for row in await collection.find(scope, {"_id": 1}).to_list(None)]
    if due:
        await collection.update_many(
            scope, {"$set": {"status": "queued", "due_at": now, "reason": None}}
        )
        await jobs.enqueue_many("send_message", [(str(workspace_id), mid) for mid in due])
    return later.modified_count + len(due)


# --- delivering one message ----------------------------------------------------------------


class RetryLater(Exception):
    """The provider failed for now: the job should run again (after `delay_ms` if the
    provider asked for a wait, else with the queue's backoff)."""

    def __init__(self, message: str, delay_ms: int | None = None) -> None:
        super().__init__(message)
        self.delay_ms = delay_ms


async def deliver(workspace_id: str, message_id: str, now: datetime | None = None) -> str:
    """Send one queued message; returns the row's final status for this attempt."""
    now = now or datetime.now(UTC)
    wid, mid = PydanticObjectId(workspace_id), PydanticObjectId(message_id)
    collection = OutboundMessage.get_pymongo_collection()
    # The claim: a conditional update by _id (not findAndModify, which SecantusDB serves
    # with a scan); only the worker whose update moved the row sends it.
    claim = await collection.update_one(
        {"_id": mid, "workspace_id": wid, "status": "queued"},
        {"$set": {"status": "sending", "claimed_at": now}, "$inc": {"attempts": 1}},
    )
    if claim.modified_count != 1:  # sent, paused, claimed by another worker, or never existed
        return "noop"
    claimed = await collection.find_one({"_id": mid, "workspace_id": wid})
    if claimed is None:  # deleted right after the claim
        return "noop"
    row = OutboundMessage.model_validate(claimed)
    contact = await Contact.get_pymongo_collection().find_one(
        {"_id": row.contact_id, "workspace_id": wid}
    )
    if contact is None:
        return await _finish(row, "skipped", reason="contact_deleted")
    if delivery.blocked_by_consent(row.channel, contact):
        return await _finish(row, "skipped", reason="unsubscribed")
    to = delivery.address(row.channel, contact)
    if to is None:
        return await _finish(row, "skipped", reason="no_address")
    try:
        rendered = await _render(row, contact)
    except InvalidInput as error:
        return await _finish(
            row, "failed", reason=f"render_failed: {error.message}", contact=contact
        )
    if row.channel == "in_app":
        return await _deliver_in_app(row, rendered, now, contact)
    provider, config = await channel_settings.provider_for(wid, row.channel, row.location_id)
    limit = int((config.settings if config else {}).get("rate_per_second") or 0)
    if limit and not await rate_limits.acquire(f"{wid}:{row.channel}:{provider.name}", limit):
        await collection.update_one(
            {"_id": mid, "workspace_id": wid, "status": "sending"},
            {
                "$set": {
                    "status": "scheduled",
                    "due_at": now + timedelta(seconds=1),
                    "reason": "rate_limited",
                },
                "$inc": {"attempts": -1},
            },
        )
        return "scheduled"
    outgoing = _outgoing(row, to, rendered)
    try:
        result = await provider.send(outgoing)
    except SendError as error:
        if error.permanent or row.attempts >= MAX_ATTEMPTS:
            why = (
                str(error) if error.permanent else f"gave up after {row.attempts} attempts: {error}"
            )
            return await _finish(row, "failed", reason=why, provider=provider.name, contact=contact)
        await collection.update_one(
            {"_id": mid, "workspace_id": wid, "status": "sending"},
            {"$set": {"status": "queued", "error": str(error), "due_at": now}},
        )
        delay = int(error.retry_after * 1000) if error.retry_after else None
        raise RetryLater(str(error), delay) from error
    return await _finish(
        row,
        "sent",
        provider=provider.name,
        provider_message_id=result.provider_message_id,
        rendered=rendered,
        at=now,
        contact=contact,
    )


async def _render(row: OutboundMessage, contact: dict[str, Any]) -> dict[str, str]:
    location = None
    if row.location_id:
        found = await Location.find_one({"_id": row.location_id, "workspace_id": row.workspace_id})
        location = found.model_dump(include={"name", "code", "timezone"}) if found else None
    unsubscribe = links.url("unsubscribe", row.workspace_id, row.id)
    context = templates.context_for(
        contact,
        event=row.event,
        location=location,
        message={"unsubscribe_url": unsubscribe, "id": str(row.id)},
    )
    rendered = {}
    for name, source in row.template.items():
        rendered[name] = templates.render(source, context, html=(name == "html"))
    return rendered


def _outgoing(row: OutboundMessage, to: Any, rendered: dict[str, str]) -> Outgoing:
    headers: dict[str, str] = {}
    html = rendered.get("html", "")
    if row.channel == "email":
        unsubscribe = links.url("unsubscribe", row.workspace_id, row.id)
        # The provider adds List-Unsubscribe-Post (one click, RFC 8058) for https links.
        headers = {"List-Unsubscribe": f"<{unsubscribe}>"}
        if html:
            html = track_html(
                html,
                lambda target: links.url("click", row.workspace_id, row.id, target),
                links.url("open", row.workspace_id, row.id),
                skip=(unsubscribe,),
            )
    url = _tracked_url(row, rendered.get("url", ""))
    status_callback = ""
    if row.channel in ("sms", "whatsapp", "rcs"):
        status_callback = links.url("status", row.workspace_id, row.id)
    return Outgoing(
        channel=row.channel,
        to=to,
        subject=rendered.get("subject", ""),
        text=rendered.get("text", ""),
        html=html,
        title=rendered.get("title", ""),
        body=rendered.get("body", ""),
        url=url,
        data={
            "message_id": str(row.id),
            "contact_id": str(row.contact_id),
            "source": row.source,
            "source_id": row.source_id or "",
        },
        headers=headers,
        idempotency_key=row.idempotency_key,
        status_callback=status_callback,
    )


def _tracked_url(row: OutboundMessage, url: str) -> str:
    """A push or in-app tap goes through the click redirect, which records it."""
    if url.lower().startswith(("http://", "https://")):
        return links.url("click", row.workspace_id, row.id, url)
    return url


async def _deliver_in_app(
    row: OutboundMessage, rendered: dict[str, str], now: datetime, contact: dict[str, Any]
) -> str:
    inbox = InboxMessage(
        workspace_id=row.workspace_id,
        contact_id=row.contact_id,
        message_id=row.id,
        title=rendered.get("title", ""),
        body=rendered.get("body", ""),
        url=_tracked_url(row, rendered.get("url", "")),
        data={"source": row.source, "source_id": row.source_id},
    )
    try:
        await inbox.insert()
    except Exception as error:  # DuplicateKeyError: delivered by an earlier attempt
        if getattr(error, "code", None) != DUPLICATE_KEY:
            raise
    await live.publish(row.workspace_id, f"inbox:{row.contact_id}", {"messageId": str(row.id)})
    return await _finish(row, "sent", provider="inbox", rendered=rendered, at=now, contact=contact)


async def _finish(
    row: OutboundMessage,
    status: str,
    *,
    reason: str | None = None,
    provider: str = "",
    provider_message_id: str | None = None,
    rendered: dict[str, str] | None = None,
    at: datetime | None = None,
    contact: dict[str, Any] | None = None,
) -> str:
    now = at or datetime.now(UTC)
    update: dict[str, Any] = {"status": status, "reason": reason}
    if provider:
        update["provider"] = provider
    if status == "sent":
        update |= {"sent_at": now, "provider_message_id": provider_message_id, "error": None}
        rendered = rendered or {}
        update |= {k: rendered[k][:20_000] for k in ("subject", "text", "html") if k in rendered}
    if status == "failed":
        update |= {"failed_at": now, "error": reason}
    await OutboundMessage.get_pymongo_collection().update_one(
        {"_id": row.id, "workspace_id": row.workspace_id, "status": "sending"}, {"$set": update}
    )
    if status in ("sent", "failed") and row.contact_id:
        await record(row, "sent" if status == "sent" else "failed", at=now, contact=contact)
    await runtime.get().redis.hincrby(jobs.sends_counter_key(), f"{row.channel}|{status}", 1)
    await live.publish(
        row.workspace_id,
        f"sending:{row.source_id}",
        {"messageId": str(row.id), "status": status, "channel": row.channel},
    )
    return status


async def record(
    row: OutboundMessage,
    kind: str,
    *,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
) -> bool:
    """Engagement as an event on the contact (email_opened, sms_delivered, ...), carrying
    where it came from so segments, goals and journeys can read it. Once per message and
    kind (the event's message id is derived from both)."""
    properties = {
        "message_id": str(row.id),
        "source": row.source,
        "source_id": row.source_id,
        f"{row.source}_id": row.source_id,
        "step": row.step,
        "variant": row.variant,
        "run": row.run,
        **(extra or {}),
    }
    return await ingest.record_engagement(
        row.workspace_id,
        row.contact_id,
        kind,
        row.channel,
        message_id=f"{kind}:{row.id}",
        properties=properties,
        at=at,
        contact=contact,
    )


# --- the dispatcher ----------------------------------------------------------------------------


def _contact_sends(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dispatcher leaves system mail (invitations, no contact) to its own job. Those
    rows never get due_at or claimed_at, so the sweeps do not find them; kept as a guard."""
    return [row for row in rows if row.get("contact_id") is not None]


async def dispatch_due(now: datetime | None = None) -> dict[str, int]:
    """Wake scheduled rows whose time came, re-enqueue queued rows whose job was lost, and
    close rows left `sending` by a worker that died mid-call. Runs across workspaces.

    Each sweep is {status, due_at | claimed_at: {$lte}} on (status, due_at | claimed_at):
    range operators never match null, as on MongoDB, so rows without the date are out."""
    now = now or datetime.now(UTC)
    config = runtime.get()
    requeue_after = timedelta(seconds=config.send_requeue_seconds)
    lease = timedelta(seconds=config.send_lease_seconds)
    collection = OutboundMessage.get_pymongo_collection()
    counts = {"woken": 0, "requeued": 0, "interrupted": 0}
    projection = {"workspace_id": 1, "contact_id": 1}
    due = _contact_sends(
        await collection.find({"status": "scheduled", "due_at": up_to(now)}, projection)
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    stale = _contact_sends(
        await collection.find(
            {"status": "queued", "due_at": up_to(now - requeue_after)}, projection
        )
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    jobs_out = []
    if due:
        result = await collection.update_many(
            {"_id": {"$in": [r["_id"] for r in due]}, "status": "scheduled"},
            {"$set": {"status": "queued", "due_at": now}},
        )
        counts["woken"] = result.modified_count
        jobs_out += due
    if stale:
        await collection.update_many(
            {"_id": {"$in": [r["_id"] for r in stale]}, "status": "queued"},
            {"$set": {"due_at": now}},
        )
        counts["requeued"] = len(stale)
        jobs_out += stale
    if jobs_out:
        await jobs.enqueue_many(
            "send_message", [(str(r["workspace_id"]), str(r["_id"])) for r in jobs_out]
        )
    cutoff = now - lease
    left = _contact_sends(
        await collection.find({"status": "sending", "claimed_at": up_to(cutoff)}, projection)
        .limit(DISPATCH_LIMIT)
        .to_list(None)
    )
    if not left:
        return counts
    interrupted = await collection.update_many(
        # Still sending and still past its lease: a row finished (or claimed again)
        # since the read is left alone.
        {
            "_id": {"$in": [r["_id"] for r in left]},
            "status": "sending",
            "claimed_at": up_to(cutoff),
        },
        {
            "$set": {
                "status": "failed",
                "failed_at": now,
                "reason": "interrupted: the worker stopped during the provider call; "
                "not retried, to never send twice",
            }
        },
    )
    counts["interrupted"] = interrupted.modified_count
    return counts
