"""A campaign's audience, read in pages: members of any target segment, minus members of
any exclusion segment, within the campaign's outlet scope.

Membership is stored on contacts (`contact.segments`), so the audience is read from the
(workspace_id, segments, _id) index, never a rule compilation, and a page is a keyset read
over `_id` (500 at a time): a fan-out holds one page in memory whatever the audience size,
and resumes after the last id it handled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.contact import Contact
from documents.workspace import Location

PAGE = 500


BRAND = "brand"  # the branch of a campaign without per-outlet execution


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


def _in_branch(campaign: Campaign, scope: PydanticObjectId | None, contact: dict) -> bool:
    """What the segment streams leave to Python: exclusions and the outlet scope."""
    if set(contact.get("segments") or []) & set(campaign.exclude_segment_ids):
        return False
    return scope is None or contact.get("location_id") == scope


async def page(
    campaign: Campaign,
    branch: str,
    after: str | None,
    projection: dict[str, int] | None = None,
    size: int | None = None,
) -> list[dict[str, Any]]:
    """The next `size` (a page) contacts of the branch after contact id `after`, by _id.

    One keyset stream per target segment, {workspace_id, segments: id, _id: {$gt}} sorted
    by _id on (workspace_id, segments, _id), merged by _id so that a contact in several
    target segments comes once; exclusions and the outlet are checked here on each
    contact. Fewer than `size` only when every stream is exhausted."""
    size = size or PAGE
    scope = branch_location(campaign, branch)
    fields = None if projection is None else {**projection, "segments": 1, "location_id": 1}
    start = PydanticObjectId(after) if after else None
    streams = [_Stream(sid, start) for sid in dict.fromkeys(campaign.segment_ids)]
    found: list[dict[str, Any]] = []
    while len(found) < size:
        for stream in streams:
            await stream.fill(campaign.workspace_id, fields, max(size, 100))
        heads = [stream.head for stream in streams if stream.head is not None]
        if not heads:
            break
        lowest = min(h["_id"] for h in heads)
        contact = next(h for h in heads if h["_id"] == lowest)
        for stream in streams:  # a contact in several target segments comes once
            if stream.head is not None and stream.head["_id"] == lowest:
                stream.position += 1
        if _in_branch(campaign, scope, contact):
            found.append(_trim(contact, projection))
    return found


@dataclass
class _Stream:
    """One target segment's members after a contact id, read in batches by _id."""

    segment_id: str
    last: PydanticObjectId | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0
    exhausted: bool = False

    @property
    def head(self) -> dict[str, Any] | None:
        return self.rows[self.position] if self.position < len(self.rows) else None

    async def fill(
        self, workspace_id: PydanticObjectId, fields: dict[str, int] | None, batch: int
    ) -> None:
        if self.head is not None or self.exhausted:
            return
        query: dict[str, Any] = {"workspace_id": workspace_id, "segments": self.segment_id}
        if self.last is not None:
            query["_id"] = {"$gt": self.last}
        collection = Contact.get_pymongo_collection()
        self.rows = await collection.find(query, fields).sort("_id", 1).limit(batch).to_list(None)
        self.position = 0
        self.exhausted = len(self.rows) < batch
        if self.rows:
            self.last = self.rows[-1]["_id"]


def _trim(contact: dict[str, Any], projection: dict[str, int] | None) -> dict[str, Any]:
    """Drop the fields read only for the checks, so callers see their projection."""
    if projection is None:
        return contact
    for name in ("segments", "location_id"):
        if name not in projection:
            contact.pop(name, None)
    return contact


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


async def sample(campaign: Campaign) -> dict[str, Any] | None:
    """One contact of the audience (to render the content for), or None."""
    if not campaign.segment_ids:
        return None
    for branch in await branches(campaign):
        rows = await page(campaign, branch, None, size=1)
        if rows:
            return rows[0]
    return None
