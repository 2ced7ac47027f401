"""suggestSegmentRules: a sentence in, segment rules in the caller's workspace's words out.

The vocabulary (event names, custom fields, tags) is read in three queries run side by
side; the sentence is then parsed offline by engine.segment_language.
"""

from __future__ import annotations

import asyncio
from typing import Any

from beanie import PydanticObjectId

from documents.contact import Contact
from engine.access import Permission
from engine.segment_language import MAX_VOCABULARY, Field, Suggestion, Vocabulary, suggest
from engine.stats import unescape_key
from resolvers.accounts.custom_fields import custom_fields
from resolvers.core.context import RequestContext


async def event_names(workspace_id: PydanticObjectId) -> list[tuple[str, int]]:
    """The workspace's event names with how many contacts have each, most common first
    (from the per-contact aggregates, so events never need scanning), each as the
    workspace sends it ("Order Completed"; the aggregate is keyed order_completed)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"workspace_id": workspace_id}},
        {"$project": {"_id": 0, "stats": {"$objectToArray": {"$ifNull": ["$event_stats", {}]}}}},
        {"$unwind": "$stats"},
        {"$group": {"_id": "$stats.k", "contacts": {"$sum": 1}, "name": {"$max": "$stats.v.name"}}},
        {"$sort": {"contacts": -1, "_id": 1}},
        {"$limit": MAX_VOCABULARY},
    ]
    cursor = await Contact.get_pymongo_collection().aggregate(pipeline)
    rows = await cursor.to_list(None)
    return [
        (row.get("name") or unescape_key(row["_id"]), int(row["contacts"]))
        for row in rows
        if row.get("_id")
    ]


async def tags(workspace_id: PydanticObjectId) -> list[str]:
    values = await Contact.get_pymongo_collection().distinct("tags", {"workspace_id": workspace_id})
    return sorted(v for v in values if isinstance(v, str))[:MAX_VOCABULARY]


async def vocabulary(workspace_id: PydanticObjectId) -> Vocabulary:
    events, fields, tag_names = await asyncio.gather(
        event_names(workspace_id), custom_fields(workspace_id), tags(workspace_id)
    )
    return Vocabulary.build(
        events, [Field(f.key, f.type, f.label) for f in fields.values()], tag_names
    )


async def suggest_rules(ctx: RequestContext, text: str) -> Suggestion:
    """Rules for a plain-language description of contacts, with what was not understood."""
    ctx.require(Permission.READ)
    return suggest(text, await vocabulary(ctx.workspace_id))
