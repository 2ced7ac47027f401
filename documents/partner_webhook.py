"""Partner webhooks: the endpoints a workspace subscribes, and each event's delivery to one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument


class WebhookEndpoint(TenantDocument):
    url: str
    event_types: list[str]
    # Fernet-sealed (resolvers.core.vault) {"current": whsec_…, "previous": whsec_…|None}.
    secrets_sealed: str
    previous_until: datetime | None = None  # rotation grace: sign with both until then
    status: str = "active"  # active | disabled
    disabled_reason: str | None = None
    failure_streak: int = 0  # consecutive failed attempts; reset by any success

    class Settings:
        name = "webhook_endpoints"
        indexes = [
            # emit: the active endpoints of a workspace; list: newest first
            IndexModel([("workspace_id", ASCENDING), ("status", ASCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
        ]


class WebhookDelivery(TenantDocument):
    endpoint_id: Any
    event_id: str  # msg_…: the webhook-id header; the same on retries and replays
    type: str
    payload: dict[str, Any]
    status: str = "pending"  # pending | succeeded | failed (gave up) | dead (endpoint off)
    attempts: list[dict[str, Any]] = []  # {at, status_code, error, duration_ms}
    next_attempt_at: datetime | None = None

    class Settings:
        name = "webhook_deliveries"
        indexes = [
            # dispatcher: {status: "pending", next_attempt_at: up_to(now)}, across workspaces
            IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
            # delivery log: {workspace_id, endpoint_id[, status]} newest first
            IndexModel(
                [("workspace_id", ASCENDING), ("endpoint_id", ASCENDING), ("_id", DESCENDING)]
            ),
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("endpoint_id", ASCENDING),
                    ("status", ASCENDING),
                    ("_id", DESCENDING),
                ]
            ),
        ]
