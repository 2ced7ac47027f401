"""Relay connections: edges, node, pageInfo and opaque cursors for every list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import strawberry

from resolvers.core.pagination import Page

NodeT = TypeVar("NodeT")

# The paging arguments of every list, described once.
First = Annotated[
    int | None,
    strawberry.argument(
        description="How many items to return: 0 up to the server maximum (100 by default); "
        "20 (or the list's own default) when omitted."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Return the items after this cursor (an edge's `cursor` or "
        "`pageInfo.endCursor`); from the start when omitted."
    ),
]


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (it was asked for with `after`)."
    )
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first edge; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge, to pass as `after` for the next page; null on an "
        "empty page."
    )


@strawberry.type(description="One item of a list and its position.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Opaque position of this item, for `after`.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    page: strawberry.Private[Page]

    @strawberry.field(description="All items of the list; counted only when selected.")
    async def total_count(self) -> int:
        return await self.page.total()


def connection(page: Page, convert: Callable[[Any], Any]) -> Any:
    edges = [
        Edge(cursor=c, node=convert(item)) for item, c in zip(page.items, page.cursors, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        page=page,
    )
