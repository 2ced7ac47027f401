"""Segment rules: validation paths, normalisation, references, and each operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.segments.evaluate import matches, where_matches
from engine.segments.rules import (
    is_time_dependent,
    normalize,
    references,
    validate,
    where_key,
)
from engine.traits import FieldDef

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
FIELDS = {"ltv": FieldDef("ltv", "number"), "renewal": FieldDef("renewal", "date")}


def paths(rule, **kwargs):
    return [(e.field, e.message) for e in validate(rule, FIELDS, **kwargs)]


def test_errors_point_at_their_path():
    rule = {
        "all": [
            {"property": "city", "op": "eq", "value": "Mumbai"},
            {"tag": "vip"},
            {"property": "plan", "op": "resembles", "value": "x"},
            {"any": [{"event": "buy", "count": {"most": 2}}, {"bogus": 1}]},
            {"property": "ltv", "op": "gt", "value": "lots"},
            {"property": "renewal", "op": "within_last_days", "value": -1},
            {"engagement": "opened", "channel": "fax"},
            {"tag": "x", "extra": True},
        ]
    }
    assert [p for p, _ in paths(rule)] == [
        "rules.all[2].op",
        "rules.all[3].any[0].count.most",
        "rules.all[3].any[1]",
        "rules.all[4].value",
        "rules.all[5].value",
        "rules.all[6].channel",
        "rules.all[7].extra",
    ]


def test_depth_cycles_and_unknown_segments():
    deep = {"tag": "x"}
    for _ in range(8):
        deep = {"not": deep}
    assert paths(deep)[0][0].startswith("rules.not")
    assert "8 levels" in paths(deep)[0][1]
    others = {"s1": {"in_segment": "s2"}, "s2": {"tag": "x"}}
    lookup = others.get
    assert paths({"in_segment": "s1"}, segment_rules=lookup, self_id="s3") == []
    assert paths({"in_segment": "nope"}, segment_rules=lookup, self_id="s3")[0][0] == (
        "rules.in_segment"
    )
    cyclic = {"s1": {"in_segment": "s2"}, "s2": {"in_segment": "s3"}}
    assert "cycle" in paths({"in_segment": "s1"}, segment_rules=cyclic.get, self_id="s3")[0][1]
    assert "itself" in paths({"in_segment": "s3"}, segment_rules=cyclic.get, self_id="s3")[0][1]


@pytest.mark.parametrize(
    "rule",
    [
        None,
        [],
        "x",
        {},
        {"all": "x"},
        {"not": []},
        {"property": "$where", "op": "eq", "value": 1},
        {"property": "a..b", "op": "eq", "value": 1},
        {"property": "x", "op": "in", "value": []},
        {"property": "x", "op": "between", "value": [1]},
        {"property": "x", "op": "eq"},
        {"property": "x", "op": "exists", "value": 1},
        {"event": "buy", "within_days": 0},
        {"event": "buy", "where": [{"tag": "x"}]},
        {"reachable": "pigeon"},
    ],
)
def test_malformed_rules_are_rejected(rule):
    assert validate(rule, FIELDS)


def test_references_and_time_dependence():
    rule = {
        "all": [
            {"property": "address.city", "op": "eq", "value": "Goa"},
            {"property": "email", "op": "exists"},
            {"event": "buy", "within_days": 7},
            {"engagement": "opened", "channel": "email"},
            {"reachable": "whatsapp"},
            {"not": {"in_segment": "s9"}},
            {"tag": "vip"},
        ]
    }
    assert references(rule) == {
        ("property", "address"),
        ("field", "email"),
        ("event", "buy"),
        ("event", "email_opened"),
        ("consent", "whatsapp"),
        ("field", "phone"),
        ("segment", "s9"),
        ("tag", "vip"),
    }
    assert is_time_dependent(rule)
    assert not is_time_dependent({"property": "created_at", "op": "before", "value": "2026-01-01"})


def contact(**fields):
    base = {"properties": {}, "tags": [], "segments": [], "consent": {}, "event_stats": {}}
    return {**base, **fields}


day = lambda n: (NOW - timedelta(days=n)).strftime("%Y%m%d")  # noqa: E731
PERSON = contact(
    email="ravi@example.com",
    phone="+919820000001",
    created_at=NOW - timedelta(days=3),
    last_active_at=NOW - timedelta(days=40),
    properties={
        "city": "Mumbai",
        "plan": "Pro",
        "ltv": 1200,
        "interests": ["golf", "wine"],
        "birthday": datetime(1990, 11, 27, tzinfo=UTC),
        "nickname": "",
        "address": {"city": "Bandra"},
    },
    tags=["vip"],
    segments=["s1"],
    consent={"whatsapp": {"status": "unsubscribed"}},
    event_stats={
        "order_completed": {"count": 3, "days": {day(2): 1, day(20): 2}},
        "email_opened": {"count": 1, "days": {day(1): 1}},
    },
)
CASES = [
    ({"property": "city", "op": "eq", "value": "mumbai"}, True),
    ({"property": "city", "op": "neq", "value": "Mumbai"}, False),
    ({"property": "city", "op": "contains", "value": "UMB"}, True),
    ({"property": "city", "op": "not_contains", "value": "x"}, True),
    ({"property": "city", "op": "starts_with", "value": "mum"}, True),
    ({"property": "city", "op": "ends_with", "value": "bai"}, True),
    ({"property": "ltv", "op": "gt", "value": 1000}, True),
    ({"property": "ltv", "op": "gte", "value": 1200}, True),
    ({"property": "ltv", "op": "lt", "value": 1200}, False),
    ({"property": "ltv", "op": "lte", "value": 1200}, True),
    ({"property": "ltv", "op": "between", "value": [1000, 2000]}, True),
    ({"property": "plan", "op": "in", "value": ["free", "pro"]}, True),
    ({"property": "plan", "op": "not_in", "value": ["free", "pro"]}, False),
    ({"property": "interests", "op": "eq", "value": "wine"}, True),
    ({"property": "nickname", "op": "is_empty"}, True),
    ({"property": "missing", "op": "is_empty"}, True),
    ({"property": "city", "op": "is_not_empty"}, True),
    ({"property": "nickname", "op": "exists"}, True),
    ({"property": "missing", "op": "not_exists"}, True),
    ({"property": "address.city", "op": "eq", "value": "bandra"}, True),
    ({"property": "created_at", "op": "within_last_days", "value": 7}, True),
    ({"property": "last_active_at", "op": "more_than_days_ago", "value": 30}, True),
    ({"property": "created_at", "op": "after", "value": "2026-11-01"}, True),
    ({"property": "created_at", "op": "before", "value": "2026-11-01"}, False),
    ({"property": "birthday", "op": "anniversary_in_days", "value": 3}, True),
    ({"property": "birthday", "op": "anniversary_in_days", "value": 2}, False),
    ({"tag": "vip"}, True),
    ({"not": {"tag": "vip"}}, False),
    ({"event": "order_completed"}, True),
    ({"event": "order_completed", "within_days": 7}, True),
    ({"event": "order_completed", "within_days": 7, "count": {"gte": 2}}, False),
    ({"event": "order_completed", "within_days": 30, "count": {"eq": 3}}, True),
    ({"event": "signed_up", "count": {"eq": 0}}, True),
    ({"not": {"event": "signed_up"}}, True),
    ({"engagement": "opened", "channel": "email", "within_days": 7}, True),
    ({"engagement": "clicked"}, False),
    ({"reachable": "email"}, True),
    ({"reachable": "whatsapp"}, False),  # has a phone but unsubscribed
    ({"reachable": "sms"}, True),
    ({"in_segment": "s1"}, True),
    ({"any": [{"tag": "nope"}, {"in_segment": "s1"}]}, True),
    ({"all": [{"tag": "vip"}, {"property": "city", "op": "eq", "value": "Pune"}]}, False),
    ({"all": []}, True),
    ({"any": []}, False),
]


@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_each_operator(rule, expected):
    assert validate(rule, FIELDS) == []
    assert matches(normalize(rule, FIELDS), PERSON, NOW) is expected


def test_event_where_filters():
    where = [{"property": "total", "op": "gte", "value": 100}]
    assert where_matches(where, {"total": 150}, NOW)
    assert not where_matches(where, {"total": "150"}, NOW)
    key = where_key("order_completed", where)
    assert key.startswith("order_completed?") and key == where_key("order_completed", where)
    rule = {"event": "order_completed", "where": where}
    person = contact(event_stats={key.replace(".", "%2E"): {"count": 1, "days": {}}})
    assert matches(normalize(rule), person, NOW)
