"""Segments: rules as JSON, preview before saving, static lists, live member counts.

Rule problems come back as userErrors, one per problem, each with its path inside the
rule tree (`rules.all[2].op`). Members export as CSV at GET /v1/export/segments/{id}.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.contacts import read
from resolvers.segments import define, live_counts, static
from schema.contacts import Contact
from schema.errors import UserError, attempt
from schema.node import Node, gid, gid_or_none, raw_ids_in
from schema.pagination import After, Connection, First, connection

T = TypeVar("T")


@strawberry.enum
class SegmentKind(Enum):
    DYNAMIC = "dynamic"
    STATIC = "static"


@strawberry.enum
class MembershipChange(Enum):
    ENTERED = "entered"
    EXITED = "exited"


@strawberry.type
class Segment(Node):
    id: strawberry.ID
    name: str
    description: str
    tags: list[str]
    rules: JSON | None = strawberry.field(description="The rule tree; null for static segments.")
    kind: SegmentKind
    member_count: int
    location_id: strawberry.ID | None
    time_dependent: bool = strawberry.field(
        description="Membership can change with time alone (refreshed on a schedule)."
    )
    created_at: datetime
    updated_at: datetime
    doc: strawberry.Private[Any]

    @strawberry.field(description="The contacts in the segment now.")
    async def members(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Contact]:
        page = await read.list_segment_members(info.context.caller(), self.doc, first, after)
        return connection(page, Contact.of)

    @staticmethod
    def of(doc: Any) -> Segment:
        return Segment(
            id=gid("Segment", doc.id),
            name=doc.name,
            description=doc.description,
            tags=list(doc.tags),
            rules=doc.rules,
            kind=SegmentKind(doc.kind),
            member_count=doc.member_count,
            location_id=gid_or_none("Location", doc.location_id),
            time_dependent=doc.time_dependent,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            doc=doc,
        )


@strawberry.type
class SegmentPreview:
    count: int | None = None
    sample: list[Contact] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class SegmentPayload:
    segment: Segment | None = None
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class StaticSegmentPayload:
    segment: Segment | None = None
    unmatched_rows: list[int] = strawberry.field(
        default_factory=list, description="Rows of the CSV that found no contact."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class DeleteSegmentPayload:
    deleted_segment_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class SegmentMembershipChange:
    segment_id: strawberry.ID
    contact_id: strawberry.ID
    change: MembershipChange


@strawberry.input
class SegmentInput:
    name: str
    rules: JSON = strawberry.field(description='e.g. {"all": [{"tag": "vip"}]}')
    description: str | None = None
    tags: list[str] | None = None
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Limit the segment to the contacts of one outlet."
    )


@strawberry.input
class SegmentUpdateInput:
    name: str | None = None
    rules: JSON | None = None
    description: str | None = None
    tags: list[str] | None = None
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null removes the outlet scope."
    )


@strawberry.input
class StaticSegmentInput:
    name: str
    contact_ids: list[strawberry.ID] | None = None
    csv: str | None = strawberry.field(
        default=None,
        description="CSV text with a column id, user_id, email or phone (an export works).",
    )
    from_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Copy the members this segment has now (a snapshot)."
    )
    description: str | None = None
    tags: list[str] | None = None


def _payload(result: tuple[Any, list[UserError]]) -> SegmentPayload:
    doc, errors = result
    return SegmentPayload(segment=Segment.of(doc) if doc else None, user_errors=errors)


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class SegmentQueries:
    @strawberry.field
    async def segments(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Segment]:
        page = await define.list_segments(_ctx(info), first, after)
        return connection(page, Segment.of)

    @strawberry.field
    async def segment(self, info: strawberry.Info, id: strawberry.ID) -> Segment | None:
        doc = await define.get_segment(_ctx(info), id)
        return Segment.of(doc) if doc else None

    @strawberry.field(description="How many contacts rules find now, and a sample, unsaved.")
    async def preview_segment(
        self,
        info: strawberry.Info,
        rules: JSON,
        sample_size: int = 10,
        location_id: strawberry.ID | None = None,
    ) -> SegmentPreview:
        result, errors = await attempt(
            define.preview(_ctx(info), raw_ids_in(rules), sample_size, location_id)
        )
        if result is None:
            return SegmentPreview(user_errors=errors)
        return SegmentPreview(
            count=result.count, sample=[Contact.of(c) for c in result.sample], user_errors=[]
        )


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description="A dynamic segment; its members are computed at once.")
    async def create_segment(self, info: strawberry.Info, input: SegmentInput) -> SegmentPayload:
        data = {
            "name": input.name,
            "rules": raw_ids_in(input.rules),
            "description": input.description,
            "tags": input.tags,
            "location_id": input.location_id,
        }
        return _payload(await attempt(define.create_segment(_ctx(info), data)))

    @strawberry.mutation(description="Change a segment; new rules recompute its members.")
    async def update_segment(
        self, info: strawberry.Info, id: strawberry.ID, input: SegmentUpdateInput
    ) -> SegmentPayload:
        data: dict[str, Any] = {
            "name": input.name,
            "rules": raw_ids_in(input.rules),
            "description": input.description,
            "tags": input.tags,
        }
        if input.location_id is not strawberry.UNSET:
            data["location_id"] = input.location_id
        return _payload(await attempt(define.update_segment(_ctx(info), id, data)))

    @strawberry.mutation(description="A copy of a segment (rules, or a static one's members).")
    async def duplicate_segment(
        self, info: strawberry.Info, id: strawberry.ID, name: str | None = None
    ) -> SegmentPayload:
        return _payload(await attempt(define.duplicate_segment(_ctx(info), id, name)))

    @strawberry.mutation(description="Delete a segment; its contacts stay.")
    async def delete_segment(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> DeleteSegmentPayload:
        deleted, errors = await attempt(define.delete_segment(_ctx(info), id))
        return DeleteSegmentPayload(
            deleted_segment_id=gid_or_none("Segment", deleted), user_errors=errors
        )

    @strawberry.mutation(
        description="A static segment: given contacts (ids or a CSV) and/or a snapshot of "
        "another segment."
    )
    async def create_static_segment(
        self, info: strawberry.Info, input: StaticSegmentInput
    ) -> StaticSegmentPayload:
        data = {
            "name": input.name,
            "contact_ids": [str(c) for c in input.contact_ids or []],
            "from_segment_id": input.from_segment_id,
            "csv": input.csv,
            "description": input.description,
            "tags": input.tags,
        }
        result, errors = await attempt(static.create_static_segment(_ctx(info), data))
        if result is None:
            return StaticSegmentPayload(user_errors=errors)
        doc, unmatched = result
        return StaticSegmentPayload(
            segment=Segment.of(doc), unmatched_rows=unmatched[:1000], user_errors=[]
        )

    @strawberry.mutation
    async def add_to_static_segment(
        self, info: strawberry.Info, id: strawberry.ID, contact_ids: list[strawberry.ID]
    ) -> SegmentPayload:
        work = static.change_static_members(_ctx(info), id, [str(c) for c in contact_ids], add=True)
        return _payload(await attempt(work))

    @strawberry.mutation
    async def remove_from_static_segment(
        self, info: strawberry.Info, id: strawberry.ID, contact_ids: list[strawberry.ID]
    ) -> SegmentPayload:
        ids = [str(c) for c in contact_ids]
        work = static.change_static_members(_ctx(info), id, ids, add=False)
        return _payload(await attempt(work))


@strawberry.type
class SegmentSubscriptions:
    @strawberry.subscription(description="A segment's member count now, then each change.")
    async def segment_member_count(
        self, info: strawberry.Info, segment_id: strawberry.ID
    ) -> AsyncGenerator[int]:
        async for count in live_counts.watch_count(_ctx(info), segment_id):
            yield count

    @strawberry.subscription(description="Each contact entering or exiting a segment.")
    async def segment_membership_changes(
        self, info: strawberry.Info, segment_id: strawberry.ID
    ) -> AsyncGenerator[SegmentMembershipChange]:
        async for change in live_counts.watch_changes(_ctx(info), segment_id):
            yield SegmentMembershipChange(
                segment_id=gid("Segment", segment_id),
                contact_id=gid("Contact", change["contactId"]),
                change=MembershipChange(change["change"]),
            )
