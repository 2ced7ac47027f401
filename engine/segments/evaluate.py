"""Rules -> a yes/no for one stored contact document, mirroring compile.to_filter."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from engine.segments import semantics as s
from engine.segments.rules import PRESENCE_OPS, behaviour_key, engagement_events, kind_of

_MISSING = object()


def matches(rules: Any, contact: dict[str, Any], now: datetime) -> bool:
    return _rule(rules, contact, now)


def _rule(rule: dict[str, Any], doc: dict[str, Any], now: datetime) -> bool:
    kind = kind_of(rule)
    if kind == "all":
        return all(_rule(r, doc, now) for r in rule["all"])
    if kind == "any":
        return any(_rule(r, doc, now) for r in rule["any"])
    if kind == "not":
        return not _rule(rule["not"], doc, now)
    if kind == "property":
        return property_matches(rule, doc, now)
    if kind == "tag":
        return rule["tag"] in _as_list(doc.get("tags"))
    if kind == "event":
        name = behaviour_key(rule)
        return _behaviour(name, rule, doc, now)
    if kind == "engagement":
        return any(_behaviour(name, rule, doc, now) for name in engagement_events(rule))
    if kind == "reachable":
        return _reachable(rule["reachable"], doc)
    if kind == "in_segment":
        return rule["in_segment"] in _as_list(doc.get("segments"))
    raise ValueError(f"not a rule: {rule!r}")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def resolve(doc: Any, parts: list[str]) -> list[Any]:
    """The values a dotted path reaches, traversing arrays as MongoDB queries do."""
    if not parts:
        return [doc]
    if isinstance(doc, dict):
        if parts[0] not in doc:
            return []
        return resolve(doc[parts[0]], parts[1:])
    if isinstance(doc, list):
        out = []
        for item in doc:
            if isinstance(item, dict | list):
                out += resolve(item, parts)
        return out
    return []


def _candidates(values: list[Any]) -> list[Any]:
    """Each value, and each element of a value that is an array."""
    out = []
    for value in values:
        out.append(value)
        if isinstance(value, list):
            out += value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _direct(doc: Any, parts: list[str]) -> Any:
    """A path through objects only (what `$field` means inside $expr)."""
    for part in parts:
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def _compare(op: str, a: Any, b: Any) -> bool:
    return {
        "gt": a > b,
        "gte": a >= b,
        "lt": a < b,
        "lte": a <= b,
        "eq": a == b,
        "before": a < b,
        "after": a > b,
    }[op]


def property_matches(
    condition: dict[str, Any], doc: dict[str, Any], now: datetime, *, event_properties=False
) -> bool:
    path = s.path_of(condition, event_properties=event_properties)
    parts = path.split(".")
    values = resolve(doc, parts)
    found = _candidates(values)
    op = condition["op"]
    value = condition.get("value")
    if op in PRESENCE_OPS:
        return s.presence(op, values, found)
    if op in ("neq", "not_contains", "not_in"):
        positive = {"neq": "eq", "not_contains": "contains", "not_in": "in"}[op]
        return not property_matches(
            {**condition, "op": positive}, doc, now, event_properties=event_properties
        )
    if path == "location_id" and op in ("eq", "in"):
        ids = {str(i) for i in (value if isinstance(value, list) else [value])}
        stored = doc.get("location_id")
        return stored is not None and str(stored) in ids
    if s.is_date_condition(condition):
        return _date(op, condition, found, doc, parts, now)
    if op in ("eq", "contains", "starts_with", "ends_with") and isinstance(value, str):
        regex = re.compile(s.pattern(op, value), re.IGNORECASE)
        return any(isinstance(c, str) and regex.search(c) for c in found)
    if op == "in":
        if isinstance(value[0], str):
            regex = re.compile(s.in_pattern(value), re.IGNORECASE)
            return any(isinstance(c, str) and regex.search(c) for c in found)
        if isinstance(value[0], bool):
            return any(isinstance(c, bool) and c in value for c in found)
        numbers = [c for c in found if _is_number(c)]
        return any(c == v for c in numbers for v in value)
    if isinstance(value, bool):  # eq
        return any(isinstance(c, bool) and c is value for c in found)
    numbers = [c for c in found if _is_number(c)]
    if op == "between":
        # Each bound may be met by a different element, as in MongoDB.
        return any(c >= value[0] for c in numbers) and any(c <= value[1] for c in numbers)
    return any(_compare(op, c, value) for c in numbers)


def _date(
    op: str,
    condition: dict[str, Any],
    found: list[Any],
    doc: dict[str, Any],
    parts: list[str],
    now: datetime,
) -> bool:
    dates = [c for c in found if isinstance(c, datetime)]
    days = condition.get("value")
    if op == "within_last_days":
        return any(d >= s.cutoff(now, days) for d in dates)
    if op == "more_than_days_ago":
        return any(d < s.cutoff(now, days) for d in dates)
    if op == "anniversary_in_days":
        value = _direct(doc, parts)
        return isinstance(value, datetime) and value.strftime("%m%d") == s.anniversary(now, days)
    bound = s.date_values(condition)
    if op == "between":
        return any(d >= bound[0] for d in dates) and any(d <= bound[1] for d in dates)
    if op == "in":
        return any(d in bound for d in dates)
    return any(_compare(op, d, bound) for d in dates)


def _count_ok(op: str, total: int, n: int) -> bool:
    return {
        "eq": total == n,
        "gte": total >= n,
        "lte": total <= n,
        "gt": total > n,
        "lt": total < n,
    }[op]


def _behaviour(name: str, rule: dict[str, Any], doc: dict[str, Any], now: datetime) -> bool:
    [(op, n)] = (rule.get("count") or {"gte": 1}).items()
    stats = _direct(doc, s.stats_path(name).split("."))
    stats = stats if isinstance(stats, dict) else {}
    if "within_days" not in rule:
        count = stats.get("count", _MISSING)
        if count is _MISSING:
            return _count_ok(op, 0, n)
        return _is_number(count) and _count_ok(op, count, n)
    since = s.day_cutoff(now, rule["within_days"])
    days = stats.get("days")
    days = days if isinstance(days, dict) else {}
    total = sum(v for k, v in days.items() if k >= since and _is_number(v))
    return _count_ok(op, total, n)


def _reachable(channel: str, doc: dict[str, Any]) -> bool:
    decision = doc.get("consent") or {}
    status = (decision.get(channel) or {}).get("status") if isinstance(decision, dict) else None
    if status == "unsubscribed":
        return False
    if channel == "in_app":
        return isinstance(doc.get("user_id"), str) or bool(_as_list(doc.get("anonymous_ids")))
    if channel == "push":
        return bool(_as_list(doc.get("push_tokens")))
    field = "email" if channel == "email" else "phone"
    value = doc.get(field)
    return isinstance(value, str) and value != ""


def where_matches(where: list[dict[str, Any]], properties: dict[str, Any], now: datetime) -> bool:
    """Whether an event's properties meet a behaviour condition's `where` (on ingest)."""
    doc = {"properties": properties}
    return all(property_matches(c, doc, now, event_properties=True) for c in where)
