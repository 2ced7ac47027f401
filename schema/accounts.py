"""Account setup over GraphQL: the caller, workspaces, outlets, SDK properties, API keys,
users and agencies, and the audit trail. Every mutation returns a payload with userErrors."""

from __future__ import annotations

from datetime import datetime

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


@strawberry.input
class CreateWorkspaceInput:
    name: str
    timezone: str = "UTC"


@strawberry.input
class UpdateWorkspaceInput:
    name: str | None = None
    timezone: str | None = None
    default_country: str | None = strawberry.field(
        default=None, description='ISO 3166 code (IN, US); "" clears it.'
    )


@strawberry.input
class CreateLocationInput:
    name: str
    code: str = strawberry.field(description="Outlet code used in URLs: a-z, 0-9 and dashes.")
    timezone: str | None = None


@strawberry.input
class CreatePropertyInput:
    name: str
    platform: Platform = Platform.WEB
    location_id: strawberry.ID | None = None


@strawberry.input
class IssueApiKeyInput:
    name: str
    scopes: list[str] | None = strawberry.field(
        default=None, description="read, write, track, approve, admin; all when omitted."
    )


@strawberry.type
class WorkspacePayload:
    workspace: Workspace | None = None
    user_errors: list[UserError]


@strawberry.type
class LocationPayload:
    location: Location | None = None
    user_errors: list[UserError]


@strawberry.type
class PropertyPayload:
    property: Property | None = None
    user_errors: list[UserError]


@strawberry.type
class IssueApiKeyPayload:
    api_key: ApiKey | None = None
    key: str | None = strawberry.field(
        default=None, description="The full key. Shown only in this response; store it now."
    )
    user_errors: list[UserError]


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey | None = None
    user_errors: list[UserError]


@strawberry.type
class InviteUserPayload:
    invitation: Invitation | None = None
    invite_url: str | None = strawberry.field(
        default=None, description="The accept link, also emailed. Shown only here."
    )
    user_errors: list[UserError]


@strawberry.type
class SessionPayload:
    token: str | None = None
    expires_at: datetime | None = None
    workspace_id: strawberry.ID | None = None
    user_errors: list[UserError]


@strawberry.type
class OkPayload:
    ok: bool
    user_errors: list[UserError]


def _ctx(info: strawberry.Info):
    return info.context.caller()


@strawberry.type
class AccountMutations:
    @strawberry.mutation
    async def create_workspace(
        self, info: strawberry.Info, input: CreateWorkspaceInput
    ) -> WorkspacePayload:
        doc, errors = await attempt(
            workspaces.create_workspace(_ctx(info), input.name, input.timezone), "input."
        )
        return WorkspacePayload(workspace=Workspace.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation
    async def rename_workspace(
        self, info: strawberry.Info, id: strawberry.ID, name: str
    ) -> WorkspacePayload:
        doc, errors = await attempt(workspaces.rename_workspace(_ctx(info), id, name))
        return WorkspacePayload(workspace=Workspace.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Change a workspace's name, timezone or phone country.")
    async def update_workspace(
        self, info: strawberry.Info, id: strawberry.ID, input: UpdateWorkspaceInput
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

    @strawberry.mutation
    async def create_location(
        self, info: strawberry.Info, input: CreateLocationInput
    ) -> LocationPayload:
        doc, errors = await attempt(
            locations.create_location(_ctx(info), input.name, input.code, input.timezone),
            "input.",
        )
        return LocationPayload(location=Location.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation
    async def rename_location(
        self, info: strawberry.Info, id: strawberry.ID, name: str
    ) -> LocationPayload:
        doc, errors = await attempt(locations.rename_location(_ctx(info), id, name))
        return LocationPayload(location=Location.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation
    async def create_property(
        self, info: strawberry.Info, input: CreatePropertyInput
    ) -> PropertyPayload:
        doc, errors = await attempt(
            sdk_properties.create_property(
                _ctx(info), input.name, input.platform.value, input.location_id
            ),
            "input.",
        )
        return PropertyPayload(property=Property.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation
    async def rename_property(
        self, info: strawberry.Info, id: strawberry.ID, name: str
    ) -> PropertyPayload:
        doc, errors = await attempt(sdk_properties.rename_property(_ctx(info), id, name))
        return PropertyPayload(property=Property.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Issue a secret API key; the key is shown once.")
    async def issue_api_key(
        self, info: strawberry.Info, input: IssueApiKeyInput
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
        self, info: strawberry.Info, property_id: strawberry.ID, name: str
    ) -> IssueApiKeyPayload:
        result, errors = await attempt(api_keys.issue_write_key(_ctx(info), property_id, name))
        if result is None:
            return IssueApiKeyPayload(user_errors=errors)
        doc, plaintext = result
        return IssueApiKeyPayload(api_key=ApiKey.of(doc), key=plaintext, user_errors=[])

    @strawberry.mutation
    async def revoke_api_key(self, info: strawberry.Info, id: strawberry.ID) -> ApiKeyPayload:
        doc, errors = await attempt(api_keys.revoke_key(_ctx(info), id))
        return ApiKeyPayload(api_key=ApiKey.of(doc) if doc else None, user_errors=errors)

    @strawberry.mutation(description="Invite someone to this organization; emails the link.")
    async def invite_user(self, info: strawberry.Info, email: str, role: Role) -> InviteUserPayload:
        result, errors = await attempt(users.invite_user(_ctx(info), email, role.value))
        if result is None:
            return InviteUserPayload(user_errors=errors)
        invitation, url = result
        return InviteUserPayload(
            invitation=Invitation.of(invitation), invite_url=url, user_errors=[]
        )

    @strawberry.mutation(description="A session token for another workspace the user may use.")
    async def switch_workspace(
        self, info: strawberry.Info, workspace_id: strawberry.ID
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
        self, info: strawberry.Info, agency_organization_id: strawberry.ID
    ) -> OkPayload:
        _, errors = await attempt(agencies.grant_agency_access(_ctx(info), agency_organization_id))
        return OkPayload(ok=not errors, user_errors=errors)

    @strawberry.mutation(description="Owner only: withdraw an agency's access.")
    async def revoke_agency_access(
        self, info: strawberry.Info, agency_organization_id: strawberry.ID
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

    @strawberry.field
    async def workspaces(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Workspace]:
        page = await workspaces.list_workspaces(info.context.caller(), first, after)
        return connection(page, Workspace.of)

    @strawberry.field
    async def location(self, info: strawberry.Info, id: strawberry.ID) -> Location | None:
        doc = await locations.get_location(info.context.caller(), id)
        return Location.of(doc) if doc else None

    @strawberry.field
    async def locations(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Location]:
        page = await locations.list_locations(info.context.caller(), first, after)
        return connection(page, Location.of)

    @strawberry.field(name="property")
    async def property_(self, info: strawberry.Info, id: strawberry.ID) -> Property | None:
        doc = await sdk_properties.get_property(info.context.caller(), id)
        return Property.of(doc) if doc else None

    @strawberry.field
    async def properties(
        self, info: strawberry.Info, first: First = None, after: After = None
    ) -> Connection[Property]:
        page = await sdk_properties.list_properties(info.context.caller(), first, after)
        return connection(page, Property.of)

    @strawberry.field
    async def api_keys(
        self,
        info: strawberry.Info,
        first: First = None,
        after: After = None,
        kind: ApiKeyKind | None = None,
    ) -> Connection[ApiKey]:
        page = await api_keys.list_keys(
            info.context.caller(), first, after, kind.value if kind else None
        )
        return connection(page, ApiKey.of)

    @strawberry.field
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
        action: str | None = None,
    ) -> Connection[AuditEntry]:
        page = await audit.list_entries(info.context.caller(), first, after, action)
        return connection(page, AuditEntry.of)
