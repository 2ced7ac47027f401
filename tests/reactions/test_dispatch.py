"""Reactions as a registry: stored events reach the handler each domain registered for its
listener kind, every kind a domain writes is wired, and an unwired kind fails loudly."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId

from documents.event import Event
from documents.listener import Listener
from reach import wiring
from resolvers.campaigns import listeners as campaign_listeners
from resolvers.journeys import listeners as journey_listeners
from resolvers.reactions import dispatch, table
from tests.helpers import new_tenant


async def _stored_event(workspace_id: PydanticObjectId, name: str) -> Event:
    now = datetime.now(UTC)
    event = Event(
        workspace_id=workspace_id,
        contact_id=PydanticObjectId(),
        type="track",
        message_id=uuid.uuid4().hex,
        event=name,
        timestamp=now,
        received_at=now,
    )
    await event.insert()
    return event


async def test_every_kind_the_domains_write_is_wired(services):
    # open_services wired them; wiring again is harmless (every process calls it once).
    wiring.wire()
    assert dispatch.handled_kinds() == [journey_listeners.KIND, campaign_listeners.KIND]
    assert table.kind_of(journey_listeners.owner("x")) == journey_listeners.KIND
    assert table.kind_of(campaign_listeners.owner("x")) == campaign_listeners.KIND


async def test_a_second_handler_for_a_kind_is_a_wiring_mistake(services):
    async def other(workspace_id, events, listeners):
        return None

    with pytest.raises(ValueError, match="already has a handler"):
        dispatch.register(journey_listeners.KIND, other)


async def test_events_reach_the_handler_of_their_kind_and_an_unwired_kind_raises(
    services, monkeypatch
):
    t = await new_tenant()
    ws = PydanticObjectId(t.workspace_id)
    seen: list[tuple[list[str], list[str]]] = []

    async def probe(workspace_id, events, listeners):
        assert workspace_id == ws
        seen.append(([e["event"] for e in events], [row.owner for row in listeners]))

    monkeypatch.setitem(dispatch._handlers, "probe", probe)
    await table.listen(ws, table.owner("probe", "p1"), {"trigger": ["signed_up"]})
    await table.listen(ws, table.owner("ghost", "g1"), {"wait": ["signed_up"]})
    event = await _stored_event(ws, "signed_up")

    with pytest.raises(dispatch.Unwired, match="ghost"):
        await dispatch.react(str(ws), [str(event.id)])
    # The wired kind got its share (only its own listener rows) before the failure.
    assert seen == [(["signed_up"], ["probe:p1"])]

    await table.stop_listening(ws, table.owner("ghost", "g1"))
    seen.clear()
    await dispatch.react(str(ws), [str(event.id)])
    assert seen == [(["signed_up"], ["probe:p1"])]

    # Another workspace's listeners never see this workspace's events.
    other = await new_tenant()
    await table.listen(
        PydanticObjectId(other.workspace_id), table.owner("ghost", "g2"), {"wait": ["signed_up"]}
    )
    seen.clear()
    await dispatch.react(str(ws), [str(event.id)])
    assert seen == [(["signed_up"], ["probe:p1"])]
    assert await Listener.find({"workspace_id": ws}).count() == 1
