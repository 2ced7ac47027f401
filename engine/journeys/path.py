"""The path a run takes now: every instant transition from where it stands, computed here so
the runner can write it in one conditional update.

A run stands at a node. `walk` moves a Path through every node that decides instantly
(trigger, branch, split, exit, a wait already over) and stops where the runner must act
or the run must wait:

    path.send       a send node: the runner queues the message, then `sent(outcome)`
    path.needs      a branch whose conditions read engagement or events since entry: the
                    runner loads them into the facts, `loaded(node)`, and walks on
    otherwise       parked at a wait, ended, or MAX_TRANSITIONS made

`update(path, ...)` is then the one write: the run's new place, its history entries in
order (one per transition, as if each had been its own update) and the step counter
raised by their number, so a message that read the old step finds it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.journeys import step as stepping
from engine.journeys.conditions import Facts, leaves
from engine.journeys.model import Graph

MAX_TRANSITIONS = 1000  # per walk: a graph is acyclic and has at most 200 nodes
HISTORY = 100  # entries kept on a run


@dataclass
class Path:
    node_id: str
    status: str = "active"  # active | waiting | completed | exited
    entries: list[dict[str, Any]] = field(default_factory=list)
    wake_at: datetime | None = None
    waiting_for: dict[str, Any] | None = None
    outcome: str | None = None  # how it ended
    send: stepping.Send | None = None  # to queue before going on
    needs: str | None = None  # a branch node whose run facts are not loaded
    facts_loaded: set[str] = field(default_factory=set)

    @property
    def blocked(self) -> bool:
        """Stopped for the runner: a send to queue or facts to load."""
        return self.send is not None or self.needs is not None


def resumed(node_id: str, move: stepping.Move, now: datetime) -> Path:
    """A waiting run moves on (its timer ran out, or its event came) to `move.to`."""
    return Path(move.to, entries=[entry(node_id, now, move.outcome)])


def entry(node_id: str, now: datetime, outcome: str) -> dict[str, Any]:
    return {"node": node_id, "at": now, "outcome": outcome}


def run_facts_needed(graph: Graph, node_id: str) -> bool:
    """Whether a branch reads engagement of earlier sends or events since entry."""
    node = graph.node(node_id)
    if node["type"] != "branch":
        return False
    return any(
        "engaged" in leaf or "since_entry" in leaf
        for case in node["settings"]["cases"]
        for leaf in leaves(case["rules"])
    )


def walk(path: Path, graph: Graph, facts: Facts, now: datetime, *, salt: str = "") -> Path:
    """Move `path` through instant nodes until it parks, ends, or blocks on the runner."""
    while path.status == "active" and not path.blocked and len(path.entries) < MAX_TRANSITIONS:
        node_id = path.node_id
        if node_id not in path.facts_loaded and run_facts_needed(graph, node_id):
            path.needs = node_id
            return path
        decision = stepping.decide(graph, node_id, facts, now, salt=salt)
        if isinstance(decision, stepping.Move):
            path.entries.append(entry(node_id, now, decision.outcome))
            path.node_id = decision.to
        elif isinstance(decision, stepping.Send):
            path.send = decision
        elif isinstance(decision, stepping.Park):
            path.entries.append(entry(node_id, now, "waiting"))
            path.status = "waiting"
            path.wake_at = decision.wake_at
            if decision.event:
                path.waiting_for = {
                    "event": decision.event,
                    "where": decision.where or [],
                    "timeout_at": decision.wake_at,
                }
        else:
            path.entries.append(entry(node_id, now, "exit"))
            path.status, path.outcome = "completed", decision.outcome
    return path


def sent(path: Path, now: datetime, outcome: str) -> Path:
    """The runner queued the send the path stopped at: record it and go on."""
    assert path.send is not None
    path.entries.append(entry(path.node_id, now, outcome))
    path.node_id, path.send = path.send.to, None
    return path


def loaded(path: Path) -> Path:
    """The runner loaded the facts of the branch the path stopped at."""
    assert path.needs is not None
    path.facts_loaded.add(path.needs)
    path.needs = None
    return path


def ended(status_outcome: str, now: datetime) -> dict[str, Any]:
    """The fields of a run that ends with this outcome ("exit" completes it)."""
    status = "completed" if status_outcome == "exit" else "exited"
    return {
        "status": status,
        "outcome": status_outcome,
        "ended_at": now,
        "due_at": None,
        "wake_at": None,
        "waiting_for": None,
    }


def update(path: Path, now: datetime, lease: timedelta) -> dict[str, Any]:
    """The one update that moves a run along `path` (the filter is the runner's: the run's
    _id, workspace and the step it was read at)."""
    if path.status in ("completed", "exited"):
        sets = {"node_id": path.node_id, **ended(path.outcome or "exit", now)}
    elif path.status == "waiting":
        sets = {
            "status": "waiting",
            "node_id": path.node_id,
            "wake_at": path.wake_at,
            "waiting_for": path.waiting_for,
            "due_at": path.wake_at,
        }
    else:  # MAX_TRANSITIONS made: leased, the wake-up sweep continues it
        sets = {
            "status": "active",
            "node_id": path.node_id,
            "wake_at": None,
            "waiting_for": None,
            "due_at": now + lease,
        }
    change: dict[str, Any] = {"$set": sets, "$inc": {"step": max(1, len(path.entries))}}
    if path.entries:
        change["$push"] = {"history": {"$each": path.entries, "$slice": -HISTORY}}
    return change
