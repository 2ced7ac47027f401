"""Date-property triggers: "3 days before properties.renewal_date", "on the birthday".

A trigger {"property", "offset_days", "annual", "at"} fires for a contact on the local
day (in the contact's zone) that is the property's date plus offset_days, once the local
clock has passed `at`; annual ones match the month and day every year (29 February is
celebrated on the 28th in other years). The scheduler job reads the workspace's contacts
(no index serves a range on an arbitrary property) and decides each here (fire_day). The
day it fires for is the run's entry key, so a re-run of the job on the same day enrolls
nobody twice.
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
