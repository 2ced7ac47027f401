"""Send-time optimisation: local hours of the week, the learned hour, the next slot."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.send_time import best_hour, hour_of_week, next_at_hour
from engine.zones import zone


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_hour_of_week_is_local():
    # Monday 5 Jan 2026, 00:30 UTC is Sunday 19:30 in New York and Monday 06:00 in India.
    moment = utc(2026, 1, 5, 0, 30)
    assert hour_of_week(moment, "UTC") == 0
    assert hour_of_week(moment, "America/New_York") == 6 * 24 + 19
    assert hour_of_week(moment, "Asia/Kolkata") == 6
    assert hour_of_week(datetime(2026, 1, 5, 0, 30), "UTC") == 0  # naive means UTC
    with pytest.raises(InvalidInput):
        hour_of_week(moment, "Nowhere/Land")


def test_hour_of_week_keeps_the_local_hour_across_dst():
    # 8 am every Tuesday in London, winter and summer: the same hour of the week.
    assert hour_of_week(utc(2026, 1, 6, 8), "Europe/London") == 24 + 8
    assert hour_of_week(utc(2026, 7, 7, 7), "Europe/London") == 24 + 8


def test_best_hour_needs_enough_events_and_breaks_ties_early():
    tuesday_8 = [utc(2026, 1, 6, 8, m) for m in (1, 20, 40)]
    assert best_hour(tuesday_8[:2], "UTC") is None
    assert best_hour(tuesday_8, "UTC") == 32
    assert best_hour(tuesday_8[:2], "UTC", min_events=2) == 32
    friday_9 = [utc(2026, 1, 9, 9), utc(2026, 1, 16, 9, 5)]
    monday_7 = [utc(2026, 1, 5, 7), utc(2026, 1, 12, 7)]
    assert best_hour(friday_9 + monday_7, "UTC") == 7  # a tie: the earlier hour
    assert best_hour([], "UTC", min_events=0) is None


@settings(max_examples=100)
@given(
    stamps=st.lists(
        st.datetimes(datetime(2025, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
        max_size=40,
    ),
    tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kathmandu", "Australia/Sydney"]),
)
def test_best_hour_agrees_with_counting_local_clocks(stamps, tz):
    counts = Counter(
        (s.astimezone(zone(tz)).weekday(), s.astimezone(zone(tz)).hour) for s in stamps
    )
    got = best_hour(stamps, tz, min_events=1)
    if not stamps:
        assert got is None
        return
    top = max(counts.values())
    expected = min(day * 24 + hour for (day, hour), n in counts.items() if n == top)
    assert got == expected


def test_next_at_hour_within_the_window():
    # Tuesday 09:00 New York (hour 33) from Monday 5 Jan 2026 noon UTC: 6 Jan 14:00 UTC.
    start = utc(2026, 1, 5, 12)
    assert next_at_hour(33, "America/New_York", start, start + timedelta(days=3)) == utc(
        2026, 1, 6, 14
    )
    assert next_at_hour(33, "America/New_York", start, utc(2026, 1, 6, 14)) is None  # end open
    assert next_at_hour(12, "UTC", start, start + timedelta(days=7)) == start  # start closed
    assert next_at_hour(12, "UTC", start + timedelta(minutes=1), start + timedelta(days=8)) == (
        start + timedelta(days=7)
    )
    assert next_at_hour(0, "UTC", start, start) is None
    for bad in (-1, 168, True, "3"):
        with pytest.raises(InvalidInput):
            next_at_hour(bad, "UTC", start, start + timedelta(days=1))


def test_next_at_hour_across_dst():
    # Sunday 10:00 London (hour 154): 29 Mar 2026 is the first BST Sunday.
    start = utc(2026, 3, 27)
    assert next_at_hour(154, "Europe/London", start, start + timedelta(days=14)) == utc(
        2026, 3, 29, 9
    )
    assert next_at_hour(154, "Europe/London", utc(2026, 3, 21), utc(2026, 3, 23)) == utc(
        2026, 3, 22, 10
    )
    # Sunday 02:00 New York does not exist on 8 Mar 2026: the slot is the jump (07:00 UTC).
    assert next_at_hour(146, "America/New_York", utc(2026, 3, 7), utc(2026, 3, 9)) == utc(
        2026, 3, 8, 7
    )


def _scan(hour: int, tz: str, start: datetime, end: datetime) -> datetime | None:
    """The slow formulation: every quarter hour from start (every zone's offset is a whole
    number of quarter hours) until the local clock shows the hour at minute 0."""
    where = zone(tz)
    moment = start.replace(second=0, microsecond=0)
    moment += timedelta(minutes=(-moment.minute) % 15)
    if moment < start:
        moment += timedelta(minutes=15)
    while moment < end:
        local = moment.astimezone(where)
        if local.minute == 0 and local.weekday() * 24 + local.hour == hour:
            return moment
        moment += timedelta(minutes=15)
    return None


_starts = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1), timezones=st.just(UTC))


@settings(max_examples=100)
@given(
    hour=st.integers(0, 167),
    start=_starts,
    days=st.integers(0, 16),
    tz=st.sampled_from(["UTC", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Eucla"]),
)
def test_next_at_hour_agrees_with_a_scan_in_zones_without_dst(hour, start, days, tz):
    end = start + timedelta(days=days)
    assert next_at_hour(hour, tz, start, end) == _scan(hour, tz, start, end)


@settings(max_examples=100)
@given(
    hour=st.integers(0, 167),
    start=_starts,
    days=st.integers(0, 16),
    tz=st.sampled_from(["Europe/London", "America/New_York", "Australia/Lord_Howe"]),
)
def test_next_at_hour_with_dst_is_the_scan_or_an_earlier_jump(hour, start, days, tz):
    end = start + timedelta(days=days)
    got = next_at_hour(hour, tz, start, end)
    scanned = _scan(hour, tz, start, end)
    if got is None:
        assert scanned is None
        return
    assert start <= got < end
    if got != scanned:
        # Only a slot the clocks skipped: taken at the jump, which shows a later hour.
        assert scanned is None or got < scanned
        assert hour_of_week(got, tz) == hour + 1 or got.astimezone(zone(tz)).minute != 0
