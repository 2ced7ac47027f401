"""Delivery decisions: addresses, consent, channel fallback, frequency caps, quiet hours
(across midnight and DST changes) and the contact's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.delivery import (
    CHANNELS,
    FrequencyCap,
    QuietHours,
    address,
    blocked_by_consent,
    cap_reached,
    cap_window,
    choose_channel,
    contact_timezone,
    quiet_until,
)
from engine.errors import InvalidInput
from engine.zones import local_instant, zone

SUB = {"endpoint": "https://push.example/abc", "keys": {"p256dh": "k", "auth": "a"}}
FULL = {
    "_id": "c1",
    "email": "ann@example.com",
    "phone": "+14155550100",
    "devices": [
        {"kind": "web", "subscription": SUB},
        {"kind": "fcm", "token": ""},
        {"kind": "fcm", "token": "tok-2"},
    ],
}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- addresses and consent ----------------------------------------------------------------


def test_address_per_channel():
    assert address("email", FULL) == "ann@example.com"
    for channel in ("sms", "whatsapp", "rcs"):
        assert address(channel, FULL) == "+14155550100"
    assert address("push", FULL) == "tok-2"  # the first fcm device with a token
    assert address("web_push", FULL) == SUB
    assert address("in_app", FULL) == address("webhook", FULL) == "c1"
    bare = {"_id": "c2"}
    assert [address(c, bare) for c in CHANNELS] == [None] * 6 + ["c2", "c2"]
    with pytest.raises(InvalidInput):
        address("fax", FULL)


def test_consent_per_channel_and_globally():
    one = {**FULL, "consent": {"sms": {"status": "unsubscribed"}}}
    assert blocked_by_consent("sms", one)
    assert not blocked_by_consent("email", one)
    everything = {**FULL, "consent": {"all": {"status": "unsubscribed"}}}
    assert [c for c in CHANNELS if blocked_by_consent(c, everything)] == [
        c for c in CHANNELS if c != "webhook"
    ]
    resubscribed = {**FULL, "consent": {"email": {"status": "subscribed"}}}
    assert not blocked_by_consent("email", resubscribed)


def test_choose_channel_falls_back_and_says_why():
    contact = {
        "_id": "c3",
        "phone": "+447700900000",
        "consent": {"whatsapp": {"status": "unsubscribed"}},
    }
    chosen, skipped = choose_channel(["email", "whatsapp", "email", "sms", "push"], contact)
    assert chosen == "sms"
    assert skipped == [("email", "no_address"), ("whatsapp", "unsubscribed")]
    chosen, skipped = choose_channel(["email", "push"], contact)
    assert chosen is None
    assert skipped == [("email", "no_address"), ("push", "no_address")]
    assert choose_channel([], contact) == (None, [])


# --- frequency caps ---------------------------------------------------------------------


def test_cap_counts_sends_inside_the_window_only():
    now = utc(2026, 5, 10, 12)
    cap = [FrequencyCap("email", 2, 7)]
    inside = now - timedelta(days=6, hours=23)
    outside = now - timedelta(days=7)
    assert not cap_reached(cap, "email", [inside, outside], now)
    assert cap_reached(cap, "email", [inside, now - timedelta(hours=1)], now)
    assert not cap_reached(cap, "sms", [inside, now], now)  # a cap on email only


def test_channel_and_global_caps_with_a_mixed_history():
    now = utc(2026, 5, 10, 12)
    history = [("sms", now - timedelta(days=1)), ("email", now - timedelta(days=2))]
    caps = [FrequencyCap(None, 2, 7), FrequencyCap("sms", 5, 1)]
    assert cap_reached(caps, "email", history, now)  # two sends on any channel this week
    assert not cap_reached([FrequencyCap("email", 2, 7)], "email", history, now)
    assert cap_window(caps, "sms") == timedelta(days=7)
    assert cap_window([FrequencyCap("sms", 1, 3)], "email") is None
    assert cap_reached([FrequencyCap(None, 0, 1)], "email", [], now)  # limit 0: never
    naive = [datetime(2026, 5, 10, 11)]  # PyMongo hands back naive UTC
    assert cap_reached([FrequencyCap("email", 1, 1)], "email", naive, now)


@pytest.mark.parametrize(
    "args", [("fax", 1, 1), ("sms", -1, 1), ("sms", 1, 0), ("sms", 1, 400), (None, True, 1)]
)
def test_bad_caps_are_refused(args):
    with pytest.raises(InvalidInput):
        FrequencyCap(*args)


# --- quiet hours --------------------------------------------------------------------------

NIGHT = QuietHours(time(21), time(8))


def test_quiet_hours_wrap_midnight():
    tz = "Asia/Kolkata"  # UTC+5:30, no DST
    assert quiet_until(utc(2026, 1, 5, 6), tz, NIGHT) is None  # 11:30 local
    assert quiet_until(utc(2026, 1, 5, 16), tz, NIGHT) == utc(2026, 1, 6, 2, 30)  # 21:30
    assert quiet_until(utc(2026, 1, 5, 20), tz, NIGHT) == utc(2026, 1, 6, 2, 30)  # 01:30
    assert quiet_until(utc(2026, 1, 6, 2, 30), tz, NIGHT) is None  # 08:00 opens
    assert quiet_until(utc(2026, 1, 5, 20), tz, None) is None
    assert quiet_until(utc(2026, 1, 5, 20), tz, QuietHours(time(9), time(9))) is None


def test_quiet_hours_within_one_day():
    lunch = QuietHours(time(12), time(13, 30))
    assert quiet_until(utc(2026, 1, 5, 12, 15), "UTC", lunch) == utc(2026, 1, 5, 13, 30)
    assert quiet_until(utc(2026, 1, 5, 11, 59), "UTC", lunch) is None
    assert quiet_until(utc(2026, 1, 5, 13, 30), "UTC", lunch) is None


def test_quiet_hours_follow_dst_in_london_and_new_york():
    # The night the clocks go forward (London 29 Mar, New York 8 Mar 2026), 08:00 local
    # is an hour earlier in UTC than the evening before.
    assert quiet_until(utc(2026, 3, 28, 22), "Europe/London", NIGHT) == utc(2026, 3, 29, 7)
    assert quiet_until(utc(2026, 3, 8, 3), "America/New_York", NIGHT) == utc(2026, 3, 8, 12)
    # ... and an hour later the night they go back.
    assert quiet_until(utc(2026, 10, 24, 22), "Europe/London", NIGHT) == utc(2026, 10, 25, 8)
    assert quiet_until(utc(2026, 11, 1, 2), "America/New_York", NIGHT) == utc(2026, 11, 1, 13)


def test_quiet_end_in_the_skipped_hour_opens_at_the_jump():
    quiet = QuietHours(time(22), time(2, 30))  # 02:30 does not exist on 8 Mar in New York
    assert quiet_until(utc(2026, 3, 8, 5), "America/New_York", quiet) == utc(2026, 3, 8, 7)


def test_quiet_window_in_the_repeated_hour():
    quiet = QuietHours(time(1), time(1, 45))  # 01:00-01:59 happens twice on 1 Nov
    ny = "America/New_York"
    assert quiet_until(utc(2026, 11, 1, 5, 30), ny, quiet) == utc(2026, 11, 1, 5, 45)  # EDT
    assert quiet_until(utc(2026, 11, 1, 6, 30), ny, quiet) == utc(2026, 11, 1, 6, 45)  # EST


def test_unknown_zone_is_refused():
    with pytest.raises(InvalidInput):
        quiet_until(utc(2026, 1, 1), "Mars/Olympus", NIGHT)


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
TRANSITIONS = [
    utc(2026, 3, 29, 1),
    utc(2026, 10, 25, 1),
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 4, 16),
    utc(2026, 10, 3, 16),
    utc(2026, 4, 4, 15),
    utc(2026, 10, 3, 15, 30),
]
# Biased towards the hours and instants where clocks change, where the bugs would be.
_minutes = st.one_of(
    st.integers(0, 24 * 60 - 1), st.integers(0, 4 * 60), st.integers(0, 4 * 4).map(lambda q: q * 15)
).map(lambda m: time(m // 60, m % 60))
_moments = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-26 * 60, 26 * 60)).map(
        lambda p: p[0] + timedelta(minutes=p[1])
    ),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-180, 180)).map(
        lambda p: p[0] + timedelta(minutes=p[1])
    ),
    st.tuples(st.sampled_from(TRANSITIONS), st.integers(-12, 12)).map(
        lambda p: p[0] + timedelta(minutes=p[1] * 15)
    ),
)


def _scan(now: datetime, tz: str, quiet: QuietHours) -> datetime | None:
    """The slow formulation: step minute by minute until the local clock leaves the
    window (every zone here changes its offset on whole minutes)."""
    where = zone(tz)
    moment = now
    while quiet.covers(moment.astimezone(where).time()):
        moment += timedelta(minutes=1)
    return None if moment == now else moment


@settings(max_examples=1500)
@given(now=_moments, tz=st.sampled_from(ZONES), start=_minutes, end=_minutes)
# The skipped hour swallows the one open minute (01:00-01:01): closed until the next day.
@example(utc(2026, 3, 29, 0, 59), "Europe/London", time(1, 1), time(1))
# The end falls in the skipped hour / in the repeated hour (second pass).
@example(utc(2026, 3, 8, 5), "America/New_York", time(22), time(2, 30))
@example(utc(2026, 11, 1, 6, 30), "America/New_York", time(1), time(1, 45))
def test_quiet_until_agrees_with_a_minute_by_minute_scan(now, tz, start, end):
    quiet = QuietHours(start, end)
    assert quiet_until(now, tz, quiet) == _scan(now, tz, quiet)


# --- time zone of a contact ------------------------------------------------------------


def test_contact_timezone_uses_a_valid_property_only():
    assert contact_timezone({"properties": {"timezone": "Asia/Tokyo"}}, "UTC") == "Asia/Tokyo"
    for bad in ("Mars/Base", "../../etc/passwd", "localtime", "", 5, None):
        assert contact_timezone({"properties": {"timezone": bad}}, "Europe/Paris") == (
            "Europe/Paris"
        )
    assert contact_timezone({}, "UTC") == "UTC"


def test_local_instant_resolves_gaps_and_repeats():
    ny = zone("America/New_York")
    from datetime import date

    assert local_instant(date(2026, 7, 1), time(9), ny) == utc(2026, 7, 1, 13)
    assert local_instant(date(2026, 1, 1), time(9), ny) == utc(2026, 1, 1, 14)
    assert local_instant(date(2026, 3, 8), time(2, 30), ny) == utc(2026, 3, 8, 7)
    assert local_instant(date(2026, 11, 1), time(1, 30), ny) == utc(2026, 11, 1, 5, 30)
    lord_howe = zone("Australia/Lord_Howe")  # a 30-minute DST shift
    assert local_instant(date(2026, 10, 4), time(2, 15), lord_howe) == utc(2026, 10, 3, 15, 30)
