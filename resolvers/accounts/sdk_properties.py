"""Properties (SDK installs) of the caller's workspace."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.workspace import Property
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from engine.names import clean_name
from resolvers.accounts.locations import get_location
from resolvers.core import audit, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate

PLATFORMS = ("web", "ios", "android", "kiosk", "server")


async def get_property(ctx: RequestContext, property_id: str) -> Property | None:
    ctx.require(Permission.READ)
    oid = parse_id(property_id, "Property")
    if oid is None:
        return None
    return await Property.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def list_properties(ctx: RequestContext, first: int | None, after: str | None) -> Page:
    ctx.require(Permission.READ)
    return await paginate(Property, {"workspace_id": ctx.workspace_id}, first, after)


async def create_property(
    ctx: RequestContext, name: str, platform: str = "web", location_id: str | None = None
) -> Property:
    ctx.require(Permission.ADMIN)
    if platform not in PLATFORMS:
        raise InvalidInput(f"Platform must be one of {', '.join(PLATFORMS)}.", field="platform")
    location = None
    if location_id is not None:
        location = await get_location(ctx, location_id)
        if location is None:
            raise NotFound("Location not found.", field="locationId")
    prop = Property(
        workspace_id=ctx.workspace_id,
        name=clean_name(name, "name"),
        platform=platform,
        location_id=location.id if location else None,
    )
    await prop.insert()
    await audit.record(ctx.principal, "property.created", "property", prop.id, {"name": prop.name})
    return prop


async def rename_property(ctx: RequestContext, property_id: str, name: str) -> Property:
    ctx.require(Permission.ADMIN)
    prop = await get_property(ctx, property_id)
    if prop is None:
        raise NotFound("Property not found.", field="id")
    old, prop.name = prop.name, clean_name(name, "name")
    await prop.save()
    await audit.record(
        ctx.principal, "property.renamed", "property", prop.id, {"from": old, "to": prop.name}
    )
    return prop


async def properties_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, Property]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Property, ids)
