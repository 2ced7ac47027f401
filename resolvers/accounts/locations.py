"""Locations (outlets) of the caller's workspace."""

from __future__ import annotations

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.workspace import Location
from engine.access import Permission
from engine.errors import Conflict, NotFound
from engine.names import clean_code, clean_name, clean_timezone
from resolvers.core import audit, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate


async def get_location(ctx: RequestContext, location_id: str) -> Location | None:
    ctx.require(Permission.READ)
    oid = parse_id(location_id, "Location")
    if oid is None:
        return None
    return await Location.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def list_locations(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    ctx.require(Permission.READ)
    return await paginate(Location, {"workspace_id": ctx.workspace_id}, first, after)


async def create_location(
    ctx: RequestContext, name: str, code: str, timezone: str | None = None
) -> Location:
    ctx.require(Permission.ADMIN)
    location = Location(
        workspace_id=ctx.workspace_id,
        name=clean_name(name, "name"),
        code=clean_code(code, "code"),
        timezone=clean_timezone(timezone, "timezone") if timezone else None,
    )
    try:
        await location.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"A location with code '{location.code}' exists.", field="code") from error
    await audit.record(
        ctx.principal, "location.created", "location", location.id, {"name": location.name}
    )
    return location


async def rename_location(ctx: RequestContext, location_id: str, name: str) -> Location:
    ctx.require(Permission.ADMIN)
    location = await get_location(ctx, location_id)
    if location is None:
        raise NotFound("Location not found.", field="id")
    old, location.name = location.name, clean_name(name, "name")
    await location.save()
    await audit.record(
        ctx.principal, "location.renamed", "location", location.id, {"from": old, "to": name}
    )
    return location


async def locations_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Location]:
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Location, ids)
