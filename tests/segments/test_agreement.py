"""The compiled MongoDB filter and the Python evaluator agree, on the database.

Hypothesis generates rule trees and contacts; every contact is matched both ways.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from engine.segments.compile import to_filter
from engine.segments.evaluate import matches
from engine.segments.rules import normalize, validate
from engine.segments.semantics import at_ms
from engine.stats import escape_key

NOW = datetime(2026, 11, 24, 10, 30, 15, 123456, tzinfo=UTC)
WORDS = ["Mumbai", "mumbai", "Pune", "pro", "Pro plan", "free", "", "a.b", "x*y", "Ünï"]
KEYS = ["city", "plan", "score", "interests", "vip", "joined", "address.city"]
EVENTS = ["order_completed", "email_opened", "page.viewed"]


def day(offset: int) -> str:
    return (NOW + timedelta(days=offset)).strftime("%Y%m%d")


moments = st.integers(min_value=-40, max_value=30).map(
    lambda d: (NOW + timedelta(days=d, minutes=d * 7)).replace(microsecond=0)
) | st.integers(min_value=-40, max_value=30).map(lambda d: at_ms(NOW) + timedelta(days=d))
scalars = st.one_of(
    st.sampled_from(WORDS),
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-5, max_value=5, allow_nan=False).map(lambda f: round(f, 2)),
    st.booleans(),
    st.none(),
    moments,
)
# Lists may be empty or hold null / "" (what presence operators must read like MongoDB).
property_values = st.one_of(
    scalars, st.lists(st.sampled_from(WORDS) | st.none() | st.just(""), max_size=3)
)
stats = st.fixed_dictionaries(
    {
        "count": st.integers(min_value=0, max_value=5),
        "days": st.dictionaries(
            st.integers(min_value=-12, max_value=0).map(day),
            st.integers(min_value=1, max_value=3),
            max_size=4,
        ),
    }
)
contacts = st.fixed_dictionaries(
    {
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "city": property_values,
                "plan": property_values,
                "score": property_values,
                "interests": property_values,
                "vip": property_values,
                "joined": moments,
                "birthday": moments,
                "address": st.fixed_dictionaries({}, optional={"city": property_values}),
            },
        ),
        "tags": st.lists(st.sampled_from(["vip", "lead", "b2b"]), max_size=2, unique=True),
        "segments": st.lists(st.sampled_from(["s1", "s2"]), max_size=2, unique=True),
        "anonymous_ids": st.lists(st.just("d1"), max_size=1),
        "created_at": moments,
        "last_active_at": moments,
        "consent": st.dictionaries(
            st.sampled_from(["email", "whatsapp", "sms"]),
            st.fixed_dictionaries({"status": st.sampled_from(["subscribed", "unsubscribed"])}),
            max_size=2,
        ),
        "event_stats": st.dictionaries(st.sampled_from(EVENTS).map(escape_key), stats, max_size=3),
    },
    # Identifiers may be missing, null or "" (imports and SDKs send all three).
    optional={
        "email": st.none() | st.sampled_from(["a@x.io", ""]),
        "phone": st.none() | st.sampled_from(["+14155550100", ""]),
        "user_id": st.none() | st.just("u1"),
        "location_id": st.none()
        | st.sampled_from(
            [ObjectId("6b0500000000000000000001"), ObjectId("6b0500000000000000000002")]
        ),
    },
)


def _value_for(op: str):
    if op in ("within_last_days", "more_than_days_ago"):
        return st.integers(min_value=0, max_value=40)
    if op == "anniversary_in_days":
        return st.integers(min_value=0, max_value=10)
    iso = moments.map(lambda m: m.isoformat())
    if op in ("before", "after"):
        return iso
    if op in ("gt", "gte", "lt", "lte"):
        return st.integers(min_value=-5, max_value=5) | iso
    if op == "between":
        return st.one_of(
            st.tuples(st.integers(-5, 0), st.integers(0, 5)).map(list),
            st.tuples(iso, iso).map(sorted),
        )
    if op in ("in", "not_in"):
        return st.one_of(
            st.lists(st.sampled_from(WORDS[:6]), min_size=1, max_size=3),
            st.lists(st.integers(-3, 3), min_size=1, max_size=3),
        )
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        return st.sampled_from(["mum", "Pro", "e", "a.b", "x*"])
    return st.sampled_from(WORDS) | st.integers(-3, 3) | st.booleans()


OPS = [
    "eq",
    "neq",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "in",
    "not_in",
    "is_empty",
    "is_not_empty",
    "exists",
    "not_exists",
    "before",
    "after",
    "within_last_days",
    "more_than_days_ago",
    "anniversary_in_days",
]


@st.composite
def property_conditions(draw):
    op = draw(st.sampled_from(OPS))
    name = draw(
        st.sampled_from([*KEYS, "birthday", "created_at", "last_active_at", "email", "phone"])
    )
    condition = {"property": name, "op": op}
    if op not in ("is_empty", "is_not_empty", "exists", "not_exists"):
        condition["value"] = draw(_value_for(op))
    return condition


counts = st.none() | st.fixed_dictionaries(
    {}, optional={op: st.integers(0, 4) for op in ("eq", "gte", "lte", "gt", "lt")}
).filter(lambda d: len(d) == 1)


@st.composite
def behaviours(draw):
    rule = {"event": draw(st.sampled_from(EVENTS))}
    if draw(st.booleans()):
        rule["within_days"] = draw(st.integers(1, 12))  # near the stats' days: boundaries
    count = draw(counts)
    if count:
        rule["count"] = count
    return rule


locations = st.builds(
    lambda op, v: {"property": "location_id", "op": op, "value": v},
    st.sampled_from(["eq", "neq"]),
    st.sampled_from(["6b0500000000000000000001", "nope"]),
) | st.builds(
    lambda op: {"property": "location_id", "op": op},
    st.sampled_from(["exists", "not_exists", "is_empty", "is_not_empty"]),
)
conditions = st.one_of(
    property_conditions(),
    locations,
    st.builds(lambda t: {"tag": t}, st.sampled_from(["vip", "lead", "none"])),
    behaviours(),
    st.builds(
        lambda k, c, w: {"engagement": k, **({"channel": c} if c else {}), **w},
        st.sampled_from(["opened", "clicked"]),
        st.none() | st.just("email"),
        st.just({}) | st.builds(lambda d: {"within_days": d}, st.integers(1, 12)),
    ),
    st.builds(lambda c: {"reachable": c}, st.sampled_from(["email", "whatsapp", "in_app", "push"])),
    st.builds(lambda s: {"in_segment": s}, st.sampled_from(["s1", "s2"])),
)
rules = st.recursive(
    conditions,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda r: {"not": r}, inner),
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def collection(stores):
    client = MongoClient(stores[0], tz_aware=True)
    database = client[f"reach_agreement_{uuid.uuid4().hex[:8]}"]
    yield database["contacts"]
    client.drop_database(database.name)
    client.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rule=rules, people=st.lists(contacts, min_size=1, max_size=6))
def test_compiled_filter_and_evaluator_agree(collection, rule, people):
    assume(validate(rule) == [])
    rule = normalize(rule)
    collection.delete_many({})
    docs = [{"_id": ObjectId(), **person} for person in people]
    collection.insert_many(docs)
    by_database = {d["_id"] for d in collection.find(to_filter(rule, NOW), {"_id": 1})}
    stored = {d["_id"]: d for d in collection.find({})}
    by_python = {oid for oid, doc in stored.items() if matches(rule, doc, NOW)}
    assert by_database == by_python, (rule, [stored[i] for i in by_database ^ by_python])


# What presence operators mean for each shape of "nothing" (engine.segments.semantics).
PRESENCE = {
    "missing": {"exists": False, "not_exists": True, "is_empty": True, "is_not_empty": False},
    "null": {"exists": False, "not_exists": True, "is_empty": True, "is_not_empty": False},
    "blank": {"exists": True, "not_exists": False, "is_empty": True, "is_not_empty": False},
    "empty list": {"exists": True, "not_exists": False, "is_empty": True, "is_not_empty": False},
    "value": {"exists": True, "not_exists": False, "is_empty": False, "is_not_empty": True},
}
SHAPES = {
    "missing": {},
    "null": {"email": None},
    "blank": {"email": ""},
    "empty list": {"email": []},
}
SHAPES["value"] = {"email": "a@x.io"}


@pytest.mark.parametrize("op", ["exists", "not_exists", "is_empty", "is_not_empty"])
def test_presence_operators_mean_the_same_on_both_sides(collection, op):
    """`exists` is "has a value": a null email is no email, for a top-level field and a
    property alike."""
    collection.delete_many({})
    docs = {}
    for shape, fields in SHAPES.items():
        props = {"nick": fields["email"]} if fields else {}
        docs[shape] = {"_id": ObjectId(), **fields, "properties": props}
    collection.insert_many(list(docs.values()))
    for name in ("email", "nick"):
        rule = {"property": name, "op": op}
        by_database = {d["_id"] for d in collection.find(to_filter(rule, NOW), {"_id": 1})}
        for shape, doc in docs.items():
            expected = PRESENCE[shape][op]
            assert (doc["_id"] in by_database) is expected, (name, op, shape)
            assert matches(rule, doc, NOW) is expected, (name, op, shape)
