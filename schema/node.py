"""Relay Global Object Identification: the `Node` interface and global ids in and out.

Out: every object type's `id` and every field naming another object (`segmentIds`,
`contactId`, ...) is a global id (engine.global_ids), made by `gid`.
In: the `ID` scalar accepts a global id or a raw ObjectId. A global id is decoded once,
here, into the raw hex string resolvers have always received, remembering its type
(`IdInput.kind`), so `resolvers.core.context.parse_id(value, kind)` refuses one of another
type, and ids stored as strings (a campaign's segment ids) stay raw in the database.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLID

from engine import global_ids


class IdInput(str):
    """A raw hex id that came in as a global id of type `kind`."""

    kind: str

    def __new__(cls, raw: str, kind: str) -> IdInput:
        value = super().__new__(cls, raw)
        value.kind = kind
        return value


def _parse_id(value: Any) -> Any:
    if not isinstance(value, str):  # Undefined (invalid) and the like pass through
        return value
    decoded = global_ids.decode(value)
    return IdInput(decoded[1], decoded[0]) if decoded else value


def install_id_decoding() -> None:
    """Make the `ID` scalar decode global ids on input. graphql-core reserves the name
    `ID` (no custom scalar may take it), so its standard scalar's input coercion is
    wrapped, once per process; output is unchanged (`gid` encodes)."""
    if getattr(GraphQLID, "_reach_global_ids", False):
        return
    # graphql-core 3.3 coerces through coerce_input_value/coerce_input_literal; the
    # deprecated parse_value/parse_literal are wrapped too for anything still calling them.
    for name in ("coerce_input_value", "parse_value"):
        original = getattr(GraphQLID, name)
        setattr(GraphQLID, name, lambda value, _o=original: _parse_id(_o(value)))
    for name in ("coerce_input_literal", "parse_literal"):
        original = getattr(GraphQLID, name)
        setattr(GraphQLID, name, lambda *args, _o=original: _parse_id(_o(*args)))
    GraphQLID._reach_global_ids = True  # type: ignore[attr-defined]


def gid(kind: str, raw: Any) -> strawberry.ID:
    return strawberry.ID(global_ids.encode(kind, raw))


def gid_or_none(kind: str, raw: Any) -> strawberry.ID | None:
    return gid(kind, raw) if raw else None


@strawberry.interface(description="An object with a global id: `node(id:)` fetches it back.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id: opaque, stable, names its type.")


def stored_gid(kind: str, value: Any) -> strawberry.ID | None:
    """An id read from a JSON setting a draft may hold anything in: a raw ObjectId (how
    ids are stored) becomes a global id; a global id is given back as is; junk is None."""
    if not isinstance(value, str):
        return None
    if global_ids.is_raw(value):
        return gid(kind, value.lower())
    return strawberry.ID(value) if global_ids.decode(value) else None


def raw_ids_in(value: Any) -> Any:
    """JSON input (segment rules, journey node settings, a variant's template ids) with
    every global id in it replaced by its raw ObjectId, as ids are stored and matched."""
    if isinstance(value, str):
        decoded = global_ids.decode(value)
        return decoded[1] if decoded else value
    if isinstance(value, list):
        return [raw_ids_in(v) for v in value]
    if isinstance(value, dict):
        return {k: raw_ids_in(v) for k, v in value.items()}
    return value
