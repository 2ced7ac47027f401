"""Whose doing an event is: the contact's own activity, or Reach's reaching out.

`last_active_at` is the contact's last own activity (tracked events, page and screen
views, identify calls, and their responses to messages: opened, clicked, replied,
unsubscribed, converted), so that "inactive for 30 days" stays true while a win-back
campaign is sent to them. What Reach does to a contact (a message sent, delivered,
bounced or failed; a segment entered or exited) moves `last_messaged_at` or nothing.
Both still count in the event's own aggregate (event_stats), under its name.
"""

from __future__ import annotations

from engine.segments.rules import CHANNELS

# Outcomes of a send that the contact took no part in.
OUTBOUND_KINDS = ("sent", "delivered", "bounced", "failed")
SEGMENT_MOVES = ("segment_entered", "segment_exited")
OUTBOUND_EVENTS = frozenset(f"{c}_{k}" for c in CHANNELS for k in OUTBOUND_KINDS)


def is_outbound(event: str | None) -> bool:
    """A message Reach sent (or tried to): `<channel>_sent|delivered|bounced|failed`."""
    return event in OUTBOUND_EVENTS


def is_contact_activity(event_type: str, event: str | None) -> bool:
    """Whether a stored message is something the contact did (moves last_active_at)."""
    if event_type != "track":
        return True  # page, screen, identify, alias, group: sent by the brand's SDK
    return not is_outbound(event) and event not in SEGMENT_MOVES


def activity_field(event_type: str, event: str | None) -> str | None:
    """The contact date a stored message moves: last_active_at (the contact's doing),
    last_messaged_at (a send), or none (a segment move)."""
    if is_contact_activity(event_type, event):
        return "last_active_at"
    return "last_messaged_at" if is_outbound(event) else None
