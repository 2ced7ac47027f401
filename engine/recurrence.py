"""Recurring schedules: daily, weekly, monthly or cron, at local times in a time zone.

    {"every": "day" | "week" | "month" | "cron", "at": "09:30", "weekdays": [0..6],
     "day_of_month": 1..31, "cron": "m h dom mon dow", "timezone": IANA (default UTC),
     "starts_at"?: datetime | ISO text, "ends_at"?: datetime | ISO text}

Times are wall-clock times in the schedule's zone, so a 09:00 run in New York is 13:00 or
14:00 UTC depending on the date. A wall time that does not exist on a DST day runs when
the clocks jump; one that happens twice runs once, the first time. weekdays count from
Monday = 0 (like Python), cron's day of week from Sunday = 0 (like cron). A month without
the day_of_month runs on its last day.

Cron is parsed here rather than with croniter: 5 fields are small to parse, and matching
on local calendar days and converting each wall time with zoneinfo keeps DST behaviour the
same as the other schedules (croniter's DST handling has a long history of surprises).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.traits import parse_datetime
from engine.zones import as_utc, local_instant, zone

EVERY = ("day", "week", "month", "cron")
KEYS = ("every", "at", "weekdays", "day_of_month", "cron", "timezone", "starts_at", "ends_at")
APPLIES = {"at": ("day", "week", "month"), "weekdays": ("week",), "day_of_month": ("month",)}
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# How far ahead to look for the next run: enough for "29 February" on a given weekday.
HORIZON_DAYS = 366 * 30

# --- cron -----------------------------------------------------------------------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# name, low, high, names (mapped to low + index)
_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # most a month can have


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        # cron's rule: when both day fields are restricted, either one may match.
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def can_match(self) -> bool:
        if self.weekdays_restricted and self.days_restricted:
            return True
        if self.weekdays_restricted:
            return True  # every month has every weekday
        return any(d <= _DAYS_IN_MONTH[m - 1] for m in self.months for d in self.days)


def _number(text: str, low: int, high: int, names: list[str] | None, what: str) -> int:
    word = text.lower()
    if names and word in names:
        return low + names.index(word)
    if not text.isdigit() or len(text) > 2:
        raise ValueError(f"{what}: {text[:20]!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, names: list[str] | None, what: str) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or not 0 < int(step_text) <= high:
                raise ValueError(f"{what}: step {step_text[:20]!r} is not 1-{high}")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first = _number(a, low, high, names, what)
            last = _number(b, low, high, names, what)
            if first > last:
                raise ValueError(f"{what}: range {body[:20]!r} runs backwards")
        elif body:
            first = _number(body, low, high, names, what)
            last = high if step_text else first  # "5/15" means 5, 20, 35, 50
        else:
            raise ValueError(f"{what}: empty entry")
        values.update(range(first, last + 1, step))
    return values


def parse_cron(expression: str) -> Cron:
    """A 5-field cron expression (or @daily and friends); ValueError says what is wrong."""
    if not isinstance(expression, str) or len(expression) > 200:
        raise ValueError("a cron expression is text like '30 9 * * 1-5'")
    text = MACROS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    sets = [
        _field(p, lo, hi, names, what)
        for p, (what, lo, hi, names) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = {d % 7 for d in sets[4]}  # 7 is Sunday too
    return Cron(
        minutes=tuple(sorted(sets[0])),
        hours=tuple(sorted(sets[1])),
        days=frozenset(sets[2]),
        months=frozenset(sets[3]),
        weekdays=frozenset(weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )


# --- validation -----------------------------------------------------------------------


def _moment(value: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError
    return as_utc(parse_datetime(value))


def validate(schedule: dict) -> list[InvalidInput]:
    """Every problem of a schedule, each with the key it is at ("at", "weekdays", ...):
    relative, so a caller storing the schedule somewhere prefixes its own path."""
    if not isinstance(schedule, dict):
        return [InvalidInput("A schedule is an object (every, at, ...).")]
    problems: list[InvalidInput] = []

    def fail(key: str, message: str) -> None:
        problems.append(InvalidInput(message, field=key))

    every = schedule.get("every")
    if every not in EVERY:
        fail("every", f"every is one of {', '.join(EVERY)}.")
    for key in schedule:
        if key not in KEYS:
            fail(str(key)[:40], f"Unknown schedule field {str(key)[:40]!r}.")
        # A leftover null from switching `every` in a form is harmless.
        elif every in EVERY and every not in APPLIES.get(key, EVERY) and schedule[key] is not None:
            fail(key, f"{key} does not apply to every={every}.")
    if every in APPLIES["at"]:
        at = schedule.get("at")
        if not isinstance(at, str) or not _AT.match(at):
            fail("at", 'at is a local time of day like "09:30".')
    if every == "week":
        days = schedule.get("weekdays")
        if not isinstance(days, list) or not days:
            fail("weekdays", "A weekly schedule needs at least one weekday (0 = Monday).")
        elif any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days):
            fail("weekdays", "weekdays are whole numbers from 0 (Monday) to 6 (Sunday).")
    if every == "month":
        day = schedule.get("day_of_month")
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
            fail("day_of_month", "day_of_month is 1 to 31 (past a month's end: its last day).")
    if every == "cron":
        try:
            if not parse_cron(schedule.get("cron")).can_match():
                fail("cron", "The cron expression never matches a real date.")
        except ValueError as exc:
            fail("cron", f"Invalid cron expression: {exc}.")
    elif schedule.get("cron") is not None and every in EVERY:
        fail("cron", "cron applies to every=cron only.")
    if schedule.get("timezone") is not None and zone(schedule["timezone"]) is None:
        fail("timezone", f"Unknown time zone {str(schedule['timezone'])[:64]!r} (IANA name).")
    bounds: dict[str, datetime] = {}
    for key in ("starts_at", "ends_at"):
        if schedule.get(key) is not None:
            try:
                bounds[key] = _moment(schedule[key])
            except (TypeError, ValueError, OverflowError):
                fail(key, f"{key} is an ISO 8601 date-time.")
    if len(bounds) == 2 and bounds["ends_at"] <= bounds["starts_at"]:
        fail("ends_at", "ends_at must be after starts_at.")
    return problems


# --- next run -------------------------------------------------------------------------


def _times_on(schedule: dict, day: date, cron: Cron | None) -> Iterator[time]:
    """The local wall times a schedule runs on one calendar day, in order."""
    every = schedule["every"]
    if every == "cron":
        assert cron is not None
        if cron.matches(day):
            for hour in cron.hours:
                for minute in cron.minutes:
                    yield time(hour, minute)
        return
    hour, minute = (int(x) for x in schedule["at"].split(":"))
    at = time(hour, minute)
    if every == "day":
        yield at
    elif every == "week":
        if day.weekday() in schedule["weekdays"]:
            yield at
    else:
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day == min(schedule["day_of_month"], last):
            yield at


def next_run(schedule: dict, after: datetime) -> datetime | None:
    """The first run strictly after `after` (UTC), within starts_at/ends_at (both
    inclusive), or None when there is none. Raises the first problem of an invalid
    schedule."""
    problems = validate(schedule)
    if problems:
        raise problems[0]
    where: ZoneInfo = zone(schedule.get("timezone") or "UTC")  # type: ignore[assignment]
    cron = parse_cron(schedule["cron"]) if schedule["every"] == "cron" else None
    after = as_utc(after)
    starts = _moment(schedule["starts_at"]) if schedule.get("starts_at") is not None else None
    ends = _moment(schedule["ends_at"]) if schedule.get("ends_at") is not None else None
    floor = after
    if starts is not None and starts > after:
        floor = starts - timedelta(microseconds=1)  # a run exactly at starts_at counts
    day = floor.astimezone(where).date() - timedelta(days=1)  # a wall time may map earlier
    for _ in range(HORIZON_DAYS):
        for at in _times_on(schedule, day, cron):
            run = local_instant(day, at, where)
            if run > floor:
                return None if ends is not None and run > ends else run
        if ends is not None and local_instant(day, time(0), where) > ends:
            return None
        day += timedelta(days=1)
    return None
