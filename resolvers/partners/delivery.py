"""The dispatcher: POST due partner deliveries, signed, and schedule retries.

A delivery is tried up to len(BACKOFF) + 1 times, waiting BACKOFF[n] (plus up to 10%
jitter) after the n-th failure. 2xx succeeds; 410 Gone disables the endpoint; any other
answer, or no answer, is a failed attempt. An endpoint whose last FAILURE_STREAK attempts
all failed is disabled with a notice (an audit entry and its disabled_reason), and its
pending deliveries become `dead` (replayable once it is enabled again).
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from beanie import PydanticObjectId

from channels import transport
from documents.audit import AuditEntry
from documents.base import up_to
from documents.partner_webhook import WebhookDelivery, WebhookEndpoint
from resolvers.core import audit, live
from resolvers.partners import endpoints, signing

BACKOFF = (5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600)  # seconds; 8 attempts in all
FAILURE_STREAK = 20  # consecutive failed attempts that disable an endpoint
BATCH = 200
LEASE = timedelta(seconds=60)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def retry_delay(failures: int) -> float | None:
    """Seconds before the next try after `failures` failed attempts; None: give up."""
    if failures > len(BACKOFF):
        return None
    base = BACKOFF[failures - 1]
    return base + random.uniform(0, base / 10)


async def dispatch_due(now: datetime | None = None) -> dict[str, int]:
    """Try every due pending delivery once (across workspaces, like the send sweep: each
    row then names its workspace, and every write on it is scoped by it)."""
    now = now or datetime.now(UTC)
    counts = {"succeeded": 0, "retrying": 0, "failed": 0, "dead": 0, "claimed": 0}
    due = (
        await WebhookDelivery.find({"status": "pending", "next_attempt_at": up_to(now)})
        .limit(BATCH)
        .to_list()
    )
    cache: dict[PydanticObjectId, WebhookEndpoint | None] = {}
    for delivery in due:
        if delivery.endpoint_id not in cache:
            cache[delivery.endpoint_id] = await WebhookEndpoint.find_one(
                {"_id": delivery.endpoint_id, "workspace_id": delivery.workspace_id}
            )
        outcome = await _attempt(delivery, cache[delivery.endpoint_id], now)
        counts[outcome] += 1
    return counts


async def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime):
    body = json.dumps(delivery.payload, separators=(",", ":"), default=str).encode()
    headers = signing.headers(
        endpoints.keys(endpoint, now), delivery.event_id, int(now.timestamp()), body
    )
    # The URL is checked again at send time: the policy may be stricter than at creation.
    if problem := transport.url_problem(endpoint.url, "url"):
        return None, problem
    try:
        response = await transport.client().post(
            endpoint.url, content=body, headers=headers, timeout=TIMEOUT
        )
    except transport.DestinationRefused as refused:  # the connect-time SSRF check
        return None, f"endpoint refused: {refused}"
    except httpx.HTTPError as error:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "unreachable"
        return None, f"endpoint {kind}"
    return response.status_code, None


async def _attempt(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint | None, now: datetime
) -> str:
    if endpoint is None or endpoint.status != "active":
        await _set(delivery, {"status": "dead", "next_attempt_at": None})
        return "dead"
    if not await _claim(delivery, now):
        return "claimed"
    started = time.perf_counter()
    status_code, error = await _post(endpoint, delivery, now)
    attempt = {
        "at": now,
        "status_code": status_code,
        "error": error,
        "duration_ms": round((time.perf_counter() - started) * 1000),
    }
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        await _set(delivery, {"status": "succeeded", "next_attempt_at": None}, attempt)
        if endpoint.failure_streak:
            endpoint.failure_streak = 0
            await _save_endpoint(endpoint, {"failure_streak": 0})
        return "succeeded"
    if attempt["error"] is None:
        attempt["error"] = f"endpoint answered {status_code}"
    failures = 1  # this one, and those since the last success (a replay starts afresh)
    for earlier in reversed(delivery.attempts):
        if earlier.get("ok"):
            break
        failures += 1
    attempt["ok"] = False
    endpoint.failure_streak += 1
    await _save_endpoint(endpoint, {"failure_streak": endpoint.failure_streak})
    if status_code == 410:
        await _disable(endpoint, "the endpoint answered 410 Gone")
    elif endpoint.failure_streak >= FAILURE_STREAK:
        await _disable(endpoint, f"{FAILURE_STREAK} delivery attempts in a row failed")
    if endpoint.status != "active":
        await _set(delivery, {"status": "dead", "next_attempt_at": None}, attempt)
        return "dead"
    delay = retry_delay(failures)
    if delay is None:
        await _set(delivery, {"status": "failed", "next_attempt_at": None}, attempt)
        return "failed"
    await _set(delivery, {"next_attempt_at": now + timedelta(seconds=delay)}, attempt)
    return "retrying"


async def _claim(delivery: WebhookDelivery, now: datetime) -> bool:
    """Take the row for LEASE (a later sweep retries it if this worker dies); False when
    another sweep took it first, so overlapping sweeps never post one attempt twice."""
    result = await WebhookDelivery.get_pymongo_collection().update_one(
        {
            "_id": delivery.id,
            "workspace_id": delivery.workspace_id,
            "status": "pending",
            "next_attempt_at": delivery.next_attempt_at,
        },
        {"$set": {"next_attempt_at": now + LEASE}},
    )
    return result.modified_count == 1


async def _set(
    delivery: WebhookDelivery, fields: dict[str, Any], attempt: dict[str, Any] | None = None
) -> None:
    update: dict[str, Any] = {"$set": fields}
    if attempt is not None:
        attempt.setdefault("ok", True)
        update["$push"] = {"attempts": attempt}
        delivery.attempts.append(attempt)
    await WebhookDelivery.get_pymongo_collection().update_one(
        {"_id": delivery.id, "workspace_id": delivery.workspace_id}, update
    )
    for name, value in fields.items():
        setattr(delivery, name, value)


async def _save_endpoint(endpoint: WebhookEndpoint, fields: dict[str, Any]) -> None:
    await WebhookEndpoint.get_pymongo_collection().update_one(
        {"_id": endpoint.id, "workspace_id": endpoint.workspace_id}, {"$set": fields}
    )


async def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable, with a notice: the reason on the endpoint and a system audit entry."""
    endpoint.status = "disabled"
    endpoint.disabled_reason = reason
    await _save_endpoint(endpoint, {"status": "disabled", "disabled_reason": reason})
    await WebhookDelivery.get_pymongo_collection().update_many(
        {"workspace_id": endpoint.workspace_id, "endpoint_id": endpoint.id, "status": "pending"},
        {"$set": {"status": "dead", "next_attempt_at": None}},
    )
    entry = AuditEntry(
        workspace_id=endpoint.workspace_id,
        action="webhook_endpoint.auto_disabled",
        actor_kind="system",
        actor_id="reach",
        actor_label="Reach",
        target_type="webhook_endpoint",
        target_id=str(endpoint.id),
        details={"reason": reason, "url": endpoint.url},
    )
    await entry.insert()
    await live.publish(entry.workspace_id, audit.TOPIC, {"id": str(entry.id)})
