"""Per-request DataLoaders: a field that names other documents (a contact's segments, its
location) asks a loader, and every such field of a response shares one query per kind.

A loader wraps a resolver's `..._by_ids(ctx, ids) -> {id: doc}` (one scoped query). It
does not cache across ticks (`cache=False`): a subscription's context lives as long as
its socket, and a cached segment would go stale. Batching within a tick is the point.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.core.context import RequestContext, parse_id

Fetch = Callable[[RequestContext, list[str]], Awaitable[dict[Any, Any]]]


def _loader(info: strawberry.Info, fetch: Fetch) -> DataLoader:
    loaders = info.context.loaders
    found = loaders.get(fetch)
    if found is None:
        caller = info.context.caller()

        async def load(keys: list[str]) -> list[Any]:
            docs = await fetch(caller, keys)
            return [docs.get(parse_id(key)) for key in keys]

        found = loaders[fetch] = DataLoader(load_fn=load, cache=False)
    return found


async def load_one(info: strawberry.Info, fetch: Fetch, key: Any) -> Any | None:
    if key is None:
        return None
    return await _loader(info, fetch).load(str(key))


async def load_many(info: strawberry.Info, fetch: Fetch, keys: list[Any]) -> list[Any]:
    """The documents that still exist, in the order of `keys`."""
    if not keys:
        return []
    docs = await _loader(info, fetch).load_many([str(k) for k in keys])
    return [doc for doc in docs if doc is not None]
