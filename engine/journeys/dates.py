"""Date-property triggers: "3 days before properties.renewal_date", "on the birthday".

A trigger {"property", "offset_days", "annual", "at"} fires for a contact on the local
day (in the contact's zone) that is the property's date plus offset_days, once the local
clock has passed `at`; annual ones match the month and day every year (29 February is
celebrated on the 28th in other years). The scheduler job asks the database for the few
contacts whose date is near (candidate_filter: a window wide enough for every time zone)
and decides each here (fire_day). The day it fires for is the run's entry key, so a
re-run of the job on the same day enrolls nobody twice.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.journeys.settings import parse_clock
from engine.traits import parse_datetime
from engine.zones import as_utc, zone


def _stored_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return as_utc(value).date()
    try:
        return parse_datetime(value).date()
    except (ValueError, OverflowError, TypeError):
        return None


def _same_day_of_year(value: date, day: date) -> bool:
    if (value.month, value.day) == (day.month, day.day):
        return True
    # 29 February in a year without one: the 28th.
    return (
        value.month == 2
        and value.day == 29
        and not calendar.isleap(day.year)
        and (day.month, day.day) == (2, 28)
    )


def fire_day(
    settings: dict[str, Any], contact: dict[str, Any], now: datetime, timezone: str
) -> date | None:
    """The local day this trigger fires for the contact now, or None."""
    value = _stored_date((contact.get("properties") or {}).get(settings["property"]))
    if value is None:
        return None
    tz = zone(timezone) or UTC
    local = as_utc(now).astimezone(tz)
    if local.time() < parse_clock(settings.get("at") or "00:00"):
        return None
    target = local.date() - timedelta(days=settings.get("offset_days", 0))
    if settings.get("annual"):
        return local.date() if _same_day_of_year(value, target) else None
    return local.date() if value == target else None


def candidate_filter(settings: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A MongoDB filter on contacts (to add to the workspace scope) finding everyone the
    trigger may fire for now, in any time zone (UTC-12 to UTC+14: yesterday to tomorrow)."""
    path = f"properties.{settings['property']}"
    today = as_utc(now).date() - timedelta(days=settings.get("offset_days", 0))
    days = [today + timedelta(days=d) for d in (-1, 0, 1)]
    if not settings.get("annual"):
        start = datetime.combine(days[0], datetime.min.time(), UTC)
        end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), UTC)
        return {path: {"$gte": start, "$lt": end}}
    pairs = {(d.month, d.day) for d in days}
    if any(not calendar.isleap(d.year) and (d.month, d.day) == (2, 28) for d in days):
        pairs.add((2, 29))
    return {
        path: {"$type": "date"},
        "$expr": {
            "$or": [
                {
                    "$and": [
                        {"$eq": [{"$month": f"${path}"}, month]},
                        {"$eq": [{"$dayOfMonth": f"${path}"}, day]},
                    ]
                }
                for month, day in sorted(pairs)
            ]
        },
    }
