"""Outbound partner webhooks over GraphQL: endpoints, their delivery log, replay.
Admin only (resolvers.partners.endpoints checks); mutations return userErrors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers.partners import endpoints
from resolvers.partners.event_types import EVENT_TYPES
from schema.enums import WebhookDeliveryStatus, WebhookEndpointStatus, stored, value_of
from schema.errors import UserError, attempt
from schema.node import Node, gid
from schema.pagination import Connection, connection


@strawberry.type
class WebhookEndpoint(Node):
    id: strawberry.ID
    url: str
    event_types: list[str]
    status: WebhookEndpointStatus | None = strawberry.field(
        description="Whether it receives deliveries (null: an unknown stored value)."
    )
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled: by a user, a 410 Gone, or repeated failure."
    )
    failure_streak: int
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> WebhookEndpoint:
        return WebhookEndpoint(
            id=gid("WebhookEndpoint", doc.id),
            url=doc.url,
            event_types=list(doc.event_types),
            status=stored(WebhookEndpointStatus, doc.status),
            disabled_reason=doc.disabled_reason,
            failure_streak=doc.failure_streak,
            created_at=doc.created_at,
        )


@strawberry.type
class WebhookAttempt:
    at: datetime
    status_code: int | None = strawberry.field(description="None: no answer (see error).")
    error: str | None
    duration_ms: int


@strawberry.type
class WebhookDelivery(Node):
    id: strawberry.ID
    endpoint_id: strawberry.ID
    event_id: str = strawberry.field(description="The webhook-id header; kept on replays.")
    type: str
    payload: JSON
    status: WebhookDeliveryStatus | None = strawberry.field(
        description="Where the delivery is (null: an unknown stored value)."
    )
    attempts: list[WebhookAttempt]
    next_attempt_at: datetime | None
    created_at: datetime

    @staticmethod
    def of(doc: Any) -> WebhookDelivery:
        return WebhookDelivery(
            id=gid("WebhookDelivery", doc.id),
            endpoint_id=gid("WebhookEndpoint", doc.endpoint_id),
            event_id=doc.event_id,
            type=doc.type,
            payload=doc.payload,
            status=stored(WebhookDeliveryStatus, doc.status),
            attempts=[
                WebhookAttempt(
                    at=a["at"],
                    status_code=a.get("status_code"),
                    error=a.get("error"),
                    duration_ms=a.get("duration_ms", 0),
                )
                for a in doc.attempts
            ],
            next_attempt_at=doc.next_attempt_at,
            created_at=doc.created_at,
        )


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret (whsec_…). Shown only in this response."
    )
    user_errors: list[UserError]


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError]


def _endpoint_payload(result: Any, errors: list[UserError]) -> WebhookEndpointPayload:
    if errors:
        return WebhookEndpointPayload(user_errors=errors)
    if isinstance(result, endpoints.Created):
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.of(result.endpoint), secret=result.secret, user_errors=[]
        )
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(result), user_errors=[])


@strawberry.type
class PartnerMutations:
    @strawberry.mutation(description="Subscribe a partner URL to Reach events.")
    async def create_webhook_endpoint(
        self,
        info: strawberry.Info,
        url: str,
        event_types: list[str],
        secret: str | None = None,
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.create(ctx, url, event_types, secret)))

    @strawberry.mutation
    async def update_webhook_endpoint(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        url: str | None = None,
        event_types: list[str] | None = None,
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.update(ctx, id, url, event_types)))

    @strawberry.mutation
    async def disable_webhook_endpoint(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.set_status(ctx, id, False)))

    @strawberry.mutation
    async def enable_webhook_endpoint(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.set_status(ctx, id, True)))

    @strawberry.mutation(description="A new secret, shown once; the old one signs for 24 h.")
    async def rotate_webhook_secret(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.rotate_secret(ctx, id)))

    @strawberry.mutation(description="Send a delivery again, with the same webhook-id.")
    async def replay_webhook_delivery(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> WebhookDeliveryPayload:
        doc, errors = await attempt(endpoints.replay(info.context.caller(), id))
        if errors:
            return WebhookDeliveryPayload(user_errors=errors)
        return WebhookDeliveryPayload(delivery=WebhookDelivery.of(doc), user_errors=[])


@strawberry.type
class PartnerQueries:
    @strawberry.field(description="Event types a webhook endpoint can subscribe to.")
    def webhook_event_types(self) -> list[str]:
        return list(EVENT_TYPES)

    @strawberry.field
    async def webhook_endpoints(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        page = await endpoints.list_endpoints(info.context.caller(), first, after)
        return connection(page, WebhookEndpoint.of)

    @strawberry.field(description="An endpoint's delivery log, newest first.")
    async def webhook_deliveries(
        self,
        info: strawberry.Info,
        endpoint_id: strawberry.ID,
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status."),
        ] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        page = await endpoints.list_deliveries(
            info.context.caller(), endpoint_id, value_of(status), first, after
        )
        return connection(page, WebhookDelivery.of)
