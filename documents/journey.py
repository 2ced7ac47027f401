"""Journeys, their published versions and the runs of contacts through them.

A Journey holds the working graph (`nodes`, `edges`) and settings. Publishing (and each
edit of a live journey) freezes the graph into an immutable JourneyVersion; new runs use
`published_version`, runs already inside keep the version they entered with.

An Enrollment is one contact's run through one version. Every move (all the instant
transitions a run makes at once) is a conditional update on (_id, step): whoever moves a
run first wins, a duplicated or late message finds the step changed and does nothing.
`due_at` is when the runner must look at the run next (the wait's wake-up, or a lease while
the step message `handed` is on its way), so the wake-up job finds every run that is due,
even when a Redis message was lost or a worker died; pausing a journey clears it, resuming
sets it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from documents.base import TenantDocument, utcnow

STATUSES = ("draft", "published", "paused", "completed")
LIVE = ("active", "waiting")  # enrollment statuses of a run still inside
ENDED = ("completed", "exited")


class Journey(TenantDocument):
    name: str
    description: str = ""
    status: str = "draft"
    version: int = 0  # the latest published version (0: never published)
    published_version: int | None = None  # what new runs use
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    created_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    trigger_kind: str | None = None  # of the published version (the date job reads it)

    class Settings:
        name = "journeys"
        indexes = [
            # The journeys list {workspace_id[, status]} sorted by _id (paginate).
            IndexModel([("workspace_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("workspace_id", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]),
            # The date-trigger job looks for published journeys with a date trigger.
            IndexModel([("status", ASCENDING), ("trigger_kind", ASCENDING)]),
        ]


class JourneyVersion(TenantDocument):
    """A published graph, never changed afterwards."""

    journey_id: PydanticObjectId
    version: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    settings: dict[str, Any] = {}

    class Settings:
        name = "journey_versions"
        indexes = [
            IndexModel(
                [("workspace_id", ASCENDING), ("journey_id", ASCENDING), ("version", ASCENDING)],
                unique=True,
            )
        ]


class Enrollment(TenantDocument):
    journey_id: PydanticObjectId
    version: int
    contact_id: PydanticObjectId
    status: str = "active"  # active | waiting | completed | exited
    node_id: str
    step: int = 0  # optimistic concurrency: every transition increments it
    entered_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    outcome: str | None = None  # how it ended: exit, goal, exit_event, segment_exited, ...
    wake_at: datetime | None = None  # a wait's timer
    waiting_for: dict[str, Any] | None = None  # {"event", "where", "timeout_at"}
    due_at: datetime | None = None  # when the runner looks at it next (None: nothing to do)
    handed: str | None = None  # the step message carrying it (journeys.handoff), while leased
    history: list[dict[str, Any]] = []  # [{"node", "at", "outcome"}], the last 100
    trigger: dict[str, Any] = {}  # {"id", "name", "properties"}
    entry_key: str | None = None  # event id / date / API key: one run per key
    location_id: str | None = None
    converted_at: datetime | None = None

    class Settings:
        name = "enrollments"
        indexes = [
            # At most one live run per contact and journey.
            IndexModel(
                [("workspace_id", ASCENDING), ("journey_id", ASCENDING), ("contact_id", ASCENDING)],
                unique=True,
                partialFilterExpression={"status": {"$in": list(LIVE)}},
                name="one_live_run",
            ),
            # One run per trigger occurrence (a redelivered event, a date job run twice).
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("journey_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("entry_key", ASCENDING),
                ],
                unique=True,
                partialFilterExpression={"entry_key": {"$type": "string"}},
                name="one_run_per_entry",
            ),
            # A contact's runs of a journey by entry time: enroll's latest run (sorted by
            # entered_at), _goal's runs entered within the goal window (entered_at range).
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("journey_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("entered_at", DESCENDING),
                ]
            ),
            # A contact's live runs of a journey {workspace_id, journey_id, contact_id,
            # status: "waiting" / {$in: LIVE}} (_resume_waiting, end_contact_runs): at most
            # one. The equalities match its leading fields in any order.
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("contact_id", ASCENDING),
                    ("journey_id", ASCENDING),
                    ("status", ASCENDING),
                ]
            ),
            # A journey's runs {workspace_id, journey_id[, _id: {$lt}]} sorted by _id: the
            # enrollments list (paginate), analytics by status, deleting a journey.
            IndexModel(
                [("workspace_id", ASCENDING), ("journey_id", ASCENDING), ("_id", DESCENDING)]
            ),
            # A journey's runs of some statuses {workspace_id, journey_id, status[: {$in}]}:
            # pause/resume/archive, live counts, analytics per node, and the enrollments
            # list filtered by status (sorted by _id).
            IndexModel(
                [
                    ("workspace_id", ASCENDING),
                    ("journey_id", ASCENDING),
                    ("status", ASCENDING),
                    ("_id", DESCENDING),
                ]
            ),
            # The wake-up job's sweep for due runs spans every workspace by design (one
            # scheduler serves them all); it reads only _id, workspace_id and step.
            IndexModel([("due_at", ASCENDING)]),
        ]
