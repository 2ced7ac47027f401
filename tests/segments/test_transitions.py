"""Segment transitions cost one write per contact, whatever the number of segments it
enters or exits (resolvers.segments.transitions.apply_many): on an engine whose cost is per
document written, a new contact entering five segments must not cost ten updates."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.segment import Segment
from tests.helpers import new_tenant, raw
from tests.query_plans import RECORDER
from tests.segments.test_segments import create_segment, segment_events
from tests.tracking_helpers import basic


def transition_writes(commands) -> list:
    return [
        c
        for c in commands
        if c.name == "update" and c.collection == "contacts" and "transitions.py" in c.where
    ]


async def test_contacts_entering_many_segments_are_written_once_each(api):
    t = await new_tenant()
    pro = [
        await create_segment(api, t, f"Pro {n}", {"property": "plan", "op": "eq", "value": "pro"})
        for n in range(4)
    ]
    pune = await create_segment(api, t, "Pune", {"property": "city", "op": "eq", "value": "Pune"})
    batch = [
        {"type": "identify", "userId": f"u{n}", "traits": {"plan": "pro", "city": "Pune"}}
        for n in range(3)
    ]
    with RECORDER.recording() as commands:
        response = await api.http.post(
            "/v1/batch", json={"batch": batch}, headers=basic(t.write_key)
        )
        assert response.status_code == 200, response.text
    # 3 contacts x 5 segments entered: one membership write per contact.
    assert len(transition_writes(commands)) == 3
    workspace = PydanticObjectId(t.workspace_id)
    for segment in await Segment.find({"workspace_id": workspace}).to_list():
        assert segment.member_count == 3, segment.name
    contacts = await Contact.find({"workspace_id": workspace}).to_list()
    wanted = {raw(s["id"]) for s in pro} | {raw(pune["id"])}
    for contact in contacts:
        assert set(contact.segments) == wanted
        assert contact.event_stats["segment_entered"]["count"] == 5
    assert len(await segment_events(t, "segment_entered")) == 15

    # Leaving four segments and staying in one: $pull in one more write per contact.
    batch = [{"type": "identify", "userId": f"u{n}", "traits": {"plan": "free"}} for n in range(3)]
    with RECORDER.recording() as commands:
        response = await api.http.post(
            "/v1/batch", json={"batch": batch}, headers=basic(t.write_key)
        )
        assert response.status_code == 200, response.text
    assert len(transition_writes(commands)) == 3
    for contact in await Contact.find({"workspace_id": workspace}).to_list():
        assert contact.segments == [raw(pune["id"])]
        assert contact.event_stats["segment_exited"]["count"] == 4
    assert len(await segment_events(t, "segment_exited")) == 12
    counts = {
        s.name: s.member_count for s in await Segment.find({"workspace_id": workspace}).to_list()
    }
    assert counts == {"Pro 0": 0, "Pro 1": 0, "Pro 2": 0, "Pro 3": 0, "Pune": 3}
