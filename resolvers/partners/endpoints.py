"""Partner webhook endpoints: create, list, update, disable/enable, rotate the secret,
and their delivery log and replay. Admin only; every query is scoped to the workspace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from channels import transport
from documents.partner_webhook import WebhookDelivery, WebhookEndpoint
from engine.access import Permission
from engine.errors import InvalidInput, NotFound, Problems
from resolvers.core import audit, lookup, vault
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate
from resolvers.partners import signing
from resolvers.partners.event_types import EVENT_TYPES

ROTATION_GRACE = timedelta(hours=24)  # the old secret still signs this long after a rotation
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "dead")


@dataclass
class Created:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def _problems(url: Any, event_types: Any, secret: str | None) -> list[InvalidInput]:
    found = []
    if url is not None and (problem := transport.url_problem(url, "url")):
        found.append(InvalidInput(problem, field="url"))
    if event_types is not None:
        if not event_types:
            found.append(InvalidInput("eventTypes must name at least one type", "eventTypes"))
        unknown = [t for t in event_types if t not in EVENT_TYPES]
        if unknown:
            found.append(
                InvalidInput(
                    f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}",
                    field="eventTypes",
                    code="UNKNOWN_EVENT_TYPE",
                )
            )
    if secret is not None and (problem := signing.secret_problem(secret)):
        found.append(InvalidInput(problem, field="secret"))
    return found


def keys(endpoint: WebhookEndpoint, now: datetime | None = None) -> list[str]:
    """The secrets to sign with: the current one, and the previous during its grace."""
    sealed = vault.unseal(endpoint.secrets_sealed)
    found = [sealed["current"]]
    now = now or datetime.now(UTC)
    until = endpoint.previous_until
    if sealed.get("previous") and until and until.replace(tzinfo=until.tzinfo or UTC) > now:
        found.append(sealed["previous"])
    return found


async def create(
    ctx: RequestContext, url: str, event_types: list[str], secret: str | None = None
) -> Created:
    ctx.require(Permission.ADMIN)
    if found := _problems(url, event_types, secret):
        raise Problems(found)
    secret = secret or signing.new_secret()
    endpoint = WebhookEndpoint(
        workspace_id=ctx.workspace_id,
        url=url,
        event_types=list(dict.fromkeys(event_types)),
        secrets_sealed=vault.seal({"current": secret, "previous": None}),
    )
    await endpoint.insert()
    await audit.record(ctx.principal, "webhook_endpoint.created", "webhook_endpoint", endpoint.id)
    return Created(endpoint, secret)


async def get(ctx: RequestContext, endpoint_id: str) -> WebhookEndpoint:
    ctx.require(Permission.ADMIN)
    oid = parse_id(endpoint_id, "WebhookEndpoint")
    endpoint = oid and await WebhookEndpoint.find_one(
        {"_id": oid, "workspace_id": ctx.workspace_id}
    )
    if not endpoint:
        raise NotFound("No such webhook endpoint.", field="id", code="NOT_FOUND")
    return endpoint


async def list_endpoints(
    ctx: RequestContext, first: int | None, after: str | None
) -> Page[WebhookEndpoint]:
    ctx.require(Permission.ADMIN)
    return await paginate(
        WebhookEndpoint, {"workspace_id": ctx.workspace_id}, first, after, newest_first=True
    )


async def update(
    ctx: RequestContext,
    endpoint_id: str,
    url: str | None = None,
    event_types: list[str] | None = None,
) -> WebhookEndpoint:
    endpoint = await get(ctx, endpoint_id)
    if found := _problems(url, event_types, None):
        raise Problems(found)
    if url is not None:
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = list(dict.fromkeys(event_types))
    await endpoint.save()
    await audit.record(ctx.principal, "webhook_endpoint.updated", "webhook_endpoint", endpoint.id)
    return endpoint


async def set_status(ctx: RequestContext, endpoint_id: str, active: bool) -> WebhookEndpoint:
    endpoint = await get(ctx, endpoint_id)
    endpoint.status = "active" if active else "disabled"
    endpoint.disabled_reason = None if active else "disabled by a user"
    endpoint.failure_streak = 0
    await endpoint.save()
    action = "webhook_endpoint.enabled" if active else "webhook_endpoint.disabled"
    await audit.record(ctx.principal, action, "webhook_endpoint", endpoint.id)
    return endpoint


async def rotate_secret(ctx: RequestContext, endpoint_id: str) -> Created:
    """A new secret, returned once; the old one keeps signing for ROTATION_GRACE."""
    endpoint = await get(ctx, endpoint_id)
    current = vault.unseal(endpoint.secrets_sealed)["current"]
    secret = signing.new_secret()
    endpoint.secrets_sealed = vault.seal({"current": secret, "previous": current})
    endpoint.previous_until = datetime.now(UTC) + ROTATION_GRACE
    await endpoint.save()
    await audit.record(
        ctx.principal, "webhook_endpoint.secret_rotated", "webhook_endpoint", endpoint.id
    )
    return Created(endpoint, secret)


async def list_deliveries(
    ctx: RequestContext,
    endpoint_id: str,
    status: str | None,
    first: int | None,
    after: str | None,
) -> Page[WebhookDelivery]:
    endpoint = await get(ctx, endpoint_id)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id, "endpoint_id": endpoint.id}
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise InvalidInput(
                f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status"
            )
        query["status"] = status
    return await paginate(WebhookDelivery, query, first, after, newest_first=True)


async def replay(ctx: RequestContext, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again (same webhook-id, so the partner can deduplicate)."""
    ctx.require(Permission.ADMIN)
    oid = parse_id(delivery_id, "WebhookDelivery")
    delivery = oid and await WebhookDelivery.find_one(
        {"_id": oid, "workspace_id": ctx.workspace_id}
    )
    if not delivery:
        raise NotFound("No such webhook delivery.", field="id", code="NOT_FOUND")
    delivery.status = "pending"
    delivery.next_attempt_at = datetime.now(UTC)
    await delivery.save()
    return delivery


async def endpoints_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, WebhookEndpoint]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.ADMIN)
    return await lookup.by_ids(ctx, WebhookEndpoint, ids)


async def deliveries_by_ids(
    ctx: RequestContext, ids: list[str]
) -> dict[PydanticObjectId, WebhookDelivery]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.ADMIN)
    return await lookup.by_ids(ctx, WebhookDelivery, ids)
