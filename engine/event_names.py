"""Event names compared the way people write them.

Segment's spec (which SDK users follow) says "Order Completed"; Reach's templates,
Shopify mapping and many servers say "order_completed"; JavaScript code says
"orderCompleted". They are one event. Events keep the name as sent (`event`); every
comparison (rules, aggregates, goals, triggers, waits, listeners) uses `name_key`, stored
beside it on each event (`name_key`, indexed) and as the key of the contact's
`event_stats`. The key is snake_case, so names already in that form are their own key.
"""

from __future__ import annotations

import re
import unicodedata

_LOWER_UPPER = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")  # orderCompleted
_ACRONYM_END = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")  # HTMLPage
_SEPARATORS = re.compile(r"[\s_\-]+")


def name_key(name: str) -> str:
    """ "Order Completed", "order_completed", "orderCompleted", "order-completed" ->
    "order_completed". Other punctuation (".", ":", "/") is kept: it carries meaning."""
    text = unicodedata.normalize("NFKC", name).strip()
    text = _ACRONYM_END.sub("_", _LOWER_UPPER.sub("_", text))
    key = _SEPARATORS.sub("_", text.casefold()).strip("_")
    return key or name


def same_event(a: str | None, b: str | None) -> bool:
    """Whether two event names are one event (None matches nothing)."""
    return a is not None and b is not None and name_key(a) == name_key(b)
