"""Helpers for tests that send: contacts, channel setup, queueing and waiting for outcomes."""

from __future__ import annotations

import uuid
from typing import Any

from beanie import PydanticObjectId

from documents.message import OutboundMessage
from resolvers.messaging import queue
from tests.helpers import eventually, raw

CREATE_CONTACT = """mutation($input: ContactInput!) {
  createContact(input: $input) { contact { id } userErrors { field message code } }
}"""
CONFIGURE = """mutation($channel: SendChannel!, $provider: String!, $config: JSON!, $loc: ID) {
  configureChannel(channel: $channel, provider: $provider, config: $config, locationId: $loc) {
    channelConfig { id channel provider settings secretFields }
    userErrors { field message code }
  }
}"""


async def contact(api, tenant, **fields: Any) -> PydanticObjectId:
    data = await api.gql(tenant.secret_key, CREATE_CONTACT, {"input": fields})
    payload = data["createContact"]
    assert payload["userErrors"] == [], payload
    return PydanticObjectId(raw(payload["contact"]["id"]))


async def configure(api, tenant, channel: str, config: dict[str, Any], loc: str | None = None):
    config = dict(config)
    provider = config.pop("provider")
    # The GraphQL enum name of a stored channel: "web_push" -> WEB_PUSH.
    variables = {"channel": channel.upper(), "provider": provider, "config": config, "loc": loc}
    data = await api.gql(tenant.secret_key, CONFIGURE, variables)
    return data["configureChannel"]


def request(
    tenant,
    contact_id: PydanticObjectId,
    channels: list[str],
    content: dict[str, dict[str, str]],
    **extra: Any,
) -> queue.SendRequest:
    return queue.SendRequest(
        workspace_id=PydanticObjectId(tenant.workspace_id),
        contact_id=contact_id,
        source=extra.pop("source", "campaign"),
        source_id=extra.pop("source_id", "test-" + uuid.uuid4().hex[:8]),
        idempotency_key=extra.pop("key", "test:" + uuid.uuid4().hex),
        channels=channels,
        content=content,
        **extra,
    )


async def settled(
    message_id: PydanticObjectId, statuses=("sent", "delivered", "failed", "skipped")
):
    async def probe():
        row = await OutboundMessage.get(message_id)
        return row if row and row.status in statuses else None

    return await eventually(probe, timeout=30)


EMAIL = {"email": {"subject": "Hi {{ contact.first_name | default('there') }}", "text": "Hello"}}
SMS = {"sms": {"text": "Hi {{ contact.first_name | default('there') }}"}}
