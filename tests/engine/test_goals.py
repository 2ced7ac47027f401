"""Simple-mode goals: valid rules in our segment language that select whom they say, and
starter content that renders for a contact without any properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.goals import GOALS
from engine.segments.evaluate import matches
from engine.segments.rules import normalize, validate
from engine.stats import escape_key
from engine.templates import check_content, context_for, render

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
KEYS = ["cart_recovery", "product_launch", "win_back", "birthday", "feedback_request",
        "reorder_reminder"]  # fmt: skip


def test_the_six_goals():
    assert list(GOALS) == KEYS
    for key, goal in GOALS.items():
        assert goal.key == key
        assert goal.label and goal.description
        assert goal.conversion_event is None or goal.conversion_event.strip()


@pytest.mark.parametrize("key", KEYS)
def test_suggested_rules_are_valid_segment_rules(key):
    assert validate(GOALS[key].suggested_rules) == []


@pytest.mark.parametrize("key", KEYS)
def test_starters_pass_check_content_for_a_contact_without_properties(key):
    sample = context_for({"_id": "sample"})
    assert check_content(GOALS[key].starter, sample) == []
    assert {"email", "sms"} <= set(GOALS[key].starter)


def test_starters_personalise_when_data_is_there():
    context = context_for(
        {"_id": "c", "properties": {"first_name": "Ann"}},
        event={"event": "checkout_started", "properties": {"cart_url": "https://shop/c/1"}},
        workspace={"name": "Shop"},
        message={"unsubscribe_url": "https://r/u/1"},
    )
    starter = GOALS["cart_recovery"].starter
    text = render(starter["email"]["text"], context)
    assert "Hi Ann," in text
    assert "https://shop/c/1" in text
    assert "https://r/u/1" in text
    assert "Shop" in render(starter["sms"]["text"], context)
    html = render(starter["email"]["html"], context, html=True)
    assert 'href="https://shop/c/1"' in html


def contact(events: dict[str, list[int]] | None = None, **properties) -> dict:
    """A stored contact (dates stored as datetimes) whose event aggregates hold events
    `days ago`."""
    stats = {}
    for name, ages in (events or {}).items():
        moments = [NOW - timedelta(days=d) for d in ages]
        stats[escape_key(name)] = {
            "count": len(moments),
            "first_at": min(moments),
            "last_at": max(moments),
            "days": {
                m.strftime("%Y%m%d"): ages.count(d) for m, d in zip(moments, ages, strict=True)
            },
        }
    return {
        "properties": properties,
        "event_stats": stats,
        "last_active_at": NOW - timedelta(days=1),
    }


def selects(key: str, doc: dict) -> bool:
    return matches(normalize(GOALS[key].suggested_rules), doc, NOW)


def test_rules_select_whom_the_goals_describe():
    assert selects("cart_recovery", contact({"checkout_started": [1]}))
    assert not selects("cart_recovery", contact({"checkout_started": [1], "order_completed": [0]}))
    assert not selects("cart_recovery", contact({"checkout_started": [10]}))
    assert selects("win_back", contact({"order_completed": [200]}))
    assert not selects("win_back", contact({"order_completed": [200, 10]}))
    assert not selects("win_back", contact())
    assert selects("reorder_reminder", contact({"order_completed": [45]}))
    assert not selects("reorder_reminder", contact({"order_completed": [45, 5]}))
    assert selects("feedback_request", contact({"order_completed": [3]}))
    assert not selects(
        "feedback_request", contact({"order_completed": [3], "feedback_submitted": [1]})
    )
    assert selects("birthday", contact(birthday=datetime(1990, 6, 15, tzinfo=UTC)))
    assert not selects("birthday", contact(birthday=datetime(1990, 6, 16, tzinfo=UTC)))
    assert selects("product_launch", contact())
