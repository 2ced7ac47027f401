"""The message log: every send with its status, reason and engagement, newest first.

Pages are keyset reads over `_id` like core.pagination's, as aggregates: the first
$match (the one planned) is equalities served by an index ending in `_id`
(workspace_id[, contact_id | source_id], _id), plus `_id: {$lt}` after a cursor; the other
filters, and leaving out system mail (no contact), come in a second $match. System mail
is a few invitations per workspace, so the second stage drops little.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.message import OutboundMessage
from engine.access import Permission
from engine.cursors import clamp_page_size, decode_cursor, encode_cursor
from engine.errors import InvalidInput
from resolvers.core import lookup, runtime
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page

STATUSES = (
    "scheduled",
    "queued",
    "sending",
    "paused",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "skipped",
)


DEFAULT_SIZE = 20


def _cursor(after: str) -> PydanticObjectId:
    position = decode_cursor(after)
    if not PydanticObjectId.is_valid(position):
        raise InvalidInput("Invalid cursor.", field="after", code="INVALID_CURSOR")
    return PydanticObjectId(position)


async def list_messages(
    ctx: RequestContext,
    first: int | None,
    after: str | None,
    *,
    contact_id: str | None = None,
    source_id: str | None = None,
    status: str | None = None,
) -> Page[OutboundMessage]:
    ctx.require(Permission.READ)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}.", field="status")
    size = clamp_page_size(first, DEFAULT_SIZE, runtime.get().page_size_max)
    planned: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    rest: dict[str, Any] = {}
    if contact_id is not None:  # the most selective filter is the planned one
        planned["contact_id"] = parse_id(contact_id, "Contact")
    else:
        rest["contact_id"] = {"$ne": None}
    if source_id is not None:
        (planned if contact_id is None else rest)["source_id"] = source_id
    if status is not None:
        rest["status"] = status
    first_match = {**planned, "_id": {"$lt": _cursor(after)}} if after else planned
    collection = OutboundMessage.get_pymongo_collection()
    rows = await (
        await collection.aggregate(
            [
                {"$match": first_match},
                {"$sort": {"_id": -1}},
                {"$match": rest},
                {"$limit": size + 1},
            ]
        )
    ).to_list(None)

    async def count() -> int:
        counted = await (
            await collection.aggregate([{"$match": planned}, {"$match": rest}, {"$count": "n"}])
        ).to_list(None)
        return counted[0]["n"] if counted else 0

    items = [OutboundMessage.model_validate(row) for row in rows[:size]]
    return Page(
        items=items,
        cursors=[encode_cursor(str(item.id)) for item in items],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
        count=count,
    )


async def messages_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, OutboundMessage]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, OutboundMessage, ids)
