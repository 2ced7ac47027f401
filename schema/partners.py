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
from schema.pagination import After, Connection, First, connection


@strawberry.type(description="A partner URL that receives Reach events as signed webhooks.")
class WebhookEndpoint(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    url: str = strawberry.field(description="Where deliveries are POSTed.")
    event_types: list[str] = strawberry.field(description="The event types it receives.")
    status: WebhookEndpointStatus | None = strawberry.field(
        description="Whether it receives deliveries (null: an unknown stored value)."
    )
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled: by a user, a 410 Gone, or repeated failure."
    )
    failure_streak: int = strawberry.field(
        description="Failed deliveries in a row since the last success."
    )
    created_at: datetime = strawberry.field(description="When it was created.")

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


@strawberry.type(description="One try at delivering a webhook.")
class WebhookAttempt:
    at: datetime = strawberry.field(description="When it was tried.")
    status_code: int | None = strawberry.field(description="None: no answer (see error).")
    error: str | None = strawberry.field(description="What went wrong, if anything.")
    duration_ms: int = strawberry.field(description="How long it took, in milliseconds.")


@strawberry.type(description="One event sent (or to be sent) to an endpoint, with its tries.")
class WebhookDelivery(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint it goes to.")
    event_id: str = strawberry.field(description="The webhook-id header; kept on replays.")
    type: str = strawberry.field(description="The event type.")
    payload: JSON = strawberry.field(description="The JSON body sent.")
    status: WebhookDeliveryStatus | None = strawberry.field(
        description="Where the delivery is (null: an unknown stored value)."
    )
    attempts: list[WebhookAttempt] = strawberry.field(description="Every try so far, oldest first.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When it is tried next; null when no retry is due."
    )
    created_at: datetime = strawberry.field(description="When the delivery was created.")

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


@strawberry.type(description="Result of a webhook endpoint mutation.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(
        default=None, description="The endpoint as saved; null on error."
    )
    secret: str | None = strawberry.field(
        default=None, description="The signing secret (whsec_…). Shown only in this response."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of replayWebhookDelivery.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = strawberry.field(
        default=None, description="The delivery sent again; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


ID_ARG = Annotated[strawberry.ID, strawberry.argument(description="Its global id.")]


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
        url: Annotated[str, strawberry.argument(description="The URL deliveries are POSTed to.")],
        event_types: Annotated[
            list[str],
            strawberry.argument(
                description="Event types to send, at least one (see webhookEventTypes)."
            ),
        ],
        secret: Annotated[
            str | None,
            strawberry.argument(description="A signing secret to use; generated when omitted."),
        ] = None,
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.create(ctx, url, event_types, secret)))

    @strawberry.mutation(description="Change an endpoint's URL or event types.")
    async def update_webhook_endpoint(
        self,
        info: strawberry.Info,
        id: ID_ARG,
        url: Annotated[
            str | None, strawberry.argument(description="New URL; unchanged when omitted.")
        ] = None,
        event_types: Annotated[
            list[str] | None,
            strawberry.argument(description="New event types; unchanged when omitted."),
        ] = None,
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.update(ctx, id, url, event_types)))

    @strawberry.mutation(description="Stop deliveries to an endpoint.")
    async def disable_webhook_endpoint(
        self, info: strawberry.Info, id: ID_ARG
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.set_status(ctx, id, False)))

    @strawberry.mutation(description="Resume deliveries to a disabled endpoint.")
    async def enable_webhook_endpoint(
        self, info: strawberry.Info, id: ID_ARG
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.set_status(ctx, id, True)))

    @strawberry.mutation(description="A new secret, shown once; the old one signs for 24 h.")
    async def rotate_webhook_secret(
        self, info: strawberry.Info, id: ID_ARG
    ) -> WebhookEndpointPayload:
        ctx = info.context.caller()
        return _endpoint_payload(*await attempt(endpoints.rotate_secret(ctx, id)))

    @strawberry.mutation(description="Send a delivery again, with the same webhook-id.")
    async def replay_webhook_delivery(
        self, info: strawberry.Info, id: ID_ARG
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

    @strawberry.field(description="The webhook endpoints of this workspace (admin only).")
    async def webhook_endpoints(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[WebhookEndpoint]:
        page = await endpoints.list_endpoints(info.context.caller(), first, after)
        return connection(page, WebhookEndpoint.of)

    @strawberry.field(description="An endpoint's delivery log, newest first.")
    async def webhook_deliveries(
        self,
        info: strawberry.Info,
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        status: Annotated[
            WebhookDeliveryStatus | None,
            strawberry.argument(description="Only deliveries in this status."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[WebhookDelivery]:
        page = await endpoints.list_deliveries(
            info.context.caller(), endpoint_id, value_of(status), first, after
        )
        return connection(page, WebhookDelivery.of)
