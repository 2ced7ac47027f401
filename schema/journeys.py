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
from schema.pagination import After, Connection, First, connection

T = TypeVar("T")


@strawberry.enum(description="Where a journey is in its lifecycle.")
class JourneyStatus(Enum):
    DRAFT = strawberry.enum_value("draft", description="Never published; takes no contacts.")
    PUBLISHED = strawberry.enum_value(
        "published", description="Live: takes contacts and moves their runs."
    )
    PAUSED = strawberry.enum_value(
        "paused", description="No new runs and no steps; every run keeps its place."
    )
    COMPLETED = strawberry.enum_value(
        "completed", description="Archived: no new runs; the runs inside ended."
    )


@strawberry.enum(description="Where one contact's run through a journey is.")
class EnrollmentStatus(Enum):
    ACTIVE = strawberry.enum_value("active", description="Inside, moving between nodes.")
    WAITING = strawberry.enum_value("waiting", description="Inside, at a wait node.")
    COMPLETED = strawberry.enum_value("completed", description="Ended at an exit node.")
    EXITED = strawberry.enum_value(
        "exited", description="Ended early (exit event, segment exit, goal, archive, ...)."
    )


@strawberry.enum(description="Whether a contact may run through a journey again.")
class Reentry(Enum):
    NEVER = strawberry.enum_value("never", description="Once per contact.")
    AFTER_EXIT = strawberry.enum_value(
        "after_exit", description="Again once the previous run has ended."
    )
    COOLDOWN = strawberry.enum_value(
        "cooldown", description="Again cooldownHours after the previous run ended."
    )


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


@strawberry.type(description="Where a node sits on the canvas (front-end units).")
class Position:
    x: float = strawberry.field(description="Horizontal coordinate.")
    y: float = strawberry.field(description="Vertical coordinate.")


@strawberry.interface(description="A node of the journey graph.")
class JourneyNode:
    id: str = strawberry.field(
        description="The node's id in the graph: 1-64 letters, digits, _ or -."
    )
    type: str = strawberry.field(description="trigger, wait, send, branch, split or exit")
    position: Position = strawberry.field(description="Where it sits on the canvas.")
    raw_settings: JSON = strawberry.field(description="The settings as saved (JSON).")


@strawberry.type(description="How contacts enter: the trigger node's settings (by kind).")
class TriggerSettings:
    kind: str | None = strawberry.field(
        description="event, segment_entered, segment_exited, date or api"
    )
    event: str | None = strawberry.field(
        default=None, description="kind event: the event name that starts a run."
    )
    where: JSON | None = strawberry.field(
        default=None, description="kind event: conditions on the event's properties."
    )
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="kind segment_entered/segment_exited: the segment."
    )
    property: str | None = strawberry.field(
        default=None,
        description="kind date: the contact property holding the date (a DATE field or birthday).",
    )
    offset_days: int | None = strawberry.field(
        default=None, description="kind date: days after (negative: before) the date, -366-366."
    )
    annual: bool | None = strawberry.field(
        default=None, description="kind date: whether it fires every year on the date."
    )
    at: str | None = strawberry.field(
        default=None, description="kind date: local time of day, HH:MM (24-hour)."
    )


@strawberry.type(description="How long a run waits: the wait node's settings (by kind).")
class WaitSettings:
    kind: str | None = strawberry.field(description="duration, until, time_of_day or event")
    seconds: int | None = strawberry.field(
        default=None, description="kind duration: seconds to wait (0 to 366 days)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="kind until: the moment the wait ends."
    )
    at: str | None = strawberry.field(
        default=None, description="kind time_of_day: HH:MM in the contact's time zone."
    )
    weekdays: list[int] | None = strawberry.field(
        default=None, description="kind time_of_day: allowed days, 0 (Monday) to 6 (Sunday)."
    )
    event: str | None = strawberry.field(
        default=None, description="kind event: the event that ends the wait (edge next)."
    )
    where: JSON | None = strawberry.field(
        default=None, description="kind event: conditions on the event's properties."
    )
    timeout_seconds: int | None = strawberry.field(
        default=None,
        description="kind event: seconds (1 to 366 days) before giving up (edge timeout).",
    )


@strawberry.type(description="What a send node sends.")
class SendSettings:
    channels: list[str] = strawberry.field(
        description="Send channels in priority order (lower case): the first reachable is used."
    )
    content: JSON = strawberry.field(description="channel -> {field: template}, inline content.")
    templates: JSON | None = strawberry.field(
        default=None, description="channel -> saved template id, for channels without content."
    )


@strawberry.type(description="One case of a branch: a run matching its rules takes its edge.")
class BranchCase:
    key: str | None = strawberry.field(
        description="The case's key and edge label (1-40 letters, digits, _ or -); null if unset."
    )
    rules: JSON | None = strawberry.field(description="The condition tree a run must match.")


@strawberry.type(description="A branch node's cases, tried in order; no match takes edge default.")
class BranchSettings:
    cases: list[BranchCase] = strawberry.field(description="1-10 cases.")


@strawberry.type(description="One cohort of a split: a share of the runs taking its edge.")
class SplitCohort:
    key: str | None = strawberry.field(
        description="The cohort's key and edge label (1-40 letters, digits, _ or -)."
    )
    percent: int | None = strawberry.field(description="Share of the runs, 0-100.")


@strawberry.type(description="A split node's cohorts; their percentages sum to 100.")
class SplitSettings:
    cohorts: list[SplitCohort] = strawberry.field(description="1-10 cohorts.")


@strawberry.type(description="Where contacts enter the journey; exactly one per journey.")
class TriggerNode(JourneyNode):
    settings: TriggerSettings = strawberry.field(description="Its typed settings.")


@strawberry.type(description="Holds a run for a time, until a moment, or until an event.")
class WaitNode(JourneyNode):
    settings: WaitSettings = strawberry.field(description="Its typed settings.")


@strawberry.type(description="Sends a message on the first reachable of its channels.")
class SendNode(JourneyNode):
    settings: SendSettings = strawberry.field(description="Its typed settings.")


@strawberry.type(description="Sends a run down the edge of the first case it matches.")
class BranchNode(JourneyNode):
    settings: BranchSettings = strawberry.field(description="Its typed settings.")


@strawberry.type(description="Sends runs down its cohorts' edges by percentage.")
class SplitNode(JourneyNode):
    settings: SplitSettings = strawberry.field(description="Its typed settings.")


@strawberry.type(description="Ends a run (completed).")
class ExitNode(JourneyNode):
    pass


AnyJourneyNode = Annotated[
    TriggerNode | WaitNode | SendNode | BranchNode | SplitNode | ExitNode,
    strawberry.union("AnyJourneyNode", description="A journey node of any type."),
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


@strawberry.type(description="An edge of the journey graph, from one node to the next.")
class JourneyGraphEdge:
    from_: str = strawberry.field(name="from", description="The id of the node it leaves.")
    to: str = strawberry.field(description="The id of the node it leads to.")
    label: str = strawberry.field(description="next, timeout, default, a case or cohort key")


@strawberry.type(
    description="A journey's goal: reaching it ends the run and counts as a conversion."
)
class JourneyGoal:
    event: str | None = strawberry.field(description="The goal event's name.")
    window_hours: int | None = strawberry.field(
        description="Hours after entering (1-8784) within which the event counts as a conversion."
    )


@strawberry.type(description="Journey-wide settings: re-entry, exit criteria and the goal.")
class JourneySettings:
    reentry: Reentry = strawberry.field(description="Whether a contact may run through again.")
    cooldown_hours: int | None = strawberry.field(
        default=None, description="reentry cooldown: hours (1-8784) after a run ended."
    )
    exit_event: str | None = strawberry.field(
        default=None, description="An event that ends a contact's run early; null: none."
    )
    exit_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Leaving this segment ends a run early; null: none."
    )
    goal: JourneyGoal | None = strawberry.field(default=None, description="The goal; null: none.")

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


@strawberry.type(description="How many runs are at one node now.")
class NodeCount:
    node_id: str = strawberry.field(description="The node's id.")
    contacts: int = strawberry.field(description="Live runs at the node.")


@strawberry.type(description="The messages of one send node.")
class SendNodeStats:
    node_id: str = strawberry.field(description="The send node's id.")
    messages: int = strawberry.field(description="Messages the node decided, skipped included.")
    sent: int = strawberry.field(description="Messages handed to a provider.")
    skipped: int = strawberry.field(description="Messages skipped.")
    failed: int = strawberry.field(description="Messages that could not be sent.")
    delivered: int = strawberry.field(description="Messages the provider reported delivered.")
    opened: int = strawberry.field(description="Messages opened.")
    clicked: int = strawberry.field(description="Messages with a link clicked.")
    replied: int = strawberry.field(description="Messages replied to.")
    bounced: int = strawberry.field(description="Messages that bounced.")
    unsubscribed: int = strawberry.field(
        description="Messages from which the contact unsubscribed."
    )


@strawberry.type(description="A journey's runs and messages, counted now.")
class JourneyAnalytics:
    entered: int = strawberry.field(description="Runs started (every status).")
    active: int = strawberry.field(description="Runs inside now (active or waiting).")
    completed: int = strawberry.field(description="Runs that reached an exit node.")
    exited: int = strawberry.field(description="Runs ended early (exit event, goal, ...).")
    converted: int = strawberry.field(description="Runs with the goal event in its window.")
    conversion_rate: float = strawberry.field(description="converted / entered; 0 with no runs.")
    nodes: list[NodeCount] = strawberry.field(description="Contacts at each node now.")
    sends: list[SendNodeStats] = strawberry.field(description="The messages of each send node.")


@strawberry.type(description="One step a run took.")
class EnrollmentStep:
    node: str = strawberry.field(description="The id of the node.")
    at: datetime = strawberry.field(description="When.")
    outcome: str = strawberry.field(description="What happened there.")


@strawberry.type(description="One contact's run through one version of a journey.")
class JourneyEnrollment(Node):
    id: strawberry.ID = strawberry.field(description="The run's global id.")
    journey_id: strawberry.ID = strawberry.field(description="The journey's global id.")
    contact_id: strawberry.ID = strawberry.field(description="The contact's global id.")
    version: int = strawberry.field(description="The published version the run follows.")
    status: EnrollmentStatus = strawberry.field(description="Where the run is.")
    node_id: str = strawberry.field(description="The id of the node it is at (or ended at).")
    step: int = strawberry.field(description="Counts the run's moves (it rises with every move).")
    entered_at: datetime = strawberry.field(description="When the run started.")
    ended_at: datetime | None = strawberry.field(description="When it ended; null while inside.")
    outcome: str | None = strawberry.field(
        description="How it ended (exit, goal, exit_event, segment_exited, ...); null while inside."
    )
    wake_at: datetime | None = strawberry.field(
        description="When a wait ends by time; null when not waiting on a timer."
    )
    waiting_for: str | None = strawberry.field(description="The event a wait waits for.")
    converted_at: datetime | None = strawberry.field(
        description="When the contact reached the goal in its window; null: not converted."
    )
    trigger: JSON = strawberry.field(
        description="What started the run, as stored: {id, name, properties}."
    )
    history: list[EnrollmentStep] = strawberry.field(description="Its steps, the last 100.")

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


@strawberry.type(
    description="An automated path of steps contacts run through: a graph of nodes and edges."
)
class Journey(Node):
    id: strawberry.ID = strawberry.field(description="The journey's global id.")
    name: str = strawberry.field(description="The journey's name.")
    description: str = strawberry.field(description='Free text for the team; "" when none.')
    status: JourneyStatus = strawberry.field(description="Where it is in its lifecycle.")
    version: int = strawberry.field(description="The latest published version (0: never).")
    published_version: int | None = strawberry.field(
        description="The version new runs use; null: never published."
    )
    nodes: list[JourneyNode] = strawberry.field(description="The working graph's nodes (typed).")
    edges: list[JourneyGraphEdge] = strawberry.field(description="The working graph's edges.")
    settings: JourneySettings = strawberry.field(
        description="Re-entry, exit criteria and the goal."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    published_at: datetime | None = strawberry.field(
        description="When it was last published; null: never."
    )
    doc: strawberry.Private[Any]

    @strawberry.field(description="One node by id (typed).")
    def node(
        self, id: Annotated[str, strawberry.argument(description="The node id in the graph.")]
    ) -> AnyJourneyNode | None:
        found = next((n for n in self.doc.nodes if n.get("id") == id), None)
        return node_of(found) if found else None  # type: ignore[return-value]

    @strawberry.field(description="What would stop publishing it as saved now.")
    async def problems(self, info: strawberry.Info) -> list[UserError]:
        found = await define.journey_problems(_ctx(info), self.doc)
        return [UserError(field=e.field, message=e.message, code=e.code) for e in found]

    @strawberry.field(description="Its runs and messages, counted now.")
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
        first: First = None,
        after: After = None,
        status: Annotated[
            EnrollmentStatus | None,
            strawberry.argument(description="Only runs in this status; null: all."),
        ] = None,
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


@strawberry.input(description="Where a node sits on the canvas (front-end units).")
class PositionInput:
    x: float = strawberry.field(default=0.0, description="Horizontal coordinate.")
    y: float = strawberry.field(default=0.0, description="Vertical coordinate.")


@strawberry.input(description="A node of the journey graph.")
class JourneyNodeInput:
    id: str = strawberry.field(description="1-64 letters, digits, _ or -; unique in the journey.")
    type: str = strawberry.field(description="trigger, wait, send, branch, split or exit")
    position: PositionInput | None = strawberry.field(
        default=None, description="Where it sits on the canvas; null: 0, 0."
    )
    settings: JSON | None = strawberry.field(
        default=None, description='e.g. {"kind": "duration", "seconds": 3600} for a wait'
    )


@strawberry.input(description="An edge of the journey graph.")
class JourneyEdgeInput:
    from_: str = strawberry.field(name="from", description="The id of the node it leaves.")
    to: str = strawberry.field(description="The id of the node it leads to.")
    label: str = strawberry.field(
        default="next", description="next, timeout, default, a case or cohort key"
    )


@strawberry.input(
    description="A journey's goal: reaching it ends the run and counts as a conversion."
)
class JourneyGoalInput:
    event: str = strawberry.field(description="The goal event's name.")
    window_hours: int = strawberry.field(
        default=168, description="Hours after entering (1-8784) within which it is a conversion."
    )


@strawberry.input(description="Journey-wide settings: re-entry, exit criteria and the goal.")
class JourneySettingsInput:
    reentry: Reentry = strawberry.field(
        default=Reentry.NEVER, description="Whether a contact may run through again."
    )
    cooldown_hours: int | None = strawberry.field(
        default=None, description="reentry cooldown: hours (1-8784) after a run ended; required."
    )
    exit_event: str | None = strawberry.field(
        default=None, description="An event that ends a contact's run early."
    )
    exit_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Leaving this segment ends a run early."
    )
    goal: JourneyGoalInput | None = strawberry.field(default=None, description="The goal.")


@strawberry.input(description="A journey's graph and settings; null fields are not changed.")
class JourneyInput:
    name: str | None = strawberry.field(default=None, description="Required to create.")
    description: str | None = strawberry.field(default=None, description="Free text for the team.")
    nodes: list[JourneyNodeInput] | None = strawberry.field(
        default=None, description="Every node of the graph (at most 200)."
    )
    edges: list[JourneyEdgeInput] | None = strawberry.field(
        default=None, description="Every edge of the graph (at most 1000)."
    )
    settings: JourneySettingsInput | None = strawberry.field(
        default=None, description="Re-entry, exit criteria and the goal."
    )


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


@strawberry.type(description="The result of a journey mutation.")
class JourneyPayload:
    journey: Journey | None = strawberry.field(
        default=None, description="The journey after the change; null when it failed."
    )
    problems: list[UserError] = strawberry.field(
        default_factory=list,
        description="Saved, but publishing would reject these (drafts only).",
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="The result of validateJourney.")
class ValidateJourneyPayload:
    valid: bool = strawberry.field(description="True when publishing would find no problem.")
    user_errors: list[UserError] = strawberry.field(
        description="Every problem, each at the path of its node or edge."
    )


@strawberry.type(description="The result of deleteJourney.")
class DeleteJourneyPayload:
    deleted_journey_id: strawberry.ID | None = strawberry.field(
        default=None, description="The deleted journey's id; null when nothing was deleted."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was not deleted; empty on success."
    )


@strawberry.type(description="The result of enrollInJourney.")
class EnrollmentPayload:
    enrollment: JourneyEnrollment | None = strawberry.field(
        default=None, description="The run started; null when none was."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why no run was started; empty on success."
    )


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
    @strawberry.field(description="One journey by id; null when not found in this workspace.")
    async def journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> Journey | None:
        doc = await define.get_journey(_ctx(info), id)
        return Journey.of(doc) if doc else None

    @strawberry.field(description="Journeys of this workspace, newest first.")
    async def journeys(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        status: Annotated[
            JourneyStatus | None,
            strawberry.argument(description="Only journeys in this status; null: all."),
        ] = None,
    ) -> Connection[Journey]:
        page = await define.list_journeys(
            _ctx(info), first, after, status.value if status else None
        )
        return connection(page, Journey.of)

    @strawberry.field(description="Runs of a journey, newest first (optionally of one contact).")
    async def journey_enrollments(
        self,
        info: strawberry.Info,
        journey_id: Annotated[
            strawberry.ID, strawberry.argument(description="The journey global id.")
        ],
        first: First = None,
        after: After = None,
        status: Annotated[
            EnrollmentStatus | None,
            strawberry.argument(description="Only runs in this status; null: all."),
        ] = None,
        contact_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this contact's runs; null: everyone's."),
        ] = None,
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
    async def create_journey(
        self,
        info: strawberry.Info,
        input: Annotated[
            JourneyInput, strawberry.argument(description="The draft: name, graph and settings.")
        ],
    ) -> JourneyPayload:
        return _payload(await attempt(define.create_journey(_ctx(info), _data(input))))

    @strawberry.mutation(
        description="Replace a journey's graph (and name, settings). A live journey's edit "
        "must be valid and becomes its next version; runs inside keep theirs."
    )
    async def save_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
        input: Annotated[
            JourneyInput,
            strawberry.argument(description="The new graph and settings; null fields are kept."),
        ],
    ) -> JourneyPayload:
        return _payload(await attempt(define.save_journey(_ctx(info), id, _data(input))))

    @strawberry.mutation(description="Every problem publishing would find (nothing is saved).")
    async def validate_journey(
        self,
        info: strawberry.Info,
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="A saved journey to check as stored (used when input is null)."
            ),
        ] = None,
        input: Annotated[
            JourneyInput | None,
            strawberry.argument(
                description="An unsaved graph and settings to check; wins over id."
            ),
        ] = None,
    ) -> ValidateJourneyPayload:
        data = _data(input) if input is not None else None
        found, errors = await attempt(define.validate_journey(_ctx(info), id, data))
        errors = errors or _errors(found or [])
        return ValidateJourneyPayload(valid=not errors, user_errors=errors)

    @strawberry.mutation(description="Validate, freeze a version and start taking contacts.")
    async def publish_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> JourneyPayload:
        return _payload(await attempt(lifecycle.publish_journey(_ctx(info), id)))

    @strawberry.mutation(description="No new runs, no steps; every run keeps its place.")
    async def pause_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> JourneyPayload:
        return _payload(await attempt(lifecycle.pause_journey(_ctx(info), id)))

    @strawberry.mutation(description="Continue a paused journey where every run was.")
    async def resume_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> JourneyPayload:
        return _payload(await attempt(lifecycle.resume_journey(_ctx(info), id)))

    @strawberry.mutation(description="Complete a journey: no new runs; runs inside end.")
    async def archive_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> JourneyPayload:
        return _payload(await attempt(lifecycle.archive_journey(_ctx(info), id)))

    @strawberry.mutation(description="Delete a draft or archived journey with its runs.")
    async def delete_journey(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The journey global id.")],
    ) -> DeleteJourneyPayload:
        deleted, errors = await attempt(define.delete_journey(_ctx(info), id))
        return DeleteJourneyPayload(
            deleted_journey_id=gid_or_none("Journey", deleted), user_errors=errors
        )

    @strawberry.mutation(description="The API trigger: start a run for a contact now.")
    async def enroll_in_journey(
        self,
        info: strawberry.Info,
        journey_id: Annotated[
            strawberry.ID,
            strawberry.argument(description="The published journey to run through."),
        ],
        contact_id: Annotated[
            strawberry.ID, strawberry.argument(description="The contact to start a run for.")
        ],
        data: Annotated[
            JSON | None,
            strawberry.argument(description="An object; becomes the trigger event's properties."),
        ] = None,
    ) -> EnrollmentPayload:
        work = lifecycle.enroll_contact(_ctx(info), journey_id, contact_id, data)
        doc, errors = await attempt(work)
        return EnrollmentPayload(
            enrollment=JourneyEnrollment.of(doc) if doc else None, user_errors=errors
        )
