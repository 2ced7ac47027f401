"""Delivery: claim one queued message, render it, call its provider once, record the outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from channels.base import Outgoing, SendError
from documents.contact import Contact
from documents.inbox import InboxMessage
from documents.message import OutboundMessage
from documents.workspace import Location
from engine import delivery, templates
from engine.errors import InvalidInput
from engine.links import track_html
from resolvers.core import jobs, live, runtime
from resolvers.events import store
from resolvers.messaging import providers, rate_limits, signed_links

DUPLICATE_KEY = 11000


MAX_ATTEMPTS = 5


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
    provider, config = await providers.provider_for(wid, row.channel, row.location_id)
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
