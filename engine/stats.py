"""Per-contact event aggregates, kept on the contact so behaviour segments never scan events.

Shape on the contact: event_stats.<key> = {count, first_at, last_at, days: {YYYYMMDD: n},
name?} where <key> is the event's engine.event_names.name_key escaped to be a safe MongoDB
field name ("Order Completed" and "order_completed" count together), and `name` the name
as last sent when it differs from the key (what the plain-language builder shows).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from engine.event_names import name_key

PAGE_VIEWED = "page_viewed"
SCREEN_VIEWED = "screen_viewed"


def stats_name(event_type: str, event: str | None) -> str | None:
    """Which aggregate an event counts toward; identify/alias/group count toward none."""
    if event_type == "track":
        return name_key(event) if event else None
    if event_type == "page":
        return PAGE_VIEWED
    if event_type == "screen":
        return SCREEN_VIEWED
    return None


def escape_key(name: str) -> str:
    """A reversible field name: '%', '.' and '$' are percent-encoded."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unescape_key(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def day_key(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def stats_update(occurrences: list[tuple[str, datetime]]) -> dict[str, dict[str, Any]]:
    """MongoDB update operators that add these (name, time) occurrences to a contact."""
    inc: dict[str, int] = defaultdict(int)
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for name, moment in occurrences:
        prefix = f"event_stats.{escape_key(name)}"
        inc[f"{prefix}.count"] += 1
        inc[f"{prefix}.days.{day_key(moment)}"] += 1
        first[f"{prefix}.first_at"] = min(moment, first.get(f"{prefix}.first_at", moment))
        last[f"{prefix}.last_at"] = max(moment, last.get(f"{prefix}.last_at", moment))
    if not inc:
        return {}
    return {"$inc": dict(inc), "$min": first, "$max": last}


def display_names(named: list[tuple[str, str]]) -> dict[str, str]:
    """`$set` fields keeping each aggregate's name as sent, for (key, name) pairs whose
    name is not its own key (the last one wins)."""
    return {f"event_stats.{escape_key(key)}.name": name for key, name in named if name != key}


def rekey_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """A contact's aggregates keyed by name_key (an upgrade of ones keyed by raw name):
    aggregates of names with one key combine; a renamed one remembers its name."""
    out: dict[str, Any] = {}
    for stored, value in stats.items():
        name = unescape_key(stored)
        key = name_key(name)
        entry = dict(value) if isinstance(value, dict) else {}
        if key != name and "?" not in name:
            entry.setdefault("name", name)
        escaped = escape_key(key)
        if escaped in out:
            entry = combine_stats({escaped: out[escaped]}, {escaped: entry})[escaped]
        out[escaped] = entry
    return out


def combine_stats(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Aggregates of two contacts being merged: counts add, windows widen."""
    out = {k: {**v, "days": dict(v.get("days", {}))} for k, v in a.items()}
    for key, theirs in b.items():
        mine = out.get(key)
        if mine is None:
            out[key] = {**theirs, "days": dict(theirs.get("days", {}))}
            continue
        mine["count"] = mine.get("count", 0) + theirs.get("count", 0)
        mine["first_at"] = min(x for x in (mine.get("first_at"), theirs.get("first_at")) if x)
        mine["last_at"] = max(x for x in (mine.get("last_at"), theirs.get("last_at")) if x)
        for day, n in theirs.get("days", {}).items():
            mine["days"][day] = mine["days"].get(day, 0) + n
    return out
