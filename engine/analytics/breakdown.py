"""Breakdown values: how a property's value is shown, and top N + "other"."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

from engine.errors import InvalidInput

MAX_LIMIT = 50
OTHER = "other"  # the label of the values outside the top N (the series says is_other)
PROPERTY = re.compile(r"[A-Za-z0-9_][\w\-]{0,99}(\.[\w\-]{1,100}){0,4}")


def check_property(name: object, field: str) -> str:
    """A property path safe inside a MongoDB field path: no `$`, no empty parts."""
    if not isinstance(name, str) or not PROPERTY.fullmatch(name):
        raise InvalidInput(
            "A property name: letters, digits, _ and -, parts joined by '.'.", field=field
        )
    return name


def check_limit(limit: object, field: str) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"breakdown.limit is a whole number from 1 to {MAX_LIMIT}.", field=field)
    return limit


def label(value: Any) -> str | None:
    """A property value as a breakdown label; None when missing or null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path of a plain document (None when absent)."""
    value = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def top(weights: Iterable[tuple[Hashable, int]], limit: int) -> list[Hashable]:
    """The `limit` keys with the largest weight (ties: by label, missing last)."""
    totals: Counter = Counter()
    for key, weight in weights:
        totals[key] += weight
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0] is None, str(kv[0])))
    return [key for key, _ in ranked[:limit]]
