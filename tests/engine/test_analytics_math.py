"""engine.analytics: buckets in a zone (DST days), funnel paths, retention, attribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analytics import attribution, funnel, retention
from engine.analytics.buckets import _ms, buckets, parse_zone
from engine.errors import InvalidInput

PARIS = parse_zone("Europe/Paris")
NEW_YORK = parse_zone("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_days_across_the_spring_change_are_local_midnights():
    # Paris moves to summer time on 2026-03-29: that day is 23 hours long.
    grid = buckets(utc(2026, 3, 27, 23), utc(2026, 3, 31, 22), "day", PARIS)
    assert grid.starts == (
        utc(2026, 3, 27, 23),
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 22),
        utc(2026, 3, 30, 22),
    )
    assert grid.index(utc(2026, 3, 29, 21, 59)) == 1
    assert grid.index(utc(2026, 3, 29, 22)) == 2
    assert grid.slot_ms == 3_600_000  # midnights at 23:00 and 22:00 UTC: hourly slots


def test_a_repeated_local_hour_is_two_hour_buckets():
    # New York goes back at 2026-11-01 02:00 EDT: 01:00-02:00 happens twice.
    grid = buckets(utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), "hour", NEW_YORK)
    assert grid.starts == tuple(utc(2026, 11, 1, h) for h in (4, 5, 6, 7))


def test_weeks_start_on_local_monday_and_months_on_the_first():
    weeks = buckets(utc(2026, 1, 7), utc(2026, 1, 20), "week", PARIS)
    assert weeks.starts == (utc(2026, 1, 4, 23), utc(2026, 1, 11, 23), utc(2026, 1, 18, 23))
    months = buckets(utc(2026, 1, 15), utc(2026, 4, 2), "month", PARIS)
    assert months.starts == (
        utc(2025, 12, 31, 23),
        utc(2026, 1, 31, 23),
        utc(2026, 2, 28, 23),
        utc(2026, 3, 31, 22),
    )


def test_half_hour_zones_get_half_hour_slots():
    grid = buckets(utc(2026, 1, 1), utc(2026, 1, 3), "day", parse_zone("Asia/Kolkata"))
    assert grid.starts[1] == utc(2026, 1, 1, 18, 30)
    assert grid.slot_ms == 1_800_000


def test_bad_input_is_invalid():
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        parse_zone("Mars/Olympus")
    with pytest.raises(InvalidInput, match="more than 1000"):
        buckets(utc(2026, 1, 1), utc(2026, 3, 1), "hour", PARIS)
    with pytest.raises(InvalidInput, match="after"):
        buckets(utc(2026, 1, 2), utc(2026, 1, 1), "day", PARIS)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=1, max_value=900),
    st.sampled_from(["hour", "day", "week", "month"]),
    st.sampled_from(
        [
            "UTC",
            "Europe/Paris",
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "America/Santiago",
        ]
    ),
)
def test_slots_never_straddle_a_bucket_edge(start, hours, interval, name):
    """What makes grouping by slot in MongoDB exact: each edge is a multiple of the slot,
    each edge begins a new local period, and the edges increase."""
    tz = parse_zone(name)
    end = start + timedelta(hours=hours * (24 if interval != "hour" else 1))
    try:
        grid = buckets(start, end, interval, tz)
    except InvalidInput:
        return
    slot = grid.slot_ms
    assert all(_ms(e) % slot == 0 for e in grid.edges[1:-1])
    assert list(grid.edges) == sorted(set(grid.edges))
    assert grid.starts[0] <= grid.start and grid.edges[-1] >= grid.end
    for edge in grid.edges[1:-1]:
        local = edge.astimezone(tz)
        assert (
            local.minute == 0
            or interval == "hour"
            or (local - timedelta(seconds=1)).date() != local.date()
        )


def hit(minutes: int, *steps: int, order: int = 0) -> funnel.Hit:
    return funnel.Hit(
        utc(2026, 1, 1) + timedelta(minutes=minutes), order or minutes, frozenset(steps)
    )


def test_funnel_orders():
    # view(0) -> pay(5) -> cart(10): out of order for view > cart > pay.
    hits = [hit(0, 0), hit(5, 2), hit(10, 1)]
    assert funnel.best_path(hits, 3, 3600, "ordered").depth == 2
    assert funnel.best_path(hits, 3, 3600, "any").depth == 3
    assert funnel.best_path(hits, 3, 3600, "strict").depth == 1
    # Outside the window: cart 2 hours after view does not count.
    late = [hit(0, 0), hit(120, 1)]
    assert funnel.best_path(late, 2, 3600, "ordered").depth == 1
    # A second entry inside the window of the later step converts.
    retry = [hit(0, 0), hit(100, 0), hit(120, 1)]
    path = funnel.best_path(retry, 2, 3600, "ordered")
    assert path.depth == 2 and path.times[0] == utc(2026, 1, 1, 1, 40)
    # An unmatched funnel event in between breaks STRICT only.
    between = [hit(0, 0), hit(1), hit(2, 1)]
    assert funnel.best_path(between, 2, 3600, "strict").depth == 1
    assert funnel.best_path(between, 2, 3600, "ordered").depth == 2


def test_funnel_step_table():
    paths = [
        funnel.Path((utc(2026, 1, 1), utc(2026, 1, 1, 0, 1)), hit(0, 0)),
        funnel.Path((utc(2026, 1, 1), utc(2026, 1, 1, 0, 3)), hit(0, 0)),
        funnel.Path((utc(2026, 1, 1),), hit(0, 0)),
    ]
    first, second = funnel.step_table(paths, 2, "ordered")
    assert (first.count, first.conversion_rate, first.drop_off) == (3, 1.0, 0)
    assert (second.count, second.drop_off, second.median_seconds_from_previous) == (2, 1, 120.0)
    assert second.conversion_rate == pytest.approx(2 / 3)


def test_retention_triangle():
    grid = buckets(utc(2026, 1, 1), utc(2026, 1, 4), "day", parse_zone("UTC"))
    firsts = {"a": utc(2026, 1, 1, 10), "b": utc(2026, 1, 1, 12), "c": utc(2026, 1, 2, 9)}
    returns = [
        ("a", 0, utc(2026, 1, 1, 11)),  # after its first start: period 0
        ("b", 0, utc(2026, 1, 1, 11)),  # before its first start: not a return
        ("a", 2, utc(2026, 1, 3, 8)),
        ("c", 2, utc(2026, 1, 3, 8)),
    ]
    out = retention.cohorts(grid, firsts, returns, periods=8)
    assert [(c.size, c.returned) for c in out] == [(2, [1, 0, 1]), (1, [0, 1]), (0, [0])]


def test_attribution_last_and_first_touch():
    touches = [(utc(2026, 1, 1, h), f"t{h}") for h in (1, 5, 9)]
    at, window = utc(2026, 1, 1, 10), timedelta(hours=6)
    assert attribution.credit(touches, at, window, "last_touch") == "t9"
    assert attribution.credit(touches, at, window, "first_touch") == "t5"
    assert attribution.credit(touches, utc(2026, 1, 2), window, "last_touch") is None
    assert attribution.revenue_of({"revenue": "12.5"}) == 12.5
    assert attribution.revenue_of({"revenue": True}) == 0.0


def _brute_depth(hits: list[funnel.Hit], n: int, window: float) -> int:
    """ORDERED by exhaustive search: the longest chain of later events, one per step."""
    hits = sorted(hits, key=lambda h: (h.at, h.order))
    best = 0

    def extend(position: int, step: int, limit: float) -> int:
        if step == n:
            return step
        deepest = step
        for j in range(position + 1, len(hits)):
            if step in hits[j].steps and hits[j].at.timestamp() <= limit:
                deepest = max(deepest, extend(j, step + 1, limit))
        return deepest

    for i, h in enumerate(hits):
        if 0 in h.steps:
            best = max(best, extend(i, 1, h.at.timestamp() + window))
    return best


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.frozensets(st.integers(0, 2), max_size=2)),
        max_size=8,
    ),
    st.sampled_from([1800, 3600, 7200]),
)
def test_ordered_funnel_matches_exhaustive_search(raw, window):
    hits = [hit(m, *steps, order=i + 1) for i, (m, steps) in enumerate(raw)]
    path = funnel.best_path(hits, 3, window, "ordered")
    assert (path.depth if path else 0) == _brute_depth(hits, 3, window)
