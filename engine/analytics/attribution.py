"""Touch attribution: which send a conversion event is credited to.

A touch is a send handed to a provider (its `sent_at`); a conversion at time T credits
the contact's latest (LAST_TOUCH) or earliest (FIRST_TOUCH) touch with T - window <=
sent_at <= T. A conversion with no touch in its window is credited to nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from datetime import datetime, timedelta

MODELS = ("last_touch", "first_touch")
MAX_WINDOW_HOURS = 24 * 90


def credit(
    touches: list[tuple[datetime, Hashable]], at: datetime, window: timedelta, model: str
) -> Hashable | None:
    """The key of the credited touch among one contact's touches sorted by time."""
    times = [t for t, _ in touches]
    low = bisect.bisect_left(times, at - window)
    high = bisect.bisect_right(times, at)
    if low >= high:
        return None
    return touches[high - 1][1] if model == "last_touch" else touches[low][1]


def revenue_of(properties: dict, prop: str = "revenue") -> float:
    """The event's revenue property as a number, 0 when absent or not a sane number (as
    campaign conversion goals read it, resolvers.campaigns.listeners)."""
    value: object = properties
    for part in prop.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0.0
    try:
        amount = float(value)
    except ValueError:
        return 0.0
    return amount if amount == amount and abs(amount) < 1e12 else 0.0
