"""The message log: every send with its status, reason and engagement, newest first."""

from __future__ import annotations

from typing import Any

from documents.message import OutboundMessage
from engine.access import Permission
from engine.errors import InvalidInput
from resolvers.context import RequestContext, parse_id
from resolvers.pagination import Page, paginate

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
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id, "contact_id": {"$ne": None}}
    if contact_id is not None:
        query["contact_id"] = parse_id(contact_id)
    if source_id is not None:
        query["source_id"] = source_id
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}.", field="status")
        query["status"] = status
    return await paginate(OutboundMessage, query, first, after, newest_first=True)
