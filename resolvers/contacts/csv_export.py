"""CSV export of the caller's contacts, or of one segment's members.

Exports stream any contact query as CSV, a page at a time. Property columns are the
keys present on the exported contacts, found first by one aggregation (so a column
appears only when some exported contact has it); standard properties come first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from engine import csv_mapping
from resolvers.contacts import read
from resolvers.core import audit
from resolvers.core.context import RequestContext
from resolvers.segments.define import require_segment

EXPORT_PAGE_SIZE = 500


MAX_EXPORT_PROPERTIES = 500


EXPORT_PROJECTION = {
    "user_id": 1,
    "email": 1,
    "phone": 1,
    "anonymous_ids": 1,
    "tags": 1,
    "created_at": 1,
    "last_active_at": 1,
    "properties": 1,
}


async def export_contacts(
    ctx: RequestContext,
    search: str | None = None,
    segment_id: str | None = None,
    tag: str | None = None,
    location_id: str | None = None,
) -> AsyncIterator[str]:
    """CSV text chunks of every contact the query finds (header first).

    Checks and the column scan happen here, before the caller starts streaming, so a
    refused export fails with its reason rather than mid-response.
    """
    filters = {"search": search, "segment_id": segment_id, "tag": tag, "location_id": location_id}
    query = await read.contact_filter(ctx, **filters)
    keys = csv_mapping.order_property_keys(await _property_keys(query))
    await audit.record(
        ctx.principal,
        "contacts.exported",
        "contacts",
        ctx.workspace_id,
        {k: v for k, v in filters.items() if v is not None},
    )
    return _export_rows(query, keys)


async def _property_keys(query: dict[str, Any]) -> list[str]:
    pipeline = [
        {"$match": query},
        {
            "$project": {
                "keys": {
                    "$map": {
                        "input": {"$objectToArray": {"$ifNull": ["$properties", {}]}},
                        "in": "$$this.k",
                    }
                }
            }
        },
        {"$unwind": "$keys"},
        {"$group": {"_id": "$keys"}},
        {"$sort": {"_id": 1}},
        {"$limit": MAX_EXPORT_PROPERTIES},
    ]
    cursor = await Contact.get_pymongo_collection().aggregate(pipeline)
    return [row["_id"] for row in await cursor.to_list(None)]


async def _export_rows(query: dict[str, Any], keys: list[str]) -> AsyncIterator[str]:
    yield csv_mapping.to_csv([csv_mapping.export_header(keys)])
    collection = Contact.get_pymongo_collection()
    last: PydanticObjectId | None = None
    while True:  # keyset pages: no server cursor held open while a slow client reads
        if "_id" in query:  # a search: its ids, in order, a page at a time
            ids = sorted(i for i in query["_id"]["$in"] if last is None or i > last)
            page = {**query, "_id": {"$in": ids[:EXPORT_PAGE_SIZE]}}
        else:
            page = query if last is None else {**query, "_id": {"$gt": last}}
        cursor = collection.find(page, EXPORT_PROJECTION).sort("_id", 1)
        docs = await cursor.limit(EXPORT_PAGE_SIZE).to_list(None)
        if docs:
            yield csv_mapping.to_csv([csv_mapping.export_row(doc, keys) for doc in docs])
        if len(docs) < EXPORT_PAGE_SIZE:
            return
        last = docs[-1]["_id"]


async def export_segment_members(ctx: RequestContext, segment_id: str) -> AsyncIterator[str]:
    """CSV chunks of the segment's members (checks happen before streaming starts)."""
    segment = await require_segment(ctx, segment_id)
    return await export_contacts(ctx, segment_id=str(segment.id))
