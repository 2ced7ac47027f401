"""Documents of one workspace by id, many at once: what GraphQL's DataLoaders batch into."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from beanie import Document, PydanticObjectId

from resolvers.core.context import RequestContext, parse_id


async def by_ids[T: Document](
    ctx: RequestContext, model: type[T], ids: Iterable[Any]
) -> dict[PydanticObjectId, T]:
    """One `find` on `_id` (the primary index), scoped to the caller's workspace: another
    workspace's ids, malformed ids and deleted documents are simply absent."""
    wanted = list(dict.fromkeys(i for i in (parse_id(str(v)) for v in ids) if i is not None))
    if not wanted:
        return {}
    found = await model.find({"_id": {"$in": wanted}, "workspace_id": ctx.workspace_id}).to_list()
    return {doc.id: doc for doc in found}
