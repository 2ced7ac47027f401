"""Relay-style pages over a scoped query, ordered by _id (creation order)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId

from documents.base import EARLIEST
from engine.cursors import clamp_page_size, decode_cursor, encode_cursor
from engine.errors import InvalidInput
from resolvers.core import runtime


@dataclass
class Page[T]:
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int | None = None
    # Counts the whole query when asked: a count scans every match, so it runs only
    # for callers that select totalCount, never for the page itself.
    count: Callable[[], Awaitable[int]] | None = None

    async def total(self) -> int:
        if self.total_count is None and self.count is not None:
            self.total_count = await self.count()
        return self.total_count or 0


def _position(item: Document, sort_field: str | None) -> str:
    if sort_field is None:
        return str(item.id)
    value = getattr(item, sort_field)
    return f"{value.isoformat()}|{item.id}"


def _after(after: str, sort_field: str | None) -> tuple[Any, PydanticObjectId]:
    """(sort value or None, _id) of the cursor's position."""
    try:
        position = decode_cursor(after)
        if sort_field is None:
            return None, PydanticObjectId(position)
        raw_value, _, raw_id = position.rpartition("|")
        return datetime.fromisoformat(raw_value), PydanticObjectId(raw_id)
    except InvalidInput:
        raise
    except Exception as error:
        raise InvalidInput("Invalid cursor.", field="after", code="INVALID_CURSOR") from error


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
    whether more follow), and one for the total count if the caller asks for it. Every
    filter stays flat (the query's equalities, then one range) so that an index
    `(..., sort_field, _id)` serves it: a page after (v, id) reads the rows tied at v past
    id, then the rows beyond v."""
    size = clamp_page_size(first, default_size, runtime.get().page_size_max)
    if "_id" in query:
        return await _id_set_page(model, query, after, size, sort_field, newest_first)
    direction = -1 if newest_first else 1
    op = "$lt" if newest_first else "$gt"
    by_id = [("_id", direction)]
    if after is None:
        order = [(sort_field, direction), *by_id] if sort_field else by_id
        rows = await model.find(query).sort(*order).limit(size + 1).to_list()
    else:
        value, oid = _after(after, sort_field)
        if sort_field is None:
            rows = (
                await model.find({**query, "_id": {op: oid}}).sort(*by_id).limit(size + 1).to_list()
            )
        else:
            tied = {**query, sort_field: value, "_id": {op: oid}}
            rows = await model.find(tied).sort(*by_id).limit(size + 1).to_list()
            if len(rows) <= size:
                # A date bound from below too: see documents.base.up_to.
                bound = {op: value, **({"$gte": EARLIEST} if op == "$lt" else {})}
                beyond = {**query, sort_field: bound}
                order = [(sort_field, direction), *by_id]
                rows += await model.find(beyond).sort(*order).limit(size + 1 - len(rows)).to_list()
    page = _page(rows[:size], sort_field, len(rows) > size, after, None)
    if count:
        page.count = lambda: model.find(query).count()
    return page


def _page(items: list, sort_field: str | None, more: bool, after: str | None, total) -> Page:
    return Page(
        items=items,
        cursors=[encode_cursor(_position(item, sort_field)) for item in items],
        has_next_page=more,
        has_previous_page=after is not None,
        total_count=total,
    )


async def _id_set_page[T: Document](
    model: type[T],
    query: dict[str, Any],
    after: str | None,
    size: int,
    sort_field: str | None,
    newest_first: bool,
) -> Page[T]:
    """A page of a query that names its ids (a search's matches, an API key's own
    workspace): their positions read by point lookups and ordered here, then the page's
    documents. Costs the ids named, whatever the collection's size."""
    fields = {"_id": 1, **({sort_field: 1} if sort_field else {})}
    found = await model.get_pymongo_collection().find(query, fields).to_list(None)

    def position(doc: dict) -> tuple:
        return (doc.get(sort_field), doc["_id"]) if sort_field else (doc["_id"],)

    found.sort(key=position, reverse=newest_first)
    total = len(found)
    if after is not None:
        value, oid = _after(after, sort_field)
        mark = (value, oid) if sort_field else (oid,)
        found = [d for d in found if (position(d) < mark if newest_first else position(d) > mark)]
    wanted = [d["_id"] for d in found[: size + 1]]
    scope = {k: v for k, v in query.items() if k != "_id"}
    docs = {d.id: d for d in await model.find({"_id": {"$in": wanted}, **scope}).to_list()}
    items = [docs[i] for i in wanted[:size] if i in docs]
    return _page(items, sort_field, len(wanted) > size, after, total)
