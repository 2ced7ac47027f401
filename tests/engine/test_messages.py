"""Segment message parsing and property coercion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InvalidInput
from engine.messages import parse_message, profile_traits
from engine.traits import FieldDef, coerce, normalize_properties

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_identify_extracts_identifiers_and_profile_traits() -> None:
    message = parse_message(
        {
            "type": "identify",
            "userId": 42,
            "traits": {"email": "A@B.co", "firstName": "Ann", "address": {"city": "Goa"}},
        },
        NOW,
    )
    assert (message.user_id, message.email) == ("42", "A@B.co")
    assert profile_traits(message) == {"firstName": "Ann", "city": "Goa"}
    assert message.message_id.startswith("reach-")


def test_track_takes_identifiers_from_context_traits() -> None:
    message = parse_message(
        {"type": "track", "anonymousId": "a", "event": "x", "context": {"traits": {"phone": "1"}}},
        NOW,
    )
    assert message.phone == "1" and profile_traits(message) == {}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "userId": "u"}, "event"),
        ({"type": "track", "userId": "u", "event": "   "}, "event"),
        ({"type": "track", "userId": "", "event": "x"}, "userId"),
        ({"type": "track", "userId": True, "event": "x"}, "userId"),
        ({"type": "track", "userId": "u" * 201, "event": "x"}, "userId"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "page", "userId": "u", "name": 5}, "name"),
        ({"type": "track", "userId": "u", "event": "x", "context": "c"}, "context"),
        ({"type": "track", "userId": "u", "event": "x", "sentAt": "later"}, "sentAt"),
        ({"type": "track", "userId": "u", "event": "x", "messageId": ["m"]}, "messageId"),
    ],
)
def test_invalid_messages_name_the_field(raw, field) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_message(raw, NOW)
    assert error.value.field == field


def test_clock_skew_and_future_timestamps() -> None:
    skewed = parse_message(
        {
            "type": "track",
            "userId": "u",
            "event": "x",
            "timestamp": "2026-11-24T09:50:00Z",
            "sentAt": "2026-11-24T10:00:00Z",
        },
        NOW,
    )
    assert skewed.timestamp == NOW - timedelta(minutes=10)
    future = parse_message(
        {"type": "track", "userId": "u", "event": "x", "timestamp": "2030-01-01T00:00:00Z"}, NOW
    )
    assert future.timestamp == NOW


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=6,
    ),
    st.sampled_from(["string", "number", "boolean", "date", "list"]),
)
def test_coerce_returns_or_raises_invalid_input_only(value, field_type) -> None:
    try:
        coerce(value, field_type, "f")
    except InvalidInput as error:
        assert error.field == "f"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.integers() | st.text(max_size=5), max_size=8))
def test_normalize_properties_never_stores_unsafe_keys(raw) -> None:
    props, errors = normalize_properties(raw, {"n": FieldDef("n", "number")}, "traits")
    for key in props:
        assert "." not in key and not key.startswith("$") and key
    assert len(props) + len(errors) == len(raw) or len(raw) != len(set(raw))


def test_trait_identity_is_only_for_trusted_identify_messages() -> None:
    raw = {"type": "identify", "traits": {"email": "a@b.co"}}
    with pytest.raises(InvalidInput):
        parse_message(raw, NOW)  # Segment's spec: userId or anonymousId
    assert parse_message(raw, NOW, trait_identity=True).email == "a@b.co"
    with pytest.raises(InvalidInput):
        parse_message(
            {"type": "track", "event": "x", "traits": {"email": "a@b.co"}}, NOW, trait_identity=True
        )
