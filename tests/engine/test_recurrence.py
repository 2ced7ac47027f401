"""Recurring schedules: validation of every field, next runs in a time zone across DST,
month ends, bounds, and cron agreeing with the equivalent daily/weekly/monthly rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.recurrence import next_run, parse_cron, validate
from engine.zones import zone

NY = "America/New_York"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(schedule: dict, after: datetime, n: int) -> list[datetime]:
    out = []
    for _ in range(n):
        after = next_run(schedule, after)
        if after is None:
            break
        out.append(after)
    return out


# --- validation -------------------------------------------------------------------------


def problems(schedule) -> dict[str | None, str]:
    return {p.field: p.message for p in validate(schedule)}


def test_valid_schedules_have_no_problems():
    assert problems({"every": "day", "at": "09:30", "timezone": NY}) == {}
    assert problems({"every": "week", "at": "7:05", "weekdays": [0, 4]}) == {}
    assert problems({"every": "month", "at": "23:59", "day_of_month": 31}) == {}
    assert problems({"every": "cron", "cron": "*/15 9-17 * * mon-fri", "timezone": "UTC"}) == {}
    assert problems({"every": "cron", "cron": "@weekly"}) == {}
    assert problems({"every": "day", "at": "09:00", "weekdays": None}) == {}


def test_every_bad_field_is_reported_at_its_path():
    got = problems(
        {
            "every": "week",
            "at": "24:00",
            "weekdays": [],
            "timezone": "Mars/Olympus",
            "day_of_month": 3,
            "starts_at": "soon",
            "colour": "red",
        }
    )
    assert set(got) == {
        "at",
        "weekdays",
        "timezone",
        "day_of_month",
        "starts_at",
        "colour",
    }
    assert "Mars/Olympus" in got["timezone"]


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"every": "hourly"}, "every"),
        ({}, "every"),
        ({"every": "day"}, "at"),
        ({"every": "day", "at": "9"}, "at"),
        ({"every": "day", "at": "09:60"}, "at"),
        ({"every": "day", "at": 930}, "at"),
        ({"every": "week", "at": "09:00"}, "weekdays"),
        ({"every": "week", "at": "09:00", "weekdays": [7]}, "weekdays"),
        ({"every": "week", "at": "09:00", "weekdays": [True]}, "weekdays"),
        ({"every": "month", "at": "09:00"}, "day_of_month"),
        ({"every": "month", "at": "09:00", "day_of_month": 0}, "day_of_month"),
        ({"every": "month", "at": "09:00", "day_of_month": 32}, "day_of_month"),
        ({"every": "cron"}, "cron"),
        ({"every": "cron", "cron": "* * * *"}, "cron"),
        ({"every": "cron", "cron": "60 * * * *"}, "cron"),
        ({"every": "cron", "cron": "0 0 30 2 *"}, "cron"),  # never matches
        ({"every": "cron", "cron": "*/0 * * * *"}, "cron"),
        ({"every": "cron", "cron": "5-1 * * * *"}, "cron"),
        ({"every": "cron", "cron": "0 9 * * L"}, "cron"),
        ({"every": "cron", "cron": "0 9 * * *", "at": "09:00"}, "at"),
        ({"every": "day", "at": "09:00", "cron": "0 9 * * *"}, "cron"),
        ({"every": "day", "at": "09:00", "timezone": "localtime"}, "timezone"),
        (
            {"every": "day", "at": "09:00", "starts_at": "2026-02-01", "ends_at": "2026-01-01"},
            "ends_at",
        ),
    ],
)
def test_bad_schedules(schedule, field):
    assert field in problems(schedule)
    with pytest.raises(InvalidInput):
        next_run(schedule, utc(2026, 1, 1))


def test_a_schedule_must_be_an_object():
    assert [p.field for p in validate("daily")] == [None]  # type: ignore[arg-type]


# --- next runs --------------------------------------------------------------------------


def test_daily_at_nine_in_new_york_follows_dst():
    daily = {"every": "day", "at": "09:00", "timezone": NY}
    assert runs(daily, utc(2026, 3, 6), 4) == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),  # EDT from 8 March
        utc(2026, 3, 9, 13),
    ]
    assert runs(daily, utc(2026, 10, 31, 12), 2) == [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)]


def test_next_run_is_strictly_after():
    daily = {"every": "day", "at": "09:00", "timezone": NY}
    assert next_run(daily, utc(2026, 1, 5, 14)) == utc(2026, 1, 6, 14)
    assert next_run(daily, utc(2026, 1, 5, 13, 59, 59)) == utc(2026, 1, 5, 14)
    assert next_run(daily, datetime(2026, 1, 5, 14)) == utc(2026, 1, 6, 14)  # naive = UTC


def test_a_time_that_does_not_exist_runs_when_the_clocks_jump():
    daily = {"every": "day", "at": "02:30", "timezone": NY}
    assert runs(daily, utc(2026, 3, 7), 3) == [
        utc(2026, 3, 7, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7),  # 02:30 does not exist: 03:00 EDT, the jump
        utc(2026, 3, 9, 6, 30),  # 02:30 EDT
    ]


def test_a_time_that_happens_twice_runs_once():
    daily = {"every": "day", "at": "01:30", "timezone": NY}
    assert runs(daily, utc(2026, 10, 31, 12), 2) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]


def test_weekly_on_chosen_weekdays():
    weekly = {"every": "week", "at": "08:15", "weekdays": [0, 2], "timezone": "Europe/London"}
    # Thursday 26 Mar 2026: next Monday 30 Mar (BST) and Wednesday 1 Apr.
    assert runs(weekly, utc(2026, 3, 26), 3) == [
        utc(2026, 3, 30, 7, 15),
        utc(2026, 4, 1, 7, 15),
        utc(2026, 4, 6, 7, 15),
    ]


def test_monthly_day_31_runs_on_the_last_day_of_short_months():
    monthly = {"every": "month", "at": "10:00", "day_of_month": 31, "timezone": "Europe/London"}
    assert runs(monthly, utc(2026, 1, 1), 5) == [
        utc(2026, 1, 31, 10),
        utc(2026, 2, 28, 10),
        utc(2026, 3, 31, 9),  # BST
        utc(2026, 4, 30, 9),
        utc(2026, 5, 31, 9),
    ]
    leap = {"every": "month", "at": "00:00", "day_of_month": 30, "timezone": "UTC"}
    assert next_run(leap, utc(2028, 2, 1)) == utc(2028, 2, 29)


def test_starts_and_ends_bound_the_runs():
    daily = {
        "every": "day",
        "at": "09:00",
        "timezone": "UTC",
        "starts_at": "2026-06-10T09:00:00Z",
        "ends_at": "2026-06-12T09:00:00Z",
    }
    assert runs(daily, utc(2026, 1, 1), 5) == [
        utc(2026, 6, 10, 9),  # starts_at itself counts
        utc(2026, 6, 11, 9),
        utc(2026, 6, 12, 9),  # and so does ends_at
    ]
    assert next_run(daily, utc(2027, 1, 1)) is None


def test_cron_in_a_time_zone():
    weekdays = {"every": "cron", "cron": "30 9 * * 1-5", "timezone": NY}
    # Friday 6 Mar 2026 10:00 New York: next Monday 9 Mar at 09:30 EDT.
    assert next_run(weekdays, utc(2026, 3, 6, 15)) == utc(2026, 3, 9, 13, 30)
    either = {"every": "cron", "cron": "0 12 13 * 5", "timezone": "UTC"}  # 13th OR Friday
    assert runs(either, utc(2026, 2, 1), 3) == [
        utc(2026, 2, 6, 12),
        utc(2026, 2, 13, 12),
        utc(2026, 2, 20, 12),
    ]
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * sun").weekdays == {0}
    assert parse_cron("5/20 * * jan-mar *").minutes == (5, 25, 45)
    assert parse_cron("@daily") == parse_cron("0 0 * * *")
    leap = {"every": "cron", "cron": "0 0 29 2 *", "timezone": "UTC"}
    assert next_run(leap, utc(2026, 3, 1)) == utc(2028, 2, 29)


def test_cron_across_the_repeated_and_skipped_hours():
    half_hourly = {"every": "cron", "cron": "*/30 1-3 * * *", "timezone": NY}
    back = runs(half_hourly, utc(2026, 11, 1, 4, 59), 6)
    assert back == [
        utc(2026, 11, 1, 5),  # 01:00 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; the repeated 01:00-01:59 EST is not run again
        utc(2026, 11, 1, 7),  # 02:00 EST
        utc(2026, 11, 1, 7, 30),
        utc(2026, 11, 1, 8),
        utc(2026, 11, 1, 8, 30),
    ]
    forward = runs(half_hourly, utc(2026, 3, 8, 5, 59), 4)
    assert forward == [
        utc(2026, 3, 8, 6),  # 01:00 EST
        utc(2026, 3, 8, 6, 30),
        utc(2026, 3, 8, 7),  # 02:00 and 02:30 do not exist: one run at the jump (03:00 EDT)
        utc(2026, 3, 8, 7, 30),  # 03:30 EDT
    ]


ZONES = ["UTC", NY, "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu"]
_after = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))


@settings(max_examples=150)
@given(
    after=_after,
    tz=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    weekdays=st.sets(st.integers(0, 6), min_size=1),
    day=st.integers(1, 28),
)
def test_cron_agrees_with_daily_weekly_and_monthly(after, tz, hour, minute, weekdays, day):
    at = f"{hour:02d}:{minute:02d}"
    pairs = [
        ({"every": "day", "at": at}, f"{minute} {hour} * * *"),
        (
            {"every": "week", "at": at, "weekdays": sorted(weekdays)},
            f"{minute} {hour} * * {','.join(str((d + 1) % 7) for d in weekdays)}",
        ),
        ({"every": "month", "at": at, "day_of_month": day}, f"{minute} {hour} {day} * *"),
    ]
    for plain, cron in pairs:
        expected = next_run({**plain, "timezone": tz}, after)
        assert next_run({"every": "cron", "cron": cron, "timezone": tz}, after) == expected


@settings(max_examples=150)
@given(
    after=_after,
    tz=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    permille=st.integers(0, 999),
)
def test_a_daily_run_is_the_wall_time_or_the_jump_and_none_is_skipped(
    after, tz, hour, minute, permille
):
    daily = {"every": "day", "at": f"{hour:02d}:{minute:02d}", "timezone": tz}
    run = next_run(daily, after)
    assert after < run <= after + timedelta(days=1, hours=1)
    local = run.astimezone(zone(tz))
    if (local.hour, local.minute) != (hour, minute):
        # The wall time did not exist that day: the run is at the jump, just past it.
        before = (run - timedelta(seconds=1)).astimezone(zone(tz))
        assert (before.hour, before.minute) < (hour, minute) < (local.hour, local.minute)
    # Any moment between `after` and the run has the same next run: none was skipped.
    middle = after + (run - after) * permille // 1000
    assert next_run(daily, middle) == run
