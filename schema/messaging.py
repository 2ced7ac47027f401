"""Messaging setup and records: channel providers, templates, sending rules, the message
log, push devices and the in-app inbox."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from resolvers.contacts import devices
from resolvers.messaging import engagement, inbox, message_log, providers, sending_rules, templates
from schema.contacts import Contact
from schema.enums import MessageStatus, SendChannel, stored, value_of
from schema.errors import UserError, attempt
from schema.node import Node, gid, gid_or_none
from schema.pagination import Connection, connection


def _source_id(row: Any) -> strawberry.ID | None:
    """A campaign's or journey's global id; a system send has none."""
    if row.source in ("campaign", "journey") and row.source_id:
        return gid(row.source.capitalize(), row.source_id)
    return row.source_id


@strawberry.type
class ChannelConfig(Node):
    id: strawberry.ID
    channel: SendChannel | None = strawberry.field(
        description="The channel this provider sends (null: an unknown stored value)."
    )
    provider: str
    location_id: strawberry.ID | None
    settings: JSON = strawberry.field(description="The configuration without its secrets.")
    secret_fields: list[str] = strawberry.field(
        description="Secrets stored (encrypted); their values are never returned."
    )
    enabled: bool
    updated_at: datetime

    @staticmethod
    def of(row: Any) -> ChannelConfig:
        return ChannelConfig(
            id=gid("ChannelConfig", row.id),
            channel=stored(SendChannel, row.channel),
            provider=row.provider,
            location_id=gid_or_none("Location", row.location_id),
            settings=row.settings,
            secret_fields=providers.secret_names(row),
            enabled=row.enabled,
            updated_at=row.updated_at,
        )


@strawberry.type
class Template(Node):
    id: strawberry.ID
    name: str
    channel: SendChannel | None = strawberry.field(
        description="The channel the template renders for (null: an unknown stored value)."
    )
    fields: JSON
    description: str
    updated_at: datetime

    @staticmethod
    def of(row: Any) -> Template:
        return Template(
            id=gid("Template", row.id),
            name=row.name,
            channel=stored(SendChannel, row.channel),
            fields=row.fields,
            description=row.description,
            updated_at=row.updated_at,
        )


@strawberry.type
class Message(Node):
    id: strawberry.ID
    contact_id: strawberry.ID | None
    channel: SendChannel | None = strawberry.field(
        description="The channel it went (or goes) on (null: an unknown stored value)."
    )
    provider: str
    source: str
    source_id: strawberry.ID | None
    step: str
    variant: str | None
    status: MessageStatus | None = strawberry.field(
        description="Where it is (null: an unknown stored value)."
    )
    reason: str | None
    subject: str
    text: str
    due_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    replied_at: datetime | None
    bounced_at: datetime | None
    converted_at: datetime | None
    revenue: float
    created_at: datetime

    @staticmethod
    def of(row: Any) -> Message:
        return Message(
            id=gid("Message", row.id),
            contact_id=gid_or_none("Contact", row.contact_id),
            channel=stored(SendChannel, row.channel),
            provider=row.provider,
            source=row.source,
            source_id=_source_id(row),
            step=row.step,
            variant=row.variant,
            status=stored(MessageStatus, row.status),
            reason=row.reason,
            subject=row.subject,
            text=row.text,
            due_at=row.due_at,
            sent_at=row.sent_at,
            delivered_at=row.delivered_at,
            opened_at=row.opened_at,
            clicked_at=row.clicked_at,
            replied_at=row.replied_at,
            bounced_at=row.bounced_at,
            converted_at=row.converted_at,
            revenue=row.revenue,
            created_at=row.created_at,
        )


@strawberry.type
class InboxItem(Node):
    id: strawberry.ID
    message_id: strawberry.ID
    title: str
    body: str
    url: str
    read_at: datetime | None
    dismissed_at: datetime | None
    created_at: datetime

    @staticmethod
    def of(row: Any) -> InboxItem:
        return InboxItem(
            id=gid("InboxItem", row.id),
            message_id=gid("Message", row.message_id),
            title=row.title,
            body=row.body,
            url=row.url,
            read_at=row.read_at,
            dismissed_at=row.dismissed_at,
            created_at=row.created_at,
        )


@strawberry.type
class FrequencyCap:
    channel: str | None
    limit: int
    days: int


@strawberry.type
class QuietHours:
    start: str
    end: str


@strawberry.type
class SendingRules:
    approval_required: bool
    frequency_caps: list[FrequencyCap]
    quiet_hours: QuietHours | None
    inbound_url: str = strawberry.field(
        description="Where an SMS/WhatsApp provider should post replies (signed)."
    )

    @staticmethod
    def of(workspace: Any) -> SendingRules:
        quiet = workspace.quiet_hours
        return SendingRules(
            approval_required=workspace.approval_required,
            frequency_caps=[FrequencyCap(**c) for c in workspace.frequency_caps],
            quiet_hours=QuietHours(**quiet) if quiet else None,
            inbound_url=engagement.inbound_url(workspace.id),
        )


@strawberry.input
class FrequencyCapInput:
    channel: str | None = strawberry.field(default=None, description="None: all channels.")
    limit: int
    days: int


@strawberry.input
class QuietHoursInput:
    start: str = strawberry.field(description="HH:MM in the contact's timezone, e.g. 21:00")
    end: str = strawberry.field(description="HH:MM, e.g. 08:00 (may wrap midnight)")


@strawberry.type
class ChannelConfigPayload:
    channel_config: ChannelConfig | None = None
    user_errors: list[UserError]


@strawberry.type
class RemovePayload:
    removed: bool = False
    user_errors: list[UserError]


@strawberry.type
class TemplatePayload:
    template: Template | None = None
    user_errors: list[UserError]


@strawberry.type
class TemplatePreview:
    rendered: JSON | None = None
    user_errors: list[UserError]


@strawberry.type
class SendingRulesPayload:
    sending_rules: SendingRules | None = None
    user_errors: list[UserError]


@strawberry.type
class InboxItemPayload:
    item: InboxItem | None = None
    user_errors: list[UserError]


@strawberry.type
class ContactDevicePayload:
    contact: Contact | None = None
    user_errors: list[UserError]


@strawberry.type
class MessagingQueries:
    @strawberry.field(description="Providers configured per channel (and per outlet).")
    async def channel_configs(self, info: strawberry.Info) -> list[ChannelConfig]:
        rows = await providers.list_configs(info.context.caller())
        return [ChannelConfig.of(r) for r in rows]

    @strawberry.field
    async def templates(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        channel: Annotated[
            SendChannel | None, strawberry.argument(description="Only this channel's templates.")
        ] = None,
    ) -> Connection[Template]:
        page = await templates.list_templates(
            info.context.caller(), first, after, value_of(channel)
        )
        return connection(page, Template.of)

    @strawberry.field
    async def template(self, info: strawberry.Info, id: strawberry.ID) -> Template | None:
        row = await templates.get_template(info.context.caller(), id)
        return Template.of(row) if row else None

    @strawberry.field(description="Render content for a contact (or a sample) as a send would.")
    async def preview_template(
        self,
        info: strawberry.Info,
        channel: Annotated[SendChannel, strawberry.argument(description="The channel to render.")],
        fields: JSON,
        contact_id: strawberry.ID | None = None,
    ) -> TemplatePreview:
        work = templates.preview(info.context.caller(), channel.value, fields, contact_id)
        rendered, errors = await attempt(work)
        return TemplatePreview(rendered=rendered, user_errors=errors)

    @strawberry.field(description="Messages sent or being sent, newest first.")
    async def messages(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        contact_id: strawberry.ID | None = None,
        source_id: strawberry.ID | None = None,
        status: Annotated[
            MessageStatus | None, strawberry.argument(description="Only messages in this status.")
        ] = None,
    ) -> Connection[Message]:
        page = await message_log.list_messages(
            info.context.caller(),
            first,
            after,
            contact_id=contact_id,
            source_id=source_id,
            status=value_of(status),
        )
        return connection(page, Message.of)

    @strawberry.field(description="A contact's in-app inbox, newest first.")
    async def contact_inbox(
        self,
        info: strawberry.Info,
        contact_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[InboxItem]:
        page = await inbox.list_inbox(info.context.caller(), contact_id, first, after, unread_only)
        return connection(page, InboxItem.of)

    @strawberry.field
    async def sending_rules(self, info: strawberry.Info) -> SendingRules:
        return SendingRules.of(await sending_rules.current(info.context.caller()))


@strawberry.type
class MessagingMutations:
    @strawberry.mutation(
        description="Set the provider of a channel for the workspace, or for one outlet."
    )
    async def configure_channel(
        self,
        info: strawberry.Info,
        channel: Annotated[SendChannel, strawberry.argument(description="The channel to set.")],
        provider: str,
        config: JSON,
        location_id: strawberry.ID | None = None,
        enabled: bool = True,
    ) -> ChannelConfigPayload:
        work = providers.configure(
            info.context.caller(), channel.value, provider, config, location_id, enabled
        )
        row, errors = await attempt(work)
        return ChannelConfigPayload(
            channel_config=ChannelConfig.of(row) if row else None, user_errors=errors
        )

    @strawberry.mutation
    async def remove_channel_config(
        self,
        info: strawberry.Info,
        channel: Annotated[SendChannel, strawberry.argument(description="The channel to clear.")],
        location_id: strawberry.ID | None = None,
    ) -> RemovePayload:
        work = providers.remove(info.context.caller(), channel.value, location_id)
        removed, errors = await attempt(work)
        return RemovePayload(removed=bool(removed), user_errors=errors)

    @strawberry.mutation(description="Create (no id) or update a template; checked on save.")
    async def save_template(
        self,
        info: strawberry.Info,
        name: str,
        channel: Annotated[
            SendChannel, strawberry.argument(description="The channel the template is for.")
        ],
        fields: JSON,
        description: str = "",
        id: strawberry.ID | None = None,
        sample_contact_id: strawberry.ID | None = None,
    ) -> TemplatePayload:
        work = templates.save_template(
            info.context.caller(), name, channel.value, fields, description, id, sample_contact_id
        )
        row, errors = await attempt(work)
        return TemplatePayload(template=Template.of(row) if row else None, user_errors=errors)

    @strawberry.mutation
    async def delete_template(self, info: strawberry.Info, id: strawberry.ID) -> RemovePayload:
        removed, errors = await attempt(templates.delete_template(info.context.caller(), id))
        return RemovePayload(removed=bool(removed), user_errors=errors)

    @strawberry.mutation(description="Approvals, frequency caps and quiet hours.")
    async def update_sending_rules(
        self,
        info: strawberry.Info,
        approval_required: bool | None = None,
        frequency_caps: list[FrequencyCapInput] | None = None,
        quiet_hours: QuietHoursInput | None = None,
        clear_quiet_hours: bool = False,
    ) -> SendingRulesPayload:
        caps = None
        if frequency_caps is not None:
            caps = [
                {"channel": c.channel, "limit": c.limit, "days": c.days} for c in frequency_caps
            ]
        quiet = {"start": quiet_hours.start, "end": quiet_hours.end} if quiet_hours else None
        work = sending_rules.update(
            info.context.caller(),
            approval_required=approval_required,
            frequency_caps=caps,
            quiet_hours=quiet,
            clear_quiet_hours=clear_quiet_hours,
        )
        workspace, errors = await attempt(work)
        return SendingRulesPayload(
            sending_rules=SendingRules.of(workspace) if workspace else None, user_errors=errors
        )

    @strawberry.mutation(description="Mark an in-app message read or dismissed.")
    async def mark_inbox_item(
        self, info: strawberry.Info, id: strawberry.ID, action: str
    ) -> InboxItemPayload:
        item, errors = await attempt(inbox.mark(info.context.caller(), id, action))
        return InboxItemPayload(item=InboxItem.of(item) if item else None, user_errors=errors)

    @strawberry.mutation(description="Add an FCM token (kind fcm) or web push subscription (web).")
    async def register_device(
        self,
        info: strawberry.Info,
        contact_id: strawberry.ID,
        kind: str,
        token: str | None = None,
        subscription: JSON | None = None,
    ) -> ContactDevicePayload:
        work = devices.register(info.context.caller(), contact_id, kind, token, subscription)
        contact, errors = await attempt(work)
        return ContactDevicePayload(
            contact=Contact.of(contact) if contact else None, user_errors=errors
        )


@strawberry.type
class MessagingSubscriptions:
    @strawberry.subscription(description="New in-app messages for one contact.")
    async def inbox_updates(
        self, info: strawberry.Info, contact_id: strawberry.ID
    ) -> AsyncGenerator[strawberry.ID]:
        async for message_id in inbox.watch(info.context.caller(), contact_id):
            yield gid("Message", message_id)
