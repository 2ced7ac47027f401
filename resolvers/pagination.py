"""Relay-style pages over a scoped query, ordered by _id (creation order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId

from engine.cursors import clamp_page_size, decode_cursor, encode_cursor
from engine.errors import InvalidInput
from resolvers import runtime


@dataclass
class Page[T]:
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None = None


def _position(item: Document, sort_field: str | None) -> str:
    if sort_field is None:
        return str(item.id)
    value = getattr(item, sort_field)
    return f"{value.isoformat()}|{item.id}"


def _after_filter(after: str, sort_field: str | None, newest_first: bool) -> dict[str, Any]:
    op = "$lt" if newest_first else "$gt"
    try:
        position = decode_cursor(after)
        if sort_field is None:
            return {"_id": {op: PydanticObjectId(position)}}
        raw_value, _, raw_id = position.rpartition("|")
        value, oid = datetime.fromisoformat(raw_value), PydanticObjectId(raw_id)
    except InvalidInput:
        raise
    except Exception as error:
        raise InvalidInput("Invalid cursor.", field="after", code="INVALID_CURSOR") from error
    return {"$or": [{sort_field: {op: value}}, {sort_field: value, "_id": {op: oid}}]}


async def paginate[T: Document](
    model: type[T],
    query: dict[str, Any],
    first: int | None,
    after: str | None,
    *,
    newest_first: bool = False,
    sort_field: str | None = None,
    default_size: int = 20,
    count: bool = True,
) -> Page[T]:
    """Keyset pages over (sort_field, _id): one round trip for the page (limit n+1 tells
    whether more follow), one for the total count."""
    size = clamp_page_size(first, default_size, runtime.get().page_size_max)
    page_filter = dict(query)
    if after:
        page_filter = {"$and": [query, _after_filter(after, sort_field, newest_first)]}
    direction = -1 if newest_first else 1
    order = [(sort_field, direction), ("_id", direction)] if sort_field else [("_id", direction)]
    rows = await model.find(page_filter).sort(*order).limit(size + 1).to_list()
    total = await model.find(query).count() if count else None
    items = rows[:size]
    return Page(
        items=items,
        cursors=[encode_cursor(_position(item, sort_field)) for item in items],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
        total_count=total,
    )
