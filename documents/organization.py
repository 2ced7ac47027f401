"""Organizations (brand portfolio holders) and agency links between them."""

from __future__ import annotations

from typing import Literal

from beanie import PydanticObjectId
from pymongo import ASCENDING, IndexModel

from documents.base import TimestampedDocument

OrganizationKind = Literal["brand", "agency"]


class Organization(TimestampedDocument):
    name: str
    kind: OrganizationKind = "brand"

    class Settings:
        name = "organizations"


class AgencyLink(TimestampedDocument):
    """An agency org manages a client org; the agency's members act in the client's workspaces."""

    agency_organization_id: PydanticObjectId
    client_organization_id: PydanticObjectId

    class Settings:
        name = "agency_links"
        indexes = [
            IndexModel(
                [("agency_organization_id", ASCENDING), ("client_organization_id", ASCENDING)],
                unique=True,
            ),
            IndexModel([("client_organization_id", ASCENDING)]),
        ]
