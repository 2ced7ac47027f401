"""Relay Global Object Identification: every main type comes back through `node(id:)`,
`nodes` batches one query per type, a wrong-type or another workspace's id is null, and
raw ObjectIds stay valid input."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.contact import Contact
from documents.journey import Enrollment, Journey
from documents.message import OutboundMessage
from engine import global_ids
from schema import build_schema
from schema.context import GraphQLContext
from tests.helpers import gid, new_tenant, raw
from tests.query_plans import RECORDER

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def _make(api, t) -> dict[str, str]:
    """One object of each main type in workspace `t`, by GraphQL type name -> global id."""
    key = t.secret_key

    async def one(query: str, *path: str, variables: dict | None = None) -> str:
        data = await api.gql(key, query, variables)
        for step in path:
            data = data[step]
        return data["id"]

    made = {
        "Contact": await one(
            'mutation { createContact(input: {email: "node@example.com"}) { contact { id } } }',
            "createContact",
            "contact",
        ),
        "Segment": await one(
            "mutation($i: SegmentInput!) { createSegment(input: $i) { segment { id } } }",
            "createSegment",
            "segment",
            variables={"i": {"name": "VIP", "rules": {"tag": "vip"}}},
        ),
        "Location": await one(
            'mutation { createLocation(input: {name: "Pune", code: "pune"}) { location { id } } }',
            "createLocation",
            "location",
        ),
        "Template": await one(
            'mutation { saveTemplate(name: "Hi", channel: EMAIL, '
            'fields: {subject: "Hi", text: "Hello"}) { template { id } } }',
            "saveTemplate",
            "template",
        ),
        "Campaign": await one(
            'mutation { createCampaign(input: {name: "Sale"}) { campaign { id } } }',
            "createCampaign",
            "campaign",
        ),
        "WebhookEndpoint": await one(
            'mutation { createWebhookEndpoint(url: "https://example.com/hook", '
            'eventTypes: ["contact.created"]) { endpoint { id } userErrors { message } } }',
            "createWebhookEndpoint",
            "endpoint",
        ),
    }
    ws = PydanticObjectId(t.workspace_id)
    contact = PydanticObjectId(raw(made["Contact"]))
    message = OutboundMessage(
        workspace_id=ws, idempotency_key=f"node-{contact}", channel="email", contact_id=contact
    )
    await message.insert()
    made["Message"] = gid("Message", message.id)
    journey = Journey(workspace_id=ws, name="Welcome")
    await journey.insert()
    made["Journey"] = gid("Journey", journey.id)
    enrollment = Enrollment(
        workspace_id=ws, journey_id=journey.id, version=1, contact_id=contact, node_id="t"
    )
    await enrollment.insert()
    made["JourneyEnrollment"] = gid("JourneyEnrollment", enrollment.id)
    made["Workspace"] = gid("Workspace", t.workspace_id)
    return made


async def test_every_main_type_round_trips_through_node(api, services):
    t = await new_tenant()
    made = await _make(api, t)
    for type_name, global_id in made.items():
        assert global_ids.decode(global_id)[0] == type_name
        found = (await api.gql(t.secret_key, NODE, {"id": global_id}))["node"]
        assert found == {"__typename": type_name, "id": global_id}, type_name
    data = await api.gql(t.secret_key, NODES, {"ids": list(made.values())})
    assert [n["id"] for n in data["nodes"]] == list(made.values())


async def test_a_wrong_type_id_or_another_workspaces_id_is_null(api, services):
    mine, theirs = await new_tenant(), await new_tenant()
    made = await _make(api, theirs)
    contact = made["Contact"]
    as_segment = gid("Segment", raw(contact))  # the right ObjectId under the wrong type
    ids = [*made.values(), as_segment, "not-an-id", global_ids.encode("Nope", raw(contact))]
    data = await api.gql(mine.secret_key, NODES, {"ids": ids})
    assert data["nodes"] == [None] * len(ids)
    # In its own workspace the wrong-type id still finds nothing, by node or by a field.
    key = theirs.secret_key
    assert (await api.gql(key, NODE, {"id": as_segment}))["node"] is None
    found = await api.gql(key, "query($id: ID!) { contact(id: $id) { id } }", {"id": as_segment})
    assert found["contact"] is None
    assert (await api.gql(key, NODE, {"id": raw(contact)}))["node"] is None  # raw names no type


async def test_raw_object_ids_are_still_accepted_as_input(api, services):
    t = await new_tenant()
    made = await _make(api, t)
    contact, segment = raw(made["Contact"]), raw(made["Segment"])
    query = "query($id: ID!) { contact(id: $id) { id } segment(id: $s) { id } }"
    data = await api.gql(
        t.secret_key, query.replace("$id: ID!", "$id: ID!, $s: ID!"), {"id": contact, "s": segment}
    )
    assert data == {"contact": {"id": made["Contact"]}, "segment": {"id": made["Segment"]}}
    added = await api.gql(
        t.secret_key,
        "mutation($c: StaticSegmentInput!) { createStaticSegment(input: $c) "
        "{ segment { id } userErrors { message } } }",
        {"c": {"name": "Picked", "contactIds": [contact, made["Contact"]]}},
    )
    assert added["createStaticSegment"]["userErrors"] == []
    doc = await Contact.get(PydanticObjectId(contact))
    # Stored raw, whichever way the id came in.
    assert raw(added["createStaticSegment"]["segment"]["id"]) in doc.segments


async def test_nodes_of_twenty_mixed_ids_cost_one_query_per_type(api, services):
    t = await new_tenant()
    ws = PydanticObjectId(t.workspace_id)
    contacts = [Contact(workspace_id=ws, user_id=f"mix-{i}") for i in range(10)]
    for c in contacts:
        await c.insert()
    segments = []
    for i in range(10):
        made = await api.gql(
            t.secret_key,
            "mutation($i: SegmentInput!) { createSegment(input: $i) { segment { id } } }",
            {"i": {"name": f"S{i}", "rules": {"tag": f"t{i}"}}},
        )
        segments.append(made["createSegment"]["segment"]["id"])
    ids = [gid("Contact", c.id) for c in contacts] + segments
    ids = [x for pair in zip(ids[:10], ids[10:], strict=True) for x in pair]  # interleaved
    with RECORDER.recording() as captured:
        data = await api.gql(t.secret_key, NODES, {"ids": ids})
    assert [n["id"] for n in data["nodes"]] == ids
    queries = sorted(
        f"{c.name} {c.collection}" for c in captured if c.filter.get("workspace_id") == ws
    )
    assert queries == ["find contacts", "find segments"]


async def test_nodes_refuses_more_than_a_hundred_ids(api, services):
    t = await new_tenant()
    errors = await api.errors(t.secret_key, NODES, {"ids": [gid("Contact", "0" * 24)] * 101})
    assert "at most 100" in errors[0]["message"]


async def test_nodes_costs_one_object_per_id(services):
    schema = build_schema(mask_errors=False, introspection=True, max_cost=100)
    # 1 + n ids * (1 + 1): the list's length multiplies what each node selects.
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    thirty = [gid("Contact", "0" * 24)] * 30
    result = await schema.execute(
        query, variable_values={"ids": thirty}, context_value=GraphQLContext(None, None)
    )
    assert not any("Query cost" in e.message for e in result.errors or [])
    fifty = ", ".join(f'"{i}"' for i in [gid("Contact", "0" * 24)] * 50)
    literal = "{ nodes(ids: [%s]) { id ... on Contact { email } } }" % fifty
    result = await schema.execute(literal, context_value=GraphQLContext(None, None))
    assert result.errors[0].message == "Query cost 101 exceeds the limit 100; ask for fewer items."
