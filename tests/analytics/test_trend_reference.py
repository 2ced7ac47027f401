"""Property: the trend pipeline (grouped by UTC slot in the database, bucketed in Python)
agrees with a plain reference that puts each event in its local period directly."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from engine.analytics import breakdown as values
from engine.analytics.buckets import buckets, parse_zone
from resolvers.analytics.scope import Scope
from resolvers.analytics.trends import Breakdown, _group, assemble, entries

START = datetime(2026, 3, 20, tzinfo=UTC)  # spans the European and US spring changes
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def local_period(moment: datetime, interval: str, tz) -> object:
    local = moment.astimezone(tz)
    if interval == "hour":
        return (local.replace(minute=0, second=0, microsecond=0, tzinfo=None), local.utcoffset())
    day = local.date()
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return (day.year, day.month)
    return day


@pytest.fixture(scope="module")
def collection(stores):
    client = MongoClient(stores[0], tz_aware=True)
    database = client[f"reach_trend_ref_{uuid.uuid4().hex[:8]}"]
    yield database["events"]
    client.drop_database(database.name)
    client.close()


events = st.lists(
    st.tuples(
        st.integers(0, 4),  # contact
        st.integers(0, 40 * 24 * 60 - 1),  # minute after START
        st.sampled_from(["EUR", "USD", "GBP", None]),
    ),
    max_size=40,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=events,
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(["hour", "day", "week", "month"]),
    unique=st.booleans(),
    split=st.booleans(),
    span=st.integers(1, 40 * 24),  # hours
    offset=st.integers(0, 24 * 60),  # minutes from START to `from`
)
def test_pipeline_agrees_with_the_reference(
    collection, rows, zone, interval, unique, split, span, offset
):
    tz = parse_zone(zone)
    start = START + timedelta(minutes=offset)
    end = start + timedelta(hours=span)
    if interval == "hour" and span > 1000:
        end = start + timedelta(hours=999)
    ws = ObjectId()
    contacts = [ObjectId() for _ in range(5)]
    docs = [
        {
            "workspace_id": ws,
            "name_key": "ping",
            "contact_id": contacts[c],
            "timestamp": START + timedelta(minutes=m),
            "properties": {"currency": cur} if cur else {},
        }
        for c, m, cur in rows
    ]
    if docs:
        collection.insert_many(docs)
    grid = buckets(start, end, interval, tz)
    by = Breakdown("event", "currency", 2) if split else None
    stages = Scope(workspace_id=ws).stages("ping", start, end)
    grouped = list(collection.aggregate(_group(stages, grid.slot_ms, by, unique)))
    got = assemble("Ping", grid, entries(grouped), by, unique)

    periods = [local_period(s, interval, tz) for s in grid.starts]
    assert len(set(periods)) == len(periods)
    cells: dict = defaultdict(lambda: defaultdict(set) if unique else Counter())
    inside = [d for d in docs if start <= d["timestamp"] < end]
    for d in inside:
        label = values.label(d["properties"].get("currency")) if split else None
        period = local_period(d["timestamp"], interval, tz)
        assert period in periods, (d["timestamp"], periods)
        if unique:
            cells[label][period].add(d["contact_id"])
        else:
            cells[label][period] += 1

    def count(label, period):
        cell = cells[label][period]
        return len(cell) if unique else cell

    if not split:
        assert [s.values for s in got] == [[count(None, p) for p in periods]]
        return
    got_by_label = {s.breakdown_value: s for s in got}
    for series in got:
        if series.is_other:
            continue
        assert series.values == [count(series.breakdown_value, p) for p in periods]
    labels = set(cells)
    kept = {s.breakdown_value for s in got if not s.is_other}
    assert kept <= labels and len(kept) == min(2, len(labels))
    if labels - kept:
        other = got_by_label[values.OTHER]
        for i, p in enumerate(periods):
            if unique:
                expected = len(set().union(*(cells[x][p] for x in labels - kept)))
            else:
                expected = sum(cells[x][p] for x in labels - kept)
            assert other.values[i] == expected
