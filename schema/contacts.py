"""Contacts, their events and custom fields; trackEvents for server-side callers."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from engine.stats import unescape_key
from resolvers.accounts import custom_fields as account_custom_fields
from resolvers.accounts import locations
from resolvers.contacts import edit, read
from resolvers.events import ingest
from resolvers.segments import define
from schema.accounts_types import Location
from schema.errors import UserError, attempt
from schema.loaders import load_many, load_one
from schema.node import Node, gid, gid_or_none
from schema.pagination import After, Connection, First, connection

if TYPE_CHECKING:
    from schema.segments import Segment


@strawberry.enum
class ContactOrder(Enum):
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
    RECENTLY_ACTIVE = "RECENTLY_ACTIVE"
    LEAST_RECENTLY_ACTIVE = "LEAST_RECENTLY_ACTIVE"


@strawberry.enum
class Channel(Enum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    RCS = "rcs"
    PUSH = "push"
    WEB_PUSH = "web_push"
    IN_APP = "in_app"
    ALL = "all"


@strawberry.enum
class ConsentStatus(Enum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown"


@strawberry.enum
class FieldType(Enum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    LIST = "list"


@strawberry.type
class Consent:
    channel: Channel
    status: ConsentStatus
    updated_at: datetime | None
    source: str | None


@strawberry.type
class EventStat:
    name: str
    count: int
    first_at: datetime | None
    last_at: datetime | None


@strawberry.type
class Event(Node):
    id: strawberry.ID
    type: str
    event: str | None
    message_id: str
    user_id: str | None
    anonymous_id: str | None
    properties: JSON
    traits: JSON
    context: JSON
    timestamp: datetime
    received_at: datetime
    location_id: strawberry.ID | None

    @staticmethod
    def of(doc: Any) -> Event:
        return Event(
            id=gid("Event", doc.id),
            type=doc.type,
            event=doc.event,
            message_id=doc.message_id,
            user_id=doc.user_id,
            anonymous_id=doc.anonymous_id,
            properties=doc.properties,
            traits=doc.traits,
            context=doc.context,
            timestamp=doc.timestamp,
            received_at=doc.received_at,
            location_id=gid_or_none("Location", doc.location_id),
        )


@strawberry.type
class Contact(Node):
    id: strawberry.ID
    user_id: str | None
    anonymous_ids: list[str]
    email: str | None
    phone: str | None
    properties: JSON
    tags: list[str]
    segment_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the segments the contact belongs to now."
    )
    location_id: strawberry.ID | None
    created_at: datetime
    last_active_at: datetime = strawberry.field(
        description="When the contact last did something themselves (not a send to them)."
    )
    last_messaged_at: datetime | None = strawberry.field(
        description="When Reach last sent the contact a message."
    )
    doc: strawberry.Private[Any]

    @strawberry.field(description="The segments the contact belongs to now.")
    async def segments(
        self, info: strawberry.Info
    ) -> list[Annotated[Segment, strawberry.lazy("schema.segments")]]:
        from schema.segments import Segment

        docs = await load_many(info, define.segments_by_ids, list(self.doc.segments))
        return [Segment.of(doc) for doc in docs]

    @strawberry.field(description="The location (outlet) the contact belongs to, if any.")
    async def location(self, info: strawberry.Info) -> Location | None:
        doc = await load_one(info, locations.locations_by_ids, self.doc.location_id)
        return Location.of(doc) if doc else None

    @strawberry.field
    def consent(self) -> list[Consent]:
        out = []
        for channel in Channel:
            decision = self.doc.consent.get(channel.value) or {}
            out.append(
                Consent(
                    channel=channel,
                    status=ConsentStatus(decision.get("status", "unknown")),
                    updated_at=decision.get("at"),
                    source=decision.get("source"),
                )
            )
        return out

    @strawberry.field(description="Per event name: how often and when (kept up to date on ingest).")
    def event_stats(self) -> list[EventStat]:
        return [
            EventStat(
                name=unescape_key(key),
                count=value.get("count", 0),
                first_at=value.get("first_at"),
                last_at=value.get("last_at"),
            )
            for key, value in sorted(self.doc.event_stats.items())
        ]

    @strawberry.field
    async def events(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        name: str | None = None,
    ) -> Connection[Event]:
        page = await read.list_events(info.context.caller(), self.doc, first, after, name)
        return connection(page, Event.of)

    @staticmethod
    def of(doc: Any) -> Contact:
        return Contact(
            id=gid("Contact", doc.id),
            user_id=doc.user_id,
            anonymous_ids=list(doc.anonymous_ids),
            email=doc.email,
            phone=doc.phone,
            properties=doc.properties,
            tags=list(doc.tags),
            segment_ids=[gid("Segment", s) for s in doc.segments],
            location_id=gid_or_none("Location", doc.location_id),
            created_at=doc.created_at,
            last_active_at=doc.last_active_at,
            last_messaged_at=doc.last_messaged_at,
            doc=doc,
        )


@strawberry.type
class CustomField:
    key: str
    type: FieldType
    label: str


@strawberry.input
class ContactInput:
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    anonymous_id: str | None = None
    properties: JSON | None = strawberry.field(
        default=None, description="Merge-patch: a null value removes the key."
    )
    tags: list[str] | None = None
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="null clears it (on update)."
    )


@strawberry.enum
class EventType(Enum):
    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


@strawberry.input(description="One Segment-spec message.")
class EventInput:
    type: EventType
    event: str | None = strawberry.field(default=None, description="track: the event name.")
    name: str | None = strawberry.field(default=None, description="page/screen: its name.")
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = strawberry.field(default=None, description="alias only.")
    group_id: str | None = strawberry.field(default=None, description="group only.")
    message_id: str | None = strawberry.field(
        default=None, description="Idempotency key: a message id is stored once."
    )
    properties: JSON | None = None
    traits: JSON | None = None
    context: JSON | None = None
    timestamp: datetime | None = None

    def message(self) -> dict[str, Any]:
        fields = {
            "type": self.type.value,
            "event": self.event,
            "name": self.name,
            "userId": self.user_id,
            "anonymousId": self.anonymous_id,
            "previousId": self.previous_id,
            "groupId": self.group_id,
            "messageId": self.message_id,
            "properties": self.properties,
            "traits": self.traits,
            "context": self.context,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
        }
        return {k: v for k, v in fields.items() if v is not None}


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class DeleteContactPayload:
    deleted_contact_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class CustomFieldPayload:
    custom_field: CustomField | None = None
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type
class EventProblem:
    index: int
    message_id: str | None
    reason: str
    field: str | None


@strawberry.type
class TrackEventsPayload:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[EventProblem] = strawberry.field(default_factory=list)
    warnings: list[EventProblem] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


def _contact_payload(result: tuple[Any, list[UserError]]) -> ContactPayload:
    doc, errors = result
    return ContactPayload(contact=Contact.of(doc) if doc else None, user_errors=errors)


def _data(value: ContactInput) -> dict[str, Any]:
    data = {
        "user_id": value.user_id,
        "email": value.email,
        "phone": value.phone,
        "anonymous_id": value.anonymous_id,
        "properties": value.properties,
        "tags": value.tags,
    }
    if value.location_id is not strawberry.UNSET:
        data["location_id"] = value.location_id
    return data


def _problems(items: list[ingest.Problem]) -> list[EventProblem]:
    return [
        EventProblem(index=p.index, message_id=p.message_id, reason=p.reason, field=p.field)
        for p in items
    ]


@strawberry.type
class ContactQueries:
    @strawberry.field
    async def contacts(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        search: str | None = None,
        segment_id: strawberry.ID | None = None,
        tag: str | None = None,
        location_id: strawberry.ID | None = None,
        order_by: ContactOrder = ContactOrder.NEWEST,
    ) -> Connection[Contact]:
        page = await read.list_contacts(
            info.context.caller(),
            first,
            after,
            order_by=order_by.value,
            search=search,
            segment_id=segment_id,
            tag=tag,
            location_id=location_id,
        )
        return connection(page, Contact.of)

    @strawberry.field(description="A contact; a merged-away id finds the contact it joined.")
    async def contact(self, info: strawberry.Info, id: strawberry.ID) -> Contact | None:
        doc = await read.get_contact(info.context.caller(), id)
        return Contact.of(doc) if doc else None

    @strawberry.field
    async def custom_fields(self, info: strawberry.Info) -> list[CustomField]:
        rows = await account_custom_fields.list_custom_fields(info.context.caller())
        return [CustomField(key=r.key, type=FieldType(r.type), label=r.label) for r in rows]


@strawberry.type
class ContactMutations:
    @strawberry.mutation
    async def create_contact(self, info: strawberry.Info, input: ContactInput) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.create_contact(ctx, _data(input)), "input."))

    @strawberry.mutation
    async def update_contact(
        self, info: strawberry.Info, id: strawberry.ID, input: ContactInput
    ) -> ContactPayload:
        data = {k: v for k, v in _data(input).items() if v is not None or k == "location_id"}
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.update_contact(ctx, id, data), "input."))

    @strawberry.mutation
    async def tag_contact(
        self, info: strawberry.Info, id: strawberry.ID, tags: list[str]
    ) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.tag_contact(ctx, id, tags, add=True)))

    @strawberry.mutation
    async def untag_contact(
        self, info: strawberry.Info, id: strawberry.ID, tags: list[str]
    ) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.tag_contact(ctx, id, tags, add=False)))

    @strawberry.mutation(description="Record a consent decision for one channel.")
    async def set_contact_consent(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        channel: Channel,
        status: ConsentStatus,
        source: str = "dashboard",
    ) -> ContactPayload:
        ctx = info.context.caller()
        work = edit.set_consent(ctx, id, channel.value, status.value, source)
        return _contact_payload(await attempt(work))

    @strawberry.mutation(description="Unsubscribe a contact from one channel.")
    async def unsubscribe_contact(
        self, info: strawberry.Info, id: strawberry.ID, channel: Channel, source: str = "dashboard"
    ) -> ContactPayload:
        ctx = info.context.caller()
        work = edit.set_consent(ctx, id, channel.value, "unsubscribed", source)
        return _contact_payload(await attempt(work))

    @strawberry.mutation(description="GDPR erasure of a contact and its events (audited).")
    async def delete_contact(
        self, info: strawberry.Info, id: strawberry.ID
    ) -> DeleteContactPayload:
        deleted, errors = await attempt(edit.delete_contact(info.context.caller(), id))
        return DeleteContactPayload(
            deleted_contact_id=gid_or_none("Contact", deleted), user_errors=errors
        )

    @strawberry.mutation
    async def define_custom_field(
        self, info: strawberry.Info, key: str, type: FieldType, label: str = ""
    ) -> CustomFieldPayload:
        row, errors = await attempt(
            account_custom_fields.define_custom_field(info.context.caller(), key, type.value, label)
        )
        field = CustomField(key=row.key, type=FieldType(row.type), label=row.label) if row else None
        return CustomFieldPayload(custom_field=field, user_errors=errors)

    @strawberry.mutation
    async def delete_custom_field(self, info: strawberry.Info, key: str) -> CustomFieldPayload:
        _, errors = await attempt(
            account_custom_fields.delete_custom_field(info.context.caller(), key)
        )
        return CustomFieldPayload(user_errors=errors)

    @strawberry.mutation(
        description="Segment-spec messages from a server: each is stored or reported."
    )
    async def track_events(
        self, info: strawberry.Info, events: list[EventInput]
    ) -> TrackEventsPayload:
        principal = info.context.caller().principal
        messages = [e.message() for e in events]
        result, errors = await attempt(ingest.ingest(principal, messages, source="graphql"))
        if result is None:
            return TrackEventsPayload(user_errors=errors)
        return TrackEventsPayload(
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=_problems(result.rejected),
            warnings=_problems(result.warnings),
            user_errors=[],
        )
