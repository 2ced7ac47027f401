"""Relay global ids: opaque, type-prefixed ids for GraphQL.

Format (stable, documented in README): unpadded base64url of `"<Type>:<24-hex ObjectId>"`,
e.g. `Contact:64b0…` -> `Q29udGFjdDo2NGIw…`. The type is the GraphQL type name, so a
decoded id says which collection it may be looked up in, and an id of one type can never
be taken for another's. Raw ObjectIds stay valid input (CSV exports, webhooks and the
tracking API speak raw ids); `decode` tells the two apart.
"""

from __future__ import annotations

import base64
import binascii
import re

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")
_TYPE = re.compile(r"[A-Z][A-Za-z]{0,39}")
MAX_GLOBAL_ID_LENGTH = 96  # "<Type>:<hex>" of the longest type name, base64-encoded


def encode(type_name: str, raw_id: object) -> str:
    """The global id of `raw_id` (an ObjectId or its hex string) as a `type_name`."""
    text = f"{type_name}:{raw_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def is_raw(value: str) -> bool:
    """A raw ObjectId in its 24-hex form (lower case, as ObjectId prints)."""
    return _OBJECT_ID.fullmatch(value.lower()) is not None


def decode(value: str) -> tuple[str, str] | None:
    """(type name, raw hex id) of a global id; None when `value` is not one (a raw
    ObjectId, a malformed string, or a well-formed base64 of something else)."""
    if not value or len(value) > MAX_GLOBAL_ID_LENGTH or is_raw(value):
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    type_name, sep, raw = text.partition(":")
    if not sep or _TYPE.fullmatch(type_name) is None or _OBJECT_ID.fullmatch(raw) is None:
        return None
    if encode(type_name, raw) != value:  # one spelling per id: no padding, no stray bytes
        return None
    return type_name, raw
