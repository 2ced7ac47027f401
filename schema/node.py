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


def _parse_id(value: Any) -> str:
    text = str(value)
    decoded = global_ids.decode(text)
    return IdInput(decoded[1], decoded[0]) if decoded else text


def install_id_decoding() -> None:
    """Make the `ID` scalar decode global ids on input. graphql-core reserves the name
    `ID` (no custom scalar may take it), so its standard scalar's input coercion is
    wrapped, once per process; output is unchanged (`gid` encodes)."""
    if getattr(GraphQLID, "_reach_global_ids", False):
        return
    coerce, literal = GraphQLID.parse_value, GraphQLID.parse_literal

    def parse_literal(node: Any, variables: Any = None) -> Any:
        return _parse_id(literal(node, variables))

    GraphQLID.parse_value = lambda value: _parse_id(coerce(value))  # type: ignore[method-assign]
    GraphQLID.parse_literal = parse_literal  # type: ignore[method-assign]
    GraphQLID._reach_global_ids = True  # type: ignore[attr-defined]


def gid(kind: str, raw: Any) -> strawberry.ID:
    return strawberry.ID(global_ids.encode(kind, raw))


def gid_or_none(kind: str, raw: Any) -> strawberry.ID | None:
    return gid(kind, raw) if raw else None


def want(value: Any, kind: str) -> Any:
    """`value` for a resolver that matches ids as strings: a global id of another type
    becomes one that matches nothing (not found), never another type's document."""
    if value is None or getattr(value, "kind", kind) == kind:
        return value
    return f"wrong-type:{value.kind}"


@strawberry.interface(description="An object with a global id: `node(id:)` fetches it back.")
class Node:
    id: strawberry.ID


def stored_gid(kind: str, value: Any) -> strawberry.ID | None:
    """An id read from a JSON setting a draft may hold anything in: a raw ObjectId (how
    ids are stored) becomes a global id; a global id is given back as is; junk is None."""
    if not isinstance(value, str):
        return None
    if global_ids.is_raw(value):
        return gid(kind, value.lower())
    return strawberry.ID(value) if global_ids.decode(value) else None
