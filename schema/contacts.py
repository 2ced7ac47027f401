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


@strawberry.enum(description="Order of a contact list.")
class ContactOrder(Enum):
    NEWEST = strawberry.enum_value("NEWEST", description="Most recently created first.")
    OLDEST = strawberry.enum_value("OLDEST", description="First created first.")
    RECENTLY_ACTIVE = strawberry.enum_value(
        "RECENTLY_ACTIVE", description="Latest lastActiveAt first."
    )
    LEAST_RECENTLY_ACTIVE = strawberry.enum_value(
        "LEAST_RECENTLY_ACTIVE", description="Earliest lastActiveAt first."
    )


@strawberry.enum(description="A channel a contact can consent to (or not) being messaged on.")
class Channel(Enum):
    EMAIL = strawberry.enum_value("email", description="Email.")
    SMS = strawberry.enum_value("sms", description="SMS text message.")
    WHATSAPP = strawberry.enum_value("whatsapp", description="WhatsApp.")
    RCS = strawberry.enum_value("rcs", description="RCS business messaging.")
    PUSH = strawberry.enum_value("push", description="Mobile app push notification.")
    WEB_PUSH = strawberry.enum_value("web_push", description="Browser push notification.")
    IN_APP = strawberry.enum_value("in_app", description="In-app message.")
    ALL = strawberry.enum_value("all", description="Every channel at once (a global opt-out).")


@strawberry.enum(description="A contact's consent decision for a channel.")
class ConsentStatus(Enum):
    SUBSCRIBED = strawberry.enum_value("subscribed", description="Opted in.")
    UNSUBSCRIBED = strawberry.enum_value("unsubscribed", description="Opted out.")
    UNKNOWN = strawberry.enum_value("unknown", description="No decision recorded.")


@strawberry.enum(description="The value type of a custom contact field.")
class FieldType(Enum):
    STRING = strawberry.enum_value("string", description="Text.")
    NUMBER = strawberry.enum_value("number", description="A number.")
    BOOLEAN = strawberry.enum_value("boolean", description="true or false.")
    DATE = strawberry.enum_value("date", description="A date or date-time.")
    LIST = strawberry.enum_value("list", description="A list of values.")


@strawberry.type(description="A contact's consent on one channel.")
class Consent:
    channel: Channel = strawberry.field(description="The channel.")
    status: ConsentStatus = strawberry.field(
        description="The decision; unknown if none was recorded."
    )
    updated_at: datetime | None = strawberry.field(
        description="When it was recorded; null if never."
    )
    source: str | None = strawberry.field(
        description="Where it came from (e.g. dashboard, import); null if never recorded."
    )


@strawberry.type(description="How often and when a contact did one event.")
class EventStat:
    name: str = strawberry.field(description="The event name.")
    count: int = strawberry.field(description="How many times.")
    first_at: datetime | None = strawberry.field(description="The first time.")
    last_at: datetime | None = strawberry.field(description="The latest time.")


@strawberry.type(description="One stored Segment-spec message (track, identify, page, ...).")
class Event(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    type: str = strawberry.field(description="track, identify, page, screen, group or alias.")
    event: str | None = strawberry.field(
        description="The event name of a track; null for other types."
    )
    message_id: str = strawberry.field(description="The sender's idempotency key.")
    user_id: str | None = strawberry.field(description="The sender's user id, if given.")
    anonymous_id: str | None = strawberry.field(description="The sender's anonymous id, if given.")
    properties: JSON = strawberry.field(description="Event properties (JSON object).")
    traits: JSON = strawberry.field(description="User traits sent with it (JSON object).")
    context: JSON = strawberry.field(description="Device, page and library context (JSON object).")
    timestamp: datetime = strawberry.field(description="When it happened, per the sender.")
    received_at: datetime = strawberry.field(description="When Reach received it.")
    location_id: strawberry.ID | None = strawberry.field(
        description="The location it happened at, if any."
    )

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


@strawberry.type(description="A person: identities, properties, tags, consent and activity.")
class Contact(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    user_id: str | None = strawberry.field(
        description="Your own id for the person; null if unknown."
    )
    anonymous_ids: list[str] = strawberry.field(
        description="Anonymous (device/browser) ids seen for the person."
    )
    email: str | None = strawberry.field(description="Email address; null if unknown.")
    phone: str | None = strawberry.field(description="Phone number; null if unknown.")
    properties: JSON = strawberry.field(description="Custom properties (JSON object).")
    tags: list[str] = strawberry.field(description="Tags.")
    segment_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the segments the contact belongs to now."
    )
    location_id: strawberry.ID | None = strawberry.field(
        description="The location the contact belongs to; null for none."
    )
    created_at: datetime = strawberry.field(description="When the contact was created.")
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

    @strawberry.field(description="Consent on every channel, in Channel order.")
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

    @strawberry.field(description="The contact's events, latest first.")
    async def events(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        name: Annotated[
            str | None,
            strawberry.argument(
                description="Only this event; Order Completed also finds order_completed."
            ),
        ] = None,
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


@strawberry.type(description="A declared custom contact property.")
class CustomField:
    key: str = strawberry.field(description="The property key in Contact.properties.")
    type: FieldType = strawberry.field(description="Its value type.")
    label: str = strawberry.field(description="Display label; may be empty.")


@strawberry.input(description="A contact's fields; on update an omitted field stays as is.")
class ContactInput:
    user_id: str | None = strawberry.field(default=None, description="Your own id for the person.")
    email: str | None = strawberry.field(default=None, description="Email address.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    anonymous_id: str | None = strawberry.field(
        default=None, description="An anonymous (device/browser) id to add."
    )
    properties: JSON | None = strawberry.field(
        default=None, description="Merge-patch: a null value removes the key."
    )
    tags: list[str] | None = strawberry.field(default=None, description="Tags.")
    location_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The contact's location; null clears it (on update)."
    )


@strawberry.enum(description="The Segment-spec message types.")
class EventType(Enum):
    TRACK = strawberry.enum_value("track", description="Something the user did.")
    IDENTIFY = strawberry.enum_value("identify", description="Who the user is, with traits.")
    PAGE = strawberry.enum_value("page", description="A web page view.")
    SCREEN = strawberry.enum_value("screen", description="An app screen view.")
    GROUP = strawberry.enum_value("group", description="The user joined a group or account.")
    ALIAS = strawberry.enum_value("alias", description="Link a previous id to the user.")


@strawberry.input(description="One Segment-spec message.")
class EventInput:
    type: EventType = strawberry.field(description="The message type.")
    event: str | None = strawberry.field(default=None, description="track: the event name.")
    name: str | None = strawberry.field(default=None, description="page/screen: its name.")
    user_id: str | None = strawberry.field(
        default=None, description="Your id for the user (this or anonymousId is required)."
    )
    anonymous_id: str | None = strawberry.field(
        default=None, description="Anonymous id of the device/browser."
    )
    previous_id: str | None = strawberry.field(default=None, description="alias only.")
    group_id: str | None = strawberry.field(default=None, description="group only.")
    message_id: str | None = strawberry.field(
        default=None, description="Idempotency key: a message id is stored once."
    )
    properties: JSON | None = strawberry.field(
        default=None, description="Event properties (JSON object)."
    )
    traits: JSON | None = strawberry.field(default=None, description="User traits (JSON object).")
    context: JSON | None = strawberry.field(
        default=None, description="Device, page and library context (JSON object)."
    )
    timestamp: datetime | None = strawberry.field(
        default=None, description="When it happened; the time received when omitted."
    )

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


@strawberry.type(description="Result of a contact mutation.")
class ContactPayload:
    contact: Contact | None = strawberry.field(
        default=None, description="The contact as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of deleteContact.")
class DeleteContactPayload:
    deleted_contact_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global id of the erased contact; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of a custom field mutation.")
class CustomFieldPayload:
    custom_field: CustomField | None = strawberry.field(
        default=None, description="The field as saved; null on error or after a delete."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Why one message of a batch was rejected or warned about.")
class EventProblem:
    index: int = strawberry.field(description="Position of the message in the batch, from 0.")
    message_id: str | None = strawberry.field(description="Its messageId, if it had one.")
    reason: str = strawberry.field(description="What is wrong.")
    field: str | None = strawberry.field(description="The offending field, if any.")


@strawberry.type(description="What became of a batch of messages.")
class TrackEventsPayload:
    accepted: int = strawberry.field(default=0, description="Messages stored.")
    duplicates: int = strawberry.field(
        default=0, description="Messages skipped: their messageId was already stored."
    )
    rejected: list[EventProblem] = strawberry.field(
        default_factory=list, description="Messages not stored, and why."
    )
    warnings: list[EventProblem] = strawberry.field(
        default_factory=list, description="Stored messages with something ignored, and what."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


ID_ARG = Annotated[strawberry.ID, strawberry.argument(description="The contact's global id.")]
TAGS_ARG = Annotated[list[str], strawberry.argument(description="The tags.")]
SOURCE_ARG = Annotated[str, strawberry.argument(description="Where the decision came from.")]


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
    @strawberry.field(description="The contacts of this workspace, filtered and ordered.")
    async def contacts(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Case-insensitive prefix of email, user id, phone or name."
            ),
        ] = None,
        segment_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only members of this segment.")
        ] = None,
        tag: Annotated[
            str | None, strawberry.argument(description="Only contacts with this tag.")
        ] = None,
        location_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only contacts of this location.")
        ] = None,
        order_by: Annotated[
            ContactOrder, strawberry.argument(description="The order.")
        ] = ContactOrder.NEWEST,
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
    async def contact(self, info: strawberry.Info, id: ID_ARG) -> Contact | None:
        doc = await read.get_contact(info.context.caller(), id)
        return Contact.of(doc) if doc else None

    @strawberry.field(description="The custom contact fields declared in this workspace.")
    async def custom_fields(self, info: strawberry.Info) -> list[CustomField]:
        rows = await account_custom_fields.list_custom_fields(info.context.caller())
        return [CustomField(key=r.key, type=FieldType(r.type), label=r.label) for r in rows]


@strawberry.type
class ContactMutations:
    @strawberry.mutation(description="Create a contact.")
    async def create_contact(
        self,
        info: strawberry.Info,
        input: Annotated[ContactInput, strawberry.argument(description="The fields.")],
    ) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.create_contact(ctx, _data(input)), "input."))

    @strawberry.mutation(description="Change a contact; omitted fields stay as they are.")
    async def update_contact(
        self,
        info: strawberry.Info,
        id: ID_ARG,
        input: Annotated[ContactInput, strawberry.argument(description="The fields.")],
    ) -> ContactPayload:
        data = {k: v for k, v in _data(input).items() if v is not None or k == "location_id"}
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.update_contact(ctx, id, data), "input."))

    @strawberry.mutation(description="Add tags to a contact.")
    async def tag_contact(
        self, info: strawberry.Info, id: ID_ARG, tags: TAGS_ARG
    ) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.tag_contact(ctx, id, tags, add=True)))

    @strawberry.mutation(description="Remove tags from a contact.")
    async def untag_contact(
        self, info: strawberry.Info, id: ID_ARG, tags: TAGS_ARG
    ) -> ContactPayload:
        ctx = info.context.caller()
        return _contact_payload(await attempt(edit.tag_contact(ctx, id, tags, add=False)))

    @strawberry.mutation(description="Record a consent decision for one channel.")
    async def set_contact_consent(
        self,
        info: strawberry.Info,
        id: ID_ARG,
        channel: Annotated[
            Channel,
            strawberry.argument(description="The channel; all is a decision for every channel."),
        ],
        status: Annotated[ConsentStatus, strawberry.argument(description="The decision.")],
        source: SOURCE_ARG = "dashboard",
    ) -> ContactPayload:
        ctx = info.context.caller()
        work = edit.set_consent(ctx, id, channel.value, status.value, source)
        return _contact_payload(await attempt(work))

    @strawberry.mutation(description="Unsubscribe a contact from one channel.")
    async def unsubscribe_contact(
        self,
        info: strawberry.Info,
        id: ID_ARG,
        channel: Annotated[
            Channel,
            strawberry.argument(description="The channel; all opts out of every channel."),
        ],
        source: SOURCE_ARG = "dashboard",
    ) -> ContactPayload:
        ctx = info.context.caller()
        work = edit.set_consent(ctx, id, channel.value, "unsubscribed", source)
        return _contact_payload(await attempt(work))

    @strawberry.mutation(description="GDPR erasure of a contact and its events (audited).")
    async def delete_contact(self, info: strawberry.Info, id: ID_ARG) -> DeleteContactPayload:
        deleted, errors = await attempt(edit.delete_contact(info.context.caller(), id))
        return DeleteContactPayload(
            deleted_contact_id=gid_or_none("Contact", deleted), user_errors=errors
        )

    @strawberry.mutation(description="Declare (or redefine) a custom contact field.")
    async def define_custom_field(
        self,
        info: strawberry.Info,
        key: Annotated[str, strawberry.argument(description="The property key.")],
        type: Annotated[FieldType, strawberry.argument(description="Its value type.")],
        label: Annotated[str, strawberry.argument(description="Display label.")] = "",
    ) -> CustomFieldPayload:
        row, errors = await attempt(
            account_custom_fields.define_custom_field(info.context.caller(), key, type.value, label)
        )
        field = CustomField(key=row.key, type=FieldType(row.type), label=row.label) if row else None
        return CustomFieldPayload(custom_field=field, user_errors=errors)

    @strawberry.mutation(description="Remove a custom field declaration.")
    async def delete_custom_field(
        self,
        info: strawberry.Info,
        key: Annotated[str, strawberry.argument(description="The property key.")],
    ) -> CustomFieldPayload:
        _, errors = await attempt(
            account_custom_fields.delete_custom_field(info.context.caller(), key)
        )
        return CustomFieldPayload(user_errors=errors)

    @strawberry.mutation(
        description="Segment-spec messages from a server: each is stored or reported."
    )
    async def track_events(
        self,
        info: strawberry.Info,
        events: Annotated[
            list[EventInput], strawberry.argument(description="The messages, in order.")
        ],
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
