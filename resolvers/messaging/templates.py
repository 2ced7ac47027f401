"""Message templates: saved per channel, checked on save against a sample contact, and
rendered for a preview the way a send would render them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from documents.contact import Contact
from documents.template import Template
from engine import templates as rendering
from engine.access import Permission
from engine.errors import Conflict, InvalidInput, NotFound, Problems
from engine.names import clean_name
from resolvers.core import audit, lookup
from resolvers.core.context import RequestContext, parse_id
from resolvers.core.pagination import Page, paginate

SAMPLE_CONTACT: dict[str, Any] = {
    "_id": "000000000000000000000000",
    "email": "sample@example.com",
    "phone": "+15555550100",
    "properties": {"first_name": "Sam", "last_name": "Sample", "city": "Pune"},
    "tags": [],
}


class TemplateProblems(Problems):
    """Every problem of a template's content at once (schema turns each into a userError)."""


async def sample_context(ctx: RequestContext, contact_id: str | None) -> dict[str, Any]:
    """A template context for checks and previews: the given contact, or a made-up one."""
    contact = SAMPLE_CONTACT
    if contact_id:
        oid = parse_id(contact_id, "Contact")
        found = oid and await Contact.get_pymongo_collection().find_one(
            {"_id": oid, "workspace_id": ctx.workspace_id}
        )
        if not found:
            raise NotFound("No such contact.", field="contactId")
        contact = found
    return rendering.context_for(contact, message={"unsubscribe_url": "https://example.invalid/u"})


def check(content: dict[str, dict[str, str]], sample: dict[str, Any]) -> None:
    problems = rendering.check_content(content, sample)
    if problems:
        raise TemplateProblems(problems)


async def save_template(
    ctx: RequestContext,
    name: str,
    channel: str,
    fields: dict[str, str],
    description: str = "",
    template_id: str | None = None,
    sample_contact_id: str | None = None,
) -> Template:
    ctx.require(Permission.WRITE)
    name = clean_name(name, "name")
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        raise InvalidInput("fields must be an object of strings.", field="fields")
    check({channel: fields}, await sample_context(ctx, sample_contact_id))
    now = datetime.now(UTC)
    if template_id:
        template = await get_template(ctx, template_id)
        if template is None:
            raise NotFound("No such template.", field="id")
        template.name, template.channel, template.fields = name, channel, fields
        template.description, template.updated_at = description, now
    else:
        template = Template(
            workspace_id=ctx.workspace_id,
            name=name,
            channel=channel,
            fields=fields,
            description=description,
        )
    try:
        await template.save()
    except DuplicateKeyError as error:
        raise Conflict(f"A template named {name!r} exists.", field="name") from error
    await audit.record(ctx.principal, "template.saved", "template", template.id, {"name": name})
    return template


async def get_template(ctx: RequestContext, template_id: str) -> Template | None:
    ctx.require(Permission.READ)
    oid = parse_id(template_id, "Template")
    if oid is None:
        return None
    return await Template.find_one({"_id": oid, "workspace_id": ctx.workspace_id})


async def list_templates(
    ctx: RequestContext, first: int | None, after: str | None, channel: str | None = None
) -> Page[Template]:
    ctx.require(Permission.READ)
    query: dict[str, Any] = {"workspace_id": ctx.workspace_id}
    if channel:
        query["channel"] = channel
    return await paginate(Template, query, first, after)


async def delete_template(ctx: RequestContext, template_id: str) -> bool:
    ctx.require(Permission.WRITE)
    template = await get_template(ctx, template_id)
    if template is None:
        raise NotFound("No such template.", field="id")
    await template.delete()
    await audit.record(ctx.principal, "template.deleted", "template", template.id, {})
    return True


async def preview(
    ctx: RequestContext,
    channel: str,
    fields: dict[str, str],
    contact_id: str | None = None,
) -> dict[str, str]:
    """Render content for a contact (or the sample) exactly as a send would."""
    ctx.require(Permission.READ)
    sample = await sample_context(ctx, contact_id)
    check({channel: fields}, sample)
    return {
        name: rendering.render(source, sample, html=(name == "html"))
        for name, source in fields.items()
    }


async def templates_by_ids(ctx: RequestContext, ids: list[str]) -> dict[PydanticObjectId, Template]:
    """`node`/DataLoader fetch: one `_id` query in the caller's workspace."""
    ctx.require(Permission.READ)
    return await lookup.by_ids(ctx, Template, ids)
