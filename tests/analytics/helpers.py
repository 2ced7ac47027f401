"""Seeding events through the tracking API, and the analytics queries' documents."""

from __future__ import annotations

import uuid
from typing import Any

from tests.tracking_helpers import basic

TREND = """query($input: TrendInput!) { trend(input: $input) {
  interval timeZone buckets series { event breakdownValue isOther values total } } }"""
FUNNEL = """query($input: FunnelInput!) { funnel(input: $input) {
  steps { event count conversionRate stepConversionRate dropOff medianSecondsFromPrevious }
  breakdowns { value isOther isMissing steps { event count } } } }"""
RETENTION = """query($input: RetentionInput!) { retention(input: $input) {
  interval cohorts { start size returned } } }"""
REPORT = """query($input: ReportInput!) { analyticsReport(input: $input) {
  attribution windowHours rows { sourceType sourceId name channel locationId targeted sent
  delivered bounced opened clicked replied unsubscribed converted revenue } } }"""


def track(user: str, event: str, at: str, location: str | None = None, **properties) -> dict:
    message: dict[str, Any] = {
        "type": "track",
        "userId": user,
        "messageId": uuid.uuid4().hex,
        "event": event,
        "timestamp": at,
        "properties": properties,
    }
    if location:
        message["locationId"] = location
    return message


def identify(user: str, **traits) -> dict:
    return {"type": "identify", "userId": user, "messageId": uuid.uuid4().hex, "traits": traits}


async def seed(api, tenant, messages: list[dict]) -> None:
    for start in range(0, len(messages), 100):
        response = await api.http.post(
            "/v1/batch",
            json={"batch": messages[start : start + 100]},
            headers=basic(tenant.write_key),
        )
        assert response.status_code == 200, response.text
        assert not response.json().get("rejected"), response.text


def series(trend: dict) -> dict:
    """(event, breakdownValue) -> values."""
    return {(s["event"], s["breakdownValue"]): s["values"] for s in trend["series"]}
