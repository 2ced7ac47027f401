"""Stepping: what a contact at a node does next. Pure: the runner executes the decision
(with a conditional update on the enrollment's step counter) and supplies the facts.

    decide(graph, node_id, facts, now)   the contact has arrived at node_id
        -> Move(to, outcome)             trigger, branch, split; a wait already over
           Send(channels, content, to)   queue the message, then go on to `to`
           Park(wake_at, event, where)   wait (for the clock, or for an event until then)
           Finish(outcome)               exit node: the run is complete
    on_wake(graph, node_id)              the wait's timer fired -> Move
    on_event(graph, node_id, event)      an event arrived while waiting -> Move | None
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine import ab
from engine.event_names import same_event
from engine.journeys import conditions, waits
from engine.journeys.conditions import Facts
from engine.journeys.model import DEFAULT, NEXT, TIMEOUT, Graph
from engine.segments.evaluate import where_matches


@dataclass(frozen=True)
class Move:
    to: str
    outcome: str


@dataclass(frozen=True)
class Send:
    channels: list[str]
    content: dict[str, dict[str, str]]
    templates: dict[str, str]
    to: str


@dataclass(frozen=True)
class Park:
    wake_at: datetime
    event: str | None = None
    where: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Finish:
    outcome: str = "exit"


Decision = Move | Send | Park | Finish


def decide(graph: Graph, node_id: str, facts: Facts, now: datetime, *, salt: str = "") -> Decision:
    node = graph.node(node_id)
    kind, settings = node["type"], node["settings"]
    if kind == "trigger":
        return Move(graph.target(node_id, NEXT), "entered")
    if kind == "exit":
        return Finish("exit")
    if kind == "send":
        return Send(
            channels=list(settings["channels"]),
            content=dict(settings.get("content") or {}),
            templates=dict(settings.get("templates") or {}),
            to=graph.target(node_id, NEXT),
        )
    if kind == "branch":
        for case in settings["cases"]:
            if conditions.matches(case["rules"], facts, now):
                return Move(graph.target(node_id, case["key"]), case["key"])
        return Move(graph.target(node_id, DEFAULT), DEFAULT)
    if kind == "split":
        cohorts = settings["cohorts"]
        contact_id = str(facts.contact.get("_id", ""))
        chosen = cohorts[
            ab.assign(contact_id, f"{salt}:{node_id}", [c["percent"] for c in cohorts])
        ]
        return Move(graph.target(node_id, chosen["key"]), chosen["key"])
    # wait
    wake = waits.wake_at(settings, now, facts.timezone)
    if settings["kind"] == "event":
        return Park(wake, settings["event"], settings.get("where"))
    if wake <= now:
        return Move(graph.target(node_id, NEXT), "waited")
    return Park(wake)


def on_wake(graph: Graph, node_id: str) -> Move:
    node = graph.node(node_id)
    if node["settings"].get("kind") == "event":
        return Move(graph.target(node_id, TIMEOUT), "timeout")
    return Move(graph.target(node_id, NEXT), "waited")


def on_event(graph: Graph, node_id: str, event: dict[str, Any], now: datetime) -> Move | None:
    """The event a contact waits for (name and `where` on its properties) moves it on."""
    node = graph.node(node_id)
    settings = node["settings"]
    if node["type"] != "wait" or settings.get("kind") != "event":
        return None
    if not same_event(event.get("event"), settings["event"]):
        return None
    if not where_matches(settings.get("where") or [], event.get("properties") or {}, now):
        return None
    return Move(graph.target(node_id, NEXT), f"event:{settings['event']}")


def trigger_matches(settings: dict[str, Any], event: dict[str, Any], now: datetime) -> bool:
    """Whether a stored event starts a run of a journey with this trigger."""
    kind = settings.get("kind")
    name = event.get("event")
    properties = event.get("properties") or {}
    if kind == "event":
        return same_event(name, settings["event"]) and where_matches(
            settings.get("where") or [], properties, now
        )
    if kind in ("segment_entered", "segment_exited"):
        return name == kind and properties.get("segment_id") == settings["segment_id"]
    return False


def trigger_event_name(settings: dict[str, Any]) -> str | None:
    """The stored event name a trigger listens to (None: date and API triggers)."""
    kind = settings.get("kind")
    if kind == "event":
        return settings["event"]
    if kind in ("segment_entered", "segment_exited"):
        return kind
    return None
