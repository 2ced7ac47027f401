"""Account setup over GraphQL: the caller, workspaces, outlets, SDK properties, API keys,
users and agencies, and the audit trail. Every mutation returns a payload with userErrors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.accounts import (
    agencies,
    api_keys,
    auth,
    locations,
    sdk_properties,
    users,
    workspaces,
)
from resolvers.core import audit
from schema.accounts_types import (
    ApiKey,
    ApiKeyKind,
    AuditEntry,
    Invitation,
    Location,
    Member,
    Platform,
    Property,
    Role,
    Viewer,
    Workspace,
)
from schema.errors import UserError, attempt
from schema.node import gid
from schema.pagination import After, Connection, First, connection


@strawberry.input(description="A new workspace in the caller's organization.")
class CreateWorkspaceInput:
    name: str = strawberry.field(description="Display name.")
    timezone: str = strawberry.field(default="UTC", description="IANA timezone, e.g. Asia/Kolkata.")


@strawberry.input(description="Changes to a workspace; an omitted or null field stays as is.")
class UpdateWorkspaceInput:
    name: str | None = strawberry.field(default=None, description="New display name.")
    timezone: str | None = strawberry.field(default=None, description="New IANA timezone.")
    default_country: str | None = strawberry.field(
        default=None, description='ISO 3166 code (IN, US); "" clears it.'
    )


@strawberry.input(description="A new location (outlet).")
class CreateLocationInput:
    name: str = strawberry.field(description="Display name.")
    code: str = strawberry.field(description="Outlet code used in URLs: a-z, 0-9 and dashes.")
    timezone: str | None = strawberry.field(
        default=None, description="IANA timezone; null means the workspace's."
    )


@strawberry.input(description="A new SDK property (a website or app).")
class CreatePropertyInput:
    name: str = strawberry.field(description="Display name.")
    platform: Platform = strawberry.field(default=Platform.WEB, description="What it is.")
    location_id: strawberry.ID | None = strawberry.field(
        default=None, description="The location its events belong to, if any."
    )


@strawberry.input(description="A new secret API key.")
class IssueApiKeyInput:
    name: str = strawberry.field(description="Label to recognise the key by.")
    scopes: list[str] | None = strawberry.field(
        default=None, description="read, write, track, approve, admin; all when omitted."
    )


@strawberry.type(description="Result of a workspace mutation.")
class WorkspacePayload:
    workspace: Workspace | None = strawberry.field(
        default=None, description="The workspace as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of a location mutation.")
class LocationPayload:
    location: Location | None = strawberry.field(
        default=None, description="The location as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of an SDK property mutation.")
class PropertyPayload:
    property: Property | None = strawberry.field(
        default=None, description="The property as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="A newly issued key, with its secret shown this once.")
class IssueApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(
        default=None, description="The key's record; null on error."
    )
    key: str | None = strawberry.field(
        default=None, description="The full key. Shown only in this response; store it now."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of an API key mutation.")
class ApiKeyPayload:
    api_key: ApiKey | None = strawberry.field(
        default=None, description="The key as saved; null on error."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="A new invitation and its accept link.")
class InviteUserPayload:
    invitation: Invitation | None = strawberry.field(
        default=None, description="The invitation; null on error."
    )
    invite_url: str | None = strawberry.field(
        default=None, description="The accept link, also emailed. Shown only here."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="A session token for a workspace.")
class SessionPayload:
    token: str | None = strawberry.field(
        default=None, description="Bearer token for the Authorization header; null on error."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the token stops working."
    )
    workspace_id: strawberry.ID | None = strawberry.field(
        default=None, description="The workspace the token acts in."
    )
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


@strawberry.type(description="Result of a mutation that returns no object.")
class OkPayload:
    ok: bool = strawberry.field(description="True when it was done.")
    user_errors: list[UserError] = strawberry.field(
        description="What went wrong; empty when the mutation succeeded."
    )


ID_ARG = Annotated[strawberry.ID, strawberry.argument(description="Its global id.")]
NAME_ARG = Annotated[str, strawberry.argument(description="The new display name.")]
AGENCY_ARG = Annotated[
    strawberry.ID, strawberry.argument(description="Global id of the agency's organization.")
]


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create a workspace in the caller's organization.")
    async def create_workspace(
        self,
        info: strawberry.Info,
        input: Annotated[CreateWorkspaceInput, strawberry.argument(description="The fields.")],
    ) -> WorkspacePayload:
        doc, errors = await attempt(
            workspaces.create_workspace(_ctx(info), input.name, input.timezone), "input."
        )
        return WorkspacePayload(workspace=Workspace.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Rename a workspace.")
    async def rename_workspace(
        self, info: strawberry.Info, id: ID_ARG, name: NAME_ARG
    ) -> WorkspacePayload:
        doc, errors = await attempt(workspaces.rename_workspace(_ctx(info), id, name))
        return WorkspacePayload(workspace=Workspace.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Change a workspace's name, timezone or phone country.")
    async def update_workspace(
        self,
        info: strawberry.Info,
        id: ID_ARG,
        input: Annotated[UpdateWorkspaceInput, strawberry.argument(description="The fields.")],
    ) -> WorkspacePayload:
        work = workspaces.update_workspace(
            _ctx(info),
            id,
            name=input.name,
            timezone=input.timezone,
            default_country=input.default_country,
        )
        doc, errors = await attempt(work, "input.")
        return WorkspacePayload(workspace=Workspace.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Create a location (outlet).")
    async def create_location(
        self,
        info: strawberry.Info,
        input: Annotated[CreateLocationInput, strawberry.argument(description="The fields.")],
    ) -> LocationPayload:
        doc, errors = await attempt(
            locations.create_location(_ctx(info), input.name, input.code, input.timezone),
            "input.",
        )
        return LocationPayload(location=Location.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Rename a location.")
    async def rename_location(
        self, info: strawberry.Info, id: ID_ARG, name: NAME_ARG
    ) -> LocationPayload:
        doc, errors = await attempt(locations.rename_location(_ctx(info), id, name))
        return LocationPayload(location=Location.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Create an SDK property; issue it a write key next.")
    async def create_property(
        self,
        info: strawberry.Info,
        input: Annotated[CreatePropertyInput, strawberry.argument(description="The fields.")],
    ) -> PropertyPayload:
        doc, errors = await attempt(
            sdk_properties.create_property(
                _ctx(info), input.name, input.platform.value, input.location_id
            ),
            "input.",
        )
        return PropertyPayload(property=Property.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Rename an SDK property.")
    async def rename_property(
        self, info: strawberry.Info, id: ID_ARG, name: NAME_ARG
    ) -> PropertyPayload:
        doc, errors = await attempt(sdk_properties.rename_property(_ctx(info), id, name))
        return PropertyPayload(property=Property.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Issue a secret API key; the key is shown once.")
    async def issue_api_key(
        self,
        info: strawberry.Info,
        input: Annotated[IssueApiKeyInput, strawberry.argument(description="The fields.")],
    ) -> IssueApiKeyPayload:
        result, errors = await attempt(
            api_keys.issue_secret_key(_ctx(info), input.name, input.scopes), "input."
        )
        if result is None:
            return IssueApiKeyPayload(user_errors=errors)
        doc, plaintext = result
        return IssueApiKeyPayload(api_key=ApiKey.of(doc), key=plaintext, user_errors=[])

    @strawberry.mutation(description="Issue a write key for a property; the key is shown once.")
    async def issue_write_key(
        self,
        info: strawberry.Info,
        property_id: Annotated[
            strawberry.ID, strawberry.argument(description="The SDK property the key sends for.")
        ],
        name: Annotated[str, strawberry.argument(description="Label to recognise the key by.")],
    ) -> IssueApiKeyPayload:
        result, errors = await attempt(api_keys.issue_write_key(_ctx(info), property_id, name))
        if result is None:
            return IssueApiKeyPayload(user_errors=errors)
        doc, plaintext = result
        return IssueApiKeyPayload(api_key=ApiKey.of(doc), key=plaintext, user_errors=[])

    @strawberry.mutation(description="Revoke an API key; it stops working at once.")
    async def revoke_api_key(self, info: strawberry.Info, id: ID_ARG) -> ApiKeyPayload:
        doc, errors = await attempt(api_keys.revoke_key(_ctx(info), id))
        return ApiKeyPayload(api_key=ApiKey.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Invite someone to this organization; emails the link.")
    async def invite_user(
        self,
        info: strawberry.Info,
        email: Annotated[str, strawberry.argument(description="Where to send the invitation.")],
        role: Annotated[Role, strawberry.argument(description="The role on accepting.")],
    ) -> InviteUserPayload:
        result, errors = await attempt(users.invite_user(_ctx(info), email, role.value))
        if result is None:
            return InviteUserPayload(user_errors=errors)
        invitation, url = result
        return InviteUserPayload(
            invitation=Invitation.of(invitation), invite_url=url, user_errors=[]
        )

    @strawberry.mutation(description="A session token for another workspace the user may use.")
    async def switch_workspace(
        self,
        info: strawberry.Info,
        workspace_id: Annotated[strawberry.ID, strawberry.argument(description="The workspace.")],
    ) -> SessionPayload:
        session, errors = await attempt(auth.switch_workspace(_ctx(info), workspace_id))
        if session is None:
            return SessionPayload(user_errors=errors)
        return SessionPayload(
            token=session.token,
            expires_at=session.expires_at,
            workspace_id=gid("Workspace", session.principal.workspace_id),
            user_errors=[],
        )

    @strawberry.mutation(description="Revoke every session token of the calling user.")
    async def logout_everywhere(self, info: strawberry.Info) -> OkPayload:
        _, errors = await attempt(auth.logout_everywhere(_ctx(info)))
        return OkPayload(ok=not errors, user_errors=errors)

    @strawberry.mutation(description="Owner only: let an agency organization act in this one.")
    async def grant_agency_access(
        self, info: strawberry.Info, agency_organization_id: AGENCY_ARG
    ) -> OkPayload:
        _, errors = await attempt(agencies.grant_agency_access(_ctx(info), agency_organization_id))
        return OkPayload(ok=not errors, user_errors=errors)

    @strawberry.mutation(description="Owner only: withdraw an agency's access.")
    async def revoke_agency_access(
        self, info: strawberry.Info, agency_organization_id: AGENCY_ARG
    ) -> OkPayload:
        _, errors = await attempt(agencies.revoke_agency_access(_ctx(info), agency_organization_id))
        return OkPayload(ok=not errors, user_errors=errors)


@strawberry.type
class AccountQueries:
    @strawberry.field(description="Who the credentials belong to and what they may do.")
    def viewer(self, info: strawberry.Info) -> Viewer:
        p = info.context.caller().principal
        return Viewer(
            kind=p.kind,
            label=p.label,
            role=Role(p.role) if p.role else None,
            permissions=sorted(perm.value for perm in p.permissions),
            workspace_id=gid("Workspace", p.workspace_id),
            organization_id=gid("Organization", p.organization_id),
        )

    @strawberry.field(description="The workspace the credentials act in.")
    async def workspace(self, info: strawberry.Info) -> Workspace:
        return Workspace.of(await workspaces.current(info.context.caller()))

    @strawberry.field(description="The organization's workspaces (an API key sees only its own).")
    async def workspaces(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Workspace]:
        page = await workspaces.list_workspaces(info.context.caller(), first, after)
        return connection(page, Workspace.of)

    @strawberry.field(description="A location by id; null if not found in this workspace.")
    async def location(self, info: strawberry.Info, id: ID_ARG) -> Location | None:
        doc = await locations.get_location(info.context.caller(), id)
        return Location.of(doc) if doc else None

    @strawberry.field(description="The locations (outlets) of this workspace.")
    async def locations(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Location]:
        page = await locations.list_locations(info.context.caller(), first, after)
        return connection(page, Location.of)

    @strawberry.field(
        name="property", description="An SDK property by id; null if not found in this workspace."
    )
    async def property_(self, info: strawberry.Info, id: ID_ARG) -> Property | None:
        doc = await sdk_properties.get_property(info.context.caller(), id)
        return Property.of(doc) if doc else None

    @strawberry.field(description="The SDK properties of this workspace.")
    async def properties(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Property]:
        page = await sdk_properties.list_properties(info.context.caller(), first, after)
        return connection(page, Property.of)

    @strawberry.field(
        description="The API keys of this workspace (admin only), revoked ones included."
    )
    async def api_keys(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        kind: Annotated[
            ApiKeyKind | None, strawberry.argument(description="Only keys of this kind.")
        ] = None,
    ) -> Connection[ApiKey]:
        page = await api_keys.list_keys(
            info.context.caller(), first, after, kind.value if kind else None
        )
        return connection(page, ApiKey.of)

    @strawberry.field(description="The members of this organization.")
    async def members(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Member]:
        page = await users.list_members(info.context.caller(), first, after)
        return connection(page, Member.of)

    @strawberry.field(description="Account-setup actions in this workspace, newest first.")
    async def audit_entries(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        action: Annotated[
            str | None, strawberry.argument(description="Only entries of this action.")
        ] = None,
    ) -> Connection[AuditEntry]:
        page = await audit.list_entries(info.context.caller(), first, after, action)
        return connection(page, AuditEntry.of)
