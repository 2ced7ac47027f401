"""Who can be reached where, and when: addresses, consent, channel fallback, frequency caps
and quiet hours. Pure decisions over a contact document; the sender acts on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.zones import as_utc, zone

CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "webhook")
PHONE_CHANNELS = ("sms", "whatsapp", "rcs")
DEVICE_KINDS = {"push": ("fcm", "token"), "web_push": ("web", "subscription")}
# Channels that reach the contact inside the brand's own systems: always addressable.
ID_CHANNELS = ("in_app", "webhook")
# A global unsubscribe stops marketing to the person; a webhook only tells a partner system
# about them, so it is the one channel the global opt-out does not block.
GLOBAL_CONSENT_EXEMPT = ("webhook",)

NO_ADDRESS = "no_address"
UNSUBSCRIBED = "unsubscribed"


def _known(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidInput(f"Unknown channel {str(channel)[:40]!r}.", field="channel")


def address(channel: str, contact: dict) -> str | dict | None:
    """Where a message on `channel` goes for this contact, or None when it cannot."""
    _known(channel)
    if channel == "email":
        return contact.get("email") or None
    if channel in PHONE_CHANNELS:
        return contact.get("phone") or None
    if channel in DEVICE_KINDS:
        kind, key = DEVICE_KINDS[channel]
        for device in contact.get("devices") or []:
            if isinstance(device, dict) and device.get("kind") == kind and device.get(key):
                return device[key]
        return None
    contact_id = contact.get("id", contact.get("_id"))
    return None if contact_id is None else str(contact_id)


def _status(contact: dict, key: str) -> Any:
    entry = (contact.get("consent") or {}).get(key)
    return entry.get("status") if isinstance(entry, dict) else None


def blocked_by_consent(channel: str, contact: dict) -> bool:
    _known(channel)
    if _status(contact, channel) == UNSUBSCRIBED:
        return True
    return channel not in GLOBAL_CONSENT_EXEMPT and _status(contact, "all") == UNSUBSCRIBED


def choose_channel(priority: list[str], contact: dict) -> tuple[str | None, list[tuple[str, str]]]:
    """The first channel of `priority` with an address and consent, and why each channel
    before it was skipped ("no_address" | "unsubscribed")."""
    skipped: list[tuple[str, str]] = []
    for channel in dict.fromkeys(priority):  # a repeated channel is tried once
        if address(channel, contact) is None:
            skipped.append((channel, NO_ADDRESS))
        elif blocked_by_consent(channel, contact):
            skipped.append((channel, UNSUBSCRIBED))
        else:
            return channel, skipped
    return None, skipped


# --- frequency caps -------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyCap:
    """At most `limit` messages in `days` days, on `channel` (None: all channels)."""

    channel: str | None
    limit: int
    days: int

    def __post_init__(self) -> None:
        if self.channel is not None:
            _known(self.channel)
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise InvalidInput("A frequency cap's limit is a whole number from 0.", "limit")
        if isinstance(self.days, bool) or not isinstance(self.days, int):
            raise InvalidInput("A frequency cap's window is a whole number of days.", "days")
        if not 1 <= self.days <= 365:
            raise InvalidInput("A frequency cap's window is 1 to 365 days.", "days")

    def applies_to(self, channel: str) -> bool:
        return self.channel is None or self.channel == channel


def cap_window(caps: list[FrequencyCap], channel: str) -> timedelta | None:
    """How far back the send history must reach to check `channel` (None: no cap)."""
    days = [cap.days for cap in caps if cap.applies_to(channel)]
    return timedelta(days=max(days)) if days else None


def cap_reached(
    caps: list[FrequencyCap],
    channel: str,
    sent_at: list[datetime] | list[tuple[str, datetime]],
    now: datetime,
) -> bool:
    """Whether one more message on `channel` now would break a cap.

    `sent_at` is the contact's send history: plain times (the caller already chose the
    sends that count, e.g. that channel's) or (channel, time) pairs, which each cap filters
    itself, so one history serves both per-channel and all-channel caps. Sends in the
    last `days` days count (also ones dated after `now`: scheduled or clock skew).
    """
    now = as_utc(now)
    for cap in caps:
        if not cap.applies_to(channel):
            continue
        since = now - timedelta(days=cap.days)
        count = 0
        for entry in sent_at:
            if isinstance(entry, tuple):
                sent_channel, moment = entry
                if not cap.applies_to(sent_channel):
                    continue
            else:
                moment = entry
            if as_utc(moment) > since:
                count += 1
        if count >= cap.limit:
            return True
    return False


# --- quiet hours ----------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """No sends from `start` to `end` local time; wraps midnight when start > end
    (21:00-08:00). start == end means no quiet hours."""

    start: time
    end: time

    def covers(self, moment: time) -> bool:
        moment = moment.replace(tzinfo=None, fold=0)
        start = self.start.replace(tzinfo=None)
        end = self.end.replace(tzinfo=None)
        if start == end:
            return False
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end


def _zone_or_error(tz: str) -> ZoneInfo:
    found = zone(tz)
    if found is None:
        raise InvalidInput(f"Unknown time zone {str(tz)[:64]!r}.", field="timezone")
    return found


def _next_change(moment: datetime, where: ZoneInfo, within: timedelta) -> datetime | None:
    """The first instant after `moment` (within `within`) at which the zone's UTC offset
    changes, to the second; None if it does not (zones change at most once in two days)."""
    offset = moment.astimezone(where).utcoffset()
    high = moment + within
    if high.astimezone(where).utcoffset() == offset:
        return None
    low = moment
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(where).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def quiet_until(now_utc: datetime, tz: str, quiet: QuietHours | None) -> datetime | None:
    """None when sending now is allowed, else the UTC instant the quiet window ends: the
    first instant at which the contact's wall clock shows a time outside it.

    Between two DST changes the wall clock runs evenly, so the end is the next wall time
    `quiet.end`; when the clocks change first, the window may end at the change (clocks
    jumping past the end, or going back to before the start) or the next day. So 08:00
    London is 08:00 UTC in winter and 07:00 UTC in summer.
    """
    if quiet is None:
        return None
    where = _zone_or_error(tz)
    now = moment = as_utc(now_utc)
    end = quiet.end.replace(tzinfo=None, fold=0)
    for _ in range(4):  # one step per clock change passed; real zones need two at most
        local = moment.astimezone(where)
        if not quiet.covers(local.time()):
            return None if moment == now else moment
        wall = local.replace(tzinfo=None, fold=0)
        ends = datetime.combine(wall.date(), end)
        if ends <= wall:  # the window wrapped midnight: it ends tomorrow
            ends += timedelta(days=1)
        change = _next_change(moment, where, timedelta(days=2))
        opens = moment + (ends - wall)  # as the wall clock runs while the offset holds
        if change is None or opens < change:
            return opens
        moment = change
    return moment


def contact_timezone(contact: dict, fallback: str) -> str:
    """The contact's own IANA zone (property "timezone") when it is one, else fallback."""
    name = (contact.get("properties") or {}).get("timezone")
    return name if zone(name) is not None else fallback
