"""Campaign and journey reports side by side over a time range: targeted, sent,
delivered, bounced, opened, clicked, replied, unsubscribed, converted and revenue, one
row per source, channel and outlet.

The counts use the campaign analytics' definitions (resolvers.campaigns.analytics.STAMPS:
a row counts for a metric when its stamp is set; targeted = rows decided, skipped
included). The range is the rows' creation time, read from their ObjectId on the message
log index {workspace_id, _id} (documents/message.py) as one `_id` range; source, channel
and outlet are checked in the second $match.

Converted and revenue: without `conversionEvent`, the rows' own (a campaign goal's
last-touch attribution, stamped on conversion; journeys convert per run, not per send,
so their rows show 0). With `conversionEvent`, each such event in the range (index
{workspace_id, name_key, timestamp} on events) credits one touch, a send handed to a
provider within `windowHours` before it: the latest (LAST_TOUCH) or the earliest
(FIRST_TOUCH), with the event's `revenue` property.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from bson import ObjectId

from documents.campaign import Campaign
from documents.journey import Journey
from documents.message import OutboundMessage
from engine.access import Permission
from engine.analytics import attribution
from engine.errors import InvalidInput
from engine.zones import as_utc
from resolvers.analytics import scope as scopes
from resolvers.campaigns.analytics import STAMPS
from resolvers.core.context import RequestContext

METRICS = ("sent", "delivered", "bounced", "opened", "clicked", "replied", "unsubscribed")
SOURCES = ("campaign", "journey")


@dataclass
class ReportQuery:
    start: datetime
    end: datetime
    attribution: str = "last_touch"
    window_hours: int = 72
    conversion_event: str | None = None
    channel: str | None = None
    location_id: str | None = None


@dataclass
class Row:
    source_type: str
    source_id: str
    name: str
    channel: str
    location_id: str | None
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    converted: int = 0
    revenue: float = 0.0


@dataclass
class Report:
    attribution: str
    window_hours: int
    rows: list[Row] = field(default_factory=list)


def _check(query: ReportQuery) -> None:
    if query.attribution not in attribution.MODELS:
        raise InvalidInput("attribution is LAST_TOUCH or FIRST_TOUCH.", field="attribution")
    hours = query.window_hours
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int)
        or not 1 <= hours <= attribution.MAX_WINDOW_HOURS
    ):
        raise InvalidInput(
            f"windowHours is a whole number from 1 to {attribution.MAX_WINDOW_HOURS}.",
            field="windowHours",
        )


def _rows_match(
    workspace_id: PydanticObjectId, start: datetime, end: datetime, query: ReportQuery
) -> list[dict[str, Any]]:
    rest: dict[str, Any] = {"source": {"$in": list(SOURCES)}}
    if query.channel:
        rest["channel"] = query.channel
    if query.location_id is not None:
        rest["location_id"] = _location_oid(query.location_id)
    return [
        {
            "$match": {
                "workspace_id": workspace_id,
                "_id": {"$gte": ObjectId.from_datetime(start), "$lt": ObjectId.from_datetime(end)},
            }
        },
        {"$match": rest},
    ]


def _location_oid(value: str) -> Any:
    try:
        return PydanticObjectId(value)
    except Exception:
        return value  # matches nothing stored as an ObjectId


async def report(ctx: RequestContext, query: ReportQuery) -> Report:
    ctx.require(Permission.READ)
    return await compute(ctx.workspace_id, query)


async def compute(workspace_id: PydanticObjectId, query: ReportQuery) -> Report:
    _check(query)
    start, end = scopes.time_range(query.start, query.end)
    scopes.location(query.location_id)
    messages = OutboundMessage.get_pymongo_collection()
    key = {"t": "$source", "s": "$source_id", "c": "$channel", "l": "$location_id"}
    counted = {
        name: {"$sum": {"$cond": [{"$gt": [f"${STAMPS[name]}", None]}, 1, 0]}}
        for name in (*METRICS, "converted")
    }
    grouped = await (
        await messages.aggregate(
            [
                *_rows_match(workspace_id, start, end, query),
                {
                    "$group": {
                        "_id": key,
                        "targeted": {"$sum": 1},
                        "revenue": {"$sum": "$revenue"},
                        **counted,
                    }
                },
            ]
        )
    ).to_list(None)
    rows: dict[tuple, Row] = {}
    for g in grouped:
        ident = g["_id"]
        k = (ident.get("t"), ident.get("s"), ident.get("c"), _str(ident.get("l")))
        row = rows[k] = Row(k[0], k[1] or "", "", k[2] or "", k[3], targeted=int(g["targeted"]))
        for name in METRICS:
            setattr(row, name, int(g.get(name) or 0))
        if query.conversion_event is None:
            row.converted = int(g.get("converted") or 0)
            row.revenue = float(g.get("revenue") or 0.0)
    if query.conversion_event is not None:
        await _attribute(workspace_id, start, end, query, rows)
    await _names(workspace_id, rows)
    ordered = sorted(
        rows.values(),
        key=lambda r: (r.source_type, r.name, r.source_id, r.channel, r.location_id or ""),
    )
    return Report(query.attribution, query.window_hours, ordered)


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


async def _attribute(
    workspace_id: PydanticObjectId,
    start: datetime,
    end: datetime,
    query: ReportQuery,
    rows: dict[tuple, Row],
) -> None:
    key = scopes.event_key(query.conversion_event, "conversionEvent")
    window = timedelta(hours=query.window_hours)
    touches: dict[Any, list[tuple[datetime, tuple]]] = defaultdict(list)
    sends = await (
        await OutboundMessage.get_pymongo_collection().aggregate(
            [
                *_rows_match(workspace_id, start - window, end, query),
                {
                    "$project": {
                        "contact_id": 1,
                        "sent_at": 1,
                        "source": 1,
                        "source_id": 1,
                        "channel": 1,
                        "location_id": 1,
                    }
                },
            ]
        )
    ).to_list(None)
    for s in sends:
        if s.get("sent_at") is None or s.get("contact_id") is None:
            continue
        touches[s["contact_id"]].append(
            (
                as_utc(s["sent_at"]),
                (s.get("source"), s.get("source_id"), s.get("channel"), _str(s.get("location_id"))),
            )
        )
    for items in touches.values():
        items.sort(key=lambda t: t[0])
    conversions = await scopes.aggregate(
        [
            {
                "$match": {
                    "workspace_id": workspace_id,
                    "name_key": key,
                    "timestamp": {"$gte": start, "$lt": end},
                }
            },
            {"$project": {"contact_id": 1, "timestamp": 1, "properties": 1}},
        ]
    )
    for event in conversions:
        credited = attribution.credit(
            touches.get(event["contact_id"], []),
            as_utc(event["timestamp"]),
            window,
            query.attribution,
        )
        if credited is None:
            continue
        row = rows.get(credited)
        if row is None:  # a touch sent before the range: its row joins the report
            row = rows[credited] = Row(
                credited[0], credited[1] or "", "", credited[2] or "", credited[3]
            )
        row.converted += 1
        row.revenue += attribution.revenue_of(event.get("properties") or {})


async def _names(workspace_id: PydanticObjectId, rows: dict[tuple, Row]) -> None:
    for source_type, model in (("campaign", Campaign), ("journey", Journey)):
        ids = [
            PydanticObjectId(r.source_id)
            for r in rows.values()
            if r.source_type == source_type and ObjectId.is_valid(r.source_id)
        ]
        if not ids:
            continue
        found = (
            await model.get_pymongo_collection()
            .find({"_id": {"$in": list(set(ids))}, "workspace_id": workspace_id}, {"name": 1})
            .to_list(None)
        )
        names = {str(d["_id"]): d.get("name") or "" for d in found}
        for row in rows.values():
            if row.source_type == source_type:
                row.name = names.get(row.source_id, "")
