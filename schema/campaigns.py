"""Campaigns: drafts, launch and approvals, pause/resume/cancel, analytics, live progress.

Every mutation returns a payload with userErrors; a definition or launch with several
problems returns one userError per problem, each at its input path
(`variants[1].content.email.subject`, `segmentIds[0]`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.campaigns import define, lifecycle
from schema.errors import UserError, attempt
from schema.node import Node, gid, gid_or_none, raw_ids_in
from schema.pagination import Connection, connection

T = TypeVar("T")


@strawberry.enum
class CampaignStatus(Enum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    COMPLETED = "completed"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@strawberry.enum
class CampaignKind(Enum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    TRIGGERED = "triggered"
    HYBRID = "hybrid"


@strawberry.enum
class CampaignMode(Enum):
    SIMPLE = "simple"
    ADVANCED = "advanced"


@strawberry.enum
class AbMetric(Enum):
    OPEN = "open"
    CLICK = "click"
    CONVERSION = "conversion"


@strawberry.enum
class AbTimeout(Enum):
    BEST = "best"
    STOP = "stop"


@strawberry.enum
class PaidAudienceKind(Enum):
    CSV = "csv"
    WEBHOOK = "webhook"


# --- output types ---------------------------------------------------------------------------


@strawberry.type
class CampaignVariant:
    key: str
    weight: int
    content: JSON = strawberry.field(description="channel -> {field: template}")


@strawberry.type
class AbTest:
    test_fraction: float | None
    metric: AbMetric
    window_hours: float
    on_timeout: AbTimeout


@strawberry.type
class SendTimeOptimization:
    enabled: bool
    window_hours: float


@strawberry.type
class CampaignSchedule:
    send_at: datetime | None
    timezone: str | None
    recurrence: JSON | None
    sto: SendTimeOptimization | None


@strawberry.type
class CampaignTrigger:
    event: str | None
    where: JSON | None
    segment_id: strawberry.ID | None
    cooldown_hours: int


@strawberry.type
class ConversionGoal:
    event: str
    where: JSON | None
    window_hours: float
    revenue_property: str | None


@strawberry.type
class PaidAudience:
    kind: PaidAudienceKind
    url: str | None
    signed: bool


@strawberry.type
class CampaignApproval:
    state: str
    requested_by: str | None
    decided_by: str | None
    comment: str | None
    at: datetime | None


@strawberry.type
class CampaignCount:
    key: str = strawberry.field(description='"skipped:<reason>" or "held:<reason>"')
    count: int


@strawberry.type(description="One variant's numbers when the A/B decision was taken.")
class CampaignDecisionVariant:
    key: str = strawberry.field(description="The variant's key.")
    successes: int = strawberry.field(
        description="Messages of the test phase with the metric (opened, clicked, converted)."
    )
    trials: int = strawberry.field(description="Messages of the test phase handed to a provider.")
    rate: float | None = strawberry.field(description="successes / trials; null without trials.")


@strawberry.type(description="How a run's A/B test phase chose its winner, or chose none.")
class CampaignDecision:
    method: str = strawberry.field(
        description="always_valid_mixture: a sequential test that stays under alpha however "
        "often it is asked (asked every scheduler tick); chi_squared: decisions taken before "
        "it, by a fixed-sample test asked as often."
    )
    reason: str = strawberry.field(
        description="significant (the winner's p-value reached alpha), timeout_best (the "
        "window ended without one; the best rate so far was sent), timeout_stop (the window "
        "ended without one; nothing more was sent) or no_data (no variant had trials)."
    )
    winner: str | None = strawberry.field(
        description="The key of the variant sent to the rest; null when none was."
    )
    p_value: float | None = strawberry.field(
        description="The always-valid p-value that the best variant beats every other, "
        "adjusted for the number of variants (chi_squared: the fixed-sample p-value); null "
        "with fewer than two variants with trials."
    )
    alpha: float = strawberry.field(
        description="The significance level: significant means pValue <= alpha."
    )
    decided_at: datetime | None = strawberry.field(
        description="When the decision was taken; null for decisions stored before it was kept."
    )
    variants: list[CampaignDecisionVariant] = strawberry.field(
        description="The numbers the decision was taken on, one per variant."
    )

    @staticmethod
    def of(value: dict[str, Any]) -> CampaignDecision:
        variants = []
        for key, numbers in (value.get("variants") or {}).items():
            successes, trials = int(numbers.get("successes", 0)), int(numbers.get("trials", 0))
            rate = successes / trials if trials else None
            variants.append(
                CampaignDecisionVariant(key=key, successes=successes, trials=trials, rate=rate)
            )
        return CampaignDecision(
            # Stored before the sequential test: chi-squared, always at 0.05.
            method=value.get("method", "chi_squared"),
            reason=value.get("reason", ""),
            winner=value.get("winner"),
            p_value=value.get("p_value"),
            alpha=float(value.get("alpha", 0.05)),
            decided_at=value.get("decided_at"),
            variants=variants,
        )


def _decision_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored record as it was exposed before `decision` was typed (no datetimes)."""
    if value is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in value.items()}


@strawberry.type
class CampaignRun:
    run: int
    phase: str
    started_at: datetime | None
    finished_at: datetime | None
    targeted: int
    winner: str | None
    decision: CampaignDecision | None = strawberry.field(
        description="How the A/B test phase chose its winner; null until it did."
    )
    decision_details: JSON | None = strawberry.field(
        description="The stored decision record as JSON.",
        deprecation_reason="Use `decision`, which is typed.",
    )
    paid_audience_exported: int | None
    branches: list[str]


@strawberry.type
class CampaignNumbers:
    targeted: int
    sent: int
    delivered: int
    bounced: int
    failed: int
    opened: int
    clicked: int
    replied: int
    unsubscribed: int
    converted: int
    revenue: float

    @staticmethod
    def of(n: Any) -> CampaignNumbers:
        return CampaignNumbers(**{k: getattr(n, k) for k in CampaignNumbers.__annotations__})


@strawberry.type
class CampaignBreakdown:
    key: str | None
    numbers: CampaignNumbers


@strawberry.type
class CampaignReason:
    status: str = strawberry.field(description="skipped, held, paused or failed")
    reason: str
    count: int


@strawberry.type
class CampaignAnalytics:
    totals: CampaignNumbers
    variants: list[CampaignBreakdown]
    channels: list[CampaignBreakdown]
    reasons: list[CampaignReason]


@strawberry.type
class CampaignProgress:
    campaign_id: strawberry.ID
    status: CampaignStatus
    run: int
    targeted: int
    live: int
    sent: int
    failed: int
    skipped: int


def _run(number: str, state: dict[str, Any]) -> CampaignRun:
    paid = state.get("paid_audience") or {}
    return CampaignRun(
        run=int(number.removeprefix("run")),
        phase=state.get("phase", ""),
        started_at=state.get("started_at"),
        finished_at=state.get("finished_at"),
        targeted=int(state.get("targeted") or 0),
        winner=state.get("winner"),
        decision=CampaignDecision.of(state["decision"]) if state.get("decision") else None,
        decision_details=_decision_json(state.get("decision")),
        paid_audience_exported=paid.get("exported"),
        branches=sorted(state.get("branches") or {}),
    )


def _schedule(value: dict[str, Any]) -> CampaignSchedule | None:
    if not value:
        return None
    sto = value.get("sto")
    return CampaignSchedule(
        send_at=value.get("send_at"),
        timezone=value.get("timezone"),
        recurrence=value.get("recurrence"),
        sto=SendTimeOptimization(**sto) if sto else None,
    )


@strawberry.type
class Campaign(Node):
    id: strawberry.ID
    name: str
    description: str
    tags: list[str]
    mode: CampaignMode
    goal: str | None
    kind: CampaignKind
    status: CampaignStatus
    segment_ids: list[strawberry.ID]
    exclude_segment_ids: list[strawberry.ID]
    location_id: strawberry.ID | None
    all_outlets: bool
    channels: list[str] = strawberry.field(description="Priority order; the first reachable.")
    variants: list[CampaignVariant]
    ab_test: AbTest | None
    schedule: CampaignSchedule | None
    trigger: CampaignTrigger | None
    conversion_goal: ConversionGoal | None
    paid_audience: PaidAudience | None
    approval: CampaignApproval | None
    run: int
    runs: list[CampaignRun]
    next_run_at: datetime | None
    counters: list[CampaignCount]
    created_by: str
    created_at: datetime
    updated_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    sent_at: datetime | None
    completed_at: datetime | None
    doc: strawberry.Private[Any]

    @strawberry.field(description="Counted from the campaign's messages (one run, or all).")
    async def analytics(self, info: strawberry.Info, run: int | None = None) -> CampaignAnalytics:
        result = await define.campaign_analytics_of(info.context.caller(), self.doc, run)
        return CampaignAnalytics(
            totals=CampaignNumbers.of(result.totals),
            variants=[
                CampaignBreakdown(key=b.key, numbers=CampaignNumbers.of(b.numbers))
                for b in result.variants
            ],
            channels=[
                CampaignBreakdown(key=b.key, numbers=CampaignNumbers.of(b.numbers))
                for b in result.channels
            ],
            reasons=[
                CampaignReason(status=r.status, reason=r.reason, count=r.count)
                for r in result.reasons
            ],
        )

    @staticmethod
    def of(doc: Any) -> Campaign:
        trigger, goal, paid, test = doc.trigger, doc.conversion_goal, doc.paid_audience, doc.ab_test
        approval = doc.approval
        return Campaign(
            id=gid("Campaign", doc.id),
            name=doc.name,
            description=doc.description,
            tags=list(doc.tags),
            mode=CampaignMode(doc.mode),
            goal=doc.goal,
            kind=CampaignKind(doc.kind),
            status=CampaignStatus(doc.status),
            segment_ids=[gid("Segment", s) for s in doc.segment_ids],
            exclude_segment_ids=[gid("Segment", s) for s in doc.exclude_segment_ids],
            location_id=gid_or_none("Location", doc.location_id),
            all_outlets=doc.all_outlets,
            channels=list(doc.channels),
            variants=[
                CampaignVariant(key=v["key"], weight=v["weight"], content=v["content"])
                for v in doc.variants
            ],
            ab_test=AbTest(
                test_fraction=test.get("test_fraction"),
                metric=AbMetric(test["metric"]),
                window_hours=test["window_hours"],
                on_timeout=AbTimeout(test["on_timeout"]),
            )
            if test
            else None,
            schedule=_schedule(doc.schedule),
            trigger=CampaignTrigger(
                event=trigger.get("event"),
                where=trigger.get("where"),
                segment_id=gid_or_none("Segment", trigger.get("segment_id")),
                cooldown_hours=trigger.get("cooldown_hours") or 0,
            )
            if trigger
            else None,
            conversion_goal=ConversionGoal(
                event=goal["event"],
                where=goal.get("where"),
                window_hours=goal["window_hours"],
                revenue_property=goal.get("revenue_property"),
            )
            if goal
            else None,
            paid_audience=PaidAudience(
                kind=PaidAudienceKind(paid["kind"]),
                url=paid.get("url"),
                signed=bool(paid.get("secret")),
            )
            if paid
            else None,
            approval=CampaignApproval(
                state=approval.get("state", ""),
                requested_by=approval.get("requested_by"),
                decided_by=approval.get("decided_by"),
                comment=approval.get("comment"),
                at=approval.get("at"),
            )
            if approval
            else None,
            run=doc.run,
            runs=[
                _run(n, s)
                for n, s in sorted(doc.runs.items(), key=lambda kv: int(kv[0].removeprefix("run")))
            ],
            next_run_at=doc.next_run_at,
            counters=[CampaignCount(key=k, count=v) for k, v in sorted(doc.counters.items())],
            created_by=doc.created_by,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            scheduled_at=doc.scheduled_at,
            started_at=doc.started_at,
            sent_at=doc.sent_at,
            completed_at=doc.completed_at,
            doc=doc,
        )


@strawberry.type
class CampaignGoal:
    key: str
    label: str
    description: str
    suggested_rules: JSON
    starter: JSON
    conversion_event: str | None


# --- inputs ---------------------------------------------------------------------------------


@strawberry.input
class CampaignVariantInput:
    key: str
    weight: int
    content: JSON = strawberry.field(
        default_factory=dict, description='{"email": {"subject": "...", "text": "..."}}'
    )
    template_ids: JSON | None = strawberry.field(
        default=None,
        description='Saved templates to copy in, {"email": "<template id>"}; they fill (or '
        "replace) that channel's content.",
    )


@strawberry.input
class AbTestInput:
    metric: AbMetric = AbMetric.OPEN
    test_fraction: float | None = strawberry.field(
        default=None,
        description="Share of the audience in the test phase (0.01-1); none: no phase.",
    )
    window_hours: float = 24
    on_timeout: AbTimeout = AbTimeout.BEST


@strawberry.input
class SendTimeOptimizationInput:
    enabled: bool = True
    window_hours: float = 24


@strawberry.input
class CampaignScheduleInput:
    send_at: datetime | None = strawberry.field(default=None, description="null: now.")
    timezone: str | None = None
    recurrence: JSON | None = strawberry.field(
        default=None,
        description='{"every": "day"|"week"|"month"|"cron", "at": "09:30", "weekdays": [0], ...}',
    )
    sto: SendTimeOptimizationInput | None = None


@strawberry.input
class CampaignTriggerInput:
    event: str | None = None
    where: JSON | None = strawberry.field(default=None, description="Conditions on properties.")
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Fire when a contact enters this segment."
    )
    cooldown_hours: int = strawberry.field(
        default=24, description="At most one message per contact in this many hours (0: none)."
    )


@strawberry.input
class ConversionGoalInput:
    event: str
    where: JSON | None = None
    window_hours: float = 72
    revenue_property: str | None = None


@strawberry.input
class PaidAudienceInput:
    kind: PaidAudienceKind
    url: str | None = None
    secret: str | None = strawberry.field(default=None, description="Signs the POSTs (HMAC).")


@strawberry.input
class CampaignInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    mode: CampaignMode | None = strawberry.UNSET
    goal: str | None = strawberry.UNSET
    kind: CampaignKind | None = strawberry.UNSET
    segment_ids: list[strawberry.ID] | None = strawberry.UNSET
    exclude_segment_ids: list[strawberry.ID] | None = strawberry.UNSET
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One outlet; null = brand tier."
    )
    all_outlets: bool | None = strawberry.field(
        default=strawberry.UNSET, description="One branched execution per outlet."
    )
    channels: list[str] | None = strawberry.UNSET
    variants: list[CampaignVariantInput] | None = strawberry.UNSET
    ab_test: AbTestInput | None = strawberry.UNSET
    schedule: CampaignScheduleInput | None = strawberry.UNSET
    trigger: CampaignTriggerInput | None = strawberry.UNSET
    paid_audience: PaidAudienceInput | None = strawberry.UNSET
    conversion_goal: ConversionGoalInput | None = strawberry.UNSET


def _plain(value: Any) -> Any:
    """Input objects as dicts of snake_case keys (unset keys left out), enums as values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__strawberry_definition__"):
        return {
            name: _plain(item) for name, item in vars(value).items() if item is not strawberry.UNSET
        }
    return value


def _data(input: CampaignInput) -> dict[str, Any]:
    data = _plain(input)
    for key in ("segment_ids", "exclude_segment_ids"):
        if data.get(key) is not None:
            data[key] = [str(v) for v in data[key]]
    if data.get("variants"):  # template ids in JSON: stored raw
        data["variants"] = raw_ids_in(data["variants"])
    return data


# --- payloads ---------------------------------------------------------------------------------


@strawberry.type
class CampaignPayload:
    campaign: Campaign | None = None
    user_errors: list[UserError]


@strawberry.type
class DeleteCampaignPayload:
    deleted_campaign_id: strawberry.ID | None = None
    user_errors: list[UserError]


async def _payload(work: Awaitable[Any]) -> CampaignPayload:
    doc, errors = await attempt(work)
    return CampaignPayload(campaign=Campaign.of(doc) if doc else None, user_errors=errors)


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class CampaignQueries:
    @strawberry.field(description="Campaigns of this workspace, newest first.")
    async def campaigns(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        status: CampaignStatus | None = None,
    ) -> Connection[Campaign]:
        page = await define.list_campaigns(
            _ctx(info), first, after, status.value if status else None
        )
        return connection(page, Campaign.of)

    @strawberry.field
    async def campaign(self, info: strawberry.Info, id: strawberry.ID) -> Campaign | None:
        doc = await define.get_campaign(_ctx(info), id)
        return Campaign.of(doc) if doc else None

    @strawberry.field(description="Simple mode: the business goals a campaign can start from.")
    def campaign_goals(self) -> list[CampaignGoal]:
        return [
            CampaignGoal(
                key=g.key,
                label=g.label,
                description=g.description,
                suggested_rules=g.suggested_rules,
                starter=g.starter,
                conversion_event=g.conversion_event,
            )
            for g in define.goal_catalogue()
        ]


@strawberry.type
class CampaignMutations:
    @strawberry.mutation(description="A draft campaign (advanced mode: the full definition).")
    async def create_campaign(self, info: strawberry.Info, input: CampaignInput) -> CampaignPayload:
        return await _payload(define.create_campaign(_ctx(info), _data(input)))

    @strawberry.mutation(
        description="Simple mode: a draft from a goal's starter message and suggested segment."
    )
    async def create_campaign_from_goal(
        self,
        info: strawberry.Info,
        goal: str,
        name: str | None = None,
        segment_id: strawberry.ID | None = None,
    ) -> CampaignPayload:
        return await _payload(define.create_from_goal(_ctx(info), goal, name, segment_id))

    @strawberry.mutation(description="Change a draft (other statuses: CAMPAIGN_LOCKED).")
    async def update_campaign(
        self, info: strawberry.Info, id: strawberry.ID, input: CampaignInput
    ) -> CampaignPayload:
        return await _payload(define.update_campaign(_ctx(info), id, _data(input)))

    @strawberry.mutation(description="A new draft with the same definition.")
    async def duplicate_campaign(
        self, info: strawberry.Info, id: strawberry.ID, name: str | None = None
    ) -> CampaignPayload:
        return await _payload(define.duplicate_campaign(_ctx(info), id, name))

    @strawberry.mutation(description="Validate and schedule (or start now); every problem back.")
    async def schedule_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignPayload:
        return await _payload(lifecycle.schedule_campaign(_ctx(info), id))

    @strawberry.mutation(description="Ask an approver to sign off (approval-required workspaces).")
    async def request_campaign_approval(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> CampaignPayload:
        return await _payload(lifecycle.request_approval(_ctx(info), id))

    @strawberry.mutation(description="Approvers: sign off and schedule a pending campaign.")
    async def approve_campaign(
        self, info: strawberry.Info, id: strawberry.ID, comment: str | None = None
    ) -> CampaignPayload:
        return await _payload(lifecycle.approve_campaign(_ctx(info), id, comment))

    @strawberry.mutation(description="Approvers: return a pending campaign to draft, saying why.")
    async def reject_campaign(
        self, info: strawberry.Info, id: strawberry.ID, comment: str
    ) -> CampaignPayload:
        return await _payload(lifecycle.reject_campaign(_ctx(info), id, comment))

    @strawberry.mutation(description="Hold unsent messages and stop the fan-out.")
    async def pause_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignPayload:
        return await _payload(lifecycle.pause_campaign(_ctx(info), id))

    @strawberry.mutation(description="Continue where the pause stopped; nothing is sent twice.")
    async def resume_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignPayload:
        return await _payload(lifecycle.resume_campaign(_ctx(info), id))

    @strawberry.mutation(description="Stop for good; unsent messages are skipped.")
    async def cancel_campaign(self, info: strawberry.Info, id: strawberry.ID) -> CampaignPayload:
        return await _payload(lifecycle.cancel_campaign(_ctx(info), id))

    @strawberry.mutation(description="Delete a draft.")
    async def delete_campaign(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> DeleteCampaignPayload:
        deleted, errors = await attempt(define.delete_campaign(_ctx(info), id))
        return DeleteCampaignPayload(
            deleted_campaign_id=gid_or_none("Campaign", deleted), user_errors=errors
        )


@strawberry.type
class CampaignSubscriptions:
    @strawberry.subscription(description="A campaign's sending progress now, then each change.")
    async def campaign_progress(
        self, info: strawberry.Info, campaign_id: strawberry.ID
    ) -> AsyncGenerator[CampaignProgress]:
        async for p in define.watch_progress(_ctx(info), campaign_id):
            yield CampaignProgress(
                campaign_id=gid("Campaign", p.campaign_id),
                status=CampaignStatus(p.status),
                run=p.run,
                targeted=p.targeted,
                live=p.live,
                sent=p.sent,
                failed=p.failed,
                skipped=p.skipped,
            )
