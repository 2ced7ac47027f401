"""Engagement stored as ordinary events on the contact, so segments, goals and journeys read
one stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import BulkWriteError

from documents.contact import Contact
from documents.event import Event
from engine.errors import InvalidInput
from engine.identity import Identity, IdentityIndex
from engine.messages import parse_message
from resolvers.core import live
from resolvers.events.batch import IngestResult, Parsed
from resolvers.events.contact_writes import (
    DUPLICATE_KEY,
    update_contacts,
)
from resolvers.partners import outbox
from resolvers.partners.event_types import EVENT_TYPES
from resolvers.reactions import dispatch
from resolvers.segments import membership

ENGAGEMENTS = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "replied",
    "unsubscribed",
    "converted",
    "failed",
)


# The live notice of stored events: {names: [name_key, ...]} per batch and workspace.
EVENTS_STORED_TOPIC = "events:stored"


async def record_engagement(
    workspace_id: PydanticObjectId,
    contact_id: PydanticObjectId,
    kind: str,
    channel: str,
    *,
    message_id: str,
    properties: dict[str, Any] | None = None,
    at: datetime | None = None,
    contact: dict[str, Any] | None = None,
) -> bool:
    """Engagement is an ordinary event on the contact: `<channel>_<kind>` (email_opened),
    with the campaign/journey/message ids in its properties, so segments, goals and
    analytics read it like any other. `message_id` makes provider retries idempotent.
    An unsubscribe also records the consent decision. Returns False for a duplicate.
    `contact`, when given, is the contact's stored document (read by the caller)."""
    if kind not in ENGAGEMENTS:
        raise InvalidInput(f"Unknown engagement {kind!r}.", field="kind")
    received_at = datetime.now(UTC)
    raw = {
        "type": "track",
        "userId": "-",  # parse_message needs an identifier; the contact is known already
        "event": f"{channel}_{kind}",
        "messageId": message_id,
        "properties": {**(properties or {}), "channel": channel},
        "timestamp": (at or received_at).isoformat(),
    }
    message = parse_message(raw, received_at)
    message.user_id = None
    item = Parsed(0, message, Identity(), key=str(contact_id))
    inserted = await insert_events(workspace_id, [item], "engagement")
    if not inserted:
        return False
    # A caller that just read the contact (a send) passes it: one round trip fewer.
    stored = contact or await Contact.get_pymongo_collection().find_one(
        {"_id": contact_id, "workspace_id": workspace_id}
    )
    changed = await update_contacts(
        workspace_id,
        [item],
        inserted,
        {str(contact_id): stored or {}},
        IdentityIndex(),
        {},
        IngestResult(),
    )
    # The event, and the contact date it moved (an open moves last_active_at).
    refs = {("event", f"{channel}_{kind}"), *changed.get(str(contact_id), ())}
    if kind == "unsubscribed":
        decision = {"status": "unsubscribed", "at": message.timestamp, "source": "engagement"}
        await Contact.get_pymongo_collection().update_one(
            {"_id": contact_id, "workspace_id": workspace_id},
            {"$set": {f"consent.{channel}": decision}},
        )
        refs.add(("consent", channel))
    await membership.reevaluate(workspace_id, {str(contact_id): refs})
    await dispatch.events_stored(workspace_id, inserted.values())
    if f"message.{kind}" in EVENT_TYPES:  # delivered, opened, clicked, bounced (once each)
        data = {"contact_id": str(contact_id), "channel": channel, **(properties or {})}
        await outbox.emit(workspace_id, f"message.{kind}", data)
    return True


async def insert_events(
    workspace_id: PydanticObjectId, parsed: list[Parsed], source: str
) -> dict[int, dict[str, Any]]:
    """Insert every event; return the new ones (index into `parsed` -> stored document)."""
    documents = []
    for item in parsed:
        document = item.message.document()
        document.update(
            {
                "_id": PydanticObjectId(),
                "workspace_id": workspace_id,
                "contact_id": PydanticObjectId(item.key),
                "source": source,
                "created_at": item.message.received_at,
            }
        )
        documents.append(document)
    duplicates: set[int] = set()
    try:
        await Event.get_pymongo_collection().insert_many(documents, ordered=False)
    except BulkWriteError as error:
        for problem in error.details["writeErrors"]:
            if problem["code"] != DUPLICATE_KEY:
                raise
            duplicates.add(problem["index"])
    stored = {i: documents[i] for i in range(len(parsed)) if i not in duplicates}
    if stored:
        # One notice per stored batch (live trends re-count on it), never one per event.
        names = sorted({d["name_key"] for d in stored.values() if d.get("name_key")})
        await live.publish(workspace_id, EVENTS_STORED_TOPIC, {"names": names})
    return stored
