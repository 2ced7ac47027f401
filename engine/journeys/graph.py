"""Validation of a whole journey graph, every problem with its path and node or edge.

Two levels. `shape` problems make the input unusable even as a draft (not lists of
objects, unknown node types, bad or repeated ids, too many nodes): nothing is stored.
`validate` adds everything publishing needs (one trigger, edges between existing nodes
with the labels each type needs, no cycles, every node reachable, settings per type);
a draft may be saved with those problems and shows them, a live journey may not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InvalidInput
from engine.journeys import settings as node_settings
from engine.journeys.model import MAX_EDGES, MAX_NODES, NODE_ID, NODE_TYPES, required_labels

EDGE_KEYS = {"from", "to", "label"}
NODE_KEYS = {"id", "type", "position", "settings"}


@dataclass
class Checked:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    shape_errors: list[InvalidInput] = field(default_factory=list)
    problems: list[InvalidInput] = field(default_factory=list)

    @property
    def errors(self) -> list[InvalidInput]:
        return self.shape_errors + self.problems


def _position(value: Any) -> dict[str, float] | None:
    if value is None:
        return {"x": 0.0, "y": 0.0}
    if not isinstance(value, dict) or set(value) - {"x", "y"}:
        return None
    out = {}
    for axis in ("x", "y"):
        v = value.get(axis, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        if abs(v) > 1e7:
            return None
        out[axis] = float(v)
    return out


def shape(raw_nodes: Any, raw_edges: Any) -> Checked:
    out = Checked()
    fail = out.shape_errors.append
    if not isinstance(raw_nodes, list):
        fail(InvalidInput("nodes must be a list.", field="nodes"))
        raw_nodes = []
    if not isinstance(raw_edges, list):
        fail(InvalidInput("edges must be a list.", field="edges"))
        raw_edges = []
    if len(raw_nodes) > MAX_NODES:
        fail(InvalidInput(f"A journey has at most {MAX_NODES} nodes.", field="nodes"))
        return out
    if len(raw_edges) > MAX_EDGES:
        fail(InvalidInput(f"A journey has at most {MAX_EDGES} edges.", field="edges"))
        return out
    seen: set[str] = set()
    for i, node in enumerate(raw_nodes):
        at = f"nodes[{i}]"
        if not isinstance(node, dict):
            fail(InvalidInput("A node must be an object {id, type, position, settings}.", field=at))
            continue
        node_id = node.get("id")
        if not isinstance(node_id, str) or not NODE_ID.match(node_id):
            fail(InvalidInput("A node id is 1-64 letters, digits, _ or -.", field=f"{at}.id"))
            continue
        label = f"Node '{node_id}'"
        if node_id in seen:
            fail(InvalidInput(f"{label}: the id is used by another node.", field=f"{at}.id"))
            continue
        seen.add(node_id)
        extra = sorted(str(k)[:40] for k in node if k not in NODE_KEYS)
        if extra:
            fail(InvalidInput(f"{label}: unknown key '{extra[0]}'.", field=f"{at}.{extra[0]}"))
        if node.get("type") not in NODE_TYPES:
            fail(
                InvalidInput(
                    f"{label}: type must be one of {', '.join(NODE_TYPES)}.", field=f"{at}.type"
                )
            )
            continue
        position = _position(node.get("position"))
        if position is None:
            fail(InvalidInput(f"{label}: position is {{x, y}} numbers.", field=f"{at}.position"))
            continue
        settings = node.get("settings")
        settings = {} if settings is None else settings
        out.nodes.append(
            {"id": node_id, "type": node["type"], "position": position, "settings": settings}
        )
    for i, edge in enumerate(raw_edges):
        at = f"edges[{i}]"
        if not isinstance(edge, dict):
            fail(InvalidInput("An edge must be an object {from, to, label}.", field=at))
            continue
        extra = sorted(str(k)[:40] for k in edge if k not in EDGE_KEYS)
        if extra:
            fail(InvalidInput(f"Edge {i}: unknown key '{extra[0]}'.", field=f"{at}.{extra[0]}"))
        bad = False
        for key in ("from", "to"):
            if not isinstance(edge.get(key), str) or not NODE_ID.match(edge[key]):
                fail(InvalidInput(f"Edge {i}: '{key}' must be a node id.", field=f"{at}.{key}"))
                bad = True
        label = edge.get("label", "next")
        if not isinstance(label, str) or not 1 <= len(label) <= 40:
            fail(InvalidInput(f"Edge {i}: label must be 1-40 characters.", field=f"{at}.label"))
            bad = True
        if not bad:
            out.edges.append({"from": edge["from"], "to": edge["to"], "label": label})
    return out


def _reach(start: str, out_edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    pending = [start]
    while pending:
        for nxt in out_edges.get(pending.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                pending.append(nxt)
    return seen


def _cycle_edges(ids: list[str], edges: list[tuple[int, str, str]]) -> list[int]:
    """Indexes of edges that close a cycle (back edges of a depth-first search)."""
    out_edges: dict[str, list[tuple[int, str]]] = {}
    for index, source, target in edges:
        out_edges.setdefault(source, []).append((index, target))
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: list[int] = []
    for root in ids:
        if root in state:
            continue
        stack = [(root, iter(out_edges.get(root, [])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            step = next(children, None)
            if step is None:
                state[node] = 2
                stack.pop()
                continue
            index, target = step
            if state.get(target) == 1:
                back.append(index)
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(out_edges.get(target, []))))
    return sorted(back)


def validate(raw_nodes: Any, raw_edges: Any, ctx: node_settings.Context) -> Checked:
    """Shape, then every problem publishing would reject; nodes carry normalised settings
    where theirs are valid (as given where not, so a draft keeps what was typed)."""
    out = shape(raw_nodes, raw_edges)
    if out.shape_errors:
        return out
    problem = out.problems.append
    nodes = {n["id"]: (i, n) for i, n in enumerate(out.nodes)}
    index_of = {
        n["id"]: i
        for i, n in enumerate(raw_nodes)
        if isinstance(n, dict) and isinstance(n.get("id"), str)
    }
    triggers = [n for n in out.nodes if n["type"] == "trigger"]
    if len(triggers) != 1:
        problem(
            InvalidInput(
                f"A journey needs exactly one trigger node (it has {len(triggers)}).", field="nodes"
            )
        )
    good_edges: list[tuple[int, str, str]] = []
    labels_of: dict[str, set[str]] = {}
    for i, edge in enumerate(out.edges):
        at = f"edges[{i}]"
        source, target, label = edge["from"], edge["to"], edge["label"]
        if source not in nodes:
            problem(InvalidInput(f"Edge {i}: no node '{source}'.", field=f"{at}.from"))
            continue
        if target not in nodes:
            problem(
                InvalidInput(f"Edge {i} from '{source}': no node '{target}'.", field=f"{at}.to")
            )
            continue
        node = nodes[source][1]
        if nodes[target][1]["type"] == "trigger":
            problem(
                InvalidInput(
                    f"Edge {i}: nothing may lead into trigger '{target}'.", field=f"{at}.to"
                )
            )
            continue
        allowed = required_labels(node)
        if label not in allowed:
            expected = ", ".join(allowed) or "none (an exit ends the run)"
            problem(
                InvalidInput(
                    f"Node '{source}' ({node['type']}): no edge '{label}' here; "
                    f"its edges are {expected}.",
                    field=f"{at}.label",
                )
            )
            continue
        if label in labels_of.setdefault(source, set()):
            problem(InvalidInput(f"Node '{source}': a second '{label}' edge.", field=f"{at}.label"))
            continue
        labels_of[source].add(label)
        good_edges.append((i, source, target))
    for node_id, (_, node) in nodes.items():
        missing = [
            label for label in required_labels(node) if label not in labels_of.get(node_id, set())
        ]
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            problem(
                InvalidInput(
                    f"Node '{node_id}' ({node['type']}) needs an edge {names}.",
                    field=f"nodes[{index_of[node_id]}]",
                )
            )
    for index in _cycle_edges(list(nodes), good_edges):
        edge = out.edges[index]
        problem(
            InvalidInput(
                f"Edge {index} from '{edge['from']}' to '{edge['to']}' closes a cycle.",
                field=f"edges[{index}].to",
            )
        )
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for _, source, target in good_edges:
        forward.setdefault(source, []).append(target)
        backward.setdefault(target, []).append(source)
    if len(triggers) == 1:
        reachable = _reach(triggers[0]["id"], forward)
        for node_id in nodes:
            if node_id not in reachable:
                problem(
                    InvalidInput(
                        f"Node '{node_id}' cannot be reached from the trigger.",
                        field=f"nodes[{index_of[node_id]}]",
                    )
                )
    for node_id, (_, node) in nodes.items():
        at = f"nodes[{index_of[node_id]}]"
        earlier_sends = {
            n for n in _reach(node_id, backward) if n != node_id and nodes[n][1]["type"] == "send"
        }
        normalized, errors = node_settings.check(node, at, ctx, earlier_sends)
        out.problems += errors
        if not errors:
            node["settings"] = normalized
    return out
