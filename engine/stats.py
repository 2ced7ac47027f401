"""Per-contact event aggregates, kept on the contact so behaviour segments never scan events.

Shape on the contact: event_stats.<key> = {count, first_at, last_at, days: {YYYYMMDD: n}}
where <key> is the event name escaped to be a safe MongoDB field name.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

PAGE_VIEWED = "page_viewed"
SCREEN_VIEWED = "screen_viewed"


def stats_name(event_type: str, event: str | None) -> str | None:
    """Which aggregate an event counts toward; identify/alias/group count toward none."""
    if event_type == "track":
        return event
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
