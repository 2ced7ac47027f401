"""Segments: rules as JSON, preview before saving, static lists, live member counts.

Rule problems come back as userErrors, one per problem, each with its path inside the
rule tree (`rules.all[2].op`). Members export as CSV at GET /v1/export/segments/{id}.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from resolvers.contacts import read
from resolvers.segments import define, live_counts, static
from schema.contacts import Contact
from schema.errors import UserError, attempt
from schema.node import Node, gid, gid_or_none, raw_ids_in
from schema.pagination import After, Connection, First, connection

T = TypeVar("T")


@strawberry.enum(description="How a segment gets its members.")
class SegmentKind(Enum):
    DYNAMIC = strawberry.enum_value("dynamic", description="Computed from rules, kept up to date.")
    STATIC = strawberry.enum_value("static", description="A fixed list of contacts.")


@strawberry.enum(description="A contact joining or leaving a segment.")
class MembershipChange(Enum):
    ENTERED = strawberry.enum_value("entered", description="The contact joined.")
    EXITED = strawberry.enum_value("exited", description="The contact left.")


@strawberry.type(description="A group of contacts, by rules (dynamic) or by list (static).")
class Segment(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    name: str = strawberry.field(description="Display name.")
    description: str = strawberry.field(description="Free text; may be empty.")
    tags: list[str] = strawberry.field(description="Tags to organise segments by.")
    rules: JSON | None = strawberry.field(description="The rule tree; null for static segments.")
    kind: SegmentKind = strawberry.field(description="Dynamic (rules) or static (a list).")
    member_count: int = strawberry.field(description="How many contacts are members now.")
    location_id: strawberry.ID | None = strawberry.field(
        description="The location it is limited to; null for all."
    )
    time_dependent: bool = strawberry.field(
        description="Membership can change with time alone (refreshed on a schedule)."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
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


@strawberry.type(description="What unsaved rules would find now.")
class SegmentPreview:
    count: int | None = strawberry.field(
        default=None, description="How many contacts match; null on error."
    )
    sample: list[Contact] = strawberry.field(
        default_factory=list, description="Some matching contacts (up to sampleSize)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of a segment mutation.")
class SegmentPayload:
    segment: Segment | None = strawberry.field(
        default=None, description="The segment as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of createStaticSegment.")
class StaticSegmentPayload:
    segment: Segment | None = strawberry.field(
        default=None, description="The new segment; null on error."
    )
    unmatched_rows: list[int] = strawberry.field(
        default_factory=list, description="Rows of the CSV that found no contact (the first 1000)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of deleteSegment.")
class DeleteSegmentPayload:
    deleted_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of the deleted segment; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="A contact entered or exited a segment.")
class SegmentMembershipChange:
    segment_id: strawberry.ID = strawberry.field(description="The segment.")
    contact_id: strawberry.ID = strawberry.field(description="The contact.")
    change: MembershipChange = strawberry.field(description="Entered or exited.")


@strawberry.input(description="A new dynamic segment.")
class SegmentInput:
    name: str = strawberry.field(description="Display name.")
    rules: JSON = strawberry.field(description='The rule tree, e.g. {"all": [{"tag": "vip"}]}')
    description: str | None = strawberry.field(default=None, description="Free text.")
    tags: list[str] | None = strawberry.field(default=None, description="Tags.")
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Limit the segment to the contacts of one outlet."
    )


@strawberry.input(description="Changes to a segment; an omitted or null field stays as is.")
class SegmentUpdateInput:
    name: str | None = strawberry.field(default=None, description="New display name.")
    rules: JSON | None = strawberry.field(
        default=None, description="New rule tree (dynamic segments)."
    )
    description: str | None = strawberry.field(default=None, description="New free text.")
    tags: list[str] | None = strawberry.field(default=None, description="New tags.")
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null removes the outlet scope."
    )


@strawberry.input(description="A new static segment from contact ids, a CSV and/or a segment.")
class StaticSegmentInput:
    name: str = strawberry.field(description="Display name.")
    contact_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Contacts to include."
    )
    csv: str | None = strawberry.field(
        default=None,
        description="CSV text with a column id, user_id, email or phone (an export works).",
    )
    from_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Copy the members this segment has now (a snapshot)."
    )
    description: str | None = strawberry.field(default=None, description="Free text.")
    tags: list[str] | None = strawberry.field(default=None, description="Tags.")


SEGMENT_ARG = Annotated[strawberry.ID, strawberry.argument(description="The segment's global id.")]
CONTACTS_ARG = Annotated[
    list[strawberry.ID], strawberry.argument(description="Global ids of the contacts.")
]


def _payload(result: tuple[Any, list[UserError]]) -> SegmentPayload:
    doc, errors = result
    return SegmentPayload(segment=Segment.of(doc) if doc else None, user_errors=errors)


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class SegmentQueries:
    @strawberry.field(description="The segments of this workspace.")
    async def segments(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Segment]:
        page = await define.list_segments(_ctx(info), first, after)
        return connection(page, Segment.of)

    @strawberry.field(description="A segment by id; null if not found in this workspace.")
    async def segment(self, info: strawberry.Info, id: SEGMENT_ARG) -> Segment | None:
        doc = await define.get_segment(_ctx(info), id)
        return Segment.of(doc) if doc else None

    @strawberry.field(description="How many contacts rules find now, and a sample, unsaved.")
    async def preview_segment(
        self,
        info: strawberry.Info,
        rules: Annotated[JSON, strawberry.argument(description="The rule tree to try.")],
        sample_size: Annotated[
            int, strawberry.argument(description="How many matching contacts to return.")
        ] = 10,
        location_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Limit to the contacts of one location."),
        ] = None,
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
    async def create_segment(
        self,
        info: strawberry.Info,
        input: Annotated[SegmentInput, strawberry.argument(description="The fields.")],
    ) -> SegmentPayload:
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
        self,
        info: strawberry.Info,
        id: SEGMENT_ARG,
        input: Annotated[SegmentUpdateInput, strawberry.argument(description="The fields.")],
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
        self,
        info: strawberry.Info,
        id: SEGMENT_ARG,
        name: Annotated[
            str | None,
            strawberry.argument(description='Name of the copy; "<name> (copy)" when omitted.'),
        ] = None,
    ) -> SegmentPayload:
        return _payload(await attempt(define.duplicate_segment(_ctx(info), id, name)))

    @strawberry.mutation(description="Delete a segment; its contacts stay.")
    async def delete_segment(self, info: strawberry.Info, id: SEGMENT_ARG) -> DeleteSegmentPayload:
        deleted, errors = await attempt(define.delete_segment(_ctx(info), id))
        return DeleteSegmentPayload(
            deleted_segment_id=gid_or_none("Segment", deleted), user_errors=errors
        )

    @strawberry.mutation(
        description="A static segment: given contacts (ids or a CSV) and/or a snapshot of "
        "another segment."
    )
    async def create_static_segment(
        self,
        info: strawberry.Info,
        input: Annotated[StaticSegmentInput, strawberry.argument(description="The fields.")],
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

    @strawberry.mutation(description="Add contacts to a static segment.")
    async def add_to_static_segment(
        self, info: strawberry.Info, id: SEGMENT_ARG, contact_ids: CONTACTS_ARG
    ) -> SegmentPayload:
        work = static.change_static_members(_ctx(info), id, [str(c) for c in contact_ids], add=True)
        return _payload(await attempt(work))

    @strawberry.mutation(description="Remove contacts from a static segment.")
    async def remove_from_static_segment(
        self, info: strawberry.Info, id: SEGMENT_ARG, contact_ids: CONTACTS_ARG
    ) -> SegmentPayload:
        ids = [str(c) for c in contact_ids]
        work = static.change_static_members(_ctx(info), id, ids, add=False)
        return _payload(await attempt(work))


@strawberry.type
class SegmentSubscriptions:
    @strawberry.subscription(description="A segment's member count now, then each change.")
    async def segment_member_count(
        self, info: strawberry.Info, segment_id: SEGMENT_ARG
    ) -> AsyncGenerator[int]:
        async for count in live_counts.watch_count(_ctx(info), segment_id):
            yield count

    @strawberry.subscription(description="Each contact entering or exiting a segment.")
    async def segment_membership_changes(
        self, info: strawberry.Info, segment_id: SEGMENT_ARG
    ) -> AsyncGenerator[SegmentMembershipChange]:
        async for change in live_counts.watch_changes(_ctx(info), segment_id):
            yield SegmentMembershipChange(
                segment_id=gid("Segment", segment_id),
                contact_id=gid("Contact", change["contactId"]),
                change=MembershipChange(change["change"]),
            )
