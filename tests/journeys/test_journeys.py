"""Journeys through GraphQL: the whole graph in one mutation, problems with the path of
the node or edge, typed nodes, the lifecycle, the API trigger run by the real worker,
analytics, hostile input and tenant isolation. (Running is tested in
journeys/test_runner.py, the engine in tests/engine/test_journey_*.py.)"""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.journey import Enrollment, Journey
from tests.helpers import eventually, new_tenant

ERRORS = "userErrors { field message code }"
JOURNEY = """
  id name status version publishedVersion
  settings { reentry cooldownHours exitEvent goal { event windowHours } }
  edges { from to label }
  nodes {
    id type position { x y }
    ... on TriggerNode { settings { kind event segmentId } }
    ... on WaitNode { settings { kind seconds event timeoutSeconds at weekdays } }
    ... on SendNode { settings { channels content } }
    ... on BranchNode { settings { cases { key rules } } }
    ... on SplitNode { settings { cohorts { key percent } } }
  }
"""
CREATE = (
    "mutation($input: JourneyInput!) { createJourney(input: $input) { journey { "
    + JOURNEY
    + " } problems { field message } "
    + ERRORS
    + " } }"
)
SAVE = (
    "mutation($id: ID!, $input: JourneyInput!) { saveJourney(id: $id, input: $input) {"
    " journey { " + JOURNEY + " } problems { field message } " + ERRORS + " } }"
)
PUBLISH = (
    "mutation($id: ID!) { publishJourney(id: $id) { journey { status version } " + ERRORS + " } }"
)
PAUSE = "mutation($id: ID!) { pauseJourney(id: $id) { journey { status } " + ERRORS + " } }"
RESUME = "mutation($id: ID!) { resumeJourney(id: $id) { journey { status } " + ERRORS + " } }"
ARCHIVE = "mutation($id: ID!) { archiveJourney(id: $id) { journey { status } " + ERRORS + " } }"
DELETE = "mutation($id: ID!) { deleteJourney(id: $id) { deletedJourneyId " + ERRORS + " } }"
VALIDATE = (
    "mutation($id: ID, $input: JourneyInput) { validateJourney(id: $id, input: $input) {"
    " valid " + ERRORS + " } }"
)
ENROLL = (
    "mutation($j: ID!, $c: ID!, $data: JSON) { enrollInJourney(journeyId: $j, contactId: $c,"
    " data: $data) { enrollment { id status nodeId version } " + ERRORS + " } }"
)
GET = "query($id: ID!) { journey(id: $id) { " + JOURNEY + " } }"
LIST = "query { journeys(first: 10) { totalCount edges { node { id name status } } } }"
ANALYTICS = """query($id: ID!) { journey(id: $id) {
  analytics { entered active completed exited converted conversionRate
              nodes { nodeId contacts } sends { nodeId messages sent } }
  enrollments(first: 10) { totalCount edges { node { contactId status nodeId
    history { node outcome } } } }
  node(id: "hello") { __typename ... on SendNode { settings { channels } } }
} }"""
RUNS = (
    "query($id: ID!) { journeyEnrollments(journeyId: $id, first: 5) { totalCount edges {"
    " node { id status } } } }"
)
CREATE_CONTACT = (
    "mutation($input: ContactInput!) { createContact(input: $input) { contact { id } "
    "userErrors { field message } } }"
)

WELCOME = {
    "name": "Welcome",
    "nodes": [
        {"id": "api", "type": "trigger", "position": {"x": 0, "y": 0}, "settings": {"kind": "api"}},
        {
            "id": "hello",
            "type": "send",
            "position": {"x": 0, "y": 100},
            "settings": {
                "channels": ["email"],
                "content": {
                    "email": {
                        "subject": "Welcome {{ contact.first_name | default('there') }}",
                        "text": "Your code: {{ event.properties.code }}",
                    }
                },
            },
        },
        {"id": "pause", "type": "wait", "settings": {"kind": "duration", "seconds": 0}},
        {
            "id": "ab",
            "type": "split",
            "settings": {"cohorts": [{"key": "a", "percent": 50}, {"key": "b", "percent": 50}]},
        },
        {"id": "bye", "type": "exit"},
    ],
    "edges": [
        {"from": "api", "to": "hello"},
        {"from": "hello", "to": "pause"},
        {"from": "pause", "to": "ab"},
        {"from": "ab", "to": "bye", "label": "a"},
        {"from": "ab", "to": "bye", "label": "b"},
    ],
    "settings": {"reentry": "AFTER_EXIT", "goal": {"event": "order_completed"}},
}


async def create(api, tenant, graph: dict) -> dict:
    data = await api.gql(tenant.secret_key, CREATE, {"input": graph})
    return data["createJourney"]


async def add_contact(api, tenant, **fields) -> str:
    data = await api.gql(tenant.secret_key, CREATE_CONTACT, {"input": fields})
    return data["createContact"]["contact"]["id"]


async def test_draft_problems_publish_typed_nodes_and_api_enrollment(api, services):
    t = await new_tenant()
    # A draft with problems is saved, and says what publishing would reject.
    draft = {**WELCOME, "edges": WELCOME["edges"][:-1]}
    payload = await create(api, t, draft)
    assert payload["userErrors"] == []
    journey_id = payload["journey"]["id"]
    assert payload["problems"] == [
        {"field": "nodes[3]", "message": "Node 'ab' (split) needs an edge 'b'."}
    ]
    data = await api.gql(t.secret_key, PUBLISH, {"id": journey_id})
    assert data["publishJourney"]["journey"] is None
    assert data["publishJourney"]["userErrors"][0]["field"] == "nodes[3]"
    # Fixed in one mutation with the whole graph, then published.
    data = await api.gql(t.secret_key, SAVE, {"id": journey_id, "input": WELCOME})
    assert data["saveJourney"]["problems"] == [] and data["saveJourney"]["userErrors"] == []
    data = await api.gql(t.secret_key, PUBLISH, {"id": journey_id})
    assert data["publishJourney"]["journey"] == {"status": "PUBLISHED", "version": 1}
    journey = (await api.gql(t.secret_key, GET, {"id": journey_id}))["journey"]
    types = {n["id"]: n for n in journey["nodes"]}
    assert types["hello"]["settings"]["channels"] == ["email"]
    assert types["pause"]["settings"] == {
        "kind": "duration",
        "seconds": 0,
        "event": None,
        "timeoutSeconds": None,
        "at": None,
        "weekdays": None,
    }
    assert types["ab"]["settings"]["cohorts"][1] == {"key": "b", "percent": 50}
    assert types["api"]["settings"]["kind"] == "api" and types["hello"]["position"]["y"] == 100
    assert journey["settings"]["reentry"] == "AFTER_EXIT"
    assert journey["settings"]["goal"] == {"event": "order_completed", "windowHours": 168}
    assert {"from": "ab", "to": "bye", "label": "b"} in journey["edges"]
    # The API trigger, run by the real worker through the queue.
    contact_id = await add_contact(
        api, t, email="ana@example.com", properties={"first_name": "Ana"}
    )
    data = await api.gql(
        t.secret_key, ENROLL, {"j": journey_id, "c": contact_id, "data": {"code": "X1"}}
    )
    assert data["enrollInJourney"]["userErrors"] == []
    assert data["enrollInJourney"]["enrollment"]["version"] == 1

    async def completed():
        found = (await api.gql(t.secret_key, ANALYTICS, {"id": journey_id}))["journey"]
        return found["analytics"]["completed"] == 1 and found

    found = await eventually(completed)
    assert found["analytics"]["entered"] == 1 and found["analytics"]["sends"][0]["messages"] == 1
    run = found["enrollments"]["edges"][0]["node"]
    assert run["status"] == "COMPLETED" and run["nodeId"] == "bye"
    assert [h["node"] for h in run["history"]] == ["api", "hello", "pause", "ab", "bye"]
    assert found["node"] == {"__typename": "SendNode", "settings": {"channels": ["email"]}}
    # The run is in the listing of runs too; enrolling a stranger id is not found.
    runs = (await api.gql(t.secret_key, RUNS, {"id": journey_id}))["journeyEnrollments"]
    assert runs["totalCount"] == 1
    data = await api.gql(t.secret_key, ENROLL, {"j": journey_id, "c": "nope"})
    assert data["enrollInJourney"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_lifecycle_and_validation(api, services):
    t = await new_tenant()
    journey_id = (await create(api, t, WELCOME))["journey"]["id"]
    data = await api.gql(t.secret_key, VALIDATE, {"id": journey_id})
    assert data["validateJourney"] == {"valid": True, "userErrors": []}
    bad = {"nodes": [{"id": "t", "type": "trigger", "settings": {"kind": "event"}}], "edges": []}
    data = await api.gql(t.secret_key, VALIDATE, {"input": bad})
    fields = {e["field"] for e in data["validateJourney"]["userErrors"]}
    assert data["validateJourney"]["valid"] is False and "nodes[0].settings.event" in fields
    assert (await api.gql(t.secret_key, PUBLISH, {"id": journey_id}))["publishJourney"]["journey"][
        "status"
    ] == "PUBLISHED"
    again = await api.gql(t.secret_key, PUBLISH, {"id": journey_id})
    assert again["publishJourney"]["userErrors"][0]["code"] == "CONFLICT"
    data = await api.gql(t.secret_key, DELETE, {"id": journey_id})
    assert data["deleteJourney"]["userErrors"][0]["code"] == "CONFLICT"  # live: archive first
    assert (await api.gql(t.secret_key, PAUSE, {"id": journey_id}))["pauseJourney"]["journey"][
        "status"
    ] == "PAUSED"
    # A live edit must be valid and becomes version 2.
    broken = {"edges": []}
    data = await api.gql(t.secret_key, SAVE, {"id": journey_id, "input": broken})
    assert data["saveJourney"]["journey"] is None and len(data["saveJourney"]["userErrors"]) >= 4
    renamed = {**WELCOME, "name": "Welcome v2"}
    data = await api.gql(t.secret_key, SAVE, {"id": journey_id, "input": renamed})
    assert data["saveJourney"]["journey"]["version"] == 2
    assert (await api.gql(t.secret_key, RESUME, {"id": journey_id}))["resumeJourney"]["journey"][
        "status"
    ] == "PUBLISHED"
    assert (await api.gql(t.secret_key, ARCHIVE, {"id": journey_id}))["archiveJourney"]["journey"][
        "status"
    ] == "COMPLETED"
    data = await api.gql(t.secret_key, DELETE, {"id": journey_id})
    assert data["deleteJourney"] == {"deletedJourneyId": journey_id, "userErrors": []}
    assert await Journey.find({"workspace_id": PydanticObjectId(t.workspace_id)}).count() == 0


async def test_hostile_graphs_get_clear_errors(api, services):
    t = await new_tenant()
    huge = {
        "name": "Huge",
        "nodes": [{"id": f"n{i}", "type": "exit"} for i in range(201)],
        "edges": [],
    }
    payload = await create(api, t, huge)
    assert payload["journey"] is None
    assert payload["userErrors"] == [
        {"field": "nodes", "message": "A journey has at most 200 nodes.", "code": "INVALID"}
    ]
    odd = {
        "name": "Odd",
        "nodes": [
            {"id": "$where", "type": "trigger"},
            {"id": "a", "type": "rocket"},
            {"id": "b", "type": "wait", "settings": [1, 2, 3]},
            {"id": "c", "type": "send", "settings": {"channels": "email", "content": 5}},
            {"id": "d", "type": "branch", "settings": {"cases": [{"key": "k", "rules": "yes"}]}},
        ],
        "edges": [{"from": "a", "to": "b", "label": "x" * 41}],
    }
    payload = await create(api, t, odd)
    fields = {e["field"] for e in payload["userErrors"]}
    assert {"nodes[0].id", "nodes[1].type", "edges[0].label"} <= fields
    assert payload["journey"] is None
    shaky = {"name": "Shaky", "nodes": odd["nodes"][2:], "edges": []}
    payload = await create(api, t, shaky)
    problems = {p["field"] for p in payload["problems"]}
    assert {"nodes", "nodes[0].settings", "nodes[1].settings.channels"} <= problems
    assert {"nodes[2].settings.cases[0].rules"} <= problems
    # The draft with garbage settings still reads back through the typed schema.
    journey = (await api.gql(t.secret_key, GET, {"id": payload["journey"]["id"]}))["journey"]
    assert [n["type"] for n in journey["nodes"]] == ["wait", "send", "branch"]
    errors = await api.errors(
        t.secret_key, CREATE, {"input": {"name": "x", "nodes": [{"type": "exit"}]}}
    )
    assert "id" in errors[0]["message"]


async def test_tenant_isolation(api, services):
    mine, theirs = await new_tenant(), await new_tenant()
    journey_id = (await create(api, mine, WELCOME))["journey"]["id"]
    await api.gql(mine.secret_key, PUBLISH, {"id": journey_id})
    my_contact = await add_contact(api, mine, email="me@example.com")
    their_contact = await add_contact(api, theirs, email="them@example.com")
    assert (await api.gql(theirs.secret_key, GET, {"id": journey_id}))["journey"] is None
    assert (await api.gql(theirs.secret_key, LIST))["journeys"]["totalCount"] == 0
    for mutation, name in (
        (PAUSE, "pauseJourney"),
        (ARCHIVE, "archiveJourney"),
        (DELETE, "deleteJourney"),
    ):
        data = await api.gql(theirs.secret_key, mutation, {"id": journey_id})
        assert data[name]["userErrors"][0]["code"] == "NOT_FOUND"
    data = await api.gql(theirs.secret_key, SAVE, {"id": journey_id, "input": WELCOME})
    assert data["saveJourney"]["userErrors"][0]["code"] == "NOT_FOUND"
    data = await api.gql(theirs.secret_key, ENROLL, {"j": journey_id, "c": their_contact})
    assert data["enrollInJourney"]["userErrors"][0]["code"] == "NOT_FOUND"
    errors = await api.errors(theirs.secret_key, RUNS, {"id": journey_id})
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    # Nor can the owner put another workspace's contact into its journey.
    data = await api.gql(mine.secret_key, ENROLL, {"j": journey_id, "c": their_contact})
    assert data["enrollInJourney"]["userErrors"][0]["field"] == "contactId"
    data = await api.gql(mine.secret_key, ENROLL, {"j": journey_id, "c": my_contact})
    assert data["enrollInJourney"]["userErrors"] == []
    assert (
        await Enrollment.find({"workspace_id": PydanticObjectId(theirs.workspace_id)}).count() == 0
    )
    # A segment of another workspace cannot be a trigger.
    other_segment = await api.gql(
        theirs.secret_key,
        'mutation { createSegment(input: {name: "S", rules: {tag: "x"}}) { segment { id } } }',
    )
    sid = other_segment["createSegment"]["segment"]["id"]
    graph = {
        "name": "Seg",
        "nodes": [
            {
                "id": "t",
                "type": "trigger",
                "settings": {"kind": "segment_entered", "segment_id": sid},
            },
            {"id": "x", "type": "exit"},
        ],
        "edges": [{"from": "t", "to": "x"}],
    }
    payload = await create(api, mine, graph)
    assert [p["field"] for p in payload["problems"]] == ["nodes[0].settings.segment_id"]


async def test_tracked_events_start_and_move_runs(api, http, services):
    """The whole live path: /v1/track stores the event, reactions hand it to the journey
    (trigger), a later event resumes the wait, the worker does the rest."""
    from tests.tracking_helpers import basic

    t = await new_tenant()
    graph = {
        "name": "Cart",
        "nodes": [
            {
                "id": "t",
                "type": "trigger",
                "settings": {
                    "kind": "event",
                    "event": "cart_abandoned",
                    "where": [{"property": "value", "op": "gt", "value": 10}],
                },
            },
            {
                "id": "w",
                "type": "wait",
                "settings": {"kind": "event", "event": "order_completed", "timeout_seconds": 3600},
            },
            {"id": "bought", "type": "exit"},
            {"id": "gave_up", "type": "exit"},
        ],
        "edges": [
            {"from": "t", "to": "w"},
            {"from": "w", "to": "bought"},
            {"from": "w", "to": "gave_up", "label": "timeout"},
        ],
    }
    journey_id = (await create(api, t, graph))["journey"]["id"]
    await api.gql(t.secret_key, PUBLISH, {"id": journey_id})

    async def track(event: str, **properties) -> None:
        body = {"userId": "shopper-1", "event": event, "properties": properties}
        response = await http.post("/v1/track", json=body, headers=basic(t.write_key))
        assert response.status_code == 200, response.text

    await track("cart_abandoned", value=5)  # filtered out by the trigger's where
    await track("cart_abandoned", value=50)
    scope = {"workspace_id": PydanticObjectId(t.workspace_id)}

    async def waiting():
        runs = await Enrollment.find(scope).to_list()
        return runs if runs and runs[0].status == "waiting" else None

    [run] = await eventually(waiting)
    assert run.trigger["properties"] == {"value": 50}
    await track("order_completed", total=50)

    async def finished():
        found = await Enrollment.find_one({"_id": run.id, **scope})
        return found.status == "completed" and found

    done = await eventually(finished)
    assert done.node_id == "bought" and await Enrollment.find(scope).count() == 1
