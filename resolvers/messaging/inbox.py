"""The in-app inbox of a contact: what in-app sends delivered, read and dismissed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from beanie import PydanticObjectId

from documents.inbox import InboxMessage
from documents.message import OutboundMessage
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from resolvers.contacts import read
from resolvers.core import live, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.messaging import engagement


async def list_inbox(
    ctx: RequestContext,
    contact_id: str,
    first: int | None,
    after: str | None,
    unread_only: bool = False,
) -> Page[InboxMessage]:
    ctx.require(Permission.READ)
    contact = await read.get_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("No such contact.", field="contactId")
    query = {"workspace_id": ctx.workspace_id, "contact_id": contact.id, "dismissed_at": None}
    if unread_only:
        query["read_at"] = None
    return await paginate(InboxMessage, query, first, after, newest_first=True)


async def mark(ctx: RequestContext, inbox_id: str, action: str) -> InboxMessage:
    """read | dismissed. Reading records `in_app_opened` on the message once."""
    ctx.require(Permission.WRITE)
    if action not in ("read", "dismissed"):
        raise InvalidInput("action must be read or dismissed.", field="action")
    oid = parse_id(inbox_id, "InboxItem")
    item = oid and await InboxMessage.find_one({"_id": oid, "workspace_id": ctx.workspace_id})
    if not item:
        raise NotFound("No such inbox message.", field="id")
    now = datetime.now(UTC)
    stamps = {}
    if item.read_at is None:
        item.read_at = stamps["read_at"] = now
    if action == "dismissed" and item.dismissed_at is None:
        item.dismissed_at = stamps["dismissed_at"] = now
    if stamps:  # update_one by _id, not Beanie's save (a findAndModify, a scan on SecantusDB)
        await InboxMessage.get_pymongo_collection().update_one(
            {"_id": item.id, "workspace_id": ctx.workspace_id}, {"$set": stamps}
        )
    row = await OutboundMessage.find_one({"_id": item.message_id, "workspace_id": ctx.workspace_id})
    if row is not None:
        await engagement.engage(row, "opened", at=now)
    return item


async def watch(ctx: RequestContext, contact_id: str) -> AsyncIterator[str]:
    """Ids of messages landing in a contact's inbox, as they land."""
    ctx.require(Permission.READ)
    contact = await read.get_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("No such contact.", field="contactId")
    async for payload in live.subscribe(ctx.workspace_id, f"inbox:{contact.id}"):
        yield payload["messageId"]


async def inbox_items_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, InboxMessage]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, InboxMessage, ids)
