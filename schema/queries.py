"""Query root: the caller's workspace and its account setup."""

from __future__ import annotations

import strawberry

from resolvers.accounts import api_keys as account_api_keys
from resolvers.accounts import locations, sdk_properties, users, workspaces
from resolvers.core import audit
from schema.campaigns import CampaignQueries
from schema.contacts import ContactQueries
from schema.imports import ImportQueries
from schema.journeys import JourneyQueries
from schema.messaging import MessagingQueries
from schema.pagination import Connection, connection
from schema.segment_language import SegmentLanguageQueries
from schema.segments import SegmentQueries
from schema.types import (
    ApiKey,
    ApiKeyKind,
    AuditEntry,
    Location,
    Member,
    Property,
    Role,
    Viewer,
    Workspace,
)


@strawberry.type
class Query(
    ContactQueries,
    ImportQueries,
    SegmentQueries,
    SegmentLanguageQueries,
    MessagingQueries,
    CampaignQueries,
    JourneyQueries,
):
    @strawberry.field(description="Who the credentials belong to and what they may do.")
    def viewer(self, info: strawberry.Info) -> Viewer:
        p = info.context.caller().principal
        return Viewer(
            kind=p.kind,
            label=p.label,
            role=Role(p.role) if p.role else None,
            permissions=sorted(perm.value for perm in p.permissions),
            workspace_id=strawberry.ID(str(p.workspace_id)),
            organization_id=strawberry.ID(str(p.organization_id)),
        )

    @strawberry.field(description="The workspace the credentials act in.")
    async def workspace(self, info: strawberry.Info) -> Workspace:
        return Workspace.of(await workspaces.current(info.context.caller()))

    @strawberry.field
    async def workspaces(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Workspace]:
        page = await workspaces.list_workspaces(info.context.caller(), first, after)
        return connection(page, Workspace.of)

    @strawberry.field
    async def location(self, info: strawberry.Info, id: strawberry.ID) -> Location | None:
        doc = await locations.get_location(info.context.caller(), id)
        return Location.of(doc) if doc else None

    @strawberry.field
    async def locations(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Location]:
        page = await locations.list_locations(info.context.caller(), first, after)
        return connection(page, Location.of)

    @strawberry.field(name="property")
    async def property_(self, info: strawberry.Info, id: strawberry.ID) -> Property | None:
        doc = await sdk_properties.get_property(info.context.caller(), id)
        return Property.of(doc) if doc else None

    @strawberry.field
    async def properties(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Property]:
        page = await sdk_properties.list_properties(info.context.caller(), first, after)
        return connection(page, Property.of)

    @strawberry.field
    async def api_keys(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        kind: ApiKeyKind | None = None,
    ) -> Connection[ApiKey]:
        page = await account_api_keys.list_keys(
            info.context.caller(), first, after, kind.value if kind else None
        )
        return connection(page, ApiKey.of)

    @strawberry.field
    async def members(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> Connection[Member]:
        page = await users.list_members(info.context.caller(), first, after)
        return connection(page, Member.of)

    @strawberry.field(description="Account-setup actions in this workspace, newest first.")
    async def audit_entries(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        action: str | None = None,
    ) -> Connection[AuditEntry]:
        page = await audit.list_entries(info.context.caller(), first, after, action)
        return connection(page, AuditEntry.of)
