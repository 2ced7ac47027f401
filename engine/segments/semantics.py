"""What each condition means, in one place for both the compiler and the evaluator.

MongoDB semantics are the reference: a path through arrays matches if any element
does; comparisons carry an explicit $type so that numbers never compare with strings
(as real MongoDB's type bracketing does, and as other engines may not).

Presence operators, for a field that is missing, null, "" or [] (a list that holds
null or "" counts as holding it, as a MongoDB path through an array does):

    op            missing  null   ""     []     other value
    exists        no       no     yes    yes    yes
    not_exists    yes      yes    no     no     no
    is_empty      yes      yes    yes    yes    no
    is_not_empty  no       no     no     no     yes

`exists` means "has a value": a null is what a cleared field looks like (an import
of an empty cell, an SDK sending `"email": null`), so it is not a value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.segments.rules import DATE_OPS, field_path, parse_date_value
from engine.stats import escape_key


def at_ms(now: datetime) -> datetime:
    """`now` as MongoDB stores it: UTC, millisecond precision."""
    now = now.astimezone(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def cutoff(now: datetime, days: int) -> datetime:
    return at_ms(now) - timedelta(days=days)


def day_cutoff(now: datetime, days: int) -> str:
    """Windows count whole UTC days: 'in the last 30 days' includes all of the 30th day."""
    return (at_ms(now) - timedelta(days=days)).strftime("%Y%m%d")


def anniversary(now: datetime, days: int) -> str:
    return (at_ms(now) + timedelta(days=days)).strftime("%m%d")


def presence(op: str, values: list[Any], found: list[Any]) -> bool:
    """A presence operator on the values a path reaches (`found` adds list elements)."""
    null = not values or any(c is None for c in found)
    if op in ("exists", "not_exists"):
        return null == (op == "not_exists")
    empty = null or any(c == "" or c == [] for c in found)
    return empty == (op == "is_empty")


def path_of(condition: dict[str, Any], *, event_properties: bool = False) -> str:
    name = condition["property"]
    return f"properties.{name}" if event_properties else field_path(name)


def pattern(op: str, value: str) -> str:
    escaped = re.escape(value)
    return {
        "eq": f"^{escaped}$",
        "neq": f"^{escaped}$",
        "contains": escaped,
        "not_contains": escaped,
        "starts_with": f"^{escaped}",
        "ends_with": f"{escaped}$",
    }[op]


def in_pattern(values: list[str]) -> str:
    return "^(?:" + "|".join(re.escape(v) for v in values) + ")$"


def is_date_condition(condition: dict[str, Any]) -> bool:
    """Set by rules.normalize(); date operators are dates whatever the field."""
    return condition.get("type") == "date" or condition["op"] in DATE_OPS


def date_values(condition: dict[str, Any]) -> Any:
    value = condition["value"]
    if isinstance(value, list):
        return [parse_date_value(v) for v in value]
    return parse_date_value(value)


def stats_path(name: str) -> str:
    return f"event_stats.{escape_key(name)}"
