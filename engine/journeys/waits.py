"""When a wait node lets a contact go on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.journeys.settings import parse_clock, parse_until
from engine.zones import as_utc, local_instant, zone


def next_time_of_day(now: datetime, timezone: str, at: str, weekdays: list[int]) -> datetime:
    """The first instant at or after `now` when the clock in `timezone` shows `at` on an
    allowed weekday (0 = Monday), in UTC."""
    tz = zone(timezone) or zone("UTC")
    now = as_utc(now)
    today = now.astimezone(tz).date()
    clock = parse_clock(at)
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        moment = local_instant(day, clock, tz)
        if moment >= now:
            return moment
    raise ValueError("no allowed weekday")  # unreachable: weekdays is non-empty


def wake_at(settings: dict[str, Any], now: datetime, timezone: str) -> datetime:
    """When the timer of a wait node entered at `now` fires (for an event wait: the timeout)."""
    kind = settings["kind"]
    now = as_utc(now)
    if kind == "duration":
        return now + timedelta(seconds=settings["seconds"])
    if kind == "until":
        return max(now, as_utc(parse_until(settings["until"])))
    if kind == "time_of_day":
        return next_time_of_day(
            now, timezone, settings["at"], settings.get("weekdays", list(range(7)))
        )
    return now + timedelta(seconds=settings["timeout_seconds"])
