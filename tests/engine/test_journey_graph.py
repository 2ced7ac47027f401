"""Journey graph validation: every problem at its path, naming the node or edge."""

from __future__ import annotations

from typing import Any

from engine.journeys import graph
from engine.journeys.settings import Context
from engine.traits import FieldDef


def node(node_id: str, node_type: str, /, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "settings": settings}


def edge(source: str, target: str, label: str = "next") -> dict[str, Any]:
    return {"from": source, "to": target, "label": label}


CART_NODES = [
    node("t", "trigger", kind="event", event="cart_abandoned"),
    node("w", "wait", kind="event", event="order_completed", timeout_seconds=3600),
    node("b", "branch", cases=[{"key": "bought", "rules": {"since_entry": "order_completed"}}]),
    node(
        "s",
        "send",
        channels=["email"],
        content={"email": {"subject": "Your cart", "text": "Hi {{ contact.first_name }}"}},
    ),
    node("x", "exit"),
]
CART_EDGES = [
    edge("t", "w"),
    edge("w", "x"),
    edge("w", "b", "timeout"),
    edge("b", "x", "bought"),
    edge("b", "s", "default"),
    edge("s", "x"),
]


def check(nodes, edges, ctx: Context | None = None) -> graph.Checked:
    return graph.validate(nodes, edges, ctx or Context())


def fields(checked: graph.Checked) -> set[str]:
    return {e.field for e in checked.errors}


def test_a_valid_graph_has_no_problems_and_is_normalised():
    checked = check(CART_NODES, CART_EDGES)
    assert checked.errors == []
    by_id = {n["id"]: n for n in checked.nodes}
    assert by_id["t"]["position"] == {"x": 0.0, "y": 0.0}
    assert by_id["b"]["settings"]["cases"][0]["key"] == "bought"


def test_shape_problems():
    assert fields(check("nope", {})) == {"nodes", "edges"}
    too_many = [node(f"n{i}", "exit") for i in range(201)]
    assert fields(check(too_many, [])) == {"nodes"}
    bad = [
        7,
        {"id": "a b", "type": "exit"},
        node("t", "trigger", kind="api"),
        node("t", "exit"),
        {"id": "q", "type": "teleport"},
        {"id": "p", "type": "exit", "position": {"x": "left"}},
        {"id": "k", "type": "exit", "colour": "red"},
    ]
    checked = check(bad, [edge("t", 5), "x", {"from": "t", "to": "k", "label": "next", "z": 1}])
    got = fields(checked)
    assert {"nodes[0]", "nodes[1].id", "nodes[3].id", "nodes[4].type", "nodes[5].position"} <= got
    assert {"nodes[6].colour", "edges[0].to", "edges[1]", "edges[2].z"} <= got
    assert any("'t'" in e.message for e in checked.errors if e.field == "nodes[3].id")


def test_graph_problems_name_nodes_and_edges():
    nodes = [
        node("t", "trigger", kind="api"),
        node("t2", "trigger", kind="api"),
        node("w", "wait", kind="event", event="paid", timeout_seconds=60),
        node("s", "send", channels=["email"], content={"email": {"subject": "a", "text": "b"}}),
        node("x", "exit"),
        node("lost", "exit"),
    ]
    edges = [
        edge("t", "w"),
        edge("w", "s"),  # no timeout edge
        edge("s", "w", "next"),  # a cycle w -> s -> w
        edge("x", "s"),  # exits have no edges
        edge("t2", "ghost"),
        edge("s", "x", "maybe"),
        edge("w", "t", "timeout"),  # into a trigger
    ]
    checked = check(nodes, edges)
    by_field = {e.field: e.message for e in checked.errors}
    assert "exactly one trigger" in by_field["nodes"]
    assert "'timeout'" in by_field["nodes[2]"] and "'w'" in by_field["nodes[2]"]
    assert "closes a cycle" in by_field["edges[2].to"]
    assert "'x'" in by_field["edges[3].label"]
    assert "ghost" in by_field["edges[4].to"]
    assert "maybe" in by_field["edges[5].label"]
    assert "trigger" in by_field["edges[6].to"]
    assert "cannot be reached" not in by_field.get("nodes[5]", "")  # two triggers: skipped


def test_unreachable_nodes_and_missing_branch_edges():
    nodes = [*CART_NODES, node("orphan", "exit")]
    edges = [e for e in CART_EDGES if e["label"] != "bought"]
    got = {e.field: e.message for e in check(nodes, edges).errors}
    assert "cannot be reached" in got["nodes[5]"] and "'orphan'" in got["nodes[5]"]
    assert "'bought'" in got["nodes[2]"]


def test_settings_are_checked_per_type():
    nodes = [
        node("t", "trigger", kind="event", event="", where=[{"property": "x", "op": "zz"}]),
        node("w1", "wait", kind="duration", seconds=-5),
        node("w2", "wait", kind="time_of_day", at="25:00", weekdays=[7]),
        node("w3", "wait", kind="until", until="someday"),
        node("s", "send", channels=["email", "pigeon"]),
        node("s2", "send", channels=["sms"], content={"sms": {"text": "{{ oops"}}),
        node("sp", "split", cohorts=[{"key": "a", "percent": 30}, {"key": "b", "percent": 30}]),
        node(
            "b", "branch", cases=[{"key": "default", "rules": {"engaged": "opened", "node": "s9"}}]
        ),
        node("x", "exit", reason="because"),
    ]
    edges = [
        edge("t", "w1"),
        edge("w1", "w2"),
        edge("w2", "w3"),
        edge("w3", "s"),
        edge("s", "s2"),
        edge("s2", "sp"),
        edge("sp", "b", "a"),
        edge("sp", "x", "b"),
        edge("b", "x", "default"),
    ]
    ctx = Context(check_content=lambda content: _syntax(content))
    got = {e.field: e.message for e in check(nodes, edges, ctx).errors}
    assert "nodes[0].settings.event" in got
    assert "nodes[0].settings.where[0].op" in got
    assert "nodes[1].settings.seconds" in got
    assert {"nodes[2].settings.at", "nodes[2].settings.weekdays"} <= set(got)
    assert "nodes[3].settings.until" in got
    assert "nodes[4].settings.channels" in got
    assert "nodes[5].settings.content.sms.text" in got
    assert "sum to 100" in got["nodes[6].settings.cohorts"]
    assert "nodes[7].settings.cases[0].key" in got
    assert "nodes[7].settings.cases[0].rules.node" in got
    assert "nodes[8].settings.reason" in got
    assert all(m.startswith("Node '") for f, m in got.items() if f.startswith("nodes["))


def _syntax(content):
    from engine.errors import InvalidInput

    return [
        InvalidInput("unexpected end of template", field=f"content.{ch}.{name}")
        for ch, fields in content.items()
        for name, text in fields.items()
        if "{{" in text and "}}" not in text
    ]


def test_branch_conditions_use_the_segment_language_and_run_facts():
    rules = {
        "all": [
            {"property": "plan", "op": "eq", "value": "pro"},
            {"trigger_property": "total", "op": "gt", "value": 100},
            {
                "not": {
                    "since_entry": "order_completed",
                    "where": [{"property": "x", "op": "eq", "value": 1}],
                }
            },
            {"engaged": "clicked", "node": "s"},
            {"in_segment": "missing"},
            {"property": "signup", "op": "within_last_days", "value": 7},
        ]
    }
    nodes = [
        node("t", "trigger", kind="api"),
        node("s", "send", channels=["email"], content={"email": {"subject": "a", "text": "b"}}),
        node("b", "branch", cases=[{"key": "yes", "rules": rules}]),
        node("x", "exit"),
    ]
    edges = [edge("t", "s"), edge("s", "b"), edge("b", "x", "yes"), edge("b", "x", "default")]
    ctx = Context(fields={"signup": FieldDef("signup", "date", "")}, segment_rules_of={}.get)
    checked = check(nodes, edges, ctx)
    assert [e.field for e in checked.errors] == [
        "nodes[2].settings.cases[0].rules.all[4].in_segment"
    ]
    ctx = Context(
        fields={"signup": FieldDef("signup", "date", "")}, segment_rules_of={"missing": {}}.get
    )
    checked = check(nodes, edges, ctx)
    assert checked.errors == []
    stored = checked.nodes[2]["settings"]["cases"][0]["rules"]["all"]
    assert stored[5]["type"] == "date"  # normalised like a segment rule


def test_engagement_must_refer_to_an_earlier_send():
    nodes = [
        node("t", "trigger", kind="api"),
        node("b", "branch", cases=[{"key": "o", "rules": {"engaged": "opened", "node": "s"}}]),
        node("s", "send", channels=["email"], content={"email": {"subject": "a", "text": "b"}}),
        node("x", "exit"),
    ]
    edges = [edge("t", "b"), edge("b", "s", "o"), edge("b", "x", "default"), edge("s", "x")]
    got = {e.field for e in check(nodes, edges).errors}
    assert got == {"nodes[1].settings.cases[0].rules.node"}


def test_hostile_settings_do_not_crash():
    weird: list[Any] = [
        None,
        [],
        "x",
        5,
        {"kind": {"a": 1}},
        {"cases": "all"},
        {"cohorts": [1, None]},
    ]
    for node_type in ("trigger", "wait", "send", "branch", "split"):
        for settings in weird:
            nodes = [
                node("t", "trigger", kind="api"),
                {"id": "n", "type": node_type, "settings": settings},
            ]
            checked = check(nodes, [edge("t", "n")])
            assert checked.errors, (node_type, settings)
    deep: dict[str, Any] = {"tag": "vip"}
    for _ in range(20):
        deep = {"not": deep}
    nodes = [
        node("t", "trigger", kind="api"),
        node("b", "branch", cases=[{"key": "k", "rules": deep}]),
    ]
    checked = check(nodes, [edge("t", "b")])
    assert any("nest" in e.message for e in checked.errors)
