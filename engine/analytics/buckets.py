"""Time buckets in an IANA zone: local hour, local midnight, local Monday, local 1st.

Bucket starts are computed as local wall-clock times turned into UTC instants with
engine.zones.local_instant (so a day is 23 or 25 hours long on the days clocks change, and
a local hour that happens twice is two buckets). The database then only groups events by
a UTC *slot* that divides every bucket start (`slot_ms`): every slot lies inside one bucket,
so the final bucketing of the grouped rows in Python is exact whatever the zone.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.zones import as_utc, local_instant, zone

INTERVALS = ("hour", "day", "week", "month")
MAX_BUCKETS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def parse_zone(name: object, field: str = "timeZone") -> ZoneInfo:
    tz = zone(name)
    if tz is None:
        raise InvalidInput(
            f"Unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'.", field=field
        )
    return tz


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    return as_utc(moment).astimezone(tz).utcoffset() or timedelta(0)


def _change(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (low, high] whose offset differs from low's (to the second;
    zone changes happen on whole seconds)."""
    before = _offset(low, tz)
    lo, hi = int(_ms(low) // 1000), int(-(-_ms(high) // 1000))
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if _offset(from_ms(middle * 1000), tz) == before:
            lo = middle
        else:
            hi = middle
    return from_ms(hi * 1000)


def _local_start(moment: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """The UTC start of the bucket holding `moment`."""
    local = as_utc(moment).astimezone(tz)
    if interval == "hour":
        # A local hour under one offset: truncate with the offset in force at `moment`,
        # starting no earlier than the change that brought that offset in (a local hour
        # that happens twice is two buckets; a 30-minute change starts one mid-hour).
        offset = _offset(moment, tz)
        wall = local.replace(minute=0, second=0, microsecond=0, tzinfo=None)
        start = (wall - offset).replace(tzinfo=UTC)
        if _offset(start, tz) != offset:
            start = _change(start, as_utc(moment), tz)
        return start
    day = local.date()
    if interval == "week":
        day = day - timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    start = local_instant(day, time(0), tz)
    if start > as_utc(moment):  # midnight skipped/shifted: the bucket began the day before
        return _local_start(start - timedelta(microseconds=1), interval, tz)
    return start


def _next_day(day: date, interval: str) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def next_start(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """The start of the bucket after the one beginning at `start`."""
    if interval == "hour":
        # The next local hour mark under this offset, unless the offset changes first.
        offset = _offset(start, tz)
        wall = as_utc(start).astimezone(tz).replace(minute=0, second=0, microsecond=0)
        mark = (wall.replace(tzinfo=None) + timedelta(hours=1) - offset).replace(tzinfo=UTC)
        if _offset(mark - timedelta(seconds=1), tz) != offset:
            return _change(start, mark, tz)
        return mark
    local_day = as_utc(start).astimezone(tz).date()
    if interval == "week":
        local_day -= timedelta(days=local_day.weekday())
    elif interval == "month":
        local_day = local_day.replace(day=1)
    nxt = _next_day(local_day, interval)
    result = local_instant(nxt, time(0), tz)
    while result <= start:  # defensive: never stall
        nxt = _next_day(nxt, interval)
        result = local_instant(nxt, time(0), tz)
    return result


@dataclass(frozen=True)
class Buckets:
    """The buckets covering [start, end): `starts[i]` begins bucket i (the first one may
    begin before `start`, the range's own start); `edges` adds the end of the last."""

    interval: str
    tz: ZoneInfo
    start: datetime
    end: datetime
    starts: tuple[datetime, ...]
    edges: tuple[datetime, ...]

    def index(self, moment: datetime) -> int | None:
        """Which bucket holds `moment`, None outside [start, end)."""
        moment = as_utc(moment)
        if not self.start <= moment < self.end:
            return None
        return bisect.bisect_right(self.starts, moment) - 1

    @property
    def slot_ms(self) -> int:
        """The widest UTC slot (a whole number of minutes, at most a day) that divides
        every interior bucket edge: grouping by it never mixes two buckets."""
        step = DAY_MS
        for edge in self.edges[1:-1]:
            step = math.gcd(step, _ms(edge))
        return step

    def slot_index(self, slot_start_ms: int) -> int:
        """The bucket of a slot (by its start; a slot never straddles an interior edge,
        the first and last may reach outside the range, which $match already cut)."""
        moment = from_ms(slot_start_ms)
        return min(max(bisect.bisect_right(self.starts, moment) - 1, 0), len(self.starts) - 1)


def _ms(moment: datetime) -> int:
    delta = as_utc(moment) - EPOCH
    return delta.days * DAY_MS + delta.seconds * 1000 + delta.microseconds // 1000


def from_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def buckets(
    start: datetime, end: datetime, interval: str, tz: ZoneInfo, limit: int = MAX_BUCKETS
) -> Buckets:
    """The buckets of [start, end), or InvalidInput when the range is empty or needs more
    than `limit` buckets."""
    if interval not in INTERVALS:
        raise InvalidInput(f"interval is one of {', '.join(INTERVALS)}.", field="interval")
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise InvalidInput("`to` must be after `from`.", field="to")
    # Cheap bound first, so a hostile range never makes us walk millions of buckets.
    rough = {"hour": 3600, "day": 86400 * 0.9, "week": 604800, "month": 86400 * 31}[interval]
    if (end - start).total_seconds() / rough > limit + 2:
        raise InvalidInput(
            f"That range needs more than {limit} {interval} buckets: shorten it or use a "
            "longer interval.",
            field="to",
        )
    starts = [_local_start(start, interval, tz)]
    while True:
        nxt = next_start(starts[-1], interval, tz)
        if nxt >= end:
            break
        starts.append(nxt)
        if len(starts) > limit:
            raise InvalidInput(
                f"That range needs more than {limit} {interval} buckets: shorten it or use a "
                "longer interval.",
                field="to",
            )
    edges = (*starts, next_start(starts[-1], interval, tz))
    return Buckets(interval, tz, start, end, tuple(starts), edges)


def bucket_of(moment: datetime, interval: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """(start, end) of the bucket holding `moment` (the live subscription's current one)."""
    start = _local_start(moment, interval, tz)
    return start, next_start(start, interval, tz)
