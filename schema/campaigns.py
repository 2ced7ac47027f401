"""Campaigns: drafts, launch and approvals, pause/resume/cancel, analytics, live progress.

Every mutation returns a payload with userErrors; a definition or launch with several
problems returns one userError per problem, each at its input path
(`variants[1].content.email.subject`, `segmentIds[0]`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.campaigns import define, lifecycle
from schema.errors import UserError, attempt
from schema.node import Node, gid, gid_or_none, raw_ids_in
from schema.pagination import After, Connection, First, connection

T = TypeVar("T")


@strawberry.enum(description="Where a campaign is in its lifecycle.")
class CampaignStatus(Enum):
    DRAFT = strawberry.enum_value(
        "draft", description="Being edited; only drafts can be changed or deleted."
    )
    PENDING_APPROVAL = strawberry.enum_value(
        "pending_approval", description="Waiting for an approver to approve or reject it."
    )
    SCHEDULED = strawberry.enum_value(
        "scheduled", description="Launched; waiting for its send time or next run."
    )
    SENDING = strawberry.enum_value(
        "sending",
        description="A run is handing messages out; a live triggered campaign stays here.",
    )
    SENT = strawberry.enum_value(
        "sent", description="The last run handed out every message; results still come in."
    )
    COMPLETED = strawberry.enum_value(
        "completed", description="Finished: no more runs or messages."
    )
    PAUSED = strawberry.enum_value(
        "paused", description="Held by pauseCampaign; resumeCampaign continues it."
    )
    CANCELLED = strawberry.enum_value(
        "cancelled", description="Stopped for good by cancelCampaign."
    )


@strawberry.enum(description="How a campaign is sent.")
class CampaignKind(Enum):
    ONE_TIME = strawberry.enum_value("one_time", description="One run, now or at schedule.sendAt.")
    RECURRING = strawberry.enum_value(
        "recurring", description="A run on every occurrence of schedule.recurrence."
    )
    TRIGGERED = strawberry.enum_value(
        "triggered",
        description="A message per contact when its trigger event or segment entry happens.",
    )
    HYBRID = strawberry.enum_value(
        "hybrid",
        description="Messages, plus an export of the audience to a paid-audience destination.",
    )


@strawberry.enum(description="Which editor a campaign was made in.")
class CampaignMode(Enum):
    SIMPLE = strawberry.enum_value(
        "simple", description="Started from a business goal (campaignGoals)."
    )
    ADVANCED = strawberry.enum_value(
        "advanced", description="The full definition, set field by field."
    )


@strawberry.enum(description="What an A/B test counts as a success of a message.")
class AbMetric(Enum):
    OPEN = strawberry.enum_value("open", description="The message was opened.")
    CLICK = strawberry.enum_value("click", description="A link in the message was clicked.")
    CONVERSION = strawberry.enum_value(
        "conversion", description="The contact converted (needs a conversionGoal)."
    )


@strawberry.enum(
    description="What an A/B test does when its window ends without a significant winner."
)
class AbTimeout(Enum):
    BEST = strawberry.enum_value(
        "best", description="Send the variant with the best rate so far to the rest."
    )
    STOP = strawberry.enum_value(
        "stop", description="Send nothing more to the rest of the audience."
    )


@strawberry.enum(description="Where a hybrid campaign's paid audience is exported.")
class PaidAudienceKind(Enum):
    CSV = strawberry.enum_value("csv", description="A CSV file of the audience.")
    WEBHOOK = strawberry.enum_value(
        "webhook", description="JSON POSTed to a URL, signed with HMAC when a secret is set."
    )


# --- output types ---------------------------------------------------------------------------


@strawberry.type(description="One version of the campaign's message.")
class CampaignVariant:
    key: str = strawberry.field(description="1-20 letters, digits, _ or -; unique in the campaign.")
    weight: int = strawberry.field(
        description="Share of the audience in percent; the weights of a campaign add up to 100."
    )
    content: JSON = strawberry.field(description="channel -> {field: template}")


@strawberry.type(
    description="An A/B test: a test phase on part of the audience picks the variant for the rest."
)
class AbTest:
    test_fraction: float | None = strawberry.field(
        description="Share of the audience in the test phase (0.01-1); null: no test phase, "
        "variants are split by weight."
    )
    metric: AbMetric = strawberry.field(description="What counts as a success.")
    window_hours: float = strawberry.field(
        description="Hours (1-720) after the test phase is handed out before the winner is chosen."
    )
    on_timeout: AbTimeout = strawberry.field(
        description="What happens when the window ends without a significant winner."
    )


@strawberry.type(description="Send-time optimisation: each contact's message at their best hour.")
class SendTimeOptimization:
    enabled: bool = strawberry.field(
        description="Whether messages wait for each contact's best hour."
    )
    window_hours: float = strawberry.field(
        description="Hours (1-168) from the run's start within which each message is sent."
    )


@strawberry.type(description="When a campaign sends.")
class CampaignSchedule:
    send_at: datetime | None = strawberry.field(description="When the first run starts; null: now.")
    timezone: str | None = strawberry.field(
        description="IANA time zone of the schedule; null: the workspace's."
    )
    recurrence: JSON | None = strawberry.field(
        description='Recurring campaigns: {"every": "day"|"week"|"month"|"cron", "at": "09:30", '
        '"weekdays": [0], ...}; null otherwise.'
    )
    sto: SendTimeOptimization | None = strawberry.field(
        description="Send-time optimisation; null: off."
    )


@strawberry.type(description="What sends a triggered campaign: an event, or entering a segment.")
class CampaignTrigger:
    event: str | None = strawberry.field(
        description="The event name that fires it; null for a segment trigger."
    )
    where: JSON | None = strawberry.field(
        description="Conditions on the event's properties; null: any."
    )
    segment_id: strawberry.ID | None = strawberry.field(
        description="Fires when a contact enters this segment; null for an event trigger."
    )
    cooldown_hours: int = strawberry.field(
        description="At most one message per contact in this many hours (0-8760; 0: no limit)."
    )


@strawberry.type(description="What counts as a conversion after a campaign message.")
class ConversionGoal:
    event: str = strawberry.field(description="The event name that counts as a conversion.")
    where: JSON | None = strawberry.field(
        description="Conditions on the event's properties; null: any."
    )
    window_hours: float = strawberry.field(
        description="Hours (1-2160) after the message within which the event counts."
    )
    revenue_property: str | None = strawberry.field(
        description="The event property holding the revenue; null: no revenue counted."
    )


@strawberry.type(description="Where a hybrid campaign exports its audience for paid ads.")
class PaidAudience:
    kind: PaidAudienceKind = strawberry.field(description="A CSV file or a webhook.")
    url: str | None = strawberry.field(description="The webhook URL; null for CSV.")
    signed: bool = strawberry.field(
        description="Whether the POSTs are signed (a secret is set; it is never shown)."
    )


@strawberry.type(description="The approval of a campaign, in workspaces that require one.")
class CampaignApproval:
    state: str = strawberry.field(description="pending, approved or rejected.")
    requested_by: str | None = strawberry.field(description="Who asked for the approval.")
    decided_by: str | None = strawberry.field(
        description="Who approved or rejected it; null while pending."
    )
    comment: str | None = strawberry.field(
        description="The approver's comment (a rejection's reason); null while pending."
    )
    at: datetime | None = strawberry.field(description="When the state last changed.")


@strawberry.type(description="Messages skipped or held for one reason, over every run.")
class CampaignCount:
    key: str = strawberry.field(description='"skipped:<reason>" or "held:<reason>"')
    count: int = strawberry.field(description="How many messages.")


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


@strawberry.type(description="One run of a campaign (a recurring campaign has one per occurrence).")
class CampaignRun:
    run: int = strawberry.field(description="The run's number, from 1.")
    phase: str = strawberry.field(
        description="all (no A/B test), test (the test phase), waiting (for the A/B decision), "
        "rest (the winner to the rest) or done."
    )
    started_at: datetime | None = strawberry.field(description="When the run started.")
    finished_at: datetime | None = strawberry.field(
        description="When the run handed out its last message; null until then."
    )
    targeted: int = strawberry.field(description="Contacts the run's fan-out handled so far.")
    winner: str | None = strawberry.field(
        description="The A/B winner's variant key; null without one (yet)."
    )
    decision: CampaignDecision | None = strawberry.field(
        description="How the A/B test phase chose its winner; null until it did."
    )
    decision_details: JSON | None = strawberry.field(
        description="The stored decision record as JSON.",
        deprecation_reason="Use `decision`, which is typed.",
    )
    paid_audience_exported: int | None = strawberry.field(
        description="Hybrid: contacts exported to the paid audience; null when not exported."
    )
    branches: list[str] = strawberry.field(
        description="The run's executions: brand, or a location id per outlet (allOutlets)."
    )


@strawberry.type(description="Counts of a campaign's messages.")
class CampaignNumbers:
    targeted: int = strawberry.field(description="Messages decided, skipped ones included.")
    sent: int = strawberry.field(description="Messages handed to a provider.")
    delivered: int = strawberry.field(description="Messages the provider reported delivered.")
    bounced: int = strawberry.field(description="Messages that bounced.")
    failed: int = strawberry.field(description="Messages that could not be sent.")
    opened: int = strawberry.field(description="Messages opened.")
    clicked: int = strawberry.field(description="Messages with a link clicked.")
    replied: int = strawberry.field(description="Messages replied to.")
    unsubscribed: int = strawberry.field(
        description="Messages from which the contact unsubscribed."
    )
    converted: int = strawberry.field(description="Messages followed by the conversion goal.")
    revenue: float = strawberry.field(
        description="Sum of the conversion goal's revenue property over the conversions."
    )

    @staticmethod
    def of(n: Any) -> CampaignNumbers:
        return CampaignNumbers(**{k: getattr(n, k) for k in CampaignNumbers.__annotations__})


@strawberry.type(description="The numbers of one variant or one channel.")
class CampaignBreakdown:
    key: str | None = strawberry.field(
        description="The variant key or channel name; null for messages without one."
    )
    numbers: CampaignNumbers = strawberry.field(description="Its counts.")


@strawberry.type(description="Messages not sent, counted by reason.")
class CampaignReason:
    status: str = strawberry.field(description="skipped, held, paused or failed")
    reason: str = strawberry.field(description="The reason recorded on the messages.")
    count: int = strawberry.field(description="How many messages.")


@strawberry.type(description="A campaign's results, counted from its messages.")
class CampaignAnalytics:
    totals: CampaignNumbers = strawberry.field(description="Every message counted.")
    variants: list[CampaignBreakdown] = strawberry.field(description="The counts per variant.")
    channels: list[CampaignBreakdown] = strawberry.field(description="The counts per channel.")
    reasons: list[CampaignReason] = strawberry.field(
        description="Messages not sent, by status and reason."
    )


@strawberry.type(description="A campaign's sending progress (the current run, or all runs).")
class CampaignProgress:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global id.")
    status: CampaignStatus = strawberry.field(description="The campaign's status now.")
    run: int = strawberry.field(description="The current run's number (0: never run).")
    targeted: int = strawberry.field(description="Messages decided so far.")
    live: int = strawberry.field(
        description="Messages not finished: scheduled, queued, sending or paused."
    )
    sent: int = strawberry.field(description="Messages sent (delivered and bounced included).")
    failed: int = strawberry.field(description="Messages that could not be sent.")
    skipped: int = strawberry.field(description="Messages skipped (see Campaign.counters).")


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


@strawberry.type(
    description="A message to segments over channels: once, on a schedule, or on a trigger."
)
class Campaign(Node):
    id: strawberry.ID = strawberry.field(description="The campaign's global id.")
    name: str = strawberry.field(description="The campaign's name.")
    description: str = strawberry.field(description='Free text for the team; "" when none.')
    tags: list[str] = strawberry.field(description="Labels for finding it (at most 20).")
    mode: CampaignMode = strawberry.field(description="Simple (from a goal) or advanced.")
    goal: str | None = strawberry.field(
        description="Simple mode: the key of the campaignGoals entry it started from."
    )
    kind: CampaignKind = strawberry.field(description="One-time, recurring, triggered or hybrid.")
    status: CampaignStatus = strawberry.field(description="Where it is in its lifecycle.")
    segment_ids: list[strawberry.ID] = strawberry.field(
        description="Contacts in any of these segments are the audience (at most 20)."
    )
    exclude_segment_ids: list[strawberry.ID] = strawberry.field(
        description="Contacts in any of these segments are left out."
    )
    location_id: strawberry.ID | None = strawberry.field(
        description="The one outlet it sends for; null: the brand tier."
    )
    all_outlets: bool = strawberry.field(description="One branched execution per outlet.")
    channels: list[str] = strawberry.field(description="Priority order; the first reachable.")
    variants: list[CampaignVariant] = strawberry.field(
        description="The message's versions (1-5), split by weight or by the A/B test."
    )
    ab_test: AbTest | None = strawberry.field(description="The A/B test; null: none.")
    schedule: CampaignSchedule | None = strawberry.field(
        description="When it sends; null: now, once launched."
    )
    trigger: CampaignTrigger | None = strawberry.field(
        description="Triggered campaigns: what sends it; null otherwise."
    )
    conversion_goal: ConversionGoal | None = strawberry.field(
        description="What counts as a conversion; null: conversions are not counted."
    )
    paid_audience: PaidAudience | None = strawberry.field(
        description="Hybrid campaigns: where the audience is exported; null otherwise."
    )
    approval: CampaignApproval | None = strawberry.field(
        description="The approval; null when none was asked for."
    )
    run: int = strawberry.field(description="The number of the latest run (0: never run).")
    runs: list[CampaignRun] = strawberry.field(description="Every run, first to latest.")
    next_run_at: datetime | None = strawberry.field(
        description="When the next run starts; null when none is due."
    )
    counters: list[CampaignCount] = strawberry.field(
        description="Messages skipped or held, by reason, over every run."
    )
    created_by: str = strawberry.field(description="Who created it.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    scheduled_at: datetime | None = strawberry.field(
        description="When it was launched (scheduled); null before."
    )
    started_at: datetime | None = strawberry.field(
        description="When the latest run started; null before the first."
    )
    sent_at: datetime | None = strawberry.field(
        description="When the latest run handed out its last message; null before."
    )
    completed_at: datetime | None = strawberry.field(description="When it completed; null before.")
    doc: strawberry.Private[Any]

    @strawberry.field(description="Counted from the campaign's messages (one run, or all).")
    async def analytics(
        self,
        info: strawberry.Info,
        run: Annotated[
            int | None,
            strawberry.argument(description="Count one run (its number); null: every run."),
        ] = None,
    ) -> CampaignAnalytics:
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


@strawberry.type(description="A business goal a simple-mode campaign can start from.")
class CampaignGoal:
    key: str = strawberry.field(description="Pass it to createCampaignFromGoal.")
    label: str = strawberry.field(description="A short name to show.")
    description: str = strawberry.field(description="What the goal is for.")
    suggested_rules: JSON = strawberry.field(
        description="Segment rules for the audience the goal suggests."
    )
    starter: JSON = strawberry.field(
        description="The starter message: channel -> {field: template}."
    )
    conversion_event: str | None = strawberry.field(
        description="The event that counts as a conversion (a 72-hour goal); null: none."
    )


# --- inputs ---------------------------------------------------------------------------------


@strawberry.input(description="One version of the campaign's message.")
class CampaignVariantInput:
    key: str = strawberry.field(description="1-20 letters, digits, _ or -; unique in the campaign.")
    weight: int = strawberry.field(
        description="Share of the audience in percent; the weights must add up to 100."
    )
    content: JSON = strawberry.field(
        default_factory=dict, description='{"email": {"subject": "...", "text": "..."}}'
    )
    template_ids: JSON | None = strawberry.field(
        default=None,
        description='Saved templates to copy in, {"email": "<template id>"}; they fill (or '
        "replace) that channel's content.",
    )


@strawberry.input(
    description="An A/B test (needs at least two variants; not for triggered campaigns)."
)
class AbTestInput:
    metric: AbMetric = strawberry.field(
        default=AbMetric.OPEN,
        description="What counts as a success; conversion needs a conversionGoal.",
    )
    test_fraction: float | None = strawberry.field(
        default=None,
        description="Share of the audience in the test phase (0.01-1); none: no phase.",
    )
    window_hours: float = strawberry.field(
        default=24,
        description="Hours (1-720) after the test phase is handed out before the winner is chosen.",
    )
    on_timeout: AbTimeout = strawberry.field(
        default=AbTimeout.BEST,
        description="What happens when the window ends without a significant winner.",
    )


@strawberry.input(description="Send-time optimisation: each contact's message at their best hour.")
class SendTimeOptimizationInput:
    enabled: bool = strawberry.field(
        default=True, description="Whether messages wait for each contact's best hour."
    )
    window_hours: float = strawberry.field(
        default=24, description="Hours (1-168) from the run's start within which each is sent."
    )


@strawberry.input(description="When a campaign sends.")
class CampaignScheduleInput:
    send_at: datetime | None = strawberry.field(default=None, description="null: now.")
    timezone: str | None = strawberry.field(
        default=None, description="IANA time zone (Asia/Kolkata); null: the workspace's."
    )
    recurrence: JSON | None = strawberry.field(
        default=None,
        description='{"every": "day"|"week"|"month"|"cron", "at": "09:30", "weekdays": [0], ...}',
    )
    sto: SendTimeOptimizationInput | None = strawberry.field(
        default=None, description="Send-time optimisation; null: off."
    )


@strawberry.input(
    description="What sends a triggered campaign: an event or a segment entry, not both."
)
class CampaignTriggerInput:
    event: str | None = strawberry.field(
        default=None, description="The event name (1-200 characters) that fires it."
    )
    where: JSON | None = strawberry.field(default=None, description="Conditions on properties.")
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Fire when a contact enters this segment."
    )
    cooldown_hours: int = strawberry.field(
        default=24,
        description="At most one message per contact in this many hours (0-8760; 0: none).",
    )


@strawberry.input(description="What counts as a conversion after a campaign message.")
class ConversionGoalInput:
    event: str = strawberry.field(description="The event name that counts as a conversion.")
    where: JSON | None = strawberry.field(
        default=None, description="Conditions on the event's properties; null: any."
    )
    window_hours: float = strawberry.field(
        default=72, description="Hours (1-2160) after the message within which the event counts."
    )
    revenue_property: str | None = strawberry.field(
        default=None,
        description="The event property holding the revenue (letters, digits, _ and .).",
    )


@strawberry.input(description="Where a hybrid campaign exports its audience for paid ads.")
class PaidAudienceInput:
    kind: PaidAudienceKind = strawberry.field(description="A CSV file or a webhook.")
    url: str | None = strawberry.field(default=None, description="The webhook URL (webhook only).")
    secret: str | None = strawberry.field(
        default=None, description="Signs the POSTs (HMAC); 16-200 characters."
    )


@strawberry.input(description="A campaign's definition; fields left out are not changed.")
class CampaignInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="The name.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="Free text for the team."
    )
    tags: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Labels for finding it (at most 20)."
    )
    mode: CampaignMode | None = strawberry.field(
        default=strawberry.UNSET, description="Simple or advanced."
    )
    goal: str | None = strawberry.field(
        default=strawberry.UNSET, description="Simple mode: a campaignGoals key."
    )
    kind: CampaignKind | None = strawberry.field(
        default=strawberry.UNSET, description="One-time, recurring, triggered or hybrid."
    )
    segment_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Segments to send to (at most 20)."
    )
    exclude_segment_ids: list[strawberry.ID] | None = strawberry.field(
        default=strawberry.UNSET, description="Segments whose contacts are left out."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="One outlet; null = brand tier."
    )
    all_outlets: bool | None = strawberry.field(
        default=strawberry.UNSET, description="One branched execution per outlet."
    )
    channels: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="Send channels in priority order (lower case); the first reachable is used.",
    )
    variants: list[CampaignVariantInput] | None = strawberry.field(
        default=strawberry.UNSET, description="The message's versions (1-5)."
    )
    ab_test: AbTestInput | None = strawberry.field(
        default=strawberry.UNSET, description="The A/B test; null: none."
    )
    schedule: CampaignScheduleInput | None = strawberry.field(
        default=strawberry.UNSET, description="When it sends; null: now."
    )
    trigger: CampaignTriggerInput | None = strawberry.field(
        default=strawberry.UNSET, description="Triggered campaigns: what sends it."
    )
    paid_audience: PaidAudienceInput | None = strawberry.field(
        default=strawberry.UNSET, description="Hybrid campaigns: where the audience is exported."
    )
    conversion_goal: ConversionGoalInput | None = strawberry.field(
        default=strawberry.UNSET, description="What counts as a conversion."
    )


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


@strawberry.type(description="The result of a campaign mutation.")
class CampaignPayload:
    campaign: Campaign | None = strawberry.field(
        default=None, description="The campaign after the change; null when it failed."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Every problem, each at its input path; empty on success."
    )


@strawberry.type(description="The result of deleteCampaign.")
class DeleteCampaignPayload:
    deleted_campaign_id: strawberry.ID | None = strawberry.field(
        default=None, description="The deleted campaign's id; null when nothing was deleted."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Why it was not deleted; empty on success."
    )


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
        first: First = None,
        after: After = None,
        status: Annotated[
            CampaignStatus | None,
            strawberry.argument(description="Only campaigns in this status; null: all."),
        ] = None,
    ) -> Connection[Campaign]:
        page = await define.list_campaigns(
            _ctx(info), first, after, status.value if status else None
        )
        return connection(page, Campaign.of)

    @strawberry.field(description="One campaign by id; null when not found in this workspace.")
    async def campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> Campaign | None:
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
    async def create_campaign(
        self,
        info: strawberry.Info,
        input: Annotated[CampaignInput, strawberry.argument(description="The draft definition.")],
    ) -> CampaignPayload:
        return await _payload(define.create_campaign(_ctx(info), _data(input)))

    @strawberry.mutation(
        description="Simple mode: a draft from a goal's starter message and suggested segment."
    )
    async def create_campaign_from_goal(
        self,
        info: strawberry.Info,
        goal: Annotated[str, strawberry.argument(description="A campaignGoals key.")],
        name: Annotated[
            str | None,
            strawberry.argument(description="The campaign name; null: the goal's label."),
        ] = None,
        segment_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The segment to send to; null: a new one from the goal's rules."
            ),
        ] = None,
    ) -> CampaignPayload:
        return await _payload(define.create_from_goal(_ctx(info), goal, name, segment_id))

    @strawberry.mutation(description="Change a draft (other statuses: CAMPAIGN_LOCKED).")
    async def update_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The draft campaign global id.")
        ],
        input: Annotated[
            CampaignInput,
            strawberry.argument(description="The fields to change; fields left out are kept."),
        ],
    ) -> CampaignPayload:
        return await _payload(define.update_campaign(_ctx(info), id, _data(input)))

    @strawberry.mutation(description="A new draft with the same definition.")
    async def duplicate_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign to copy.")],
        name: Annotated[
            str | None,
            strawberry.argument(
                description="The new draft's name; null: the original's name with \" (copy)\"."
            ),
        ] = None,
    ) -> CampaignPayload:
        return await _payload(define.duplicate_campaign(_ctx(info), id, name))

    @strawberry.mutation(description="Validate and schedule (or start now); every problem back.")
    async def schedule_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> CampaignPayload:
        return await _payload(lifecycle.schedule_campaign(_ctx(info), id))

    @strawberry.mutation(description="Ask an approver to sign off (approval-required workspaces).")
    async def request_campaign_approval(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> CampaignPayload:
        return await _payload(lifecycle.request_approval(_ctx(info), id))

    @strawberry.mutation(description="Approvers: sign off and schedule a pending campaign.")
    async def approve_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The pending campaign global id.")
        ],
        comment: Annotated[
            str | None, strawberry.argument(description="A note kept on the approval.")
        ] = None,
    ) -> CampaignPayload:
        return await _payload(lifecycle.approve_campaign(_ctx(info), id, comment))

    @strawberry.mutation(description="Approvers: return a pending campaign to draft, saying why.")
    async def reject_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description="The pending campaign global id.")
        ],
        comment: Annotated[
            str, strawberry.argument(description="Why it is rejected; kept on the approval.")
        ],
    ) -> CampaignPayload:
        return await _payload(lifecycle.reject_campaign(_ctx(info), id, comment))

    @strawberry.mutation(description="Hold unsent messages and stop the fan-out.")
    async def pause_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> CampaignPayload:
        return await _payload(lifecycle.pause_campaign(_ctx(info), id))

    @strawberry.mutation(description="Continue where the pause stopped; nothing is sent twice.")
    async def resume_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> CampaignPayload:
        return await _payload(lifecycle.resume_campaign(_ctx(info), id))

    @strawberry.mutation(description="Stop for good; unsent messages are skipped.")
    async def cancel_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> CampaignPayload:
        return await _payload(lifecycle.cancel_campaign(_ctx(info), id))

    @strawberry.mutation(description="Delete a draft.")
    async def delete_campaign(
        self,
        info: strawberry.Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The campaign global id.")],
    ) -> DeleteCampaignPayload:
        deleted, errors = await attempt(define.delete_campaign(_ctx(info), id))
        return DeleteCampaignPayload(
            deleted_campaign_id=gid_or_none("Campaign", deleted), user_errors=errors
        )


@strawberry.type
class CampaignSubscriptions:
    @strawberry.subscription(description="A campaign's sending progress now, then each change.")
    async def campaign_progress(
        self,
        info: strawberry.Info,
        campaign_id: Annotated[
            strawberry.ID, strawberry.argument(description="The campaign global id.")
        ],
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
