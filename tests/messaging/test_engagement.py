"""Engagement is recorded as ordinary events on the contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from beanie import PydanticObjectId

from documents.contact import Contact
from resolvers.events.store import record_engagement
from resolvers.messaging import queue
from tests.campaign_helpers import add_segment
from tests.helpers import eventually, new_tenant, raw
from tests.sending_helpers import EMAIL, configure, request, settled
from tests.smtp_server import smtp_server as running_smtp_server
from tests.tracking_helpers import basic, contacts_of, events_of


@pytest.fixture(name="smtp_server")
def smtp_fixture():
    with running_smtp_server() as server:
        yield server


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


async def test_sends_leave_a_contact_inactive_and_an_open_makes_it_active(
    api, services, smtp_server
):
    """A win-back email to someone inactive for 31 days keeps them in "inactive for 30
    days" (sent and delivered are Reach's doing); their open is their own activity."""
    inbox, url = smtp_server
    t = await new_tenant()
    setup = await configure(api, t, "email", {"provider": "smtp", "url": url, "from": "b@b.test"})
    assert setup["userErrors"] == []
    ws = PydanticObjectId(t.workspace_id)
    seen = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    identify = {"userId": "w1", "traits": {"email": "w1@example.com"}, "timestamp": seen}
    assert (
        await api.http.post("/v1/identify", json=identify, headers=basic(t.write_key))
    ).is_success
    [contact] = await contacts_of(t)
    inactive = {"property": "last_active_at", "op": "more_than_days_ago", "value": 30}
    segment = await add_segment(api, t, "Lapsed", inactive)

    async def members() -> list[str]:
        return (await Contact.get(contact.id)).segments

    assert await eventually(members) == [raw(segment)]
    row = await settled(
        (await queue.queue([request(t, contact.id, ["email"], EMAIL)]))[0].message_id
    )
    assert row.status == "sent" and len(inbox.messages) == 1
    assert await record_engagement(ws, contact.id, "delivered", "email", message_id="d-1")
    stored = await Contact.get(contact.id)
    assert stored.event_stats["email_sent"]["count"] == 1  # still counted under its name
    assert stored.last_active_at < datetime.now(UTC) - timedelta(days=30)
    assert stored.last_messaged_at is not None and stored.segments == [raw(segment)]

    assert await record_engagement(ws, contact.id, "opened", "email", message_id="o-1")
    stored = await Contact.get(contact.id)
    assert stored.last_active_at > datetime.now(UTC) - timedelta(days=1)
    assert stored.segments == []
