"""Whose doing an event is decides which contact date it moves."""

from __future__ import annotations

from engine.activity import activity_field


def test_the_contacts_own_doings_move_last_active_at() -> None:
    for event_type, name in [
        ("track", "Order Completed"),
        ("page", None),
        ("identify", None),
        ("track", "email_opened"),
        ("track", "sms_replied"),
        ("track", "push_clicked"),
    ]:
        assert activity_field(event_type, name) == "last_active_at", name


def test_reachs_sends_move_last_messaged_at_and_segment_moves_nothing() -> None:
    for name in ["email_sent", "sms_delivered", "email_bounced", "whatsapp_failed"]:
        assert activity_field("track", name) == "last_messaged_at", name
    assert activity_field("track", "segment_entered") is None
