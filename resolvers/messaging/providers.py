"""Which provider sends each channel, per workspace and per outlet; credentials sealed.

`provider_for` is on the send path: it reads the outlet's row, else the brand's, and keeps
built providers in a small cache keyed by the row's update time, so a send costs no extra
decryption and a changed configuration takes effect on the next message.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from channels import registry
from channels.base import Provider
from channels.sandbox import Sandbox
from documents.channel import ChannelConfig
from documents.workspace import Location
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from resolvers.core import audit, lookup, vault
from resolvers.core.context import RequestContext, parse_id

_cache: dict[tuple[str, str, str], tuple[datetime, Provider]] = {}


_rows: dict[tuple[str, str, str], tuple[float, ChannelConfig | None]] = {}


CACHE_MAX = 512


CONFIG_TTL = 5.0


SENDING_FIELDS = {"rate_per_second"}


def _split(channel: str, provider: str, config: dict[str, Any]) -> tuple[dict, dict]:
    secret_names = registry.SECRET_FIELDS.get(provider, frozenset())
    secret = {k: v for k, v in config.items() if k in secret_names}
    public = {k: v for k, v in config.items() if k not in secret_names}
    return public, secret


async def configure(
    ctx: RequestContext,
    channel: str,
    provider: str,
    config: dict[str, Any],
    location_id: str | None = None,
    enabled: bool = True,
) -> ChannelConfig:
    ctx.require(Permission.ADMIN)
    if channel not in registry.CHANNELS:
        raise InvalidInput(
            f"Unknown channel {channel!r}; one of {', '.join(registry.CHANNELS)}.", field="channel"
        )
    if not isinstance(config, dict):
        raise InvalidInput("config must be a JSON object.", field="config")
    location = None
    if location_id is not None:
        lid = parse_id(location_id, "Location")
        location = lid and await Location.find_one({"_id": lid, "workspace_id": ctx.workspace_id})
        if location is None:
            raise NotFound("No such location in this workspace.", field="locationId")
    # Ours, not the provider's: how fast sends may go through it, across all workers.
    rate = config.get("rate_per_second")
    if rate is not None and (
        not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 10_000
    ):
        raise InvalidInput(
            "rate_per_second must be a whole number 1..10000.", field="config.rate_per_second"
        )
    full = {k: v for k, v in config.items() if k not in SENDING_FIELDS} | {"provider": provider}
    problems = registry.validate(channel, full)
    if problems:
        raise InvalidInput("; ".join(problems), field="config", code="CHANNEL_CONFIG_INVALID")
    public, secret = _split(channel, provider, full)
    if rate is not None:
        public["rate_per_second"] = rate
    scope = {
        "workspace_id": ctx.workspace_id,
        "channel": channel,
        "location_id": location.id if location else None,
    }
    row = await ChannelConfig.find_one(scope)
    now = datetime.now(UTC)
    if row is None:
        row = ChannelConfig(**scope, provider=provider)
    row.provider = provider
    row.settings = public
    row.secrets = vault.seal(secret)
    row.enabled = enabled
    row.updated_at = now
    await row.save()
    _rows.clear()
    await audit.record(
        ctx.principal,
        "channel.configured",
        "channel",
        channel,
        {"provider": provider, "location_id": location_id, "enabled": enabled},
    )
    return row


async def list_configs(ctx: RequestContext) -> list[ChannelConfig]:
    ctx.require(Permission.READ)
    return await ChannelConfig.find({"workspace_id": ctx.workspace_id}).sort("channel").to_list()


async def remove(ctx: RequestContext, channel: str, location_id: str | None = None) -> bool:
    ctx.require(Permission.ADMIN)
    lid = parse_id(location_id, "Location") if location_id else None
    result = await ChannelConfig.get_pymongo_collection().delete_one(
        {"workspace_id": ctx.workspace_id, "channel": channel, "location_id": lid}
    )
    _rows.clear()
    if result.deleted_count:
        await audit.record(
            ctx.principal, "channel.removed", "channel", channel, {"location_id": location_id}
        )
    return bool(result.deleted_count)


async def config_for(
    workspace_id: PydanticObjectId, channel: str, location_id: PydanticObjectId | None
) -> ChannelConfig | None:
    """The outlet's configuration when it has one, else the brand's."""
    scopes = [None] if location_id is None else [location_id, None]
    rows = await ChannelConfig.find(
        {"workspace_id": workspace_id, "channel": channel, "location_id": {"$in": scopes}}
    ).to_list()
    rows.sort(key=lambda r: r.location_id is None)  # outlet first
    return rows[0] if rows else None


async def provider_for(
    workspace_id: PydanticObjectId, channel: str, location_id: PydanticObjectId | None
) -> tuple[Provider, ChannelConfig | None]:
    """The provider that sends `channel` here; the sandbox when none is configured.

    The configuration row is remembered for CONFIG_TTL seconds (a send would otherwise
    read it every time); a change made through another process applies within that."""
    scope = (str(workspace_id), channel, str(location_id))
    remembered = _rows.get(scope)
    if remembered and remembered[0] > time.monotonic():
        row = remembered[1]
    else:
        row = await config_for(workspace_id, channel, location_id)
        if len(_rows) >= CACHE_MAX:
            _rows.clear()
        _rows[scope] = (time.monotonic() + CONFIG_TTL, row)
    if row is None or not row.enabled:
        return Sandbox(), row
    key = (str(workspace_id), channel, str(row.id))
    cached = _cache.get(key)
    if cached and cached[0] == row.updated_at:
        return cached[1], row
    settings = {k: v for k, v in row.settings.items() if k not in SENDING_FIELDS}
    config = {**settings, **vault.unseal(row.secrets), "provider": row.provider}
    provider = registry.build(channel, config)
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
    _cache[key] = (row.updated_at, provider)
    return provider, row


def secret_names(row: ChannelConfig) -> list[str]:
    return sorted(registry.SECRET_FIELDS.get(row.provider, frozenset()))


async def channel_configs_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, ChannelConfig]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, ChannelConfig, ids)
