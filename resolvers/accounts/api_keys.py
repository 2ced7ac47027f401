"""API keys: secret keys (server-side, scoped) and write keys (per property, tracking only).

The plaintext is returned once, at issue time; only its hash is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.credential import ApiKey
from engine.access import Permission, parse_scopes
from engine.errors import InvalidInput, NotFound
from engine.keys import SECRET_PREFIX, WRITE_PREFIX, new_key
from engine.names import clean_name
from resolvers.accounts import revocations
from resolvers.accounts.sdk_properties import get_property
from resolvers.core import audit, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate


async def issue_secret_key(
    ctx: RequestContext, name: str, scopes: list[str] | None
) -> tuple[ApiKey, str]:
    ctx.require(Permission.ADMIN)
    known, unknown = parse_scopes(scopes if scopes is not None else list(Permission))
    if unknown:
        known_names = ", ".join(p.value for p in Permission)
        raise InvalidInput(
            f"Unknown scopes: {', '.join(unknown)}. Known: {known_names}.", field="scopes"
        )
    if not known:
        raise InvalidInput("A key needs at least one scope.", field="scopes")
    granted = [p for p in known if ctx.principal.can(p)]
    if len(granted) != len(known):
        raise InvalidInput("A key may not have scopes its issuer lacks.", field="scopes")
    return await _issue(ctx, "secret", SECRET_PREFIX, name, [p.value for p in known])


async def issue_write_key(ctx: RequestContext, property_id: str, name: str) -> tuple[ApiKey, str]:
    ctx.require(Permission.ADMIN)
    prop = await get_property(ctx, property_id)
    if prop is None:
        raise NotFound("Property not found.", field="propertyId")
    return await _issue(
        ctx, "write", WRITE_PREFIX, name, [Permission.TRACK.value], property_id=prop.id
    )


async def _issue(
    ctx: RequestContext, kind: str, prefix: str, name: str, scopes: list[str], **extra: Any
) -> tuple[ApiKey, str]:
    generated = new_key(prefix)
    key = ApiKey(
        workspace_id=ctx.workspace_id,
        organization_id=ctx.principal.organization_id,
        kind=kind,
        name=clean_name(name, "name"),
        prefix=generated.prefix,
        key_hash=generated.hash,
        scopes=scopes,
        created_by=ctx.principal.label,
        **extra,
    )
    await key.insert()
    await audit.record(
        ctx.principal,
        f"{kind}_key.issued",
        "api_key",
        key.id,
        {"name": key.name, "prefix": key.prefix, "scopes": scopes},
    )
    return key, generated.plaintext


async def revoke_key(ctx: RequestContext, key_id: str) -> ApiKey:
    ctx.require(Permission.ADMIN)
    oid = parse_id(key_id, "ApiKey")
    key = await ApiKey.find_one({"_id": oid, "workspace_id": ctx.workspace_id}) if oid else None
    if key is None:
        raise NotFound("API key not found.", field="id")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await key.save()
        await revocations.bump(key_id=key.id)  # live subscriptions on this key end
        await audit.record(
            ctx.principal, f"{key.kind}_key.revoked", "api_key", key.id, {"prefix": key.prefix}
        )
    return key


async def list_keys(
    ctx: RequestContext, first: int | None, after: str | None, kind: str | None
) -> Page:
    ctx.require(Permission.ADMIN)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if kind:
        query["kind"] = kind
    return await paginate(ApiKey, query, first, after)


async def api_keys_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, ApiKey]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.ADMIN)
    return await lookup.by_ids(ctx, ApiKey, ids)
