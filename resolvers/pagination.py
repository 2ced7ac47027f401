"""Relay-style pages over a scoped query, ordered by _id (creation order)."""

from __future__ import annotations

from dataclasses import dataclass
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


async def paginate[T: Document](
    model: type[T],
    query: dict[str, Any],
    first: int | None,
    after: str | None,
    *,
    newest_first: bool = False,
    default_size: int = 20,
) -> Page[T]:
    """One round trip for the page (limit n+1 tells whether more follow), one for the count."""
    size = clamp_page_size(first, default_size, runtime.get().page_size_max)
    page_filter = dict(query)
    if after:
        try:
            position = PydanticObjectId(decode_cursor(after))
        except InvalidInput:
            raise
        except Exception as error:
            raise InvalidInput("Invalid cursor.", field="after", code="INVALID_CURSOR") from error
        page_filter["_id"] = {"$lt" if newest_first else "$gt": position}
    rows = (
        await model.find(page_filter)
        .sort(("_id", -1 if newest_first else 1))
        .limit(size + 1)
        .to_list()
    )
    total = await model.find(query).count()
    items = rows[:size]
    return Page(
        items=items,
        cursors=[encode_cursor(str(item.id)) for item in items],
        has_next_page=len(rows) > size,
        has_previous_page=after is not None,
        total_count=total,
    )
