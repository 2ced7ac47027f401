"""Campaigns: a message to segments over channels, once, on a schedule, or on a trigger.

Only drafts are edited; everything after (scheduling, sending, pausing) moves `status`
with conditional updates, so two processes never both start the same run. Each run keeps
its own fan-out state in `runs[run_key(run)]` ("run1", "run2", ...: not bare digits,
which some engines read as array positions in a query path like `runs.1.phase`):

    {"phase": "all" | "test" | "rest" | "done",
     "branches": {"brand" | <location id>: {"cursor": <last contact id> | None, "done": bool}},
     "started_at", "decide_at" (A/B), "winner" (variant key), "sto_hour" (workspace best
     hour of the week or None), "targeted": int}

so a paused or interrupted fan-out resumes after the last contact it handled. The
variant and channel of each message are decided once, on its OutboundMessage row (keyed
f"campaign:{id}:{run}:{contact_id}"), never again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument, utcnow

STATUSES = (
    "draft",
    "pending_approval",
    "scheduled",
    "sending",
    "sent",
    "completed",
    "paused",
    "cancelled",
)
KINDS = ("one_time", "recurring", "triggered", "hybrid")


def run_key(run: int) -> str:
    """The key of a run's state in `Campaign.runs`."""
    return f"run{run}"


class Campaign(TenantDocument):
    name: str
    description: str = ""
    tags: list[str] = []
    mode: str = "advanced"  # simple | advanced
    goal: str | None = None  # simple mode: a key of engine.goals.GOALS
    kind: str = "one_time"
    status: str = "draft"
    segment_ids: list[str] = []
    exclude_segment_ids: list[str] = []
    location_id: PydanticObjectId | None = None  # one outlet; None = brand tier
    all_outlets: bool = False  # one branched execution per Location
    channels: list[str] = []  # priority order: the first reachable one is used
    # [{"key": "A", "weight": 50, "content": {channel: {field: template}}}]
    variants: list[dict[str, Any]] = []
    # {"test_fraction": 0.2, "metric": "open"|"click"|"conversion", "window_hours": 4,
    #  "on_timeout": "best"|"stop"}
    ab_test: dict[str, Any] | None = None
    # {"send_at": datetime | None (None = now), "timezone": str,
    #  "recurrence": engine.recurrence schedule | None, "sto": {"enabled", "window_hours"}}
    schedule: dict[str, Any] = {}
    # {"event": name, "where": [...], "cooldown_hours": n} or {"segment_id": id, ...}
    trigger: dict[str, Any] | None = None
    # hybrid: {"kind": "csv"} or {"kind": "webhook", "url": ..., "secret": sealed}
    paid_audience: dict[str, Any] | None = None
    # {"event", "where", "window_hours", "revenue_property"}
    conversion_goal: dict[str, Any] | None = None
    # {"state": pending|approved|rejected, "requested_by", "decided_by", "comment", "at"}
    approval: dict[str, Any] | None = None
    run: int = 0
    runs: dict[str, dict[str, Any]] = {}
    next_run_at: datetime | None = None
    decide_at: datetime | None = None  # A/B: when the current run's test window closes
    fanout_at: datetime | None = None  # the fan-out's last page (a stalled one is revived)
    paused_from: str | None = None  # the status resume returns to (scheduled | sending)
    held_on_pause: int = (
        0  # messages the last pause held  # A/B: when the current run's test window closes
    )
    # "skipped:<reason>" / "held:<reason>" -> messages, over every run
    counters: dict[str, int] = {}
    created_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None

    class Settings:
        name = "campaigns"
        indexes = [
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
            # The campaign list {workspace_id[, status][, _id: {$lt}]} newest first.
            IndexModel([("workspace_id", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]),
            # The scheduler's sweeps span workspaces: due runs {status, next_run_at: {$lte}}
            # (and completion {status: "sent"}), stalled fan-outs {status, fanout_at: {$lt}},
            # A/B tests waiting for a decision {status, decide_at: {$gte}}.
            IndexModel([("status", ASCENDING), ("next_run_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("fanout_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("decide_at", ASCENDING)]),
        ]
