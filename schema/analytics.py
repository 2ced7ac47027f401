"""Analytics over the event stream: trends, funnels, retention, campaign and journey
reports, and a trend's live current bucket (contract: the dashboard's analytics page)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers.analytics import funnels, reports, retention, trend_updates, trends
from schema.contacts import Channel
from schema.enums import SendChannel, stored
from schema.node import gid, gid_or_none


def _raw(value: strawberry.ID | None) -> str | None:
    """An id argument as the resolvers take it (the schema has decoded a global id)."""
    return str(value) if value is not None else None


@strawberry.enum(description="The width of a time bucket, in the query's time zone.")
class TrendInterval(Enum):
    HOUR = strawberry.enum_value("hour", description="Clock hours in the time zone.")
    DAY = strawberry.enum_value("day", description="Days from local midnight.")
    WEEK = strawberry.enum_value("week", description="Weeks from local Monday midnight.")
    MONTH = strawberry.enum_value("month", description="Months from the local 1st.")


@strawberry.enum(description="What a trend counts in each bucket.")
class TrendMeasure(Enum):
    TOTAL = strawberry.enum_value("total", description="Every event counted.")
    UNIQUE_CONTACTS = strawberry.enum_value(
        "unique_contacts", description="Each contact counted once per bucket."
    )


@strawberry.enum(description="Where a breakdown's property is read.")
class BreakdownSource(Enum):
    EVENT = strawberry.enum_value("event", description="A property of the event itself.")
    CONTACT = strawberry.enum_value("contact", description="A property of its contact now.")


@strawberry.enum(description="How funnel steps must follow each other.")
class FunnelOrder(Enum):
    STRICT = strawberry.enum_value(
        "strict", description="In order, with no other step event in between."
    )
    ORDERED = strawberry.enum_value("ordered", description="In order; others may come between.")
    ANY = strawberry.enum_value("any", description="In any order, within the window.")


@strawberry.enum(description="Which send a conversion is credited to.")
class Attribution(Enum):
    LAST_TOUCH = strawberry.enum_value(
        "last_touch", description="The latest send before it, within the window."
    )
    FIRST_TOUCH = strawberry.enum_value(
        "first_touch", description="The earliest send before it, within the window."
    )


@strawberry.input(
    description="Split a result by a property: its top N values, the rest as 'other'."
)
class BreakdownInput:
    source: BreakdownSource = strawberry.field(
        description="EVENT: the event's properties (a funnel: its first step's); CONTACT: "
        "the contact's properties now."
    )
    property: str = strawberry.field(description="Property path, e.g. 'plan' or 'cart.currency'.")
    limit: int = strawberry.field(default=10, description="How many values to keep (1-50).")

    def to_domain(self) -> trends.Breakdown:
        return trends.Breakdown(self.source.value, self.property, self.limit)


@strawberry.input(description="A trend: events counted per time bucket.")
class TrendInput:
    events: list[str] = strawberry.field(
        description="1-10 event names, matched by canonical name key like segment rules."
    )
    interval: TrendInterval = strawberry.field(
        default=TrendInterval.DAY, description="Bucket width."
    )
    time_zone: str = strawberry.field(
        default="UTC",
        description="IANA zone; buckets start at local hour / midnight / Monday / the 1st.",
    )
    from_: datetime = strawberry.field(name="from", description="Start of the range (inclusive).")
    to: datetime = strawberry.field(
        description="End of the range (exclusive); at most 1000 buckets."
    )
    measure: TrendMeasure = strawberry.field(
        default=TrendMeasure.TOTAL, description="Events or unique contacts."
    )
    breakdown: BreakdownInput | None = strawberry.field(
        default=None, description="Split by a property."
    )
    where: JSON | None = strawberry.field(
        default=None,
        description="Event-property conditions, the shape and operators of segment rules' `where`.",
    )
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only events of contacts currently in this segment."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only events of this location (outlet)."
    )

    def to_domain(self) -> trends.TrendQuery:
        return trends.TrendQuery(
            events=list(self.events),
            start=self.from_,
            end=self.to,
            interval=self.interval.value,
            time_zone=self.time_zone,
            measure=self.measure.value,
            breakdown=self.breakdown.to_domain() if self.breakdown else None,
            where=self.where,
            segment_id=_raw(self.segment_id),
            location_id=_raw(self.location_id),
        )


@strawberry.type(description="One event's counts per bucket (one breakdown value's, when split).")
class TrendSeries:
    event: str = strawberry.field(description="The event name as asked.")
    breakdown_value: str | None = strawberry.field(
        description="The breakdown value; null when the property is missing (or no breakdown)."
    )
    is_other: bool = strawberry.field(description="This series sums the values outside the top N.")
    values: list[int] = strawberry.field(
        description="One count per bucket, aligned with Trend.buckets."
    )
    total: int = strawberry.field(
        description="Over the whole range (unique contacts: distinct over the range, not a sum)."
    )

    @classmethod
    def of(cls, s: trends.Series) -> TrendSeries:
        return cls(
            event=s.event,
            breakdown_value=s.breakdown_value,
            is_other=s.is_other,
            values=s.values,
            total=s.total,
        )


@strawberry.type(description="Counts of events over time.")
class Trend:
    interval: TrendInterval = strawberry.field(description="Bucket width.")
    time_zone: str = strawberry.field(description="The zone the buckets are in.")
    buckets: list[datetime] = strawberry.field(
        description="Each bucket's start (UTC instant of the local boundary); the first may be "
        "before `from`."
    )
    series: list[TrendSeries] = strawberry.field(
        description="One per event; with a breakdown, one per value that occurs (top N, "
        "then 'other')."
    )


@strawberry.type(description="One series' count in the current bucket.")
class TrendBucketSeries:
    event: str = strawberry.field(description="The event name as asked.")
    breakdown_value: str | None = strawberry.field(
        description="The breakdown value (null: missing or none)."
    )
    is_other: bool = strawberry.field(description="This series sums the values outside the top N.")
    value: int = strawberry.field(description="The count so far in the current bucket.")


@strawberry.type(description="A trend's current bucket (the one holding now).")
class TrendBucket:
    start: datetime = strawberry.field(description="The bucket's start.")
    series: list[TrendBucketSeries] = strawberry.field(
        description="Per event (and breakdown value)."
    )


@strawberry.input(description="A funnel step: an event, optionally filtered by its properties.")
class FunnelStepInput:
    event: str = strawberry.field(description="The event name.")
    where: JSON | None = strawberry.field(
        default=None, description="Event-property conditions (segment rules' `where`)."
    )


@strawberry.input(description="A funnel: contacts following steps within a window.")
class FunnelInput:
    steps: list[FunnelStepInput] = strawberry.field(description="2-10 steps, in order.")
    window_seconds: int = strawberry.field(
        default=604800, description="Time allowed from step 1 to the last."
    )
    order: FunnelOrder = strawberry.field(
        default=FunnelOrder.ORDERED,
        description="ORDERED: in order, other events between allowed; STRICT: in order with no "
        "other funnel event between; ANY: steps after the first in any order.",
    )
    from_: datetime = strawberry.field(
        name="from", description="Start of the range (inclusive): every step happens in it."
    )
    to: datetime = strawberry.field(description="End of the range (exclusive).")
    breakdown: BreakdownInput | None = strawberry.field(
        default=None, description="Split by a property."
    )
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only contacts currently in this segment."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only events of this location."
    )

    def to_domain(self) -> funnels.FunnelQuery:
        return funnels.FunnelQuery(
            steps=[funnels.Step(s.event, s.where) for s in self.steps],
            start=self.from_,
            end=self.to,
            window_seconds=self.window_seconds,
            order=self.order.value,
            breakdown=self.breakdown.to_domain() if self.breakdown else None,
            segment_id=_raw(self.segment_id),
            location_id=_raw(self.location_id),
        )


@strawberry.type(description="How many contacts reached a funnel step.")
class FunnelStep:
    event: str = strawberry.field(description="The step's event name.")
    count: int = strawberry.field(description="Contacts that reached this step.")
    conversion_rate: float = strawberry.field(description="count / count of step 1 (0..1).")
    step_conversion_rate: float = strawberry.field(
        description="count / count of the step before (0..1)."
    )
    drop_off: int = strawberry.field(
        description="Contacts of the step before that did not reach this one."
    )
    median_seconds_from_previous: float | None = strawberry.field(
        description="Median seconds from the step before (ANY: from step 1); null for step 1."
    )

    @classmethod
    def of(cls, s: funnels.FunnelStep) -> FunnelStep:
        return cls(
            event=s.event,
            count=s.count,
            conversion_rate=s.conversion_rate,
            step_conversion_rate=s.step_conversion_rate,
            drop_off=s.drop_off,
            median_seconds_from_previous=s.median_seconds_from_previous,
        )


@strawberry.type(description="The funnel of the contacts with one breakdown value.")
class FunnelBreakdown:
    value: str = strawberry.field(description="The value ('' when missing, 'other' for the rest).")
    is_other: bool = strawberry.field(description="The contacts outside the top N values.")
    is_missing: bool = strawberry.field(description="The contacts without the property.")
    steps: list[FunnelStep] = strawberry.field(description="Per step.")


@strawberry.type(description="A funnel's steps, overall and per breakdown value.")
class Funnel:
    steps: list[FunnelStep] = strawberry.field(description="Per step, all contacts.")
    breakdowns: list[FunnelBreakdown] = strawberry.field(
        description="Per breakdown value (empty without one)."
    )


@strawberry.input(
    description="Retention: cohorts by first start event, returns by the return event."
)
class RetentionInput:
    start_event: str = strawberry.field(
        description="The event whose first occurrence puts a contact in a cohort."
    )
    return_event: str = strawberry.field(description="The event that counts as coming back.")
    interval: TrendInterval = strawberry.field(
        default=TrendInterval.DAY, description="DAY or WEEK."
    )
    periods: int = strawberry.field(default=8, description="Periods per cohort (1-60).")
    from_: datetime = strawberry.field(name="from", description="Start of the range (inclusive).")
    to: datetime = strawberry.field(
        description="End of the range (exclusive): no period starts after it."
    )
    time_zone: str = strawberry.field(default="UTC", description="IANA zone of the days and weeks.")
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only contacts currently in this segment."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only events of this location."
    )

    def to_domain(self) -> retention.RetentionQuery:
        return retention.RetentionQuery(
            start_event=self.start_event,
            return_event=self.return_event,
            start=self.from_,
            end=self.to,
            interval=self.interval.value,
            periods=self.periods,
            time_zone=self.time_zone,
            segment_id=_raw(self.segment_id),
            location_id=_raw(self.location_id),
        )


@strawberry.type(description="One cohort: contacts whose first start event fell in one period.")
class RetentionCohort:
    start: datetime = strawberry.field(description="The cohort's period start.")
    size: int = strawberry.field(description="Contacts in the cohort.")
    returned: list[int] = strawberry.field(
        description="Contacts returning in period k (returned[0] = the cohort's own period); "
        "only periods that began before `to`."
    )


@strawberry.type(description="A retention triangle.")
class Retention:
    interval: TrendInterval = strawberry.field(description="DAY or WEEK.")
    cohorts: list[RetentionCohort] = strawberry.field(
        description="One per period of the range, oldest first."
    )


@strawberry.input(description="Campaigns and journeys side by side over a time range.")
class ReportInput:
    from_: datetime = strawberry.field(name="from", description="Sends created from (inclusive).")
    to: datetime = strawberry.field(description="Sends created before (exclusive).")
    attribution: Attribution = strawberry.field(
        default=Attribution.LAST_TOUCH,
        description="With conversionEvent: which touch gets the credit.",
    )
    window_hours: int = strawberry.field(
        default=72, description="With conversionEvent: hours a touch counts for."
    )
    conversion_event: str | None = strawberry.field(
        default=None,
        description="Attribute this event (its `revenue` property) to touches; null: the "
        "campaigns' own goal conversions.",
    )
    channel: Channel | None = strawberry.field(
        default=None, description="Only this channel's sends."
    )
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this outlet's sends."
    )

    def to_domain(self) -> reports.ReportQuery:
        channel = self.channel.value if self.channel and self.channel != Channel.ALL else None
        return reports.ReportQuery(
            start=self.from_,
            end=self.to,
            attribution=self.attribution.value,
            window_hours=self.window_hours,
            conversion_event=self.conversion_event,
            channel=channel,
            location_id=_raw(self.location_id),
        )


@strawberry.type(description="One campaign's or journey's numbers on one channel and outlet.")
class ReportRow:
    source_type: str = strawberry.field(description="'campaign' or 'journey'.")
    source_id: strawberry.ID = strawberry.field(description="The campaign's or journey's id.")
    name: str = strawberry.field(description="Its name.")
    channel: SendChannel | None = strawberry.field(
        description="The channel of these sends (null: an unknown stored value)."
    )
    location_id: strawberry.ID | None = strawberry.field(
        description="The outlet (null: brand tier)."
    )
    targeted: int = strawberry.field(description="Sends decided (skipped included).")
    sent: int = strawberry.field(description="Handed to a provider.")
    delivered: int = strawberry.field(description="Delivered.")
    bounced: int = strawberry.field(description="Bounced.")
    opened: int = strawberry.field(description="Opened.")
    clicked: int = strawberry.field(description="Clicked.")
    replied: int = strawberry.field(description="Replied.")
    unsubscribed: int = strawberry.field(description="Unsubscribed.")
    converted: int = strawberry.field(description="Conversions credited.")
    revenue: float = strawberry.field(description="Revenue of the conversions credited.")

    @classmethod
    def of(cls, r: reports.Row) -> ReportRow:
        return cls(
            source_type=r.source_type,
            source_id=gid(r.source_type.capitalize(), r.source_id),
            name=r.name,
            channel=stored(SendChannel, r.channel),
            location_id=gid_or_none("Location", r.location_id),
            **{
                k: getattr(r, k)
                for k in (
                    "targeted",
                    "sent",
                    "delivered",
                    "bounced",
                    "opened",
                    "clicked",
                    "replied",
                    "unsubscribed",
                    "converted",
                    "revenue",
                )
            },
        )


@strawberry.type(description="Campaigns and journeys side by side.")
class AnalyticsReport:
    attribution: Attribution = strawberry.field(description="The attribution model used.")
    window_hours: int = strawberry.field(description="The attribution window.")
    rows: list[ReportRow] = strawberry.field(description="Per source, channel and outlet.")


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(description="Counts of events per time bucket.")
    async def trend(
        self,
        info: strawberry.Info,
        input: Annotated[
            TrendInput, strawberry.argument(description="What to count, how and over which period.")
        ],
    ) -> Trend:
        result = await trends.trend(_ctx(info), input.to_domain())
        return Trend(
            interval=TrendInterval(result.interval),
            time_zone=result.time_zone,
            buckets=result.buckets,
            series=[TrendSeries.of(s) for s in result.series],
        )

    @strawberry.field(description="Conversion through ordered steps.")
    async def funnel(
        self,
        info: strawberry.Info,
        input: Annotated[
            FunnelInput, strawberry.argument(description="The steps, window, order and filters.")
        ],
    ) -> Funnel:
        result = await funnels.funnel(_ctx(info), input.to_domain())
        return Funnel(
            steps=[FunnelStep.of(s) for s in result.steps],
            breakdowns=[
                FunnelBreakdown(
                    value=b.value,
                    is_other=b.is_other,
                    is_missing=b.is_missing,
                    steps=[FunnelStep.of(s) for s in b.steps],
                )
                for b in result.breakdowns
            ],
        )

    @strawberry.field(description="Cohort retention as a triangle.")
    async def retention(
        self,
        info: strawberry.Info,
        input: Annotated[
            RetentionInput,
            strawberry.argument(description="The start and return events, periods and filters."),
        ],
    ) -> Retention:
        result = await retention.retention(_ctx(info), input.to_domain())
        return Retention(
            interval=TrendInterval(result.interval),
            cohorts=[
                RetentionCohort(start=c.start, size=c.size, returned=c.returned)
                for c in result.cohorts
            ],
        )

    @strawberry.field(description="Campaigns and journeys side by side over a time range.")
    async def analytics_report(
        self,
        info: strawberry.Info,
        input: Annotated[
            ReportInput,
            strawberry.argument(description="The period, attribution model and filters."),
        ],
    ) -> AnalyticsReport:
        result = await reports.report(_ctx(info), input.to_domain())
        return AnalyticsReport(
            attribution=Attribution(result.attribution),
            window_hours=result.window_hours,
            rows=[ReportRow.of(r) for r in result.rows],
        )


@strawberry.type
class AnalyticsSubscriptions:
    @strawberry.subscription(
        description="A trend's current bucket now, then again each time it changes (events "
        "arriving)."
    )
    async def trend_updates(
        self,
        info: strawberry.Info,
        input: Annotated[
            TrendInput,
            strawberry.argument(description="The trend whose current bucket is streamed."),
        ],
    ) -> AsyncGenerator[TrendBucket]:
        async for bucket in trend_updates.watch(_ctx(info), input.to_domain()):
            yield TrendBucket(
                start=bucket.start,
                series=[
                    TrendBucketSeries(
                        event=s.event,
                        breakdown_value=s.breakdown_value,
                        is_other=s.is_other,
                        value=s.value,
                    )
                    for s in bucket.series
                ],
            )
