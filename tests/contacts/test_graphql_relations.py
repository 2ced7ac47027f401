"""Relations as types through DataLoaders: a page of contacts with their segments and
location costs the same number of queries for 5 contacts and for 50, totalCount costs a
query only when selected, and a relation never reaches into another workspace."""

from __future__ import annotations

from beanie import PydanticObjectId

from documents.contact import Contact
from tests.helpers import new_tenant, raw
from tests.query_plans import RECORDER

PAGE = """query($first: Int!) { contacts(first: $first) { edges { node {
  id properties segments { id name } location { name code }
} } %s } }"""


async def _seed(api, t, contacts: int) -> tuple[list[str], str]:
    segments = []
    for name in ("VIP", "Pune"):
        made = await api.gql(
            t.secret_key,
            "mutation($input: SegmentInput!) { createSegment(input: $input) "
            "{ segment { id } userErrors { message } } }",
            {"input": {"name": name, "rules": {"tag": f"never-{name}"}}},
        )
        segments.append(made["createSegment"]["segment"]["id"])
    made = await api.gql(
        t.secret_key,
        'mutation { createLocation(input: {name: "Bandra West", code: "bandra"}) '
        "{ location { id } } }",
    )
    location = made["createLocation"]["location"]["id"]
    ws = PydanticObjectId(t.workspace_id)
    for i in range(contacts):  # insert() derives identity_keys; insert_many does not
        await Contact(
            workspace_id=ws,
            user_id=f"rel-{i}",
            properties={"n": i},
            segments=[raw(s) for s in segments],
            location_id=PydanticObjectId(raw(location)),
        ).insert()
    return segments, location


def _queries(captured, workspace_id: str) -> list[str]:
    ws = PydanticObjectId(workspace_id)
    return [f"{c.name} {c.collection}" for c in captured if c.filter.get("workspace_id") == ws]


async def _page(api, t, first: int, total: bool = False) -> tuple[dict, list[str]]:
    with RECORDER.recording() as captured:
        data = await api.gql(t.secret_key, PAGE % ("totalCount" if total else ""), {"first": first})
    return data["contacts"], _queries(captured, t.workspace_id)


async def test_a_page_of_contacts_with_relations_costs_the_same_for_5_and_50(api, services):
    t = await new_tenant()
    await _seed(api, t, 50)
    small, small_queries = await _page(api, t, 5)
    large, large_queries = await _page(api, t, 50)
    assert len(small["edges"]) == 5 and len(large["edges"]) == 50
    for edge in large["edges"]:
        node = edge["node"]
        assert [s["name"] for s in node["segments"]] == ["VIP", "Pune"]
        assert node["location"] == {"name": "Bandra West", "code": "bandra"}
    assert sorted(small_queries) == sorted(large_queries)
    assert sorted(large_queries) == ["find contacts", "find locations", "find segments"]


async def test_total_count_is_counted_only_when_selected(api, services):
    t = await new_tenant()
    await _seed(api, t, 7)
    without, plain = await _page(api, t, 3)
    counted, with_total = await _page(api, t, 3, total=True)
    assert "totalCount" not in without and counted["totalCount"] == 7
    assert len(with_total) == len(plain) + 1


async def test_relations_never_reach_another_workspace(api, services):
    mine, theirs = await new_tenant(), await new_tenant()
    their_segments, their_location = await _seed(api, theirs, 1)
    await Contact(  # a contact naming the other workspace's documents
        workspace_id=PydanticObjectId(mine.workspace_id),
        user_id="borrower",
        segments=[raw(s) for s in their_segments],
        location_id=PydanticObjectId(raw(their_location)),
    ).insert()
    page, _ = await _page(api, mine, 10)
    [node] = [e["node"] for e in page["edges"]]
    assert node["segments"] == [] and node["location"] is None
