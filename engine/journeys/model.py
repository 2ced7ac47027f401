"""The journey graph: nodes and labelled edges, and what each node type needs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NODE_TYPES = ("trigger", "wait", "send", "branch", "split", "exit")
MAX_NODES = 200
MAX_EDGES = 1000
NEXT = "next"
TIMEOUT = "timeout"
DEFAULT = "default"
NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class Graph:
    """A validated graph: nodes by id and the target of each (node, label) edge."""

    nodes: dict[str, dict[str, Any]]
    targets: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> Graph:
        return cls(
            nodes={n["id"]: n for n in nodes},
            targets={(e["from"], e["label"]): e["to"] for e in edges},
        )

    def node(self, node_id: str) -> dict[str, Any]:
        return self.nodes[node_id]

    def target(self, node_id: str, label: str) -> str:
        return self.targets[(node_id, label)]

    @property
    def trigger(self) -> dict[str, Any]:
        return next(n for n in self.nodes.values() if n["type"] == "trigger")


def required_labels(node: dict[str, Any]) -> list[str]:
    """The outgoing edge labels a node of this type (and these settings) must have."""
    kind = node.get("type")
    settings = node.get("settings") if isinstance(node.get("settings"), dict) else {}
    if kind in ("trigger", "send"):
        return [NEXT]
    if kind == "wait":
        return [NEXT, TIMEOUT] if settings.get("kind") == "event" else [NEXT]
    if kind == "branch":
        cases = settings.get("cases") if isinstance(settings.get("cases"), list) else []
        keys = [c.get("key") for c in cases if isinstance(c, dict)]
        return [k for k in keys if isinstance(k, str)] + [DEFAULT]
    if kind == "split":
        cohorts = settings.get("cohorts") if isinstance(settings.get("cohorts"), list) else []
        keys = [c.get("key") for c in cohorts if isinstance(c, dict)]
        return [k for k in keys if isinstance(k, str)]
    return []
