"""Send-time optimisation: when, within the campaign's window, each contact should get it.

Per contact, the hour of the week at which they engage (opens, clicks, sessions, page
views) learned by engine.send_time.best_hour in their timezone; without enough history,
the workspace's best hour (one query per run); without that, the campaign's own time.
A page of contacts costs one events query, never one per contact.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from documents.event import Event
from engine import delivery, send_time

LOOKBACK_DAYS = 90


WORKSPACE_SAMPLE = 5_000  # latest engagement events the workspace's best hour is read from


PAGE_EVENTS_MAX = 50_000


ENGAGEMENT_CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app")


ENGAGEMENT_EVENTS = [
    *(f"{c}_{k}" for c in ENGAGEMENT_CHANNELS for k in ("opened", "clicked")),
    "session_started",
]


def _engagement(now: datetime) -> dict[str, Any]:
    return {
        "timestamp": {"$gte": now - timedelta(days=LOOKBACK_DAYS)},
        "$or": [{"name_key": {"$in": ENGAGEMENT_EVENTS}}, {"type": "page"}],
    }


async def workspace_hour(workspace_id: PydanticObjectId, tz: str, now: datetime) -> int | None:
    """From the latest WORKSPACE_SAMPLE engagement events: one flat query per event name on
    (workspace_id, name_key, timestamp), one for page views (type "page", any name), merged."""
    since = now - timedelta(days=LOOKBACK_DAYS)
    collection = Event.get_pymongo_collection()
    shapes: list[dict[str, Any]] = [{"name_key": name} for name in ENGAGEMENT_EVENTS]
    # Page views: not served until events get an index (workspace_id, type, timestamp).
    shapes.append({"type": "page"})
    stamps: dict[Any, datetime] = {}  # by _id: a page view may carry an engagement name
    for shape in shapes:
        rows = (
            await collection.find(
                {"workspace_id": workspace_id, **shape, "timestamp": {"$gte": since}},
                {"timestamp": 1},
            )
            .sort("timestamp", -1)
            .limit(WORKSPACE_SAMPLE)
            .to_list(None)
        )
        stamps.update((r["_id"], r["timestamp"]) for r in rows)
    latest = sorted(stamps.values(), reverse=True)[:WORKSPACE_SAMPLE]
    return send_time.best_hour(latest, tz)


async def send_times(
    workspace_id: PydanticObjectId,
    contacts: list[dict[str, Any]],
    *,
    fallback_tz: str,
    fallback_hour: int | None,
    start: datetime,
    end: datetime,
) -> dict[str, datetime | None]:
    """contact id -> the instant to send (None: at the campaign's time, i.e. now)."""
    ids = [c["_id"] for c in contacts]
    seen: dict[Any, list[datetime]] = defaultdict(list)
    # Planned: the page's contacts on (workspace_id, contact_id, timestamp, _id); the
    # window and the kinds of engagement in a second stage (only the first is planned).
    cursor = await Event.get_pymongo_collection().aggregate(
        [
            {"$match": {"workspace_id": workspace_id, "contact_id": {"$in": ids}}},
            {"$match": _engagement(start)},
            {"$limit": PAGE_EVENTS_MAX},
            {"$project": {"contact_id": 1, "timestamp": 1}},
        ]
    )
    async for row in cursor:
        seen[row["contact_id"]].append(row["timestamp"])
    out: dict[str, datetime | None] = {}
    for contact in contacts:
        tz = delivery.contact_timezone(contact, fallback_tz)
        hour = send_time.best_hour(seen.get(contact["_id"], []), tz)
        if hour is None:
            hour = fallback_hour
        out[str(contact["_id"])] = (
            None if hour is None else send_time.next_at_hour(hour, tz, start, end)
        )
    return out
