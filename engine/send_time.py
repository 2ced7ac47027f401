"""Send-time optimisation: learn the hour of the week a contact engages, deliver then.

Hours are counted in the contact's own time zone (0 = Monday 00:00-00:59 local,
167 = Sunday 23:00-23:59), so "Tuesday 8 am" stays 8 am across DST changes.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.zones import as_utc, local_instant, zone

HOURS_PER_WEEK = 7 * 24


def _zone(tz: str) -> ZoneInfo:
    found = zone(tz)
    if found is None:
        raise InvalidInput(f"Unknown time zone {str(tz)[:64]!r}.", field="timezone")
    return found


def hour_of_week(ts: datetime, tz: str) -> int:
    local = as_utc(ts).astimezone(_zone(tz))
    return local.weekday() * 24 + local.hour


def best_hour(timestamps: list[datetime], tz: str, min_events: int = 3) -> int | None:
    """The hour of the week with the most engagement (ties: the earliest hour), or None
    with fewer than `min_events` to learn from."""
    if len(timestamps) < max(1, min_events):
        return None
    where = _zone(tz)
    counts = Counter(
        (local.weekday() * 24 + local.hour)
        for local in (as_utc(ts).astimezone(where) for ts in timestamps)
    )
    return min(counts, key=lambda hour: (-counts[hour], hour))


def next_at_hour(hour: int, tz: str, start: datetime, end: datetime) -> datetime | None:
    """The first instant in [start, end) at local hour-of-week `hour`, minute 0 (UTC), or
    None when the window holds none. An hour the clocks skip that day (DST) is taken at
    the moment they jump, so the week's slot is not lost."""
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour < HOURS_PER_WEEK:
        raise InvalidInput("hour is an hour of the week from 0 to 167.", field="hour")
    where = _zone(tz)
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return None
    weekday, at = divmod(hour, 24)
    day = start.astimezone(where).date() - timedelta(days=1)  # a zone may be behind UTC
    day += timedelta(days=(weekday - day.weekday()) % 7)
    while True:
        candidate = local_instant(day, time(at), where)
        if candidate >= end:
            return None
        if candidate >= start:
            return candidate
        day += timedelta(days=7)
