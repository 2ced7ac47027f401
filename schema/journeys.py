"""Journeys: the graph as typed nodes for canvas front ends, the whole graph saved in one
mutation, lifecycle mutations, runs and analytics.

Nodes are the interface JourneyNode (id, type, position, rawSettings) implemented by
TriggerNode, WaitNode, SendNode, BranchNode, SplitNode and ExitNode, each with typed
settings. Input takes each node's settings as JSON (the shapes are in
engine/journeys/settings.py); every problem comes back as its own userError with the path
of the node or edge (`nodes[3].settings.seconds`, `edges[2].to`) and a message naming it.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.journeys import define, lifecycle
from schema.errors import UserError, attempt, user_error
from schema.node import Node, gid, gid_or_none, raw_ids_in, stored_gid
from schema.pagination import Connection, connection

T = TypeVar("T")


@strawberry.enum
class JourneyStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    PAUSED = "paused"
    COMPLETED = "completed"


@strawberry.enum
class EnrollmentStatus(Enum):
    ACTIVE = "active"
    WAITING = "waiting"
    COMPLETED = "completed"
    EXITED = "exited"


@strawberry.enum
class Reentry(Enum):
    NEVER = "never"
    AFTER_EXIT = "after_exit"
    COOLDOWN = "cooldown"


# --- values read defensively: a draft may hold settings that are not valid yet --------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# --- nodes ---------------------------------------------------------------------------------


@strawberry.type
class Position:
    x: float
    y: float


@strawberry.interface(description="A node of the journey graph.")
class JourneyNode:
    id: str
    type: str = strawberry.field(description="trigger, wait, send, branch, split or exit")
    position: Position
    raw_settings: JSON = strawberry.field(description="The settings as saved (JSON).")


@strawberry.type
class TriggerSettings:
    kind: str | None = strawberry.field(
        description="event, segment_entered, segment_exited, date or api"
    )
    event: str | None = None
    where: JSON | None = None
    segment_id: strawberry.ID | None = None
    property: str | None = None
    offset_days: int | None = None
    annual: bool | None = None
    at: str | None = None


@strawberry.type
class WaitSettings:
    kind: str | None = strawberry.field(description="duration, until, time_of_day or event")
    seconds: int | None = None
    until: datetime | None = None
    at: str | None = None
    weekdays: list[int] | None = None
    event: str | None = None
    where: JSON | None = None
    timeout_seconds: int | None = None


@strawberry.type
class SendSettings:
    channels: list[str]
    content: JSON
    templates: JSON | None = None


@strawberry.type
class BranchCase:
    key: str | None
    rules: JSON | None


@strawberry.type
class BranchSettings:
    cases: list[BranchCase]


@strawberry.type
class SplitCohort:
    key: str | None
    percent: int | None


@strawberry.type
class SplitSettings:
    cohorts: list[SplitCohort]


@strawberry.type
class TriggerNode(JourneyNode):
    settings: TriggerSettings


@strawberry.type
class WaitNode(JourneyNode):
    settings: WaitSettings


@strawberry.type
class SendNode(JourneyNode):
    settings: SendSettings


@strawberry.type
class BranchNode(JourneyNode):
    settings: BranchSettings


@strawberry.type
class SplitNode(JourneyNode):
    settings: SplitSettings


@strawberry.type
class ExitNode(JourneyNode):
    pass


AnyJourneyNode = Annotated[
    TriggerNode | WaitNode | SendNode | BranchNode | SplitNode | ExitNode,
    strawberry.union("AnyJourneyNode"),
]


def node_of(doc: dict[str, Any]) -> JourneyNode:
    s = doc.get("settings") if isinstance(doc.get("settings"), dict) else {}
    base = {
        "id": doc["id"],
        "type": doc["type"],
        "position": Position(**doc.get("position", {"x": 0.0, "y": 0.0})),
        "raw_settings": s,
    }
    kind = doc["type"]
    if kind == "trigger":
        settings = TriggerSettings(
            kind=_str(s.get("kind")),
            event=_str(s.get("event")),
            where=s.get("where"),
            segment_id=stored_gid("Segment", s.get("segment_id")),
            property=_str(s.get("property")),
            offset_days=_int(s.get("offset_days")),
            annual=s.get("annual") if isinstance(s.get("annual"), bool) else None,
            at=_str(s.get("at")),
        )
        return TriggerNode(**base, settings=settings)
    if kind == "wait":
        days = s.get("weekdays")
        settings = WaitSettings(
            kind=_str(s.get("kind")),
            seconds=_int(s.get("seconds")),
            until=_when(s.get("until")),
            at=_str(s.get("at")),
            weekdays=[d for d in days if _int(d) is not None] if isinstance(days, list) else None,
            event=_str(s.get("event")),
            where=s.get("where"),
            timeout_seconds=_int(s.get("timeout_seconds")),
        )
        return WaitNode(**base, settings=settings)
    if kind == "send":
        content = s.get("content") if isinstance(s.get("content"), dict) else {}
        settings = SendSettings(
            channels=_strs(s.get("channels")), content=content, templates=s.get("templates")
        )
        return SendNode(**base, settings=settings)
    if kind == "branch":
        cases = [
            BranchCase(key=_str(c.get("key")), rules=c.get("rules")) for c in _dicts(s.get("cases"))
        ]
        return BranchNode(**base, settings=BranchSettings(cases=cases))
    if kind == "split":
        cohorts = [
            SplitCohort(key=_str(c.get("key")), percent=_int(c.get("percent")))
            for c in _dicts(s.get("cohorts"))
        ]
        return SplitNode(**base, settings=SplitSettings(cohorts=cohorts))
    return ExitNode(**base)


# --- journey -------------------------------------------------------------------------------


@strawberry.type
class JourneyGraphEdge:
    from_: str = strawberry.field(name="from")
    to: str
    label: str = strawberry.field(description="next, timeout, default, a case or cohort key")


@strawberry.type
class JourneyGoal:
    event: str | None
    window_hours: int | None


@strawberry.type
class JourneySettings:
    reentry: Reentry
    cooldown_hours: int | None = None
    exit_event: str | None = None
    exit_segment_id: strawberry.ID | None = None
    goal: JourneyGoal | None = None

    @staticmethod
    def of(raw: dict[str, Any]) -> JourneySettings:
        goal = raw.get("goal") if isinstance(raw.get("goal"), dict) else None
        try:
            reentry = Reentry(raw.get("reentry", "never"))
        except ValueError:
            reentry = Reentry.NEVER
        return JourneySettings(
            reentry=reentry,
            cooldown_hours=_int(raw.get("cooldown_hours")),
            exit_event=_str(raw.get("exit_event")),
            exit_segment_id=stored_gid("Segment", raw.get("exit_segment_id")),
            goal=JourneyGoal(
                event=_str(goal.get("event")), window_hours=_int(goal.get("window_hours"))
            )
            if goal
            else None,
        )


@strawberry.type
class NodeCount:
    node_id: str
    contacts: int


@strawberry.type
class SendNodeStats:
    node_id: str
    messages: int
    sent: int
    skipped: int
    failed: int
    delivered: int
    opened: int
    clicked: int
    replied: int
    bounced: int
    unsubscribed: int


@strawberry.type
class JourneyAnalytics:
    entered: int = strawberry.field(description="Runs started (every status).")
    active: int = strawberry.field(description="Runs inside now (active or waiting).")
    completed: int = strawberry.field(description="Runs that reached an exit node.")
    exited: int = strawberry.field(description="Runs ended early (exit event, goal, ...).")
    converted: int = strawberry.field(description="Runs with the goal event in its window.")
    conversion_rate: float
    nodes: list[NodeCount] = strawberry.field(description="Contacts at each node now.")
    sends: list[SendNodeStats]


@strawberry.type
class EnrollmentStep:
    node: str
    at: datetime
    outcome: str


@strawberry.type
class JourneyEnrollment(Node):
    id: strawberry.ID
    journey_id: strawberry.ID
    contact_id: strawberry.ID
    version: int
    status: EnrollmentStatus
    node_id: str
    step: int
    entered_at: datetime
    ended_at: datetime | None
    outcome: str | None
    wake_at: datetime | None
    waiting_for: str | None = strawberry.field(description="The event a wait waits for.")
    converted_at: datetime | None
    trigger: JSON
    history: list[EnrollmentStep]

    @staticmethod
    def of(doc: Any) -> JourneyEnrollment:
        return JourneyEnrollment(
            id=gid("JourneyEnrollment", doc.id),
            journey_id=gid("Journey", doc.journey_id),
            contact_id=gid("Contact", doc.contact_id),
            version=doc.version,
            status=EnrollmentStatus(doc.status),
            node_id=doc.node_id,
            step=doc.step,
            entered_at=doc.entered_at,
            ended_at=doc.ended_at,
            outcome=doc.outcome,
            wake_at=doc.wake_at,
            waiting_for=(doc.waiting_for or {}).get("event"),
            converted_at=doc.converted_at,
            trigger=doc.trigger,
            history=[
                EnrollmentStep(node=h["node"], at=h["at"], outcome=h["outcome"])
                for h in doc.history
            ],
        )


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class Journey(Node):
    id: strawberry.ID
    name: str
    description: str
    status: JourneyStatus
    version: int = strawberry.field(description="The latest published version (0: never).")
    published_version: int | None
    nodes: list[JourneyNode]
    edges: list[JourneyGraphEdge]
    settings: JourneySettings
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    doc: strawberry.Private[Any]

    @strawberry.field(description="One node by id (typed).")
    def node(self, id: str) -> AnyJourneyNode | None:
        found = next((n for n in self.doc.nodes if n.get("id") == id), None)
        return node_of(found) if found else None  # type: ignore[return-value]

    @strawberry.field(description="What would stop publishing it as saved now.")
    async def problems(self, info: strawberry.Info) -> list[UserError]:
        found = await define.journey_problems(_ctx(info), self.doc)
        return [UserError(field=e.field, message=e.message, code=e.code) for e in found]

    @strawberry.field
    async def analytics(self, info: strawberry.Info) -> JourneyAnalytics:
        data = await define.journey_analytics(_ctx(info), self.doc)
        entered = data["entered"]
        return JourneyAnalytics(
            entered=entered,
            active=data["active"],
            completed=data["completed"],
            exited=data["exited"],
            converted=data["converted"],
            conversion_rate=data["converted"] / entered if entered else 0.0,
            nodes=[NodeCount(node_id=k, contacts=v) for k, v in sorted(data["at_nodes"].items())],
            sends=[
                SendNodeStats(node_id=k, **{f: int(v.get(f, 0)) for f in _SEND_FIELDS})
                for k, v in sorted(data["sends"].items())
            ],
        )

    @strawberry.field(description="Runs of contacts through it, newest first.")
    async def enrollments(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        status: EnrollmentStatus | None = None,
    ) -> Connection[JourneyEnrollment]:
        page = await define.list_enrollments(
            _ctx(info), str(self.id), first, after, status.value if status else None
        )
        return connection(page, JourneyEnrollment.of)

    @staticmethod
    def of(doc: Any) -> Journey:
        return Journey(
            id=gid("Journey", doc.id),
            name=doc.name,
            description=doc.description,
            status=JourneyStatus(doc.status),
            version=doc.version,
            published_version=doc.published_version,
            nodes=[node_of(n) for n in doc.nodes],
            edges=[
                JourneyGraphEdge(from_=e["from"], to=e["to"], label=e["label"]) for e in doc.edges
            ],
            settings=JourneySettings.of(doc.settings or {}),
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            published_at=doc.published_at,
            doc=doc,
        )


_SEND_FIELDS = (
    "messages",
    "sent",
    "skipped",
    "failed",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
)


# --- input ---------------------------------------------------------------------------------


@strawberry.input
class PositionInput:
    x: float = 0.0
    y: float = 0.0


@strawberry.input
class JourneyNodeInput:
    id: str
    type: str = strawberry.field(description="trigger, wait, send, branch, split or exit")
    position: PositionInput | None = None
    settings: JSON | None = strawberry.field(
        default=None, description='e.g. {"kind": "duration", "seconds": 3600} for a wait'
    )


@strawberry.input
class JourneyEdgeInput:
    from_: str = strawberry.field(name="from")
    to: str
    label: str = "next"


@strawberry.input
class JourneyGoalInput:
    event: str
    window_hours: int = 168


@strawberry.input
class JourneySettingsInput:
    reentry: Reentry = Reentry.NEVER
    cooldown_hours: int | None = None
    exit_event: str | None = None
    exit_segment_id: strawberry.ID | None = None
    goal: JourneyGoalInput | None = None


@strawberry.input
class JourneyInput:
    name: str | None = strawberry.field(default=None, description="Required to create.")
    description: str | None = None
    nodes: list[JourneyNodeInput] | None = None
    edges: list[JourneyEdgeInput] | None = None
    settings: JourneySettingsInput | None = None


def _data(input: JourneyInput) -> dict[str, Any]:
    data: dict[str, Any] = {"name": input.name, "description": input.description}
    if input.nodes is not None:
        data["nodes"] = [
            {
                "id": n.id,
                "type": n.type,
                "position": {"x": n.position.x, "y": n.position.y} if n.position else None,
                "settings": raw_ids_in(n.settings),
            }
            for n in input.nodes
        ]
    if input.edges is not None:
        data["edges"] = [{"from": e.from_, "to": e.to, "label": e.label} for e in input.edges]
    if input.settings is not None:
        s = input.settings
        settings: dict[str, Any] = {"reentry": s.reentry.value}
        if s.cooldown_hours is not None:
            settings["cooldown_hours"] = s.cooldown_hours
        if s.exit_event is not None:
            settings["exit_event"] = s.exit_event
        if s.exit_segment_id is not None:
            settings["exit_segment_id"] = str(s.exit_segment_id)
        if s.goal is not None:
            settings["goal"] = {"event": s.goal.event, "window_hours": s.goal.window_hours}
        data["settings"] = settings
    return data


# --- payloads ------------------------------------------------------------------------------


def _errors(found: list[Any]) -> list[UserError]:
    return [user_error(e) for e in found]


@strawberry.type
class JourneyPayload:
    journey: Journey | None = None
    problems: list[UserError] = strawberry.field(
        default_factory=list,
        description="Saved, but publishing would reject these (drafts only).",
    )
    user_errors: list[UserError]


@strawberry.type
class ValidateJourneyPayload:
    valid: bool
    user_errors: list[UserError]


@strawberry.type
class DeleteJourneyPayload:
    deleted_journey_id: strawberry.ID | None = None
    user_errors: list[UserError]


@strawberry.type
class EnrollmentPayload:
    enrollment: JourneyEnrollment | None = None
    user_errors: list[UserError]


def _payload(result: tuple[Any, list[UserError]]) -> JourneyPayload:
    value, errors = result
    if value is None:
        return JourneyPayload(user_errors=errors)
    if isinstance(value, tuple):
        doc, problems = value
        return JourneyPayload(journey=Journey.of(doc), problems=_errors(problems), user_errors=[])
    return JourneyPayload(journey=Journey.of(value), user_errors=[])


@strawberry.type
class JourneyQueries:
    @strawberry.field
    async def journey(self, info: strawberry.Info, id: strawberry.ID) -> Journey | None:
        doc = await define.get_journey(_ctx(info), id)
        return Journey.of(doc) if doc else None

    @strawberry.field
    async def journeys(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        status: JourneyStatus | None = None,
    ) -> Connection[Journey]:
        page = await define.list_journeys(
            _ctx(info), first, after, status.value if status else None
        )
        return connection(page, Journey.of)

    @strawberry.field(description="Runs of a journey, newest first (optionally of one contact).")
    async def journey_enrollments(
        self,
        info: strawberry.Info,
        journey_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        status: EnrollmentStatus | None = None,
        contact_id: strawberry.ID | None = None,
    ) -> Connection[JourneyEnrollment]:
        page = await define.list_enrollments(
            _ctx(info),
            journey_id,
            first,
            after,
            status.value if status else None,
            str(contact_id) if contact_id is not None else None,
        )
        return connection(page, JourneyEnrollment.of)


@strawberry.type
class JourneyMutations:
    @strawberry.mutation(description="A draft journey; the whole graph in one call.")
    async def create_journey(self, info: strawberry.Info, input: JourneyInput) -> JourneyPayload:
        return _payload(await attempt(define.create_journey(_ctx(info), _data(input))))

    @strawberry.mutation(
        description="Replace a journey's graph (and name, settings). A live journey's edit "
        "must be valid and becomes its next version; runs inside keep theirs."
    )
    async def save_journey(
        self, info: strawberry.Info, id: strawberry.ID, input: JourneyInput
    ) -> JourneyPayload:
        return _payload(await attempt(define.save_journey(_ctx(info), id, _data(input))))

    @strawberry.mutation(description="Every problem publishing would find (nothing is saved).")
    async def validate_journey(
        self,
        info: strawberry.Info,
        id: strawberry.ID | None = None,
        input: JourneyInput | None = None,
    ) -> ValidateJourneyPayload:
        data = _data(input) if input is not None else None
        found, errors = await attempt(define.validate_journey(_ctx(info), id, data))
        errors = errors or _errors(found or [])
        return ValidateJourneyPayload(valid=not errors, user_errors=errors)

    @strawberry.mutation(description="Validate, freeze a version and start taking contacts.")
    async def publish_journey(self, info: strawberry.Info, id: strawberry.ID) -> JourneyPayload:
        return _payload(await attempt(lifecycle.publish_journey(_ctx(info), id)))

    @strawberry.mutation(description="No new runs, no steps; every run keeps its place.")
    async def pause_journey(self, info: strawberry.Info, id: strawberry.ID) -> JourneyPayload:
        return _payload(await attempt(lifecycle.pause_journey(_ctx(info), id)))

    @strawberry.mutation(description="Continue a paused journey where every run was.")
    async def resume_journey(self, info: strawberry.Info, id: strawberry.ID) -> JourneyPayload:
        return _payload(await attempt(lifecycle.resume_journey(_ctx(info), id)))

    @strawberry.mutation(description="Complete a journey: no new runs; runs inside end.")
    async def archive_journey(self, info: strawberry.Info, id: strawberry.ID) -> JourneyPayload:
        return _payload(await attempt(lifecycle.archive_journey(_ctx(info), id)))

    @strawberry.mutation(description="Delete a draft or archived journey with its runs.")
    async def delete_journey(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> DeleteJourneyPayload:
        deleted, errors = await attempt(define.delete_journey(_ctx(info), id))
        return DeleteJourneyPayload(
            deleted_journey_id=gid_or_none("Journey", deleted), user_errors=errors
        )

    @strawberry.mutation(description="The API trigger: start a run for a contact now.")
    async def enroll_in_journey(
        self,
        info: strawberry.Info,
        journey_id: strawberry.ID,
        contact_id: strawberry.ID,
        data: JSON | None = None,
    ) -> EnrollmentPayload:
        work = lifecycle.enroll_contact(_ctx(info), journey_id, contact_id, data)
        doc, errors = await attempt(work)
        return EnrollmentPayload(
            enrollment=JourneyEnrollment.of(doc) if doc else None, user_errors=errors
        )
