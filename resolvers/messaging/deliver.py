"""Delivery in batches: claim many queued messages with one update, read them and their
contacts in one query each, render, call the providers concurrently (within each
provider's concurrency and rate limit), and record every outcome together
(messaging.outcomes).

Exactly-once: a row is claimed (queued -> sending, under a fresh claim token) before its
provider is called, and only rows this batch's update moved are sent; a duplicate job
finds them claimed or done and does nothing. The claimed rows are handed to their
providers together, right after the claim, so a worker that dies mid-batch leaves rows
whose outcome is genuinely unknown: the dispatcher closes them as interrupted after the
lease, never sends them again. A transient provider error puts the row back to queued and
the job runs again (with the provider's wait when it gave one); a rate window that is full
reschedules the row a second later. A single message is a batch of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from channels.base import DEFAULT_CONCURRENCY, Outgoing, Provider, SendError, SendResult
from documents.contact import Contact
from documents.inbox import InboxMessage
from documents.message import OutboundMessage
from documents.workspace import Location
from engine import delivery, templates
from engine.errors import InvalidInput
from engine.links import track_html
from resolvers.core import live
from resolvers.events import store
from resolvers.messaging import outcomes, providers, rate_limits, signed_links
from resolvers.messaging.outcomes import Outcome

log = logging.getLogger("reach.messaging")

DUPLICATE_KEY = 11000


MAX_ATTEMPTS = 5


BATCH = 50  # messages per delivery job: one claim, one read, one outcome write for all


class RetryLater(Exception):
    """The provider failed for now: the job should run again (after `delay_ms` if the
    provider asked for a wait, else with the queue's backoff)."""

    def __init__(self, message: str, delay_ms: int | None = None) -> None:
        super().__init__(message)
        self.delay_ms = delay_ms


def batches(message_ids: list[str]) -> list[list[str]]:
    """Message ids cut into delivery jobs of at most BATCH."""
    return [message_ids[i : i + BATCH] for i in range(0, len(message_ids), BATCH)]


async def deliver(workspace_id: str, message_id: str, now: datetime | None = None) -> str:
    """Send one queued message (a batch of one); returns its status after this attempt."""
    return (await deliver_batch(workspace_id, [message_id], now))[message_id]


async def deliver_batch(
    workspace_id: str, message_ids: list[str], now: datetime | None = None
) -> dict[str, str]:
    """Send the queued messages among `message_ids`; returns each id's status after this
    attempt ("noop" when it was not queued). Raises RetryLater after recording, when a
    provider failed transiently.

    The rows and their contacts are read once; each provider's share then goes in waves
    of the provider's concurrency: claim the wave (one update), read it back (one find),
    call the provider for all of it at once, record its outcomes (one bulk write, one
    event insert, one contact update). So a claimed row is always one being handed over,
    and a worker killed mid-batch leaves at most one wave per provider interrupted; the
    rest of its batch is still queued, for the dispatcher to hand to another worker."""
    fixed = now  # a caller's clock (tests); else each wave's own time
    now = now or datetime.now(UTC)
    wid = PydanticObjectId(workspace_id)
    ids = [PydanticObjectId(m) for m in dict.fromkeys(message_ids)]
    statuses = {str(i): "noop" for i in ids}
    queued = await _queued(wid, ids)
    if not queued:
        return statuses
    contacts = await _contacts(wid, queued)
    locations = await _locations(wid, queued)
    groups: dict[tuple[str, Any], list[OutboundMessage]] = defaultdict(list)
    for row in queued:
        groups[(row.channel, row.location_id)].append(row)
    retries: list[Outcome] = []
    for (channel, location_id), group in groups.items():
        provider, config = None, None
        if channel != "in_app":
            provider, config = await providers.provider_for(wid, channel, location_id)
        size = min(BATCH, int(getattr(provider, "concurrency", 0) or DEFAULT_CONCURRENCY))
        size = BATCH if provider is None else size
        for start in range(0, len(group), size):
            wave = await _claim(wid, [row.id for row in group[start : start + size]])
            if not wave:
                continue
            started = fixed or datetime.now(UTC)
            done = await _deliver_wave(wid, wave, provider, config, contacts, locations, started)
            # Stamped after the provider answered: a sent_at from before the call could
            # precede the send's rate-limit grant, and would under a slow provider.
            now = fixed or datetime.now(UTC)
            await outcomes.record(wid, wave[0].claim, done, contacts, now)
            for outcome in done:
                statuses[str(outcome.row.id)] = outcome.status
            retries += [o for o in done if o.status == "queued"]
    if retries:
        delays = [o.due_at for o in retries if o.due_at]
        delay = max((d - now).total_seconds() for d in delays) if delays else 0.0
        raise RetryLater(
            f"{len(retries)} sends failed for now: {retries[0].error}",
            int(delay * 1000) if delay > 0 else None,
        )
    return statuses


async def _queued(wid: PydanticObjectId, ids: list[PydanticObjectId]) -> list[OutboundMessage]:
    found = OutboundMessage.get_pymongo_collection().find(
        {"_id": {"$in": ids}, "workspace_id": wid, "status": "queued"},
        {
            "_id": 1,
            "channel": 1,
            "location_id": 1,
            "contact_id": 1,
            "workspace_id": 1,
            "idempotency_key": 1,
        },
    )
    return [OutboundMessage.model_validate(doc) for doc in await found.to_list(None)]


async def _claim(wid: PydanticObjectId, ids: list[PydanticObjectId]) -> list[OutboundMessage]:
    """Queued -> sending for every id still queued, under one fresh token; then read
    back exactly the rows this update moved (not findAndModify: SecantusDB scans for it)."""
    collection = OutboundMessage.get_pymongo_collection()
    token = PydanticObjectId()
    claimed = await collection.update_many(
        {"_id": {"$in": ids}, "workspace_id": wid, "status": "queued"},
        {
            "$set": {"status": "sending", "claimed_at": datetime.now(UTC), "claim": token},
            "$inc": {"attempts": 1},
        },
    )
    if not claimed.modified_count:  # sent, paused, claimed by another worker, or gone
        return []
    found = collection.find({"_id": {"$in": ids}, "workspace_id": wid, "claim": token})
    return [OutboundMessage.model_validate(doc) for doc in await found.to_list(None)]


async def _contacts(
    wid: PydanticObjectId, rows: list[OutboundMessage]
) -> dict[PydanticObjectId, dict[str, Any]]:
    ids = list({row.contact_id for row in rows if row.contact_id})
    if not ids:
        return {}
    found = Contact.get_pymongo_collection().find({"_id": {"$in": ids}, "workspace_id": wid})
    return {doc["_id"]: doc for doc in await found.to_list(None)}


async def _locations(
    wid: PydanticObjectId, rows: list[OutboundMessage]
) -> dict[PydanticObjectId, dict[str, Any]]:
    ids = list({row.location_id for row in rows if row.location_id})
    if not ids:
        return {}
    found = Location.get_pymongo_collection().find(
        {"_id": {"$in": ids}, "workspace_id": wid}, {"name": 1, "code": 1, "timezone": 1}
    )
    return {
        doc["_id"]: {k: doc.get(k) for k in ("name", "code", "timezone")}
        for doc in await found.to_list(None)
    }


async def _deliver_wave(
    wid: PydanticObjectId,
    wave: list[OutboundMessage],
    provider: Provider | None,
    config: Any,
    contacts: dict[PydanticObjectId, dict[str, Any]],
    locations: dict[PydanticObjectId, dict[str, Any]],
    now: datetime,
) -> list[Outcome]:
    """Consent, address and render checks, then every message of the wave to its
    provider at once (within the provider's rate window; the rest a second later)."""
    done: list[Outcome] = []
    ready: list[tuple[OutboundMessage, Any, dict[str, str]]] = []
    for row in wave:
        contact = contacts.get(row.contact_id)
        if contact is None:
            done.append(Outcome(row, "skipped", "contact_deleted"))
            continue
        if delivery.blocked_by_consent(row.channel, contact):
            done.append(Outcome(row, "skipped", "unsubscribed"))
            continue
        to = delivery.address(row.channel, contact)
        if to is None:
            done.append(Outcome(row, "skipped", "no_address"))
            continue
        try:
            rendered = _render(row, contact, locations.get(row.location_id))
        except InvalidInput as error:
            done.append(Outcome(row, "failed", f"render_failed: {error.message}"))
            continue
        ready.append((row, to, rendered))
    if provider is None:  # in-app: the inbox is ours
        return done + [await _deliver_in_app(row, rendered) for row, _, rendered in ready]
    limit = int((config.settings if config else {}).get("rate_per_second") or 0)
    allowed = ready
    if limit:
        allowed = []
        key = f"{wid}:{ready[0][0].channel}:{provider.name}" if ready else ""
        for item in ready:
            if await rate_limits.acquire(key, limit):
                allowed.append(item)
            else:
                later = now + timedelta(seconds=1)
                done.append(Outcome(item[0], "scheduled", "rate_limited", due_at=later))
    return done + list(
        await asyncio.gather(
            *(_send_one(provider, row, to, rendered, now) for row, to, rendered in allowed)
        )
    )


async def _send_one(
    provider: Provider,
    row: OutboundMessage,
    to: Any,
    rendered: dict[str, str],
    now: datetime,
) -> Outcome:
    try:
        result: SendResult = await provider.send(_outgoing(row, to, rendered))
    except SendError as error:
        if error.permanent or row.attempts >= MAX_ATTEMPTS:
            why = (
                str(error) if error.permanent else f"gave up after {row.attempts} attempts: {error}"
            )
            return Outcome(row, "failed", why, provider=provider.name)
        wait = now + timedelta(seconds=error.retry_after) if error.retry_after else None
        return Outcome(row, "queued", None, error=str(error), due_at=wait)
    except Exception as error:  # a provider bug: the request may have left
        log.exception("provider %s raised on message %s", provider.name, row.id)
        why = (
            f"outcome unknown: {type(error).__name__}: {error}; not retried, to never send twice"
        )[:400]
        return Outcome(row, "failed", why, provider=provider.name)
    return Outcome(
        row,
        "sent",
        provider=provider.name,
        provider_message_id=result.provider_message_id,
        rendered=rendered,
    )


def _render(
    row: OutboundMessage, contact: dict[str, Any], location: dict[str, Any] | None
) -> dict[str, str]:
    unsubscribe = signed_links.url("unsubscribe", row.workspace_id, row.id)
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
        unsubscribe = signed_links.url("unsubscribe", row.workspace_id, row.id)
        # The provider adds List-Unsubscribe-Post (one click, RFC 8058) for https links.
        headers = {"List-Unsubscribe": f"<{unsubscribe}>"}
        if html:
            html = track_html(
                html,
                lambda target: signed_links.url("click", row.workspace_id, row.id, target),
                signed_links.url("open", row.workspace_id, row.id),
                skip=(unsubscribe,),
            )
    url = _tracked_url(row, rendered.get("url", ""))
    status_callback = ""
    if row.channel in ("sms", "whatsapp", "rcs"):
        status_callback = signed_links.url("status", row.workspace_id, row.id)
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
        return signed_links.url("click", row.workspace_id, row.id, url)
    return url


async def _deliver_in_app(row: OutboundMessage, rendered: dict[str, str]) -> Outcome:
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
    return Outcome(row, "sent", provider="inbox", rendered=rendered)


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
    properties = {**outcomes.engagement_properties(row), **(extra or {})}
    return await store.record_engagement(
        row.workspace_id,
        row.contact_id,
        kind,
        row.channel,
        message_id=f"{kind}:{row.id}",
        properties=properties,
        at=at,
        contact=contact,
    )
