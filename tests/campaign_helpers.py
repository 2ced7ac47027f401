"""Helpers for the campaign tests: GraphQL documents, contacts, segments, message rows."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from documents.campaign import Campaign
from documents.message import OutboundMessage
from tests.helpers import as_raw, eventually, raw

FIELDS = (
    "id name status kind mode goal run nextRunAt segmentIds excludeSegmentIds channels "
    "locationId allOutlets variants { key weight content } "
    "approval { state requestedBy decidedBy comment } "
    "abTest { testFraction metric windowHours onTimeout } "
    "schedule { sendAt timezone recurrence sto { enabled windowHours } } "
    "trigger { event where segmentId cooldownHours } "
    "conversionGoal { event windowHours revenueProperty } "
    "runs { run phase winner targeted branches } counters { key count }"
)
ERRORS = "userErrors { field message code }"
CREATE = (
    "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { "
    + FIELDS
    + " } "
    + ERRORS
    + " } }"
)
UPDATE = (
    "mutation($id: ID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input) {"
    " campaign { " + FIELDS + " } " + ERRORS + " } }"
)
GET = "query($id: ID!) { campaign(id: $id) { " + FIELDS + " } }"
ANALYTICS = (
    "query($id: ID!, $run: Int) { campaign(id: $id) { analytics(run: $run) { "
    "totals { targeted sent delivered bounced failed opened clicked replied unsubscribed "
    "converted revenue } variants { key numbers { targeted sent opened converted } } "
    "channels { key numbers { targeted sent } } reasons { status reason count } } } }"
)
CREATE_CONTACT = (
    "mutation($input: ContactInput!) { createContact(input: $input) { contact { id } "
    "userErrors { field message } } }"
)
CREATE_SEGMENT = (
    "mutation($input: SegmentInput!) { createSegment(input: $input) { segment { id } "
    "userErrors { field message } } }"
)


def action(name: str, comment_type: str | None = None) -> str:
    """A lifecycle mutation on one campaign (with a comment argument of that type)."""
    if comment_type is None:
        head, call = "$id: ID!", "id: $id"
    else:
        head, call = f"$id: ID!, $comment: {comment_type}", "id: $id, comment: $comment"
    return f"mutation({head}) {{ {name}({call}) {{ campaign {{ {FIELDS} }} {ERRORS} }} }}"


EMAIL = {"subject": "Hello {{ contact.first_name | default('there') }}", "text": "Hi!"}
SMS = {"text": "Hi {{ contact.first_name | default('there') }}"}


def definition(segment_ids: list[str], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Launch",
        "segmentIds": segment_ids,
        "channels": ["email", "sms"],
        "variants": [{"key": "A", "weight": 100, "content": {"email": EMAIL, "sms": SMS}}],
    }
    data.update(extra)
    return data


async def add_contact(api, tenant, **fields: Any) -> str:
    """The new contact's raw id (what stored rows hold; GraphQL accepts it as input)."""
    data = await api.gql(tenant.secret_key, CREATE_CONTACT, {"input": fields})
    assert data["createContact"]["userErrors"] == [], data
    return raw(data["createContact"]["contact"]["id"])


async def add_segment(api, tenant, name: str, rules: dict, **extra: Any) -> str:
    data = await api.gql(
        tenant.secret_key, CREATE_SEGMENT, {"input": {"name": name, "rules": rules, **extra}}
    )
    assert data["createSegment"]["userErrors"] == [], data
    return data["createSegment"]["segment"]["id"]


async def create(api, token: str, data: dict[str, Any]) -> dict[str, Any]:
    payload = (await api.gql(token, CREATE, {"input": data}))["createCampaign"]
    assert payload["userErrors"] == [], payload
    return payload["campaign"]


async def call(
    api, token: str, name: str, campaign_id: str, comment: str | None = None, typed: str = ""
) -> dict[str, Any]:
    """Run a lifecycle mutation; `typed` is the comment's GraphQL type when one is sent."""
    variables: dict[str, Any] = {"id": campaign_id}
    if typed:
        variables["comment"] = comment
    return (await api.gql(token, action(name, typed or None), variables))[name]


async def get(api, token: str, campaign_id: str) -> dict[str, Any]:
    return (await api.gql(token, GET, {"id": campaign_id}))["campaign"]


async def rows(tenant, campaign_id: str, **query: Any) -> list[OutboundMessage]:
    return await OutboundMessage.find(
        {
            "workspace_id": PydanticObjectId(tenant.workspace_id),
            "source_id": as_raw(campaign_id),
            **query,
        }
    ).to_list()


async def stored(tenant, campaign_id: str) -> Campaign:
    return await Campaign.find_one(
        {
            "_id": PydanticObjectId(as_raw(campaign_id)),
            "workspace_id": PydanticObjectId(tenant.workspace_id),
        }
    )


async def until_status(tenant, campaign_id: str, *statuses: str, timeout: float = 60) -> Campaign:
    async def probe():
        campaign = await stored(tenant, campaign_id)
        return campaign if campaign.status in statuses else None

    return await eventually(probe, timeout=timeout)
