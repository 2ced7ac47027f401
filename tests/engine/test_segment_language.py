"""Plain-language segments (engine.segment_language): sentences to rules, offline."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.segment_language import (
    MAX_TEXT,
    RuleBasedBackend,
    Suggestion,
    Understood,
    Vocabulary,
    check,
    suggest,
)
from engine.segment_language import Field as F
from engine.segments.rules import validate, walk

SEED_PURCHASE = "purchased in the last 30 days and opened an email in the last 7 days"
SEED_LOCATION = "located in Mumbai and on the Pro plan"
SEED_ONBOARDING = "completed onboarding but hasn't made a purchase"

SHOP = Vocabulary.build(
    {
        "order_completed": 120,
        "onboarding_completed": 40,
        "page_viewed": 900,
        "email_opened": 60,
        "checkout_started": 30,
        "order_refunded": 4,
        "app_opened": 12,
        "signed_up": 50,
    },
    [
        F("lifetime_value", "number", "Lifetime value"),
        F("age", "number", "Age"),
        F("vip_since", "date", "VIP since"),
        F("newsletter", "boolean", "Newsletter"),
    ],
    ["vip", "beta-tester"],
)
APP = Vocabulary.build(
    [("purchase", 9), ("completed_onboarding", 7), ("Product Viewed", 20)], [], ["Gold"]
)
EMPTY = Vocabulary.build()
# "purchased in the last 30 days" in full-width letters and digits.
FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in SEED_PURCHASE[:29])


def rules(text: str, vocabulary: Vocabulary = SHOP):
    return suggest(text, vocabulary).rules


def unread(text: str, vocabulary: Vocabulary = SHOP) -> list[str]:
    return [n.phrase for n in suggest(text, vocabulary).not_understood]


# --- the seed sentences, in two workspaces' words -------------------------------------


@pytest.mark.parametrize(
    ("vocabulary", "purchase", "onboarding"),
    [(SHOP, "order_completed", "onboarding_completed"), (APP, "purchase", "completed_onboarding")],
)
def test_seed_sentences_use_the_workspaces_own_event_names(vocabulary, purchase, onboarding):
    first = suggest(SEED_PURCHASE, vocabulary)
    assert first.rules == {
        "all": [
            {"event": purchase, "within_days": 30, "count": {"gte": 1}},
            {"engagement": "opened", "channel": "email", "within_days": 7},
        ]
    }
    assert [u.phrase for u in first.understood] == [
        "purchased in the last 30 days",
        "opened an email in the last 7 days",
    ]
    assert first.not_understood == []
    assert rules(SEED_LOCATION, vocabulary) == {
        "all": [
            {"property": "city", "op": "eq", "value": "Mumbai"},
            {"property": "plan", "op": "eq", "value": "Pro"},
        ]
    }
    third = suggest(SEED_ONBOARDING, vocabulary)
    assert third.rules == {"all": [{"event": onboarding}, {"not": {"event": purchase}}]}
    assert third.understood == [
        Understood("completed onboarding", {"event": onboarding}),
        Understood("hasn't made a purchase", {"not": {"event": purchase}}),
    ]
    for text in (SEED_PURCHASE, SEED_LOCATION, SEED_ONBOARDING):
        assert validate(rules(text, vocabulary), vocabulary.field_defs()) == []


def test_a_single_condition_is_not_wrapped_in_a_group():
    assert rules("tagged vip") == {"tag": "vip"}
    assert rules("on the Pro plan") == {"property": "plan", "op": "eq", "value": "Pro"}


# --- negation, windows, counts ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hasn't purchased",
        "has not purchased",
        "never bought anything",
        "didn't order",
        "customers with no orders",
        "has not made a purchase",
    ],
)
def test_negations(text):
    assert rules(text) == {"not": {"event": "order_completed"}}


def test_negation_keeps_the_window_inside():
    assert rules("hasn't purchased in the last 90 days") == {
        "not": {"event": "order_completed", "within_days": 90, "count": {"gte": 1}}
    }
    assert rules("did not open any email this month") == {
        "not": {"engagement": "opened", "channel": "email", "within_days": 30}
    }
    assert rules("not tagged vip") == {"not": {"tag": "vip"}}
    assert rules("city is not Mumbai") == {"property": "city", "op": "neq", "value": "Mumbai"}


@pytest.mark.parametrize(
    ("phrase", "days"),
    [
        ("in the last 30 days", 30),
        ("within 7 days", 7),
        ("in the past week", 7),
        ("last month", 30),
        ("this month", 30),
        ("this week", 7),
        ("over the last 3 months", 90),
        ("in the last 24 hours", 1),
        ("today", 1),
        ("in the past two weeks", 14),
        ("this year", 365),
    ],
)
def test_time_windows(phrase, days):
    assert rules(f"purchased {phrase}") == {
        "event": "order_completed",
        "within_days": days,
        "count": {"gte": 1},
    }


@pytest.mark.parametrize(
    ("phrase", "count"),
    [
        ("at least 3 times", {"gte": 3}),
        ("more than twice", {"gt": 2}),
        ("exactly once", {"eq": 1}),
        ("fewer than 3 times", {"lt": 3}),
        ("at most 2 times", {"lte": 2}),
        ("twice", {"gte": 2}),
        ("3 or more times", {"gte": 3}),
        ("5+ times", {"gte": 5}),
    ],
)
def test_counts(phrase, count):
    assert rules(f"purchased {phrase}") == {"event": "order_completed", "count": count}


def test_counts_and_windows_together():
    assert rules("bought at least 3 times in the past week") == {
        "event": "order_completed",
        "within_days": 7,
        "count": {"gte": 3},
    }
    assert rules("made at least 3 purchases in the last 90 days") == {
        "event": "order_completed",
        "within_days": 90,
        "count": {"gte": 3},
    }


def test_last_did_something_long_ago():
    assert rules("last purchased more than 60 days ago") == {
        "all": [
            {"event": "order_completed"},
            {"not": {"event": "order_completed", "within_days": 60, "count": {"gte": 1}}},
        ]
    }


# --- the kinds of condition --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("opened an email", {"engagement": "opened", "channel": "email"}),
        ("clicked a WhatsApp message", {"engagement": "clicked", "channel": "whatsapp"}),
        ("replied on SMS", {"engagement": "replied", "channel": "sms"}),
        ("email bounced", {"engagement": "bounced", "channel": "email"}),
        (
            "opened an email at least 3 times",
            {"engagement": "opened", "channel": "email", "count": {"gte": 3}},
        ),
        ("in Pune", {"property": "city", "op": "eq", "value": "Pune"}),
        ("from India", {"property": "country", "op": "eq", "value": "India"}),
        (
            "lives in the United Kingdom",
            {"property": "country", "op": "eq", "value": "United Kingdom"},
        ),
        ("tagged vip", {"tag": "vip"}),
        ("tagged as VIP", {"tag": "vip"}),
        ("has the beta-tester tag", {"tag": "beta-tester"}),
        ("is a VIP", {"tag": "vip"}),
        ("reachable on WhatsApp", {"reachable": "whatsapp"}),
        ("has an email", {"reachable": "email"}),
        ("reachable by push", {"reachable": "push"}),
        ("has a phone number", {"property": "phone", "op": "is_not_empty"}),
        ("lifetime value over 500", {"property": "lifetime_value", "op": "gt", "value": 500}),
        (
            "with a lifetime value of at least ₹1,000",
            {"property": "lifetime_value", "op": "gte", "value": 1000},
        ),
        (
            "lifetime value between 100 and 1,000",
            {"property": "lifetime_value", "op": "between", "value": [100, 1000]},
        ),
        ("older than 30", {"property": "age", "op": "gt", "value": 30}),
        (
            "signed up in the last 7 days",
            {"property": "created_at", "op": "within_last_days", "value": 7},
        ),
        (
            "signed up more than a year ago",
            {"property": "created_at", "op": "more_than_days_ago", "value": 365},
        ),
        (
            "inactive for 30 days",
            {"property": "last_active_at", "op": "more_than_days_ago", "value": 30},
        ),
        (
            "hasn't been active in 2 weeks",
            {"property": "last_active_at", "op": "more_than_days_ago", "value": 14},
        ),
        ("active this week", {"property": "last_active_at", "op": "within_last_days", "value": 7}),
        (
            "birthday in the next 7 days",
            {"property": "birthday", "op": "anniversary_in_days", "value": 7},
        ),
        ("language is Hindi", {"property": "language", "op": "eq", "value": "Hindi"}),
        (
            "email ends with @gmail.com",
            {"property": "email", "op": "ends_with", "value": "@gmail.com"},
        ),
        ("country is empty", {"property": "country", "op": "is_empty"}),
        ("newsletter is yes", {"property": "newsletter", "op": "eq", "value": True}),
        (
            "VIP since before 2024-01-31",
            {"property": "vip_since", "op": "before", "value": "2024-01-31"},
        ),
        ("started checkout", {"event": "checkout_started"}),
        ("opened the app", {"event": "app_opened"}),
        ("Pro plan users", {"property": "plan", "op": "eq", "value": "Pro"}),
    ],
)
def test_condition_kinds(text, rule):
    got = suggest(text, SHOP)
    assert got.rules == rule, got
    assert validate(got.rules, SHOP.field_defs()) == []


def test_or_and_lists():
    assert rules("located in Mumbai or Pune") == {
        "any": [
            {"property": "city", "op": "eq", "value": "Mumbai"},
            {"property": "city", "op": "eq", "value": "Pune"},
        ]
    }
    assert rules("purchased or opened an email, and tagged vip") == {
        "any": [
            {"event": "order_completed"},
            {"all": [{"engagement": "opened", "channel": "email"}, {"tag": "vip"}]},
        ]
    }
    assert rules("contacts who purchased this week, live in Mumbai, tagged vip") == {
        "all": [
            {"event": "order_completed", "within_days": 7, "count": {"gte": 1}},
            {"property": "city", "op": "eq", "value": "Mumbai"},
            {"tag": "vip"},
        ]
    }


def test_relative_clauses_and_elliptical_verbs():
    assert rules("users in Mumbai who purchased in the last week") == {
        "all": [
            {"property": "city", "op": "eq", "value": "Mumbai"},
            {"event": "order_completed", "within_days": 7, "count": {"gte": 1}},
        ]
    }
    assert rules("customers in Pune whose lifetime value is over 500") == {
        "all": [
            {"property": "city", "op": "eq", "value": "Pune"},
            {"property": "lifetime_value", "op": "gt", "value": 500},
        ]
    }
    assert rules("opened an email in the last 30 days but never clicked") == {
        "all": [
            {"engagement": "opened", "channel": "email", "within_days": 30},
            {"not": {"engagement": "clicked", "channel": "email"}},
        ]
    }


def test_logging_in_is_activity_unless_the_workspace_tracks_it():
    assert rules("on the Gold plan that haven't logged in for 2 weeks") == {
        "all": [
            {"property": "plan", "op": "eq", "value": "Gold"},
            {"property": "last_active_at", "op": "more_than_days_ago", "value": 14},
        ]
    }
    tracked = Vocabulary.build({"user_logged_in": 3})
    assert rules("haven't logged in for 2 weeks", tracked) == {
        "not": {"event": "user_logged_in", "within_days": 14, "count": {"gte": 1}}
    }


def test_purchase_prefers_completion_over_other_order_events():
    # order_refunded and checkout_started are about orders but are not purchases.
    assert rules("purchased") == {"event": "order_completed"}
    only_refunds = Vocabulary.build({"order_refunded": 5, "checkout_started": 3})
    got = suggest("purchased", only_refunds)
    assert got.rules is None
    assert got.not_understood[0].suggestions  # closest names offered


# --- what it cannot read ------------------------------------------------------------------


def test_unknown_phrases_are_reported_with_the_closest_names():
    got = suggest("purchased this week and flew to the moon", SHOP)
    assert got.rules == {"event": "order_completed", "within_days": 7, "count": {"gte": 1}}
    [problem] = got.not_understood
    assert problem.phrase == "flew to the moon"
    assert "No event, field or tag" in problem.reason
    got = suggest("started a free trial", SHOP)
    assert got.rules is None and got.not_understood[0].phrase == "started a free trial"
    assert "checkout_started" in got.not_understood[0].suggestions


def test_events_are_never_invented():
    got = suggest(SEED_ONBOARDING, Vocabulary.build(["page_viewed"]))
    assert got.rules is None
    assert [n.phrase for n in got.not_understood] == [
        "completed onboarding",
        "hasn't made a purchase",
    ]
    got = suggest("purchased", EMPTY)
    assert got.rules is None and "no events yet" in got.not_understood[0].reason


def test_fields_the_workspace_lacks_are_reported():
    got = suggest("older than 30", APP)
    assert got.rules is None and "no age field" in got.not_understood[0].reason
    assert suggest("lifetime value over 500", APP).rules is None
    assert suggest("lifetime value over lots", SHOP).rules is None
    assert "number" in suggest("lifetime value is high", SHOP).not_understood[0].reason


def test_parts_that_do_not_apply_are_reported():
    got = suggest("tagged vip in the last 7 days", SHOP)
    assert got.rules == {"tag": "vip"}
    assert [n.phrase for n in got.not_understood] == ["in the last 7 days"]
    got = suggest("purchased shoes", SHOP)
    assert got.rules == {"event": "order_completed"}
    assert got.not_understood[0].phrase == "shoes"
    assert unread("signed up", APP) == ["signed up"]
    assert unread("inactive") == ["inactive"]
    assert unread("in the last 30 days") == ["in the last 30 days"]


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\x00\x01\x02",
        "'; DROP TABLE contacts; --",
        '{"$where": "sleep(1000)"}',
        '{"all": [{"event": "x"}]}',
        "Mumbai में रहते हैं 😀",
        FULL_WIDTH,
        "and and and or or but ,,,;;;",
        "not not not",
        "purchased 99999999 times in the last 99999999 days",
        "between and",
        "tagged " + "x" * 300,
        "in " + "Z" * 500,
        "lifetime value over 1e400",
        "$" * 50,
    ],
)
def test_hostile_input_never_raises(text):
    got = suggest(text, SHOP)
    assert isinstance(got, Suggestion)
    if got.rules is not None:
        assert validate(got.rules, SHOP.field_defs()) == []
    if got.rules is None:
        assert got.not_understood


def test_full_width_text_is_read_like_ascii():
    assert rules(FULL_WIDTH) == {
        "event": "order_completed",
        "within_days": 30,
        "count": {"gte": 1},
    }


def test_long_input_is_capped_and_reported():
    text = SEED_LOCATION + " and " + ("blah " * 2000)
    assert len(text) > 10_000 - 100
    got = suggest(text, SHOP)
    assert got.rules is not None
    assert {"property": "city", "op": "eq", "value": "Mumbai"} in got.rules["all"]
    reasons = [n.reason for n in got.not_understood]
    assert any(f"Only the first {MAX_TEXT} characters" in r for r in reasons)
    many = " and ".join(["tagged vip"] * 50)
    assert any("At most" in n.reason for n in suggest(many, SHOP).not_understood)


def test_a_failing_backend_falls_back_to_the_rules():
    class Broken:
        def suggest(self, text, vocabulary):
            raise RuntimeError("model down")

    got = suggest("tagged vip", SHOP, backend=Broken())
    assert got.rules == {"tag": "vip"}


def test_other_backends_are_held_to_the_vocabulary():
    class Inventive:
        def suggest(self, text, vocabulary):
            rule = {"event": "teleported"}
            return Suggestion(rule, [Understood(text, rule)], [])

    got = suggest("teleported", SHOP, backend=Inventive())
    assert got.rules is None and got.understood == []
    assert any("no such event" in n.reason for n in got.not_understood)
    bad = Suggestion({"property": "city", "op": "bogus"}, [], [])
    assert check(bad, SHOP).rules is None


# --- properties ---------------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "purchased",
        "bought",
        "hasn't",
        "never",
        "not",
        "opened",
        "an",
        "email",
        "clicked",
        "WhatsApp",
        "in",
        "the",
        "last",
        "30",
        "days",
        "at least",
        "3 times",
        "twice",
        "and",
        "or",
        "but",
        ",",
        "located",
        "Mumbai",
        "on",
        "Pro",
        "plan",
        "tagged",
        "vip",
        "lifetime value",
        "over",
        "500",
        "between",
        "signed up",
        "inactive",
        "for",
        "completed",
        "onboarding",
        "teleported",
        "ago",
        "more than",
        "birthday",
        "next",
        "week",
        "is",
        "empty",
        "reachable",
        "{",
        '"$gt"',
        "'",
        "🙂",
    ]
)
VOCABULARIES = st.sampled_from([SHOP, APP, EMPTY])
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)


@PROPERTY_SETTINGS
@given(text=st.text(max_size=300), vocabulary=VOCABULARIES)
def test_arbitrary_text_never_raises_and_names_only_known_events(text, vocabulary):
    _check_output(text, vocabulary)


@PROPERTY_SETTINGS
@given(words=st.lists(WORDS, max_size=25), vocabulary=VOCABULARIES)
def test_word_salad_never_raises_and_names_only_known_events(words, vocabulary):
    _check_output(" ".join(words), vocabulary)


def _check_output(text: str, vocabulary: Vocabulary) -> None:
    # The backend itself, not only the never-raising wrapper, must cope.
    direct = RuleBasedBackend().suggest(text, vocabulary) if text.strip() else None
    got = suggest(text, vocabulary)
    if direct is not None:
        assert got.rules == direct.rules
    known = set(vocabulary.event_names)
    for rule in [got.rules, *(u.rule for u in got.understood)]:
        if rule is None:
            continue
        assert validate(rule, vocabulary.field_defs()) == []
        for condition in walk(rule):
            if "event" in condition:
                assert condition["event"] in known
    assert got.rules is not None or got.not_understood


def test_an_unknown_action_after_a_property_is_not_read_as_a_value():
    """Found by hand: with no purchase event, 'purchased' must not become a city."""
    result = suggest("located in Mumbai and purchased in the last 30 days", Vocabulary())
    assert result.rules == {"property": "city", "op": "eq", "value": "Mumbai"}
    assert [p.phrase for p in result.not_understood] == ["purchased in the last 30 days"]


# --- money, counts and durations are told apart ----------------------------------------

LIFETIME = {"property": "lifetime_value", "op": "gt", "value": 5000}


@pytest.mark.parametrize(
    ("text", "vocabulary", "expected"),
    [
        ("customers who spent over 5000 rupees", SHOP, LIFETIME),  # the example
        ("customers who spent over 5000 rupees", APP, "keeps no amount spent"),
        ("spent more than ₹5000", SHOP, LIFETIME),
        ("spent over Rs. 5,000", SHOP, LIFETIME),
        ("spent over $500 in the last 30 days", SHOP, "not kept per period"),
        ("spent over 5 days", SHOP, "'5 days' is a length of time"),
        ("more than 5000 rupees orders", SHOP, "is an amount of money"),
        ("age over ₹50", SHOP, "age does not hold money"),
        ("more than 5 orders", SHOP, {"event": "order_completed", "count": {"gt": 5}}),
        ("purchased at least 3 times", SHOP, {"event": "order_completed", "count": {"gte": 3}}),
        (
            "purchased in the last 30 days",
            SHOP,
            {"event": "order_completed", "within_days": 30, "count": {"gte": 1}},
        ),
        (
            "purchased for 2 weeks",
            SHOP,
            {"event": "order_completed", "within_days": 14, "count": {"gte": 1}},
        ),
        (
            "inactive for 3 months",
            SHOP,
            {"property": "last_active_at", "op": "more_than_days_ago", "value": 90},
        ),
    ],
)
def test_money_counts_and_durations(text, vocabulary, expected):
    got = suggest(text, vocabulary)
    if isinstance(expected, dict):
        assert got.rules == expected and got.not_understood == [], got.as_json()
    else:
        assert got.rules is None, got.as_json()
        [problem] = got.not_understood
        assert problem.phrase and problem.phrase in text
        assert expected in got.not_understood[0].reason
