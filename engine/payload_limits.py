"""What a client's JSON may hold before any of it is written: a safe parser for request
bodies and a check of one value (a tracking message, GraphQL variables).

Python's json accepts what MongoDB cannot store or a client cannot read back: NaN and
±Infinity (also `1e400`, parsed as inf), integers beyond 64 bits, lone surrogates
("\\ud800", which do not encode as UTF-8), NUL in keys (BSON cannot hold it), and nesting
deep enough to exhaust the interpreter's recursion (~1,000 levels) or the database's
(SecantusDB fails every later read of a document nested 600 levels deep; MongoDB refuses
more than 100). Keys starting with "$" or holding "." are stored by both engines but
cannot be addressed by a query path (segment conditions use dotted paths, "$" starts an
operator), so they are refused too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.errors import InvalidInput

# Nesting of one message or variables value: far more than real payloads use, far less
# than the 100 levels MongoDB allows a whole document (the event wraps the message).
MAX_DEPTH = 32
# Nesting of a whole request body that is not a batch (GraphQL operations and variables:
# segment rule trees nest 8 groups of two levels each inside an input or two).
MAX_BODY_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Event times: UNIX epoch to the last year datetime and BSON dates share.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
# $in lists sent in one query: a batch names up to 2,500 contacts by up to four
# identifiers; lists of this size keep every query's expression small on any engine.
IN_CHUNK = 500


class Unstorable:
    """A number no store keeps faithfully (NaN/Infinity literal, 1e400, an integer of
    hundreds of digits), kept in place by `parse_json` (lenient) so that the one message
    holding it is rejected, not the whole batch."""

    def __init__(self, text: str) -> None:
        self.text = text[:40]

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


class BadJson(ValueError):
    """The body is not JSON a client should send; `message` says why, for a 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _float(text: str) -> float | Unstorable:
    value = float(text)
    return value if math.isfinite(value) else Unstorable(text)


def _int(text: str) -> int | Unstorable:
    # Python refuses to convert more than 4,300 digits; int64 needs at most 19.
    return int(text) if len(text) <= 24 else Unstorable(text)


def parse_json(body: bytes | str, *, lenient: bool = False, max_depth: int | None = None) -> Any:
    """JSON text to Python values; BadJson with a clear reason otherwise.

    Strict (default): NaN, Infinity and overflowing numbers are errors. `lenient` keeps
    them as Unstorable markers for `check_value` to reject per message. `max_depth` bounds
    the nesting of the whole body (a batch's messages are checked one by one instead)."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadJson(
                f"The body is not valid UTF-8 (byte {error.start}): send JSON as UTF-8."
            ) from None
    else:
        text = body
    constant = Unstorable if lenient else _refuse_constant
    try:
        value = json.loads(text, parse_constant=constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise BadJson("The JSON nests too deeply.") from None
    except json.JSONDecodeError as error:
        raise BadJson(
            f"Malformed JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    if not lenient and (problem := _first_problem(value)):
        raise BadJson(f"The JSON cannot be stored: {problem}.")
    if max_depth is not None and depth_exceeds(value, max_depth):
        raise BadJson(f"The JSON nests more than {max_depth} levels deep.")
    return value


def _refuse_constant(text: str) -> Any:
    raise BadJson(f"JSON numbers must be finite: {text} is not allowed.")


def _walk(value: Any) -> Iterator[tuple[Any, int]]:
    """Every value with its depth (containers count one level), without recursion."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def _first_problem(value: Any) -> str | None:
    """A value or key no store can hold (the key rules of `check_value` are left to the
    callers that write keys as field names)."""
    for item, _ in _walk(value):
        if problem := _value_problem(item):
            return problem
        if isinstance(item, dict) and not all(map(_encodes, item)):
            return "keys must be valid Unicode (no lone surrogates)"
    return None


def depth_exceeds(value: Any, limit: int) -> bool:
    return any(depth > limit for _, depth in _walk(value))


def _key_problem(key: Any) -> str | None:
    if not isinstance(key, str):
        return "keys must be text"
    if "\x00" in key:
        return "keys must not contain a NUL character"
    if key.startswith("$"):
        return "keys must not start with '$'"
    if "." in key:
        return "keys must not contain '.'"
    if not _encodes(key):
        return "keys must be valid Unicode (no lone surrogates)"
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _value_problem(value: Any) -> str | None:
    if isinstance(value, Unstorable):
        return f"numbers must be finite and fit in 64 bits ({value.text} does not)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"numbers must be finite ({value} is not)"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "integers must fit in 64 bits"
    if isinstance(value, str) and not _encodes(value):
        return "text must be valid Unicode (no lone surrogates)"
    return None


def check_value(value: Any, field: str | None = None, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise InvalidInput naming the first path (from `field`) that MongoDB could not store
    faithfully or a query could not address; None when the whole value is fine."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        where = ".".join(p for p in (field, *path) if p) or None
        if len(path) > max_depth:
            raise InvalidInput(f"Values may nest at most {max_depth} levels deep.", field=where)
        if problem := _value_problem(item):
            raise InvalidInput(f"{where or 'The value'}: {problem}.", field=where)
        if isinstance(item, dict):
            for key, child in item.items():
                if problem := _key_problem(key):
                    shown = f"{where}: key" if where else "Key"
                    raise InvalidInput(
                        f"{shown} {ascii(key)[:40]} is not allowed: {problem}.", field=where
                    )
                stack.append((child, (*path, key)))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(item))


def check_time(value: datetime, field: str) -> datetime:
    """An event time inside what datetime, BSON and the aggregates handle (1970..9999)."""
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(f"{field} must be between 1970 and 9999.", field=field)
    return value


def chunks[T](items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size`: one $in per slice keeps queries bounded."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
