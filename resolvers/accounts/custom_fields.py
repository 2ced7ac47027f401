"""Custom contact fields a workspace declares (name, type, label), so builders and validation
know each key's type.
"""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import PydanticObjectId

from documents.contact import CustomField
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from engine.names import clean_name
from engine.traits import FIELD_TYPES, FieldDef, check_key
from resolvers.core import audit
from resolvers.core.context import RequestContext


async def list_custom_fields(ctx: RequestContext) -> list[CustomField]:
    ctx.require(Permission.READ)
    return await CustomField.find({"workspace_id": ctx.workspace_id}).sort("key").to_list()


async def define_custom_field(
    ctx: RequestContext, key: str, field_type: str, label: str
) -> CustomField:
    """Declare (or re-label / re-type) a custom property; values are coerced from then on."""
    ctx.require(Permission.ADMIN)
    check_key(key, "key")
    if field_type not in FIELD_TYPES:
        raise InvalidInput(f"Type must be one of {', '.join(FIELD_TYPES)}.", field="type")
    label = clean_name(label, "label") if label else key
    await CustomField.get_pymongo_collection().update_one(
        {"workspace_id": ctx.workspace_id, "key": key},
        {
            "$set": {"type": field_type, "label": label},
            "$setOnInsert": {"created_at": datetime.now(UTC)},
        },
        upsert=True,
    )
    await audit.record(
        ctx.principal, "custom_field.defined", "custom_field", key, {"type": field_type}
    )
    return await CustomField.find_one({"workspace_id": ctx.workspace_id, "key": key})


async def delete_custom_field(ctx: RequestContext, key: str) -> None:
    ctx.require(Permission.ADMIN)
    result = await CustomField.get_pymongo_collection().delete_one(
        {"workspace_id": ctx.workspace_id, "key": key}
    )
    if not result.deleted_count:
        raise NotFound("No such custom field.", field="key")
    await audit.record(ctx.principal, "custom_field.deleted", "custom_field", key)


async def custom_fields(workspace_id: PydanticObjectId) -> dict[str, FieldDef]:
    rows = await CustomField.find({"workspace_id": workspace_id}).to_list()
    return {row.key: FieldDef(row.key, row.type, row.label) for row in rows}
