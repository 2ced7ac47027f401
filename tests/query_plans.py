"""Query plans as a testable property: capture the commands Reach sends and check each
filter against the indexes its documents declare (DESIGN.md, "Query plans").

The rule is the shape both planners serve from an index (MongoDB's equality-sort-range
rule, and SecantusDB's `_try_index_id_keys`):
- no top-level `$and/$or/$nor/$expr`;
- `_id` as the first key with a value or `$in` is a point lookup;
- otherwise bare equalities that are exactly an index's leading fields, then at most one
  field using only `$eq/$gt/$gte/$lt/$lte/$in`, which must be the index's next field;
- a sort follows the index after the equality fields (either direction throughout);
- a date range bounded only from above has a lower bound too (SecantusDB reads such a
  range from the index's start, null and missing values included);
- a partial index counts only when the filter's equalities imply its filter (never `$in`).
`findAndModify` is refused outright: SecantusDB scans the collection on its write.
"""

from __future__ import annotations

import operator
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import monitoring

from documents.db import DOCUMENT_MODELS

RANGE_OPS = {"$eq", "$gt", "$gte", "$lt", "$lte", "$in"}
COMPARE = {
    "$eq": operator.eq,
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
TEST_CODE = "tests"


@dataclass(frozen=True)
class Index:
    keys: tuple[tuple[str, int], ...]
    partial: dict[str, Any] | None = None

    @property
    def fields(self) -> list[str]:
        return [name for name, _ in self.keys]


def declared_indexes() -> dict[str, list[Index]]:
    """collection name -> its indexes, as the document classes declare them (plus `_id`)."""
    indexes: dict[str, list[Index]] = {}
    for model in DOCUMENT_MODELS:
        settings = model.Settings
        found = [Index((("_id", 1),))]
        for model_index in getattr(settings, "indexes", []):
            spec = model_index.document
            found.append(Index(tuple(spec["key"].items()), spec.get("partialFilterExpression")))
        indexes[settings.name] = found
    return indexes


def _is_operator_value(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(k.startswith("$") for k in value)


def _implies(filter_: dict, partial: dict) -> bool:
    """Whether the filter's equalities (or identical clauses) imply a partial filter."""
    for name, condition in partial.items():
        value = filter_.get(name)
        if value is None:
            return False
        if value == condition:
            continue
        if _is_operator_value(value) and set(value) != {"$eq"}:
            return False
        value = value["$eq"] if _is_operator_value(value) else value
        if not _is_operator_value(condition):
            if value != condition:
                return False
            continue
        for op, bound in condition.items():
            try:
                if op not in COMPARE or not COMPARE[op](value, bound):
                    return False
            except TypeError:
                return False
    return True


def _sort_follows(index: Index, start: int, sort: list[tuple[str, int]]) -> bool:
    if not sort:
        return True
    tail = list(index.keys[start : start + len(sort)])
    if [name for name, _ in tail] != [name for name, _ in sort]:
        return False
    same = all(d == s for (_, d), (_, s) in zip(tail, sort, strict=True))
    flipped = all(d == -s for (_, d), (_, s) in zip(tail, sort, strict=True))
    return same or flipped


def problem(filter_: dict, indexes: list[Index], sort: list[tuple[str, int]] = ()) -> str | None:
    """Why no declared index serves this filter (and sort), or None when one does."""
    if not filter_:
        return "empty filter: reads the whole collection"
    bad = [k for k in filter_ if k.startswith("$")]
    if bad:
        return f"top-level {bad[0]}: a full scan on SecantusDB"
    first = next(iter(filter_))
    if first == "_id":
        value = filter_["_id"]
        if not _is_operator_value(value) or set(value) <= {"$eq", "$in"}:
            return None
    equal = [k for k, v in filter_.items() if not _is_operator_value(v) or set(v) == {"$eq"}]
    ranged = [k for k in filter_ if k not in equal]
    if len(ranged) > 1:
        return f"operators on {ranged}: at most one field may use one"
    if ranged:
        ops = set(filter_[ranged[0]])
        if not ops <= RANGE_OPS:
            return f"{sorted(ops - RANGE_OPS)} on {ranged[0]!r}: no index serves it"
        if "$in" in ops and len(ops) > 1:
            return f"$in with other operators on {ranged[0]!r}"
        bounds = filter_[ranged[0]]
        upper = [v for k, v in bounds.items() if k in ("$lt", "$lte")]
        if upper and not ops & {"$gt", "$gte"} and isinstance(upper[0], datetime):
            # SecantusDB scans such a range from the index's start, nulls included.
            return f"one-sided date range on {ranged[0]!r}: give it a lower bound (up_to)"
    for index in indexes:
        names = index.fields
        if set(names[: len(equal)]) != set(equal):
            continue
        if ranged and names[len(equal) : len(equal) + 1] != ranged:
            continue
        if index.partial is not None and not _implies(filter_, index.partial):
            continue
        if _sort_follows(index, len(equal), list(sort)):
            return None
    shape = {k: (sorted(v) if _is_operator_value(v) else "=") for k, v in filter_.items()}
    return f"no index serves {shape}" + (f" sorted by {list(sort)}" if sort else "")


@dataclass
class Command:
    name: str
    collection: str
    filter: dict
    sort: list[tuple[str, int]]
    where: str


def _where() -> str:
    """The innermost frame of Reach's own code that issued the command."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        path = frame.filename
        if "/.venv/" in path or "site-packages" in path or path.endswith("query_plans.py"):
            continue
        if any(f"/{top}/" in path for top in ("resolvers", "workers", "reach", "bench")):
            return f"{path.rsplit('/', 2)[-2]}/{path.rsplit('/', 1)[-1]}:{frame.lineno}"
        if "/tests/" in path:
            return TEST_CODE
    return "?"


def _sort(spec: Any) -> list[tuple[str, int]]:
    return [(k, int(v)) for k, v in (spec or {}).items()]


def commands_of(name: str, body: dict) -> list[tuple[str, dict, list]]:
    """(collection, filter, sort) for each read or write a command makes by filter."""
    collection = body.get(name)
    if name == "find":
        return [(collection, body.get("filter", {}), _sort(body.get("sort")))]
    if name == "aggregate":
        stages = body.get("pipeline", [])
        first = stages[0] if stages else {}
        match = first.get("$match", {}) if "$match" in first else {}
        sort = _sort(stages[1]["$sort"]) if len(stages) > 1 and "$sort" in stages[1] else []
        return [(collection, match, sort)]
    if name in ("count", "distinct"):
        return [(collection, body.get("query", {}), [])]
    if name == "update":
        return [(collection, u.get("q", {}), []) for u in body.get("updates", [])]
    if name == "delete":
        return [(collection, d.get("q", {}), []) for d in body.get("deletes", [])]
    if name == "findAndModify":
        return [(collection, {"$findAndModify": body.get("query", {})}, _sort(body.get("sort")))]
    return []


@dataclass
class Recorder(monitoring.CommandListener):
    """Keeps the filtered commands issued while `recording()` is open."""

    commands: list[Command] = field(default_factory=list)
    active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.active:
            return
        body = event.command
        for collection, filter_, sort in commands_of(event.command_name, body):
            if not isinstance(collection, str):
                continue
            with self.lock:
                self.commands.append(
                    Command(event.command_name, collection, filter_, sort, _where())
                )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @contextmanager
    def recording(self) -> Iterator[list[Command]]:
        with self.lock:
            self.active += 1
            start = len(self.commands)
        captured: list[Command] = []
        try:
            yield captured
        finally:
            with self.lock:
                self.active -= 1
                captured.extend(self.commands[start:])
                if not self.active:
                    self.commands.clear()


def violations(commands: list[Command]) -> list[str]:
    """One line per command whose filter no declared index serves."""
    indexes = declared_indexes()
    found = []
    for command in commands:
        if command.where == TEST_CODE:  # the tests' own probes are not Reach's queries
            continue
        if command.name == "findAndModify":
            found.append(f"{command.where}: findAndModify on {command.collection}: scans on write")
            continue
        why = problem(command.filter, indexes.get(command.collection, []), command.sort)
        if why:
            found.append(f"{command.where}: {command.name} {command.collection}: {why}")
    return sorted(set(found))


RECORDER = Recorder()
