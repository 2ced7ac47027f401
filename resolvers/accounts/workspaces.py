"""Workspaces: list, create and rename within the caller's organization."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.workspace import Workspace
from engine.access import Permission, permissions_for_role
from engine.errors import Forbidden, NotFound
from engine.identifiers import clean_country
from engine.names import clean_name, clean_timezone
from resolvers.accounts.auth import role_in_workspace
from resolvers.core import audit
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate


async def current(ctx: RequestContext) -> Workspace:
    workspace = await Workspace.get(ctx.workspace_id)
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace


async def phone_region(workspace_id: PydanticObjectId) -> str | None:
    """The country assumed for phone numbers written without a country code."""
    workspace = await Workspace.get(workspace_id)
    return workspace.default_country if workspace else None


async def list_workspaces(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    """Users see their organization's workspaces; an API key sees only its own."""
    ctx.require(Permission.READ)
    if ctx.principal.user_id is None:
        query = {"_id": ctx.workspace_id}
    else:
        query = {"organization_id": ctx.principal.organization_id}
    return await paginate(Workspace, query, first, after)


async def _administered(ctx: RequestContext, workspace_id: str) -> Workspace:
    """A workspace the caller may administer, or NotFound (never a hint that it exists)."""
    ctx.require(Permission.ADMIN)
    oid = parse_id(workspace_id, "Workspace")
    if oid == ctx.workspace_id:
        workspace = await Workspace.get(oid)
    elif oid is not None and ctx.principal.user_id is not None:
        workspace = await Workspace.find_one(
            {"_id": oid, "organization_id": ctx.principal.organization_id}
        )
        if workspace is not None:
            role = await role_in_workspace(ctx.principal.user_id, workspace)
            if role is None or Permission.ADMIN not in permissions_for_role(role):
                raise Forbidden("You are not an admin of that workspace.", field="id")
    else:
        workspace = None
    if workspace is None:
        raise NotFound("Workspace not found.", field="id")
    return workspace


async def create_workspace(ctx: RequestContext, name: str, timezone: str = "UTC") -> Workspace:
    ctx.require(Permission.ADMIN)
    if ctx.principal.user_id is None:
        raise Forbidden("API keys belong to one workspace; a dashboard admin creates workspaces.")
    workspace = Workspace(
        organization_id=ctx.principal.organization_id,
        name=clean_name(name, "name"),
        timezone=clean_timezone(timezone, "timezone"),
    )
    await workspace.insert()
    details = {"name": workspace.name}
    await audit.record(ctx.principal, "workspace.created", "workspace", workspace.id, details)
    await audit.record(
        ctx.principal,
        "workspace.created",
        "workspace",
        workspace.id,
        details,
        workspace_id=workspace.id,
    )
    return workspace


async def rename_workspace(ctx: RequestContext, workspace_id: str, name: str) -> Workspace:
    workspace = await _administered(ctx, workspace_id)
    old, workspace.name = workspace.name, clean_name(name, "name")
    await workspace.save()
    await audit.record(
        ctx.principal,
        "workspace.renamed",
        "workspace",
        workspace.id,
        {"from": old, "to": workspace.name},
        workspace_id=workspace.id,
    )
    return workspace


async def update_workspace(
    ctx: RequestContext,
    workspace_id: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
    default_country: str | None = None,
) -> Workspace:
    """Settings of a workspace: name, timezone, default phone country ("" clears it)."""
    workspace = await _administered(ctx, workspace_id)
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = clean_name(name, "name")
    if timezone is not None:
        changes["timezone"] = clean_timezone(timezone, "timezone")
    if default_country is not None:
        changes["default_country"] = clean_country(default_country) if default_country else None
    if changes:
        for key, value in changes.items():
            setattr(workspace, key, value)
        await workspace.save()
        await audit.record(
            ctx.principal,
            "workspace.updated",
            "workspace",
            workspace.id,
            {k: v for k, v in changes.items()},
            workspace_id=workspace.id,
        )
    return workspace


async def workspaces_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, Workspace]:
    """`node` fetch: only the caller's own workspace (another workspace's id is absent)."""
    ctx.require(Permission.READ)
    if ctx.workspace_id not in {parse_id(i) for i in ids}:
        return {}
    found = await Workspace.get(ctx.workspace_id)
    return {found.id: found} if found else {}
