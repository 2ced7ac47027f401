"""Journey analytics: runs per node now, runs by status, conversions, and sends and
engagement per send node, counted by MongoDB ($group), never by loading runs.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.journey import LIVE, Enrollment
from documents.message import SENT_STATUSES, OutboundMessage
from resolvers.journeys.step import ENGAGEMENT_FIELDS


async def analytics(workspace_id: PydanticObjectId, journey_id: PydanticObjectId) -> dict[str, Any]:
    """Runs per node now, runs by status, conversions, and sends/engagement per send node."""
    runs = Enrollment.get_pymongo_collection()
    scope = {"workspace_id": workspace_id, "journey_id": journey_id}
    at_nodes = await (
        await runs.aggregate(
            [
                {"$match": {**scope, "status": {"$in": list(LIVE)}}},
                {"$group": {"_id": "$node_id", "n": {"$sum": 1}}},
            ]
        )
    ).to_list(None)
    # Conversions counted in the same pass ({converted_at: {$ne: None}} is no index's).
    is_converted = {"$cond": [{"$ifNull": ["$converted_at", False]}, 1, 0]}
    by_status = await (
        await runs.aggregate(
            [
                {"$match": scope},
                {
                    "$group": {
                        "_id": "$status",
                        "n": {"$sum": 1},
                        "converted": {"$sum": is_converted},
                    }
                },
            ]
        )
    ).to_list(None)
    counted = {
        "sent": {"$cond": [{"$in": ["$status", list(SENT_STATUSES)]}, 1, 0]},
        "skipped": {"$cond": [{"$eq": ["$status", "skipped"]}, 1, 0]},
        "failed": {"$cond": [{"$eq": ["$status", "failed"]}, 1, 0]},
        **{
            kind: {"$cond": [{"$ifNull": [f"${field}", False]}, 1, 0]}
            for kind, field in ENGAGEMENT_FIELDS.items()
        },
    }
    sends = await (
        await OutboundMessage.get_pymongo_collection().aggregate(
            [
                # source_id alone names the journey (ids are unique across campaigns and
                # journeys); `source` goes in a second $match, which no index needs to serve.
                {"$match": {"workspace_id": workspace_id, "source_id": str(journey_id)}},
                {"$match": {"source": "journey"}},
                {
                    "$group": {
                        "_id": "$step",
                        "messages": {"$sum": 1},
                        **{k: {"$sum": v} for k, v in counted.items()},
                    }
                },
            ]
        )
    ).to_list(None)
    statuses = {row["_id"]: row["n"] for row in by_status}
    return {
        "at_nodes": {row["_id"]: row["n"] for row in at_nodes},
        "entered": sum(statuses.values()),
        "active": statuses.get("active", 0) + statuses.get("waiting", 0),
        "completed": statuses.get("completed", 0),
        "exited": statuses.get("exited", 0),
        "converted": sum(row["converted"] for row in by_status),
        "sends": {row.pop("_id"): row for row in sends},
    }
