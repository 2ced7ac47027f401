"""Stepping through a journey graph: each node type, waits in a time zone, branches on
the contact, the trigger event and engagement, deterministic splits, date triggers and
re-entry rules. Pure functions; time is an argument."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from engine.journeys import dates, graph, options, step, waits
from engine.journeys.conditions import Facts
from engine.journeys.model import Graph
from engine.journeys.settings import Context
from tests.engine.test_journey_graph import CART_EDGES, CART_NODES, edge, node

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


def build(nodes, edges) -> Graph:
    checked = graph.validate(nodes, edges, Context())
    assert checked.errors == [], checked.errors
    return Graph.of(checked.nodes, checked.edges)


def facts(**contact) -> Facts:
    return Facts(contact={"_id": "c1", "properties": {}, **contact})


def test_trigger_send_and_exit():
    g = build(CART_NODES, CART_EDGES)
    assert step.decide(g, "t", facts(), NOW) == step.Move("w", "entered")
    decision = step.decide(g, "s", facts(), NOW)
    assert isinstance(decision, step.Send) and decision.to == "x"
    assert decision.channels == ["email"] and "email" in decision.content
    assert step.decide(g, "x", facts(), NOW) == step.Finish("exit")


def test_wait_for_an_event_with_a_timeout():
    g = build(CART_NODES, CART_EDGES)
    parked = step.decide(g, "w", facts(), NOW)
    assert parked == step.Park(NOW + timedelta(hours=1), "order_completed", None)
    assert step.on_event(g, "w", {"event": "page_viewed"}, NOW) is None
    assert step.on_event(g, "w", {"event": "order_completed"}, NOW) == step.Move(
        "x", "event:order_completed"
    )
    assert step.on_wake(g, "w") == step.Move("b", "timeout")


def test_event_wait_filters_on_properties():
    nodes = [
        node("t", "trigger", kind="api"),
        node(
            "w",
            "wait",
            kind="event",
            event="order_completed",
            where=[{"property": "total", "op": "gte", "value": 50}],
            timeout_seconds=60,
        ),
        node("x", "exit"),
    ]
    g = build(nodes, [edge("t", "w"), edge("w", "x"), edge("w", "x", "timeout")])
    small = {"event": "order_completed", "properties": {"total": 10}}
    big = {"event": "order_completed", "properties": {"total": 99}}
    assert step.on_event(g, "w", small, NOW) is None
    assert step.on_event(g, "w", big, NOW) is not None


def test_duration_and_until_waits():
    nodes = [
        node("t", "trigger", kind="api"),
        node("zero", "wait", kind="duration", seconds=0),
        node("day", "wait", kind="duration", seconds=86400),
        node("past", "wait", kind="until", until="2020-01-01T00:00:00Z"),
        node("xmas", "wait", kind="until", until="2026-12-24T18:00:00+05:30"),
        node("x", "exit"),
    ]
    chain = ["t", "zero", "day", "past", "xmas", "x"]
    g = build(nodes, [edge(a, b) for a, b in pairwise(chain)])
    assert step.decide(g, "zero", facts(), NOW) == step.Move("day", "waited")
    assert step.decide(g, "day", facts(), NOW) == step.Park(NOW + timedelta(days=1))
    assert step.decide(g, "past", facts(), NOW) == step.Move("xmas", "waited")
    assert step.decide(g, "xmas", facts(), NOW) == step.Park(
        datetime(2026, 12, 24, 12, 30, tzinfo=UTC)
    )
    assert step.on_wake(g, "day") == step.Move("past", "waited")


def test_time_of_day_waits_use_the_contacts_zone_and_weekdays():
    # 09:00 in Kolkata (UTC+5:30) on Monday is 03:30 UTC: already past at 10:00 UTC.
    at = waits.next_time_of_day(NOW, "Asia/Kolkata", "09:00", list(range(7)))
    assert at == datetime(2026, 3, 3, 3, 30, tzinfo=UTC)
    # Weekends only: Saturday 7 March, 09:00 in New York (EST, UTC-5).
    at = waits.next_time_of_day(NOW, "America/New_York", "09:00", [5, 6])
    assert at == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)
    # Across the DST change (8 March 2026): 09:00 EDT is 13:00 UTC.
    at = waits.next_time_of_day(
        datetime(2026, 3, 8, 0, 0, tzinfo=UTC), "America/New_York", "09:00", [0]
    )
    assert at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    # Exactly now counts.
    assert waits.next_time_of_day(NOW, "UTC", "10:00", [0]) == NOW
    nodes = [
        node("t", "trigger", kind="api"),
        node("w", "wait", kind="time_of_day", at="09:00", weekdays=[0, 1, 2, 3, 4]),
        node("x", "exit"),
    ]
    g = build(nodes, [edge("t", "w"), edge("w", "x")])
    tokyo = Facts(contact={"_id": "c"}, timezone="Asia/Tokyo")  # 19:00 there on Monday
    assert step.decide(g, "w", tokyo, NOW) == step.Park(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))


def test_branch_on_contact_trigger_event_and_engagement():
    cases = [
        {"key": "vip", "rules": {"tag": "vip"}},
        {"key": "big", "rules": {"trigger_property": "total", "op": "gt", "value": 100}},
        {"key": "opened", "rules": {"engaged": "opened", "node": "s"}},
        {"key": "bought", "rules": {"since_entry": "order_completed"}},
    ]
    nodes = [
        node("t", "trigger", kind="api"),
        node("s", "send", channels=["sms"], content={"sms": {"text": "hi"}}),
        node("b", "branch", cases=cases),
        node("x", "exit"),
    ]
    edges = [edge("t", "s"), edge("s", "b"), edge("b", "x", "default")]
    edges += [edge("b", "x", c["key"]) for c in cases]
    g = build(nodes, edges)

    def outcome(f: Facts) -> str:
        decision = step.decide(g, "b", f, NOW)
        assert isinstance(decision, step.Move)
        return decision.outcome

    assert outcome(facts(tags=["vip"])) == "vip"
    assert outcome(Facts(contact={}, trigger={"properties": {"total": 150}})) == "big"
    assert outcome(Facts(contact={}, engagement={"s": {"sent", "opened"}})) == "opened"
    assert outcome(Facts(contact={}, engagement={"s": {"sent"}})) == "default"
    assert outcome(Facts(contact={}, since_entry=[{"event": "order_completed"}])) == "bought"
    assert outcome(facts()) == "default"


def test_splits_are_deterministic_and_proportional():
    nodes = [
        node("t", "trigger", kind="api"),
        node("sp", "split", cohorts=[{"key": "a", "percent": 20}, {"key": "b", "percent": 80}]),
        node("x", "exit"),
    ]
    g = build(nodes, [edge("t", "sp"), edge("sp", "x", "a"), edge("sp", "x", "b")])
    first = [step.decide(g, "sp", facts(_id=f"c{i}"), NOW, salt="j1").outcome for i in range(2000)]
    again = [step.decide(g, "sp", facts(_id=f"c{i}"), NOW, salt="j1").outcome for i in range(2000)]
    assert first == again
    share = Counter(first)["a"] / 2000
    assert 0.16 < share < 0.24
    other = [step.decide(g, "sp", facts(_id=f"c{i}"), NOW, salt="j2").outcome for i in range(2000)]
    assert other != first  # another journey splits independently


def test_triggers_match_events():
    settings = {
        "kind": "event",
        "event": "cart_abandoned",
        "where": [{"property": "value", "op": "gt", "value": 20}],
    }
    assert step.trigger_matches(
        settings, {"event": "cart_abandoned", "properties": {"value": 30}}, NOW
    )
    assert not step.trigger_matches(
        settings, {"event": "cart_abandoned", "properties": {"value": 3}}, NOW
    )
    segment = {"kind": "segment_entered", "segment_id": "s1"}
    assert step.trigger_matches(
        segment, {"event": "segment_entered", "properties": {"segment_id": "s1"}}, NOW
    )
    assert not step.trigger_matches(
        segment, {"event": "segment_entered", "properties": {"segment_id": "s2"}}, NOW
    )
    assert not step.trigger_matches(
        segment, {"event": "segment_exited", "properties": {"segment_id": "s1"}}, NOW
    )
    assert step.trigger_event_name({"kind": "date"}) is None


def test_date_triggers_fire_on_the_local_day_once_past_the_hour():
    renewal = {"property": "renewal_date", "offset_days": -3, "annual": False, "at": "09:00"}
    contact = {"properties": {"renewal_date": datetime(2026, 3, 5, tzinfo=UTC)}}
    assert dates.fire_day(renewal, contact, NOW, "UTC") == NOW.date()  # 3 days before
    assert dates.fire_day(renewal, contact, NOW.replace(hour=8), "UTC") is None  # before 09:00
    assert dates.fire_day(renewal, contact, NOW + timedelta(days=1), "UTC") is None
    # Sunday 23:00 UTC is Monday 08:00 in Tokyo (before 09:00); 01:00 UTC is 10:00 there.
    sunday_late = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert dates.fire_day(renewal, contact, sunday_late, "Asia/Tokyo") is None
    monday_early = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert dates.fire_day(renewal, contact, monday_early, "Asia/Tokyo") == NOW.date()
    birthday = {"property": "birthday", "offset_days": 0, "annual": True, "at": "00:00"}
    born = {"properties": {"birthday": "1990-03-02"}}
    assert dates.fire_day(birthday, born, NOW, "UTC") == NOW.date()
    leap = {"properties": {"birthday": datetime(2000, 2, 29, tzinfo=UTC)}}
    assert dates.fire_day(birthday, leap, datetime(2026, 2, 28, 12, tzinfo=UTC), "UTC") is not None
    assert dates.fire_day(birthday, {"properties": {"birthday": "soon"}}, NOW, "UTC") is None


def test_reentry_rules():
    never, again = {"reentry": "never"}, {"reentry": "after_exit"}
    cool = {"reentry": "cooldown", "cooldown_hours": 24}
    done = {
        "status": "completed",
        "entered_at": NOW - timedelta(days=2),
        "ended_at": NOW - timedelta(hours=2),
    }
    live = {"status": "waiting", "entered_at": NOW}
    assert options.may_enter(never, None, NOW)
    assert not options.may_enter(never, done, NOW)
    assert options.may_enter(again, done, NOW)
    assert not options.may_enter(again, live, NOW)
    assert not options.may_enter(cool, done, NOW)
    assert options.may_enter(cool, done, NOW + timedelta(hours=22))


def test_journey_settings_are_checked():
    good, errors = options.check(
        {"reentry": "cooldown", "cooldown_hours": 12, "goal": {"event": "order_completed"}}
    )
    assert errors == [] and good["goal"] == {"event": "order_completed", "window_hours": 168}
    _, errors = options.check(
        {
            "reentry": "sometimes",
            "goal": {"event": "", "window_hours": 0},
            "exit_segment_id": "s9",
            "x": 1,
        },
        segment_exists=lambda sid: False,
    )
    assert {e.field for e in errors} == {
        "settings.reentry",
        "settings.goal.event",
        "settings.goal.window_hours",
        "settings.exit_segment_id",
        "settings.x",
    }
