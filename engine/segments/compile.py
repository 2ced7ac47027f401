"""Rules -> one MongoDB filter over contact documents (the caller adds workspace_id).

Reach evaluates rules in Python (engine.segments.evaluate) on an index-served scope,
because no planner serves such a filter from an index. This compilation is what the
agreement tests run on the real database to hold the Python evaluator to MongoDB's
semantics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.segments import semantics as s
from engine.segments.rules import (
    COUNT_OPS,
    behaviour_key,
    engagement_events,
    kind_of,
    reachability_fields,
)

NOTHING = {"_id": {"$exists": False}}
_MONGO_OP = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte", "eq": "$eq"}


def to_filter(rules: Any, now: datetime) -> dict[str, Any]:
    return _rule(rules, now)


def _rule(rule: dict[str, Any], now: datetime) -> dict[str, Any]:
    kind = kind_of(rule)
    if kind == "all":
        parts = [_rule(r, now) for r in rule["all"]]
        return {"$and": parts} if parts else {}
    if kind == "any":
        parts = [_rule(r, now) for r in rule["any"]]
        return {"$or": parts} if parts else NOTHING
    if kind == "not":
        return {"$nor": [_rule(rule["not"], now)]}
    if kind == "property":
        return property_filter(rule, now)
    if kind == "tag":
        return {"tags": rule["tag"]}
    if kind == "event":
        name = behaviour_key(rule)
        return _behaviour(name, rule, now)
    if kind == "engagement":
        return {"$or": [_behaviour(name, rule, now) for name in engagement_events(rule)]}
    if kind == "reachable":
        return _reachable(rule["reachable"])
    if kind == "in_segment":
        return {"segments": rule["in_segment"]}
    raise ValueError(f"not a rule: {rule!r}")


def property_filter(
    condition: dict[str, Any], now: datetime, *, event_properties: bool = False
) -> dict[str, Any]:
    path = s.path_of(condition, event_properties=event_properties)
    op = condition["op"]
    value = condition.get("value")
    # Presence, as engine.segments.semantics defines it: `{path: null}` is MongoDB's
    # "missing or null" (also a list holding null), so exists is its negation.
    if op == "exists":
        return {path: {"$ne": None}}
    if op == "not_exists":
        return {path: None}
    if op in ("is_empty", "is_not_empty"):
        empty = {"$or": [{path: None}, {path: ""}, {path: []}]}
        return empty if op == "is_empty" else {"$nor": [empty]}
    if op in ("neq", "not_contains", "not_in"):
        positive = {"neq": "eq", "not_contains": "contains", "not_in": "in"}[op]
        return {
            "$nor": [
                property_filter(
                    {**condition, "op": positive}, now, event_properties=event_properties
                )
            ]
        }
    if path == "location_id" and op in ("eq", "in"):
        # Stored as an ObjectId: compare its hex form with the rule's id strings.
        ids = value if isinstance(value, list) else [value]
        return {"$expr": {"$in": [{"$toString": "$location_id"}, [str(i) for i in ids]]}}
    if s.is_date_condition(condition):
        return _date(path, op, condition, now)
    if op in ("eq", "contains", "starts_with", "ends_with") and isinstance(value, str):
        return {path: {"$regex": s.pattern(op, value), "$options": "i"}}
    if op == "in":
        if isinstance(value[0], str):
            return {path: {"$regex": s.in_pattern(value), "$options": "i"}}
        kind = "bool" if isinstance(value[0], bool) else "number"
        return {path: {"$in": value, "$type": kind}}
    if op == "eq":
        kind = "bool" if isinstance(value, bool) else "number"
        return {path: {"$eq": value, "$type": kind}}
    if op == "between":
        return {path: {"$gte": value[0], "$lte": value[1], "$type": "number"}}
    return {path: {_MONGO_OP[op]: value, "$type": "number"}}


def _date(path: str, op: str, condition: dict[str, Any], now: datetime) -> dict[str, Any]:
    days = condition.get("value")
    if op == "within_last_days":
        return {path: {"$gte": s.cutoff(now, days), "$type": "date"}}
    if op == "more_than_days_ago":
        return {path: {"$lt": s.cutoff(now, days), "$type": "date"}}
    if op == "anniversary_in_days":
        field = "$" + path
        as_date = {"$cond": [{"$eq": [{"$type": field}, "date"]}, field, None]}
        day = {"$dateToString": {"format": "%m%d", "date": as_date}}
        return {"$expr": {"$eq": [day, s.anniversary(now, days)]}}
    value = s.date_values(condition)
    if op == "between":
        return {path: {"$gte": value[0], "$lte": value[1], "$type": "date"}}
    if op == "in":
        return {path: {"$in": value, "$type": "date"}}
    mongo = {"before": "$lt", "after": "$gt", **_MONGO_OP}[op]
    return {path: {mongo: value, "$type": "date"}}


def _count_clause(op: str, n: int) -> tuple[str, int]:
    return {"eq": "$eq", "gte": "$gte", "lte": "$lte", "gt": "$gt", "lt": "$lt"}[op], n


def zero_matches(op: str, n: int) -> bool:
    return {"eq": n == 0, "gte": n <= 0, "lte": n >= 0, "gt": n < 0, "lt": n > 0}[op]


def _behaviour(name: str, rule: dict[str, Any], now: datetime) -> dict[str, Any]:
    [(op, n)] = (rule.get("count") or {"gte": 1}).items()
    assert op in COUNT_OPS
    mongo_op, n = _count_clause(op, n)
    base = s.stats_path(name)
    if "within_days" not in rule:
        clause = {f"{base}.count": {mongo_op: n}}
        if zero_matches(op, n):
            return {"$or": [{f"{base}.count": {"$exists": False}}, clause]}
        return clause
    since = s.day_cutoff(now, rule["within_days"])
    days = {"$objectToArray": {"$ifNull": [f"${base}.days", {}]}}
    total = {
        "$sum": {
            "$map": {
                "input": days,
                "in": {"$cond": [{"$gte": ["$$this.k", since]}, "$$this.v", 0]},
            }
        }
    }
    return {"$expr": {mongo_op: [total, n]}}


def _reachable(channel: str) -> dict[str, Any]:
    not_unsubscribed = {f"consent.{channel}.status": {"$ne": "unsubscribed"}}
    fields = reachability_fields(channel)
    if channel == "in_app":
        has = {"$or": [{"user_id": {"$type": "string"}}, {"anonymous_ids.0": {"$exists": True}}]}
    elif channel == "push":
        has = {"push_tokens.0": {"$exists": True}}
    else:
        has = {fields[0]: {"$type": "string", "$ne": ""}}
    return {"$and": [has, not_unsubscribed]}
