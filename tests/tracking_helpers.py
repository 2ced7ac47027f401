"""Helpers for tracking-API tests."""

from __future__ import annotations

import base64

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.event import Event


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def contacts_of(tenant) -> list[Contact]:
    return await Contact.find({"workspace_id": PydanticObjectId(tenant.workspace_id)}).to_list()


async def events_of(tenant) -> list[Event]:
    return await Event.find({"workspace_id": PydanticObjectId(tenant.workspace_id)}).to_list()
