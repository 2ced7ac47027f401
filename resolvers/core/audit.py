"""Audit entries for account-setup actions, published live to the workspace."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.audit import AuditEntry
from engine.access import Permission
from resolvers.core import live
from resolvers.core.context import Principal, RequestContext
from resolvers.core.lookup import by_ids
from resolvers.core.pagination import Page, paginate

TOPIC = "audit"


async def record(
    principal: Principal,
    action: str,
    target_type: str,
    target_id: Any,
    details: dict[str, Any] | None = None,
    *,
    workspace_id: PydanticObjectId | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        workspace_id=workspace_id or principal.workspace_id,
        action=action,
        actor_kind=principal.kind,
        actor_id=principal.actor_id,
        actor_label=principal.label,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
    )
    await entry.insert()
    await live.publish(entry.workspace_id, TOPIC, {"id": str(entry.id)})
    return entry


async def list_entries(
    ctx: RequestContext, first: int | None, after: str | None, action: str | None = None
) -> Page[AuditEntry]:
    ctx.require(Permission.ADMIN)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if action:
        query["action"] = action
    return await paginate(AuditEntry, query, first, after, newest_first=True)


async def get_entry(ctx: RequestContext, entry_id: str) -> AuditEntry | None:
    ctx.require(Permission.ADMIN)
    return await AuditEntry.find_one(
        {"_id": PydanticObjectId(entry_id), "workspace_id": ctx.workspace_id}
    )


async def watch(ctx: RequestContext):
    """Yield each new audit entry of the caller's workspace as it is recorded."""
    ctx.require(Permission.ADMIN)
    async for event in live.subscribe(ctx.workspace_id, TOPIC):
        entry = await get_entry(ctx, event["id"])
        if entry is not None:
            yield entry


async def audit_entries_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, AuditEntry]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.ADMIN)
    return await by_ids(ctx, AuditEntry, ids)
