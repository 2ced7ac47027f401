"""Identity resolution and merges through the tracking API, including races."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from beanie import PydanticObjectId

from documents.workspace import Workspace
from tests.helpers import gid, new_tenant
from tests.tracking_helpers import basic, contacts_of, events_of

CONTACT = """query($id: ID!) { contact(id: $id) { id userId email phone anonymousIds tags properties
  events { totalCount edges { node { event messageId } } } eventStats { name count } } }"""


async def send(api, tenant, *messages):
    response = await api.http.post(
        "/v1/batch", json={"batch": list(messages)}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def at(minutes_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def test_anonymous_visitor_becomes_the_identified_user(api, services):
    t = await new_tenant()
    await send(api, t, {"type": "page", "anonymousId": "anon-1", "name": "Pricing"})
    await send(api, t, {"type": "track", "anonymousId": "anon-1", "event": "added_to_cart"})
    await send(
        api,
        t,
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "u-1",
            "traits": {"email": "A@Example.com"},
        },
    )
    [contact] = await contacts_of(t)
    assert (contact.user_id, contact.email, contact.anonymous_ids) == (
        "u-1",
        "a@example.com",
        ["anon-1"],
    )
    assert len(await events_of(t)) == 3
    assert {e.contact_id for e in await events_of(t)} == {contact.id}


async def test_a_message_naming_two_contacts_merges_them(api, services):
    t = await new_tenant()
    await send(
        api,
        t,
        {
            "type": "identify",
            "anonymousId": "device-a",
            "timestamp": at(30),
            "traits": {"email": "sam@example.com", "plan": "free", "city": "Pune"},
        },
        {
            "type": "track",
            "anonymousId": "device-a",
            "event": "order_completed",
            "timestamp": at(29),
        },
        {
            "type": "identify",
            "userId": "sam",
            "anonymousId": "device-b",
            "timestamp": at(10),
            "traits": {"plan": "pro", "phone": "+14155550100"},
        },
        {"type": "track", "userId": "sam", "event": "order_completed", "timestamp": at(9)},
    )
    assert len(await contacts_of(t)) == 2
    by_email = next(c for c in await contacts_of(t) if c.email)
    await api.gql(
        t.secret_key,
        'mutation($id: ID!) { tagContact(id: $id, tags: ["vip"]) { contact { id } } }',
        {"id": str(by_email.id)},
    )
    # One message names both: user id "sam" and the email of the other contact.
    report = await send(
        api, t, {"type": "identify", "userId": "sam", "traits": {"email": "sam@example.com"}}
    )
    assert report["warnings"] == []
    [survivor] = await contacts_of(t)
    assert survivor.user_id == "sam" and survivor.email == "sam@example.com"
    assert survivor.phone == "+14155550100"
    assert sorted(survivor.anonymous_ids) == ["device-a", "device-b"]
    assert survivor.properties == {"plan": "pro", "city": "Pune"}  # latest write wins
    assert survivor.tags == ["vip"]
    assert survivor.event_stats["order_completed"]["count"] == 2
    assert {e.contact_id for e in await events_of(t)} == {survivor.id}
    # The merged-away id still resolves, to the survivor.
    assert by_email.id != survivor.id  # the user-id contact survives
    data = await api.gql(t.secret_key, CONTACT, {"id": str(by_email.id)})
    assert data["contact"]["id"] == gid("Contact", survivor.id)
    assert data["contact"]["events"]["totalCount"] == 5


async def test_two_known_users_never_merge(api, services):
    t = await new_tenant()
    await send(
        api, t, {"type": "identify", "userId": "alice", "traits": {"email": "shared@example.com"}}
    )
    report = await send(
        api, t, {"type": "identify", "userId": "bob", "traits": {"email": "shared@example.com"}}
    )
    assert report["accepted"] == 1
    assert report["warnings"][0]["field"] == "email"
    contacts = {c.user_id: c for c in await contacts_of(t)}
    assert set(contacts) == {"alice", "bob"}
    assert contacts["alice"].email == "shared@example.com" and contacts["bob"].email is None


async def test_a_device_shared_by_two_users(api, services):
    t = await new_tenant()
    await send(api, t, {"type": "identify", "userId": "alice", "anonymousId": "kiosk-1"})
    report = await send(
        api, t, {"type": "track", "userId": "bob", "anonymousId": "kiosk-1", "event": "x"}
    )
    assert report["accepted"] == 1
    contacts = {c.user_id: c for c in await contacts_of(t)}
    assert set(contacts) == {"alice", "bob"}
    bobs_events = [e for e in await events_of(t) if e.contact_id == contacts["bob"].id]
    assert [e.event for e in bobs_events] == ["x"]


async def test_alias_links_a_previous_id(api, services):
    t = await new_tenant()
    await send(api, t, {"type": "track", "anonymousId": "old-anon", "event": "viewed"})
    await send(api, t, {"type": "alias", "previousId": "old-anon", "userId": "new-user"})
    [contact] = await contacts_of(t)
    assert contact.user_id == "new-user" and "old-anon" in contact.anonymous_ids
    # alias of a previous *user id*: the two users are one person from now on.
    await send(api, t, {"type": "identify", "userId": "legacy-42", "traits": {"plan": "gold"}})
    await send(api, t, {"type": "alias", "previousId": "legacy-42", "userId": "new-user"})
    [contact] = await contacts_of(t)
    assert contact.user_id == "new-user" and contact.properties["plan"] == "gold"
    assert "legacy-42" in contact.anonymous_ids
    assert len(await events_of(t)) == 4


async def test_first_sightings_racing_each_other_create_one_contact(api, services):
    t = await new_tenant()

    async def first_sighting(i: int):
        return await api.http.post(
            "/v1/identify",
            json={"anonymousId": f"tab-{i}", "traits": {"email": "racer@example.com"}},
            headers=basic(t.write_key),
        )

    responses = await asyncio.gather(*(first_sighting(i) for i in range(8)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    [contact] = await contacts_of(t)
    assert sorted(contact.anonymous_ids) == sorted(f"tab-{i}" for i in range(8))
    assert len(await events_of(t)) == 8

    async def same_user(i: int):
        return await api.http.post(
            "/v1/track", json={"userId": "racer-2", "event": "tap"}, headers=basic(t.write_key)
        )

    await asyncio.gather(*(same_user(i) for i in range(8)))
    racers = [c for c in await contacts_of(t) if c.user_id == "racer-2"]
    assert len(racers) == 1 and racers[0].event_stats["tap"]["count"] == 8


async def test_phones_are_normalised_with_the_workspace_country(api, services):
    t = await new_tenant()
    await Workspace.find_one({"_id": PydanticObjectId(t.workspace_id)}).update(
        {"$set": {"default_country": "IN"}}
    )
    report = await send(
        api,
        t,
        {"type": "identify", "userId": "p1", "traits": {"phone": "098765 43210"}},
        {"type": "identify", "userId": "p2", "traits": {"phone": "not a phone"}},
    )
    assert [w["field"] for w in report["warnings"]] == ["phone"]
    phones = {c.user_id: c.phone for c in await contacts_of(t)}
    assert phones == {"p1": "+919876543210", "p2": None}
    # The same number written another way is the same person.
    await send(
        api, t, {"type": "identify", "anonymousId": "z", "traits": {"phone": "+91 98765-43210"}}
    )
    assert len(await contacts_of(t)) == 2


async def test_older_writes_do_not_overwrite_newer_ones(api, services):
    t = await new_tenant()
    await send(
        api, t, {"type": "identify", "userId": "u", "timestamp": at(5), "traits": {"plan": "pro"}}
    )
    await send(
        api,
        t,
        {
            "type": "identify",
            "userId": "u",
            "timestamp": at(60),
            "traits": {"plan": "free", "city": "Goa"},
        },
    )
    [contact] = await contacts_of(t)
    assert contact.properties == {"plan": "pro", "city": "Goa"}
    await send(api, t, {"type": "identify", "userId": "u", "traits": {"city": None}})
    [contact] = await contacts_of(t)
    assert contact.properties == {"plan": "pro"}


async def test_custom_fields_coerce_and_reject_values(api, services):
    t = await new_tenant()
    for key, kind in (
        ("ltv", "NUMBER"),
        ("vip", "BOOLEAN"),
        ("renewal", "DATE"),
        ("interests", "LIST"),
    ):
        data = await api.gql(
            t.secret_key,
            "mutation($k: String!, $t: FieldType!) { defineCustomField(key: $k, type: $t) "
            "{ customField { key type } userErrors { field } } }",
            {"k": key, "t": kind},
        )
        assert data["defineCustomField"]["userErrors"] == []
    report = await send(
        api,
        t,
        {
            "type": "identify",
            "userId": "c1",
            "traits": {
                "ltv": "1200.50",
                "vip": "yes",
                "renewal": "2027-01-31",
                "interests": "golf, wine",
                "birthday": "1990-05-01",
                "nickname": "Cee",
            },
        },
        {
            "type": "identify",
            "userId": "c2",
            "traits": {"ltv": "lots", "vip": "maybe", "renewal": "soon", "ok": 1},
        },
    )
    assert sorted(w["field"] for w in report["warnings"]) == [
        "traits.ltv",
        "traits.renewal",
        "traits.vip",
    ]
    contacts = {c.user_id: c for c in await contacts_of(t)}
    c1 = contacts["c1"].properties
    assert c1["ltv"] == 1200.5 and c1["vip"] is True and c1["interests"] == ["golf", "wine"]
    assert c1["renewal"].date().isoformat() == "2027-01-31"
    assert c1["birthday"].date().isoformat() == "1990-05-01"
    assert c1["nickname"] == "Cee"  # undeclared keys are stored as sent
    assert contacts["c2"].properties == {"ok": 1}
    # The raw traits stay on the event: nothing the caller sent is lost.
    raw = next(e for e in await events_of(t) if e.user_id == "c2")
    assert raw.traits["ltv"] == "lots"


async def test_emails_the_old_regex_let_through_are_reported_and_the_rest_stored(api, services):
    t = await new_tenant()
    bad = ["a..b@example.com", ".a@example.com", "a@-example.com", "a@example..com"]
    bad += ["a@exa_mple.com", "a@example.123", "a(b)@example.com"]
    batch = [
        {"type": "identify", "userId": f"bad-{i}", "messageId": f"bad-{i}", "traits": {"email": e}}
        for i, e in enumerate(bad)
    ]
    batch.insert(3, {"type": "identify", "userId": "good", "traits": {"email": "Ok@Example.com"}})
    report = await send(api, t, *batch)
    assert report["accepted"] == len(batch) and report["rejected"] == []
    warnings = {w["messageId"]: w for w in report["warnings"]}
    assert sorted(warnings) == sorted(f"bad-{i}" for i in range(len(bad)))
    for warning in warnings.values():
        assert warning["field"] == "email"
        assert warning["reason"].startswith("email ignored: Not a valid email address: ")
    assert "two periods in a row" in warnings["bad-0"]["reason"]
    assert "invalid characters: '_'" in warnings["bad-4"]["reason"]
    emails = {c.user_id: c.email for c in await contacts_of(t)}
    assert emails == {"good": "ok@example.com", **{f"bad-{i}": None for i in range(len(bad))}}
    # The valid address still resolves the same person, however it is cased.
    await send(api, t, {"type": "track", "userId": "good", "event": "e", "email": "OK@example.COM"})
    assert len(await contacts_of(t)) == len(bad) + 1


async def test_a_phone_without_country_code_on_a_workspace_without_country(api, services):
    t = await new_tenant()
    report = await send(
        api,
        t,
        {"type": "identify", "userId": "p1", "messageId": "p1", "traits": {"phone": "5551234567"}},
        {"type": "identify", "userId": "p2", "traits": {"phone": "+1 415 555 0132"}},
    )
    assert report["warnings"] == [
        {
            "index": 0,
            "messageId": "p1",
            "reason": "phone ignored: phone '5551234567' has no country code; write it as "
            "+<country code>5551234567 or set the workspace's defaultCountry.",
            "field": "phone",
        }
    ]
    phones = {c.user_id: c.phone for c in await contacts_of(t)}
    assert phones == {"p1": None, "p2": "+14155550132"}
