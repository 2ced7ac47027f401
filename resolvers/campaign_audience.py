"""A campaign's audience, read in pages: members of any target segment, minus members of
any exclusion segment, within the campaign's outlet scope.

Membership is stored on contacts (`contact.segments`), so the audience is one indexed
filter, never a rule compilation, and a page is a keyset read over `_id` (500 at a time):
a fan-out holds one page in memory whatever the audience size, and resumes after the
last id it handled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.contact import Contact
from documents.workspace import Location

PAGE = 500
BRAND = "brand"  # the branch of a campaign without per-outlet execution


def audience_filter(
    campaign: Campaign, location_id: PydanticObjectId | None = None
) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [
        {"workspace_id": campaign.workspace_id},
        {"segments": {"$in": list(campaign.segment_ids)}},
    ]
    if campaign.exclude_segment_ids:
        clauses.append({"segments": {"$nin": list(campaign.exclude_segment_ids)}})
    scope = location_id or campaign.location_id
    if scope is not None:
        clauses.append({"location_id": scope})
    return {"$and": clauses}


def contact_matches(campaign: Campaign, contact: dict[str, Any]) -> bool:
    """The same audience test for one contact (triggered campaigns). A triggered campaign
    without target segments reaches anyone the trigger fires for."""
    segments = set(contact.get("segments") or [])
    if campaign.segment_ids and not segments & set(campaign.segment_ids):
        return False
    if segments & set(campaign.exclude_segment_ids):
        return False
    if campaign.all_outlets:
        return contact.get("location_id") is not None
    return campaign.location_id is None or contact.get("location_id") == campaign.location_id


async def branches(campaign: Campaign) -> list[str]:
    """One branch per outlet for an all-outlets campaign (each reaches the contacts of
    that outlet, sent with its sender mapping), else the single brand/outlet branch."""
    if not campaign.all_outlets:
        return [BRAND]
    rows = (
        await Location.get_pymongo_collection()
        .find({"workspace_id": campaign.workspace_id}, {"_id": 1})
        .sort("_id", 1)
        .to_list(None)
    )
    return [str(r["_id"]) for r in rows]


def branch_location(campaign: Campaign, branch: str) -> PydanticObjectId | None:
    return campaign.location_id if branch == BRAND else PydanticObjectId(branch)


async def page(
    campaign: Campaign,
    branch: str,
    after: str | None,
    projection: dict[str, int] | None = None,
    size: int | None = None,
) -> list[dict[str, Any]]:
    """The next `size` (a page) contacts of the branch after contact id `after`, by _id."""
    query = audience_filter(campaign, branch_location(campaign, branch))
    if after:
        query = {"$and": [query, {"_id": {"$gt": PydanticObjectId(after)}}]}
    cursor = Contact.get_pymongo_collection().find(query, projection)
    return await cursor.sort("_id", 1).limit(size or PAGE).to_list(None)


async def pages(
    campaign: Campaign, projection: dict[str, int] | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of the whole audience (all branches), one page in memory at a time."""
    for branch in await branches(campaign):
        after = None
        while True:
            rows = await page(campaign, branch, after, projection)
            if rows:
                yield rows
            if len(rows) < PAGE:
                break
            after = str(rows[-1]["_id"])


async def count(campaign: Campaign) -> int:
    total = 0
    collection = Contact.get_pymongo_collection()
    for branch in await branches(campaign):
        query = audience_filter(campaign, branch_location(campaign, branch))
        total += await collection.count_documents(query)
    return total


async def sample(campaign: Campaign) -> dict[str, Any] | None:
    """One contact of the audience (to render the content for), or None."""
    if not campaign.segment_ids:
        return None
    for branch in await branches(campaign):
        rows = await page(campaign, branch, None, size=1)
        if rows:
            return rows[0]
    return None
