"""Engagement is recorded as ordinary events on the contact."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.contact import Contact
from resolvers.events.store import record_engagement
from tests.helpers import new_tenant
from tests.tracking_helpers import basic, contacts_of, events_of


async def test_engagement_events_feed_aggregates_and_consent(api, services):
    t = await new_tenant()
    await api.http.post("/v1/identify", json={"userId": "e1"}, headers=basic(t.write_key))
    [contact] = await contacts_of(t)
    ws = PydanticObjectId(t.workspace_id)
    ids = {"campaign_id": "c1", "message_id": "msg-1"}
    assert await record_engagement(
        ws, contact.id, "opened", "email", message_id="p-1", properties=ids
    )
    assert not await record_engagement(ws, contact.id, "opened", "email", message_id="p-1")  # retry
    assert await record_engagement(ws, contact.id, "unsubscribed", "email", message_id="p-2")
    contact = await Contact.get(contact.id)
    assert contact.event_stats["email_opened"]["count"] == 1
    assert contact.consent["email"]["status"] == "unsubscribed"
    opened = [e for e in await events_of(t) if e.event == "email_opened"]
    assert len(opened) == 1 and opened[0].properties == {**ids, "channel": "email"}
    assert opened[0].user_id is None and opened[0].contact_id == contact.id
