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
from schema.pagination import After, Connection, First, connection


def _source_id(row: Any) -> strawberry.ID | None:
    """A campaign's or journey's global id; a system send has none."""
    if row.source in ("campaign", "journey") and row.source_id:
        return gid(row.source.capitalize(), row.source_id)
    return row.source_id


@strawberry.type(
    description="A provider configured for a channel, for the workspace or one outlet."
)
class ChannelConfig(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    channel: SendChannel | None = strawberry.field(
        description="The channel this provider sends (null: an unknown stored value)."
    )
    provider: str = strawberry.field(description="The provider that sends on the channel.")
    location_id: strawberry.ID | None = strawberry.field(
        description="The outlet it applies to; null for the whole workspace."
    )
    settings: JSON = strawberry.field(description="The configuration without its secrets.")
    secret_fields: list[str] = strawberry.field(
        description="Secrets stored (encrypted); their values are never returned."
    )
    enabled: bool = strawberry.field(description="Sends use it only while enabled.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")

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


@strawberry.type(description="Reusable message content for one channel.")
class Template(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    name: str = strawberry.field(description="Display name.")
    channel: SendChannel | None = strawberry.field(
        description="The channel the template renders for (null: an unknown stored value)."
    )
    fields: JSON = strawberry.field(
        description="The content by field (subject, text, html, ...), with {{placeholders}}."
    )
    description: str = strawberry.field(description="Free text; may be empty.")
    updated_at: datetime = strawberry.field(description="When it was last saved.")

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


@strawberry.type(description="One outbound message and what became of it.")
class Message(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    contact_id: strawberry.ID | None = strawberry.field(
        description="The recipient; null for system mail."
    )
    channel: SendChannel | None = strawberry.field(
        description="The channel it went (or goes) on (null: an unknown stored value)."
    )
    provider: str = strawberry.field(description="The provider that sent it.")
    source: str = strawberry.field(description="What sent it: system, campaign or journey.")
    source_id: strawberry.ID | None = strawberry.field(
        description="Global id of the campaign or journey; null for system mail."
    )
    step: str = strawberry.field(description="The journey node that sent it; empty otherwise.")
    variant: str | None = strawberry.field(description="The A/B variant sent, if any.")
    status: MessageStatus | None = strawberry.field(
        description="Where it is (null: an unknown stored value)."
    )
    reason: str | None = strawberry.field(
        description="Why it was skipped, held, failed or bounced."
    )
    subject: str = strawberry.field(description="The rendered subject (email).")
    text: str = strawberry.field(description="The rendered text.")
    due_at: datetime | None = strawberry.field(description="When it is (or was) due to go out.")
    sent_at: datetime | None = strawberry.field(description="When the provider accepted it.")
    delivered_at: datetime | None = strawberry.field(description="When it was delivered.")
    opened_at: datetime | None = strawberry.field(description="When it was first opened.")
    clicked_at: datetime | None = strawberry.field(description="When a link was first clicked.")
    replied_at: datetime | None = strawberry.field(description="When the contact replied.")
    bounced_at: datetime | None = strawberry.field(description="When it bounced.")
    converted_at: datetime | None = strawberry.field(
        description="When the contact converted after it."
    )
    revenue: float = strawberry.field(description="Revenue attributed to it.")
    created_at: datetime = strawberry.field(description="When it was created.")

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


@strawberry.type(description="An in-app inbox message of a contact.")
class InboxItem(Node):
    id: strawberry.ID = strawberry.field(description="Global id.")
    message_id: strawberry.ID = strawberry.field(description="The in-app message it shows.")
    title: str = strawberry.field(description="Title.")
    body: str = strawberry.field(description="Body text.")
    url: str = strawberry.field(description="Link to open; may be empty.")
    read_at: datetime | None = strawberry.field(description="When it was read; null if unread.")
    dismissed_at: datetime | None = strawberry.field(
        description="When it was dismissed; null if not."
    )
    created_at: datetime = strawberry.field(description="When it arrived.")

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


@strawberry.type(description="A per-contact limit on messages.")
class FrequencyCap:
    channel: str | None = strawberry.field(
        description="The send channel it limits (lower case, e.g. email); null: all channels."
    )
    limit: int = strawberry.field(description="Most messages a contact may get in the window.")
    days: int = strawberry.field(description="The window, in days.")


@strawberry.type(description="Hours when nothing is sent.")
class QuietHours:
    start: str = strawberry.field(description="HH:MM in the contact's timezone when quiet begins.")
    end: str = strawberry.field(description="HH:MM when it ends (may wrap midnight).")


@strawberry.type(description="The workspace's rules for every send.")
class SendingRules:
    approval_required: bool = strawberry.field(
        description="Sends need an approver's approval first."
    )
    frequency_caps: list[FrequencyCap] = strawberry.field(
        description="Per-contact limits on messages."
    )
    quiet_hours: QuietHours | None = strawberry.field(
        description="When nothing is sent; null for none."
    )
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


@strawberry.input(description="A per-contact limit on messages.")
class FrequencyCapInput:
    channel: str | None = strawberry.field(default=None, description="None: all channels.")
    limit: int = strawberry.field(description="Most messages a contact may get in the window.")
    days: int = strawberry.field(description="The window, in days.")


@strawberry.input(description="Hours when nothing is sent.")
class QuietHoursInput:
    start: str = strawberry.field(description="HH:MM in the contact's timezone, e.g. 21:00")
    end: str = strawberry.field(description="HH:MM, e.g. 08:00 (may wrap midnight)")


@strawberry.type(description="Result of configureChannel.")
class ChannelConfigPayload:
    channel_config: ChannelConfig | None = strawberry.field(
        default=None, description="The configuration as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of a removal.")
class RemovePayload:
    removed: bool = strawberry.field(default=False, description="True when something was removed.")
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of saveTemplate.")
class TemplatePayload:
    template: Template | None = strawberry.field(
        default=None, description="The template as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Content rendered as a send would.")
class TemplatePreview:
    rendered: JSON | None = strawberry.field(
        default=None, description="The rendered fields; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of updateSendingRules.")
class SendingRulesPayload:
    sending_rules: SendingRules | None = strawberry.field(
        default=None, description="The rules as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of markInboxItem.")
class InboxItemPayload:
    item: InboxItem | None = strawberry.field(
        default=None, description="The item as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of registerDevice.")
class ContactDevicePayload:
    contact: Contact | None = strawberry.field(
        default=None, description="The contact with the device; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


ID_ARG = Annotated[strawberry.ID, strawberry.argument(description="Its global id.")]


@strawberry.type
class MessagingQueries:
    @strawberry.field(description="Providers configured per channel (and per outlet).")
    async def channel_configs(self, info: strawberry.Info) -> list[ChannelConfig]:
        rows = await providers.list_configs(info.context.caller())
        return [ChannelConfig.of(r) for r in rows]

    @strawberry.field(description="The templates of this workspace.")
    async def templates(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        channel: Annotated[
            SendChannel | None, strawberry.argument(description="Only this channel's templates.")
        ] = None,
    ) -> Connection[Template]:
        page = await templates.list_templates(
            info.context.caller(), first, after, value_of(channel)
        )
        return connection(page, Template.of)

    @strawberry.field(description="A template by id; null if not found in this workspace.")
    async def template(self, info: strawberry.Info, id: ID_ARG) -> Template | None:
        row = await templates.get_template(info.context.caller(), id)
        return Template.of(row) if row else None

    @strawberry.field(description="Render content for a contact (or a sample) as a send would.")
    async def preview_template(
        self,
        info: strawberry.Info,
        channel: Annotated[SendChannel, strawberry.argument(description="The channel to render.")],
        fields: Annotated[
            JSON, strawberry.argument(description="The content by field, with {{placeholders}}.")
        ],
        contact_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Render for this contact; a sample when omitted."),
        ] = None,
    ) -> TemplatePreview:
        work = templates.preview(info.context.caller(), channel.value, fields, contact_id)
        rendered, errors = await attempt(work)
        return TemplatePreview(rendered=rendered, user_errors=errors)

    @strawberry.field(description="Messages sent or being sent, newest first.")
    async def messages(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        contact_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only messages to this contact.")
        ] = None,
        source_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only messages of this campaign or journey."),
        ] = None,
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
        contact_id: Annotated[strawberry.ID, strawberry.argument(description="The contact.")],
        first: First = None,
        after: After = None,
        unread_only: Annotated[
            bool, strawberry.argument(description="Only items not yet read.")
        ] = False,
    ) -> Connection[InboxItem]:
        page = await inbox.list_inbox(info.context.caller(), contact_id, first, after, unread_only)
        return connection(page, InboxItem.of)

    @strawberry.field(description="Approvals, frequency caps and quiet hours of this workspace.")
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
        provider: Annotated[str, strawberry.argument(description="The provider's name.")],
        config: Annotated[
            JSON,
            strawberry.argument(
                description="The provider's settings, secrets included (never shown back)."
            ),
        ],
        location_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The outlet; the whole workspace when omitted."),
        ] = None,
        enabled: Annotated[
            bool, strawberry.argument(description="Whether sends may use it.")
        ] = True,
    ) -> ChannelConfigPayload:
        work = providers.configure(
            info.context.caller(), channel.value, provider, config, location_id, enabled
        )
        row, errors = await attempt(work)
        return ChannelConfigPayload(
            channel_config=ChannelConfig.of(row) if row else None, user_errors=errors
        )

    @strawberry.mutation(description="Remove the provider of a channel (workspace or one outlet).")
    async def remove_channel_config(
        self,
        info: strawberry.Info,
        channel: Annotated[SendChannel, strawberry.argument(description="The channel to clear.")],
        location_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The outlet's provider; the workspace's when null."),
        ] = None,
    ) -> RemovePayload:
        work = providers.remove(info.context.caller(), channel.value, location_id)
        removed, errors = await attempt(work)
        return RemovePayload(removed=bool(removed), user_errors=errors)

    @strawberry.mutation(description="Create (no id) or update a template; checked on save.")
    async def save_template(
        self,
        info: strawberry.Info,
        name: Annotated[str, strawberry.argument(description="Display name.")],
        channel: Annotated[
            SendChannel, strawberry.argument(description="The channel the template is for.")
        ],
        fields: Annotated[
            JSON, strawberry.argument(description="The content by field, with {{placeholders}}.")
        ],
        description: Annotated[str, strawberry.argument(description="Free text.")] = "",
        id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The template to update; a new one when omitted."),
        ] = None,
        sample_contact_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="A contact to render the check with."),
        ] = None,
    ) -> TemplatePayload:
        work = templates.save_template(
            info.context.caller(), name, channel.value, fields, description, id, sample_contact_id
        )
        row, errors = await attempt(work)
        return TemplatePayload(template=Template.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Delete a template.")
    async def delete_template(self, info: strawberry.Info, id: ID_ARG) -> RemovePayload:
        removed, errors = await attempt(templates.delete_template(info.context.caller(), id))
        return RemovePayload(removed=bool(removed), user_errors=errors)

    @strawberry.mutation(description="Approvals, frequency caps and quiet hours.")
    async def update_sending_rules(
        self,
        info: strawberry.Info,
        approval_required: Annotated[
            bool | None,
            strawberry.argument(description="Require approval of sends; unchanged when omitted."),
        ] = None,
        frequency_caps: Annotated[
            list[FrequencyCapInput] | None,
            strawberry.argument(description="Replace every cap; unchanged when omitted."),
        ] = None,
        quiet_hours: Annotated[
            QuietHoursInput | None,
            strawberry.argument(description="New quiet hours; unchanged when omitted."),
        ] = None,
        clear_quiet_hours: Annotated[
            bool, strawberry.argument(description="Remove the quiet hours.")
        ] = False,
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
        self,
        info: strawberry.Info,
        id: ID_ARG,
        action: Annotated[str, strawberry.argument(description="read or dismissed.")],
    ) -> InboxItemPayload:
        item, errors = await attempt(inbox.mark(info.context.caller(), id, action))
        return InboxItemPayload(item=InboxItem.of(item) if item else None, user_errors=errors)

    @strawberry.mutation(description="Add an FCM token (kind fcm) or web push subscription (web).")
    async def register_device(
        self,
        info: strawberry.Info,
        contact_id: Annotated[
            strawberry.ID, strawberry.argument(description="The contact the device belongs to.")
        ],
        kind: Annotated[
            str,
            strawberry.argument(description="fcm (mobile token) or web (push subscription)."),
        ],
        token: Annotated[
            str | None, strawberry.argument(description="The FCM token (kind fcm).")
        ] = None,
        subscription: Annotated[
            JSON | None,
            strawberry.argument(description="The browser's push subscription (kind web)."),
        ] = None,
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
        self,
        info: strawberry.Info,
        contact_id: Annotated[
            strawberry.ID, strawberry.argument(description="The contact whose inbox to watch.")
        ],
    ) -> AsyncGenerator[strawberry.ID]:
        async for message_id in inbox.watch(info.context.caller(), contact_id):
            yield gid("Message", message_id)
