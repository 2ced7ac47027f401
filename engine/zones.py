"""Time zones: validate IANA names and turn local wall-clock times into UTC instants.

Shared by delivery (quiet hours), send_time (STO) and recurrence (schedules), so that all
three agree on what a local time means on the days the clocks change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    # Membership in the tz database list, not "ZoneInfo() loads it": that would also accept
    # any file under the zoneinfo directories. The list itself holds two non-zones.
    return frozenset(available_timezones() - {"localtime", "Factory"})


def zone(name: object) -> ZoneInfo | None:
    """The zone for an IANA name, or None when it is not one."""
    if not isinstance(name, str) or not name or len(name) > 64 or name not in _known():
        return None
    return ZoneInfo(name)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive ones are taken as UTC (what PyMongo hands back)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in `tz` shows `at` on `day`.

    A wall time that occurs twice (clocks going back) means its first occurrence. One that
    does not exist (clocks going forward, e.g. 02:30 in New York on the March change) means
    the first valid instant after it: the moment the clocks jump.
    """
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=0 uses the offset from before the change and lands after the jump,
    # fold=1 the offset from after it and lands before. The jump is in between; find it.
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)
