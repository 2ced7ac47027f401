"""Identity resolution invariants, checked over generated message sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.identity import ContactRef, Identity, IdentityIndex, merge_documents
from engine.stats import combine_stats, escape_key, stats_update, unescape_key

users = st.sampled_from(["u1", "u2", "u3"])
emails = st.sampled_from(["a@x.io", "b@x.io", "c@x.io"])
phones = st.sampled_from(["+14155550100", "+14155550101"])
anons = st.sampled_from(["d1", "d2", "d3", "d4"])
identities = st.builds(
    Identity,
    user_id=st.none() | users,
    email=st.none() | emails,
    phone=st.none() | phones,
    anonymous_ids=st.lists(anons, max_size=2, unique=True).map(tuple),
).filter(lambda i: i.pairs())


def stored_contacts():
    return [
        ContactRef("s1", user_id="u1", email="a@x.io"),
        ContactRef("s2", anonymous_ids={"d1"}),
        ContactRef("s3", phone="+14155550100"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(identities, min_size=1, max_size=12))
def test_resolution_invariants(messages: list[Identity]) -> None:
    index = IdentityIndex(stored_contacts())
    for identity in messages:
        result = index.resolve(identity)
        contact = result.contact
        # A message with a user id always lands on that user's contact.
        if identity.user_id:
            assert contact.user_id == identity.user_id
        # Contacts with two different user ids are never joined.
        for other in result.absorbed:
            assert not (other.user_id and other.user_id != contact.user_id)
        # Every identifier the message names is either the contact's now, or reported.
        for kind, value in identity.pairs():
            owner = index.find(kind, value)
            assert owner is contact or (kind, value) in result.dropped
    # Afterwards every identifier belongs to exactly one contact.
    seen: dict[tuple[str, str], str] = {}
    for contact in index.contacts.values():
        for pair in contact.pairs():
            assert pair not in seen, (pair, seen[pair], contact.key)
            seen[pair] = contact.key
    # Stored contacts are never replaced by new ones: user ids stay where they were.
    assert index.find("user_id", "u1").key == "s1"


def test_conflicting_user_ids_drop_the_lower_identifier() -> None:
    index = IdentityIndex(stored_contacts())
    result = index.resolve(Identity(user_id="u2", email="a@x.io"))
    assert result.contact.user_id == "u2" and result.contact.email is None
    assert result.dropped == [("email", "a@x.io")]


def test_stored_contact_survives_a_new_one() -> None:
    index = IdentityIndex(stored_contacts())
    first = index.resolve(Identity(email="z@x.io"))
    assert first.contact.is_new
    second = index.resolve(Identity(email="z@x.io", anonymous_ids=("d1",)))
    assert second.contact.key == "s2" and [c.key for c in second.absorbed] == [first.contact.key]
    assert second.contact.email == "z@x.io"


def test_force_merge_keeps_the_alias_user_id() -> None:
    index = IdentityIndex([ContactRef("old", user_id="legacy")])
    resolution = index.resolve(Identity(user_id="new-id", anonymous_ids=("legacy",)))
    survivor, absorbed = index.force_merge(resolution.contact, index.find("user_id", "legacy"))
    assert survivor.key == "old" and survivor.user_id == "new-id"
    assert "legacy" in survivor.anonymous_ids and absorbed[0].is_new


def test_merge_documents_latest_write_wins_and_unions() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    survivor = {
        "_id": "s1",
        "user_id": "u1",
        "email": None,
        "properties": {"plan": "free", "city": "Pune"},
        "property_times": {"plan": t0, "city": t0},
        "tags": ["a"],
        "anonymous_ids": ["d1"],
        "consent": {"email": {"status": "subscribed", "at": t0}},
        "event_stats": {
            "buy": {"count": 1, "first_at": t0, "last_at": t0, "days": {"20260101": 1}}
        },
        "created_at": t0,
        "last_active_at": t0,
    }
    later = t0 + timedelta(days=1)
    loser = {
        "email": "u@x.io",
        "properties": {"plan": "pro", "lang": "hi"},
        "property_times": {"plan": later, "lang": later},
        "tags": ["b", "a"],
        "anonymous_ids": ["d2"],
        "consent": {"email": {"status": "unsubscribed", "at": later}},
        "event_stats": {
            "buy": {"count": 2, "first_at": later, "last_at": later, "days": {"20260102": 2}}
        },
        "created_at": t0 - timedelta(days=3),
        "last_active_at": later,
    }
    merged = merge_documents(survivor, loser)
    assert merged["properties"] == {"plan": "pro", "city": "Pune", "lang": "hi"}
    assert merged["tags"] == ["a", "b"] and merged["anonymous_ids"] == ["d1", "d2"]
    assert merged["email"] == "u@x.io" and merged["user_id"] == "u1"
    assert merged["consent"]["email"]["status"] == "unsubscribed"
    stats = merged["event_stats"]["buy"]
    assert stats["count"] == 3 and stats["days"] == {"20260101": 1, "20260102": 2}
    assert (stats["first_at"], stats["last_at"]) == (t0, later)
    assert merged["created_at"] == t0 - timedelta(days=3) and merged["last_active_at"] == later
    # Every identifier the merged contact holds is a key of the identity index.
    assert merged["identity_keys"] == [
        "anon:d1",
        "anon:d2",
        "contact:s1",
        "email:u@x.io",
        "user:u1",
    ]


@given(st.text(max_size=30))
def test_stat_keys_round_trip_and_are_safe_field_names(name: str) -> None:
    key = escape_key(name)
    assert "." not in key and "$" not in key
    assert unescape_key(key) == name


def test_stats_update_counts_per_day() -> None:
    t = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    update = stats_update([("a.b", t), ("a.b", t + timedelta(hours=2)), ("c", t)])
    assert update["$inc"] == {
        "event_stats.a%2Eb.count": 2,
        "event_stats.a%2Eb.days.20260301": 1,
        "event_stats.a%2Eb.days.20260302": 1,
        "event_stats.c.count": 1,
        "event_stats.c.days.20260301": 1,
    }
    assert update["$min"]["event_stats.a%2Eb.first_at"] == t
    assert combine_stats({}, {"x": {"count": 1, "first_at": t, "last_at": t}})["x"]["count"] == 1
