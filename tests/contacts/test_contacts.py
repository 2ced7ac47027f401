"""Contacts through GraphQL: create, update (merge-patch), tag, consent, list, events, erase."""

from __future__ import annotations

from documents.audit import AuditEntry
from tests.helpers import gid, new_tenant
from tests.tracking_helpers import basic, contacts_of, events_of

FIELDS = "id userId email phone properties tags locationId consent { channel status source }"
CREATE = (
    "mutation($input: ContactInput!) { createContact(input: $input) { contact { %s } userErrors { field message code } } }"
    % FIELDS
)
UPDATE = (
    "mutation($id: ID!, $input: ContactInput!) { updateContact(id: $id, input: $input) { contact { %s } userErrors { field message code } } }"
    % FIELDS
)


async def create(api, key, **values):
    data = await api.gql(key, CREATE, {"input": values})
    return data["createContact"]


async def test_create_and_update_with_merge_patch(api, services):
    t = await new_tenant()
    created = await create(
        api,
        t.secret_key,
        email="Ravi@Example.com",
        phone="+91 98200 00001",
        properties={"first_name": "Ravi", "city": "Mumbai", "plan": "pro"},
        tags=["lead", "lead"],
    )
    assert created["userErrors"] == []
    contact = created["contact"]
    assert (contact["email"], contact["phone"], contact["tags"]) == (
        "ravi@example.com",
        "+919820000001",
        ["lead"],
    )
    data = await api.gql(
        t.secret_key,
        UPDATE,
        {
            "id": contact["id"],
            "input": {"properties": {"city": None, "plan": "enterprise", "pets": 2}},
        },
    )
    assert data["updateContact"]["contact"]["properties"] == {
        "first_name": "Ravi",
        "plan": "enterprise",
        "pets": 2,
    }
    assert data["updateContact"]["contact"]["email"] == "ravi@example.com"  # untouched


async def test_identifier_conflicts_and_bad_values_are_field_errors(api, services):
    t = await new_tenant()
    await create(api, t.secret_key, email="taken@example.com")
    other = (await create(api, t.secret_key, userId="u-2"))["contact"]
    cases = [
        (await create(api, t.secret_key, email="taken@example.com"), "input.email", "CONFLICT"),
        (await create(api, t.secret_key, email="nope"), "input.email", "INVALID"),
        (await create(api, t.secret_key, phone="12"), "input.phone", "INVALID"),
        (await create(api, t.secret_key, properties={"a.b": 1}), "input.email", "INVALID"),
        (
            await create(api, t.secret_key, userId="x", properties={"$where": 1}),
            "input.properties.$where",
            "INVALID",
        ),
        (
            await create(api, t.secret_key, userId="y", locationId="missing"),
            "input.locationId",
            "NOT_FOUND",
        ),
    ]
    for payload, field, code in cases:
        assert payload["contact"] is None
        assert (payload["userErrors"][0]["field"], payload["userErrors"][0]["code"]) == (
            field,
            code,
        ), payload
    await api.gql(
        t.secret_key,
        'mutation { defineCustomField(key: "score", type: NUMBER) { customField { key } } }',
    )
    data = await api.gql(
        t.secret_key, UPDATE, {"id": other["id"], "input": {"properties": {"score": "high"}}}
    )
    assert data["updateContact"]["userErrors"][0]["field"] == "input.properties.score"
    data = await api.gql(
        t.secret_key, UPDATE, {"id": other["id"], "input": {"email": "taken@example.com"}}
    )
    assert data["updateContact"]["userErrors"][0]["code"] == "CONFLICT"
    assert len(await contacts_of(t)) == 2


async def test_tags_consent_and_listing(api, services):
    t = await new_tenant()
    ids = []
    for i in range(4):
        contact = (
            await create(
                api, t.secret_key, email=f"p{i}@example.com", properties={"name": f"Person {i}"}
            )
        )["contact"]
        ids.append(contact["id"])
    await api.gql(
        t.secret_key,
        'mutation($id: ID!) { tagContact(id: $id, tags: ["vip", " vip "]) { contact { tags } } }',
        {"id": ids[1]},
    )
    await api.gql(
        t.secret_key,
        'mutation($id: ID!) { tagContact(id: $id, tags: ["vip", "b2b"]) { contact { tags } } }',
        {"id": ids[2]},
    )
    data = await api.gql(
        t.secret_key,
        'mutation($id: ID!) { untagContact(id: $id, tags: ["b2b"]) { contact { tags } } }',
        {"id": ids[2]},
    )
    assert data["untagContact"]["contact"]["tags"] == ["vip"]
    data = await api.gql(
        t.secret_key,
        'mutation($id: ID!) { unsubscribeContact(id: $id, channel: WHATSAPP, source: "reply STOP") { contact { consent { channel status source } } } }',
        {"id": ids[0]},
    )
    consent = {c["channel"]: c for c in data["unsubscribeContact"]["contact"]["consent"]}
    assert consent["WHATSAPP"] == {
        "channel": "WHATSAPP",
        "status": "UNSUBSCRIBED",
        "source": "reply STOP",
    }
    assert consent["EMAIL"]["status"] == "UNKNOWN"

    listed = await api.gql(
        t.secret_key, '{ contacts(tag: "vip") { totalCount edges { node { id } } } }'
    )
    assert sorted(e["node"]["id"] for e in listed["contacts"]["edges"]) == sorted(ids[1:3])
    found = await api.gql(t.secret_key, '{ contacts(search: "p3@") { edges { node { id } } } }')
    assert [e["node"]["id"] for e in found["contacts"]["edges"]] == [ids[3]]
    found = await api.gql(
        t.secret_key, '{ contacts(search: "person 2") { edges { node { id } } } }'
    )
    assert [e["node"]["id"] for e in found["contacts"]["edges"]] == [ids[2]]
    hostile = await api.gql(t.secret_key, '{ contacts(search: ".*(a+)+$") { totalCount } }')
    assert hostile["contacts"]["totalCount"] == 0
    oldest = await api.gql(
        t.secret_key,
        "{ contacts(orderBy: OLDEST, first: 2) { edges { node { id } } pageInfo { endCursor } } }",
    )
    assert [e["node"]["id"] for e in oldest["contacts"]["edges"]] == ids[:2]
    after = oldest["contacts"]["pageInfo"]["endCursor"]
    rest = await api.gql(
        t.secret_key,
        "query($a: String) { contacts(orderBy: OLDEST, after: $a) { edges { node { id } } } }",
        {"a": after},
    )
    assert [e["node"]["id"] for e in rest["contacts"]["edges"]] == ids[2:]


async def test_recently_active_order_pages_through_everyone(api, services):
    t = await new_tenant()
    batch = [
        {
            "type": "track",
            "userId": f"u{i}",
            "event": "e",
            "timestamp": f"2026-01-0{i + 1}T00:00:00Z",
        }
        for i in range(5)
    ]
    await api.http.post("/v1/batch", json={"batch": batch}, headers=basic(t.write_key))
    query = "query($a: String) { contacts(orderBy: RECENTLY_ACTIVE, first: 2, after: $a) { edges { node { userId } } pageInfo { hasNextPage endCursor } } }"
    seen, after = [], None
    while True:
        page = (await api.gql(t.secret_key, query, {"a": after}))["contacts"]
        seen += [e["node"]["userId"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["u4", "u3", "u2", "u1", "u0"]


async def test_track_events_mutation_and_contact_events(api, services):
    t = await new_tenant()
    data = await api.gql(
        t.secret_key,
        """mutation($events: [EventInput!]!) { trackEvents(events: $events) {
             accepted duplicates rejected { index reason field } warnings { field } userErrors { code } } }""",
        {
            "events": [
                {
                    "type": "IDENTIFY",
                    "userId": "srv-1",
                    "traits": {"email": "srv@example.com"},
                    "messageId": "s1",
                },
                {
                    "type": "TRACK",
                    "userId": "srv-1",
                    "event": "order_completed",
                    "properties": {"total": 20},
                    "messageId": "s2",
                },
                {
                    "type": "TRACK",
                    "userId": "srv-1",
                    "event": "order_completed",
                    "properties": {"total": 5},
                    "messageId": "s3",
                },
                {"type": "TRACK", "userId": "srv-1", "messageId": "s4"},
                {"type": "PAGE", "anonymousId": "a", "name": "Home", "messageId": "s1"},
            ]
        },
    )
    result = data["trackEvents"]
    assert (result["accepted"], result["duplicates"]) == (3, 1)
    assert result["rejected"] == [
        {"index": 3, "reason": "track needs an event name.", "field": "event"}
    ]
    [contact] = await contacts_of(t)
    data = await api.gql(
        t.secret_key,
        """query($id: ID!) { contact(id: $id) { email eventStats { name count }
             events(name: "order_completed", first: 1) { totalCount edges { node { event properties } } pageInfo { hasNextPage } } } }""",
        {"id": str(contact.id)},
    )
    got = data["contact"]
    assert got["email"] == "srv@example.com"
    assert got["eventStats"] == [{"name": "order_completed", "count": 2}]
    assert got["events"]["totalCount"] == 2 and got["events"]["pageInfo"]["hasNextPage"]
    # A read-only key may not track.
    reader = (
        await api.gql(
            t.secret_key, 'mutation { issueApiKey(input: {name: "r", scopes: ["read"]}) { key } }'
        )
    )["issueApiKey"]["key"]
    data = await api.gql(
        reader,
        'mutation { trackEvents(events: [{type: TRACK, userId: "x", event: "y"}]) { accepted userErrors { code } } }',
    )
    assert data["trackEvents"]["userErrors"] == [{"code": "FORBIDDEN"}]


async def test_gdpr_erasure_removes_contact_and_events_and_is_audited(api, services):
    t = await new_tenant()
    await api.http.post(
        "/v1/batch",
        headers=basic(t.write_key),
        json={
            "batch": [
                {"type": "identify", "userId": "gone", "traits": {"email": "gone@example.com"}},
                {"type": "track", "userId": "gone", "event": "x"},
                {"type": "track", "userId": "stays", "event": "x"},
            ]
        },
    )
    gone = next(c for c in await contacts_of(t) if c.user_id == "gone")
    data = await api.gql(
        t.secret_key,
        "mutation($id: ID!) { deleteContact(id: $id) { deletedContactId userErrors { code } } }",
        {"id": str(gone.id)},
    )
    assert data["deleteContact"]["deletedContactId"] == gid("Contact", gone.id)
    assert [c.user_id for c in await contacts_of(t)] == ["stays"]
    assert [e.user_id for e in await events_of(t)] == ["stays"]
    entry = await AuditEntry.find_one({"action": "contact.erased", "target_id": str(gone.id)})
    assert entry is not None and "gone@example.com" not in str(entry.model_dump())
    again = await api.gql(
        t.secret_key,
        "mutation($id: ID!) { deleteContact(id: $id) { userErrors { code } } }",
        {"id": str(gone.id)},
    )
    assert again["deleteContact"]["userErrors"] == [{"code": "NOT_FOUND"}]


async def test_contacts_of_another_workspace_cannot_be_changed(api, services):
    a, b = await new_tenant("A"), await new_tenant("B")
    theirs = (await create(api, b.secret_key, email="b@example.com"))["contact"]["id"]
    attempts = {
        "updateContact": (UPDATE, {"input": {"email": "x@example.com"}}),
        "tagContact": (
            'mutation($id: ID!) { tagContact(id: $id, tags: ["x"]) { contact { id } userErrors { code } } }',
            {},
        ),
        "unsubscribeContact": (
            "mutation($id: ID!) { unsubscribeContact(id: $id, channel: EMAIL) { contact { id } userErrors { code } } }",
            {},
        ),
        "deleteContact": (
            "mutation($id: ID!) { deleteContact(id: $id) { userErrors { code } } }",
            {},
        ),
    }
    for name, (mutation, extra) in attempts.items():
        data = await api.gql(a.secret_key, mutation, {"id": theirs, **extra})
        assert data[name]["userErrors"][0]["code"] == "NOT_FOUND", name
        assert data[name].get("contact") is None
    [contact] = await contacts_of(b)
    assert (contact.email, contact.tags, contact.consent) == ("b@example.com", [], {})


async def test_bad_emails_and_country_less_phones_get_clear_field_errors(api, services):
    t = await new_tenant()
    contact = (await create(api, t.secret_key, userId="u-1", email="ok@example.com"))["contact"]
    for email, reason in (
        ("a..b@example.com", "two periods in a row"),
        ("a@-example.com", "hyphen immediately after the @-sign"),
        ("a@exa_mple.com", "invalid characters: '_'"),
    ):
        for payload in (
            await create(api, t.secret_key, email=email),
            (await api.gql(t.secret_key, UPDATE, {"id": contact["id"], "input": {"email": email}}))[
                "updateContact"
            ],
        ):
            assert payload["contact"] is None
            [error] = payload["userErrors"]
            assert (error["field"], error["code"]) == ("input.email", "INVALID")
            assert error["message"].startswith("Not a valid email address: ")
            assert reason in error["message"]
    payload = await create(api, t.secret_key, phone="5551234567")
    assert payload["userErrors"] == [
        {
            "field": "input.phone",
            "message": "phone '5551234567' has no country code; write it as "
            "+<country code>5551234567 or set the workspace's defaultCountry.",
            "code": "INVALID",
        }
    ]
    [stored] = await contacts_of(t)
    assert stored.email == "ok@example.com"
