"""emit: queue a Reach event for the workspace's subscribed partner endpoints.

One indexed read of the workspace's active endpoints, and (only when some subscribe) one
insert_many of their deliveries, due now. It never calls out: the dispatcher sends."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId

from documents.partner_webhook import WebhookDelivery, WebhookEndpoint


def new_event_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


async def emit(workspace_id: PydanticObjectId, type_: str, data: dict[str, Any]) -> int:
    return await emit_many(workspace_id, [(type_, data)])


async def emit_many(
    workspace_id: PydanticObjectId, events: list[tuple[str, dict[str, Any]]]
) -> int:
    """Queue `events` ((type, data) pairs) for every active endpoint subscribed to their
    type; returns the number of deliveries queued."""
    if not events:
        return 0
    endpoints = (
        await WebhookEndpoint.get_pymongo_collection()
        .find({"workspace_id": workspace_id, "status": "active"}, {"event_types": 1})
        .to_list(None)
    )
    if not endpoints:
        return 0
    now = datetime.now(UTC)
    rows = []
    for type_, data in events:
        event_id = new_event_id()
        payload = {"type": type_, "timestamp": now.isoformat(), "data": data}
        for endpoint in endpoints:
            if type_ in endpoint.get("event_types", ()):
                rows.append(
                    {
                        "_id": PydanticObjectId(),
                        "workspace_id": workspace_id,
                        "endpoint_id": endpoint["_id"],
                        "event_id": event_id,
                        "type": type_,
                        "payload": payload,
                        "status": "pending",
                        "attempts": [],
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
    if rows:
        await WebhookDelivery.get_pymongo_collection().insert_many(rows, ordered=False)
    return len(rows)
