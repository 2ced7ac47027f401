"""Engagement coming back: opens, clicks, unsubscribes, provider status callbacks and
replies. Each is stamped on the message row once (first time wins) and recorded as an
event on the contact (`<channel>_<kind>`), so analytics count rows and segments, goals
and journeys read events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from channels import twilio
from documents.contact import Contact
from documents.message import ENGAGEMENT_STAMPS, OutboundMessage
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.identity import identity_key
from resolvers.core import jobs, vault
from resolvers.messaging import deliver, providers, signed_links

# Status a callback moves a row to (others only stamp it).
STATUS_AFTER = {"delivered": "delivered", "bounced": "bounced", "failed": "failed"}


STOP_WORDS = re.compile(r"^\s*(stop|stopall|unsubscribe|cancel|end|quit)\s*[.!]?\s*$", re.I)


async def _row(workspace_id: PydanticObjectId, message_id: PydanticObjectId) -> OutboundMessage:
    row = await OutboundMessage.find_one({"_id": message_id, "workspace_id": workspace_id})
    if row is None or row.contact_id is None:
        raise NotFound("No such message.")
    return row


async def engage(
    row: OutboundMessage,
    kind: str,
    *,
    at: datetime | None = None,
    extra: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Stamp and record `kind` for a message; False when it was recorded before."""
    at = at or datetime.now(UTC)
    stamp = ENGAGEMENT_STAMPS[kind]
    update: dict[str, Any] = {stamp: at}
    if kind in STATUS_AFTER:
        update["status"] = STATUS_AFTER[kind]
        if error:
            update["reason"] = error
    if kind == "clicked":  # a click proves the open even when images were blocked
        await OutboundMessage.get_pymongo_collection().update_one(
            {"_id": row.id, "workspace_id": row.workspace_id, "opened_at": None},
            {"$set": {"opened_at": at}},
        )
    changed = await OutboundMessage.get_pymongo_collection().update_one(
        {"_id": row.id, "workspace_id": row.workspace_id, stamp: None}, {"$set": update}
    )
    if not changed.modified_count:
        return False
    return await deliver.record(row, kind, at=at, extra=extra)


async def link_opened(token: str) -> None:
    target = signed_links.parse("open", token)
    await engage(await _row(target.workspace_id, target.message_id), "opened")


async def link_clicked(token: str) -> str:
    """Record the click; returns where to redirect."""
    target = signed_links.parse("click", token)
    if not target.url.lower().startswith(("http://", "https://")):
        raise InvalidInput("This link is not valid.", code="BAD_LINK")
    row = await _row(target.workspace_id, target.message_id)
    await engage(row, "clicked", extra={"url": target.url[:2000]})
    return target.url


async def unsubscribe(token: str) -> OutboundMessage:
    target = signed_links.parse("unsubscribe", token)
    row = await _row(target.workspace_id, target.message_id)
    await engage(row, "unsubscribed")
    return row


STATUS_KINDS = {
    "delivered": "delivered",
    "bounced": "bounced",
    "failed": "failed",
    "read": "opened",
}


class NotSentYet(Exception):
    """A delivery report overtook our own record of the send: try again shortly."""


async def provider_status(
    token: str, url: str, form: Mapping[str, Any], signature: str | None
) -> str:
    """A Twilio-style delivery report for one of our messages (the URL names it): checked
    here (signature, shape), applied by the `provider_status` job, so the provider gets
    its answer at once and a failure to record is retried by the queue."""
    target = signed_links.parse("status", token)
    row = await _row(target.workspace_id, target.message_id)
    await _check_signature(row.workspace_id, row.channel, row.location_id, url, form, signature)
    try:
        update = twilio.parse_status(form)
    except ValueError as error:
        raise InvalidInput(f"Bad status callback: {error}", code="BAD_CALLBACK") from error
    if row.provider_message_id and update.provider_message_id != row.provider_message_id:
        raise InvalidInput("MessageSid does not match this message.", code="BAD_CALLBACK")
    if update.status in STATUS_KINDS:
        await jobs.enqueue(
            "provider_status",
            str(row.workspace_id),
            str(row.id),
            update.status,
            update.error,
            update.provider_message_id,
        )
    return update.status


async def apply_status(
    workspace_id: str, message_id: str, status: str, error: str | None, provider_id: str
) -> bool:
    """The job's body. A report that arrives before the send finished recording (fast
    providers call back within milliseconds) waits for it: NotSentYet makes it retry."""
    row = await _row(PydanticObjectId(workspace_id), PydanticObjectId(message_id))
    if row.status in ("scheduled", "queued", "sending", "paused"):
        raise NotSentYet(f"message {message_id} is {row.status}")
    if row.provider_message_id and provider_id != row.provider_message_id:
        return False
    return await engage(row, STATUS_KINDS[status], error=error)


async def provider_inbound(
    token: str, url: str, form: Mapping[str, Any], signature: str | None
) -> str:
    """A reply to one of our numbers: `replied` on the latest message to that contact on
    that channel; STOP and friends unsubscribe the contact from the channel."""
    target = signed_links.parse("inbound", token)
    workspace_id = target.workspace_id
    try:
        inbound = twilio.parse_inbound(form)
    except ValueError as error:
        raise InvalidInput(f"Bad inbound message: {error}", code="BAD_CALLBACK") from error
    await _check_signature(workspace_id, inbound.channel, None, url, form, signature)
    contact = await Contact.get_pymongo_collection().find_one(
        {"workspace_id": workspace_id, "identity_keys": identity_key("phone", inbound.from_)},
        {"_id": 1},
    )
    if contact is None:
        return "unknown_contact"
    # The contact's messages newest sent first, on (workspace_id, contact_id, sent_at);
    # the first sent one on the reply's channel is the one answered.
    row = None
    latest = (
        OutboundMessage.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "contact_id": contact["_id"]})
        .sort("sent_at", -1)
        .batch_size(20)
    )
    async for candidate in latest:
        if candidate.get("sent_at") is not None and candidate.get("channel") == inbound.channel:
            row = OutboundMessage.model_validate(candidate)
            break
    await latest.close()
    if row is None:
        return "no_message"
    if STOP_WORDS.match(inbound.body):
        await engage(row, "unsubscribed")
        return "unsubscribed"
    await engage(row, "replied", extra={"body": inbound.body[:1000]})
    return "replied"


async def _check_signature(
    workspace_id: PydanticObjectId,
    channel: str,
    location_id: PydanticObjectId | None,
    url: str,
    form: Mapping[str, Any],
    signature: str | None,
) -> None:
    """When the channel has a Twilio auth token, the callback must carry its signature."""
    row = await providers.config_for(workspace_id, channel, location_id)
    if row is None or row.provider != "twilio":
        return  # sandbox: the signed URL is the only credential
    token = vault.unseal(row.secrets).get("auth_token", "")
    if not twilio.verify_signature(token, url, form, signature):
        raise Forbidden("The X-Twilio-Signature header does not match.", code="BAD_SIGNATURE")


def inbound_url(workspace_id: PydanticObjectId) -> str:
    return signed_links.url("inbound", workspace_id, workspace_id)
