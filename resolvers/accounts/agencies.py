"""Agency links: a client organization's owner lets an agency organization act in it."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from documents.organization import AgencyLink, Organization
from engine.access import Role
from engine.errors import Conflict, Forbidden, NotFound
from resolvers.accounts import revocations
from resolvers.core import audit
from resolvers.core.context import RequestContext, parse_id


def _require_owner(ctx: RequestContext) -> None:
    if ctx.principal.role != Role.OWNER:
        raise Forbidden("Only an owner of this organization manages agency access.")


async def _agency(agency_organization_id: str) -> Organization:
    oid = parse_id(agency_organization_id, "Organization")
    agency = await Organization.get(oid) if oid else None
    if agency is None or agency.kind != "agency":
        raise NotFound("Agency organization not found.", field="agencyOrganizationId")
    return agency


async def grant_agency_access(ctx: RequestContext, agency_organization_id: str) -> AgencyLink:
    _require_owner(ctx)
    agency = await _agency(agency_organization_id)
    link = AgencyLink(
        agency_organization_id=agency.id, client_organization_id=ctx.principal.organization_id
    )
    try:
        await link.insert()
    except DuplicateKeyError as error:
        raise Conflict("That agency already has access.", field="agencyOrganizationId") from error
    await audit.record(
        ctx.principal, "agency.granted", "organization", agency.id, {"agency": agency.name}
    )
    return link


async def revoke_agency_access(ctx: RequestContext, agency_organization_id: str) -> None:
    _require_owner(ctx)
    agency = await _agency(agency_organization_id)
    result = await AgencyLink.find_one(
        {
            "agency_organization_id": agency.id,
            "client_organization_id": ctx.principal.organization_id,
        }
    ).delete()
    if not result or not result.deleted_count:
        raise NotFound("That agency has no access.", field="agencyOrganizationId")
    # The agency's users' live subscriptions in this organization are re-checked.
    await revocations.bump(organization_id=ctx.principal.organization_id)
    await audit.record(
        ctx.principal, "agency.revoked", "organization", agency.id, {"agency": agency.name}
    )
