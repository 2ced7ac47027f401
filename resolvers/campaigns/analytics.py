"""Campaign numbers, counted by the database: one $group over the campaign's message rows
(never rows loaded into Python), per campaign, per variant and per channel; the held and
skipped reasons; the A/B metric per variant; and the live progress stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from documents.campaign import Campaign
from documents.message import OutboundMessage

STAMPS = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "failed": "failed_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "replied": "replied_at",
    "unsubscribed": "unsubscribed_at",
    "converted": "converted_at",
}


METRIC_STAMP = {"open": "opened_at", "click": "clicked_at", "conversion": "converted_at"}


@dataclass
class Numbers:
    targeted: int = 0
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    failed: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    converted: int = 0
    revenue: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        for name in ("targeted", *STAMPS):
            setattr(self, name, getattr(self, name) + int(row.get(name) or 0))
        self.revenue += float(row.get("revenue") or 0.0)


@dataclass
class Breakdown:
    key: str | None
    numbers: Numbers


@dataclass
class Reason:
    status: str  # skipped | held (scheduled with a reason) | paused | failed
    reason: str
    count: int


@dataclass
class Analytics:
    totals: Numbers
    variants: list[Breakdown]
    channels: list[Breakdown]
    reasons: list[Reason] = field(default_factory=list)


def _has(stamp: str) -> dict[str, Any]:
    return {"$cond": [{"$gt": [f"${stamp}", None]}, 1, 0]}


def message_match(campaign: Campaign, run: int | None, **more: Any) -> list[dict[str, Any]]:
    """The $match stages of a campaign's rows. The first (the one planned) holds
    equalities on (workspace_id, source_id, run, status) and, without a run, on
    (workspace_id, source_id, status, due_at), plus at most `status: {$in}`; `source`
    (implied: campaign and journey ids are distinct ObjectIds) and the rest come after."""
    match: dict[str, Any] = {"workspace_id": campaign.workspace_id, "source_id": str(campaign.id)}
    if run is not None:
        match["run"] = run
    if "status" in more:
        match["status"] = more.pop("status")
    return [{"$match": match}, {"$match": {"source": "campaign", **more}}]


async def aggregate_messages(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cursor = await OutboundMessage.get_pymongo_collection().aggregate(pipeline)
    return await cursor.to_list(None)


async def analytics(campaign: Campaign, run: int | None = None) -> Analytics:
    """targeted = messages decided (including skipped); the rest count rows stamped."""
    counts = {name: {"$sum": _has(stamp)} for name, stamp in STAMPS.items()}
    rows = await aggregate_messages(
        [
            *message_match(campaign, run),
            {
                "$group": {
                    "_id": {"variant": "$variant", "channel": "$channel"},
                    "targeted": {"$sum": 1},
                    "revenue": {"$sum": "$revenue"},
                    **counts,
                }
            },
        ]
    )
    totals = Numbers()
    variants: dict[Any, Numbers] = {}
    channels: dict[Any, Numbers] = {}
    for row in rows:
        totals.add(row)
        variants.setdefault(row["_id"].get("variant"), Numbers()).add(row)
        channels.setdefault(row["_id"].get("channel"), Numbers()).add(row)
    order = {v["key"]: i for i, v in enumerate(campaign.variants)}
    return Analytics(
        totals=totals,
        variants=[
            Breakdown(k, n)
            for k, n in sorted(variants.items(), key=lambda kv: order.get(kv[0], 99))
        ],
        channels=[Breakdown(k, n) for k, n in sorted(channels.items(), key=lambda kv: kv[0] or "")],
        reasons=await reasons(campaign, run),
    )


async def reasons(campaign: Campaign, run: int | None = None) -> list[Reason]:
    """How many messages were skipped, held, paused or failed, and why."""
    rows = await aggregate_messages(
        [
            *message_match(
                campaign, run, status={"$in": ["skipped", "scheduled", "paused", "failed"]}
            ),
            {"$group": {"_id": {"status": "$status", "reason": "$reason"}, "n": {"$sum": 1}}},
        ]
    )
    out = []
    for row in rows:
        status, reason = row["_id"].get("status"), row["_id"].get("reason")
        if status == "scheduled":
            if not reason or reason == "send_time":
                continue  # waiting for its chosen time is not being held
            status = "held"
        out.append(Reason(status, reason or "", row["n"]))
    return sorted(out, key=lambda r: (r.status, -r.count, r.reason))


async def variant_metric(campaign: Campaign, run: int, metric: str) -> dict[str, tuple[int, int]]:
    """variant -> (successes, trials) among the run's messages handed to a provider."""
    stamp = METRIC_STAMP[metric]
    rows = await aggregate_messages(
        [
            *message_match(campaign, run, sent_at={"$ne": None}),
            {"$group": {"_id": "$variant", "trials": {"$sum": 1}, "hits": {"$sum": _has(stamp)}}},
        ]
    )
    return {row["_id"]: (int(row["hits"]), int(row["trials"])) for row in rows}
