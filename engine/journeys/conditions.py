"""Branch conditions: the segment rule language, plus facts about this run.

A condition tree has the groups of segment rules (`all`, `any`, `not`) and, besides any
segment condition (evaluated on the contact as stored), three leaves about the run:

    {"trigger_property": "total", "op": "gt", "value": 100}
        a property of the event that started the run (the operators of segment rules)
    {"since_entry": "order_completed", "where": [property conditions]}
        the contact did this event after entering the run
    {"engaged": "opened", "node": "send1"}
        the message an earlier send node of this run sent was opened (or sent, delivered,
        clicked, replied, bounced, failed, unsubscribed)

The runner supplies the facts (Facts); evaluation itself is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import InvalidInput
from engine.event_names import same_event
from engine.segments import evaluate
from engine.segments import rules as segment_rules
from engine.traits import FieldDef

ENGAGED = ("sent", "delivered", "opened", "clicked", "replied", "bounced", "failed", "unsubscribed")
RUN_KEYS = {
    "trigger_property": {"trigger_property", "op", "value", "type"},
    "since_entry": {"since_entry", "where"},
    "engaged": {"engaged", "node"},
}
MAX_DEPTH = segment_rules.MAX_DEPTH
MAX_LIST = 50


@dataclass
class Facts:
    """What a step may read: the contact, the trigger event and this run's history."""

    contact: dict[str, Any]
    trigger: dict[str, Any] = field(default_factory=dict)  # {"id", "name", "properties"}
    since_entry: list[dict[str, Any]] = field(default_factory=list)  # [{"event", "properties"}]
    engagement: dict[str, set[str]] = field(default_factory=dict)  # send node id -> kinds
    timezone: str = "UTC"  # the contact's, or the workspace's


def run_kind(rule: dict[str, Any]) -> str | None:
    for kind in RUN_KEYS:
        if kind in rule:
            return kind
    return None


# --- validation ---------------------------------------------------------------------------


def _rebase(errors: list[InvalidInput], path: str, inner: str = "") -> list[InvalidInput]:
    """Errors of the segment validator (paths 'rules…') moved to `path`."""
    out = []
    for error in errors:
        rest = (error.field or "").removeprefix("rules")
        out.append(InvalidInput(error.message, field=f"{path}{inner}{rest}"))
    return out


def check_where(where: Any, path: str, label: str) -> list[InvalidInput]:
    """Property conditions on an event's properties (as a segment's `where`)."""
    errors = segment_rules.validate({"event": "x", "where": where})
    out = []
    for error in errors:
        rest = (error.field or "").removeprefix("rules.where")
        out.append(InvalidInput(f"{label}: {error.message}", field=f"{path}{rest}"))
    return out


def validate(
    rule: Any,
    path: str,
    label: str,
    *,
    fields: dict[str, FieldDef],
    segment_rules_of: Callable[[str], Any] | None,
    send_nodes: set[str],
    depth: int = 1,
) -> list[InvalidInput]:
    """Every problem of a condition tree, at its path; messages start with `label`."""
    if depth > MAX_DEPTH:
        return [InvalidInput(f"{label}: conditions nest at most {MAX_DEPTH} deep.", field=path)]
    if not isinstance(rule, dict):
        return [InvalidInput(f"{label}: a condition must be an object.", field=path)]
    errors: list[InvalidInput] = []
    kind = run_kind(rule)
    group = next((k for k in ("all", "any", "not") if k in rule), None)
    if kind is None and group in ("all", "any"):
        children = rule[group]
        extra = [k for k in rule if k != group]
        if extra:
            errors.append(InvalidInput(f"{label}: unknown key '{extra[0]}'.", field=path))
        if not isinstance(children, list) or not 1 <= len(children) <= MAX_LIST:
            return [
                *errors,
                InvalidInput(
                    f"{label}: '{group}' takes a list of 1-{MAX_LIST} conditions.",
                    field=f"{path}.{group}",
                ),
            ]
        for i, child in enumerate(children):
            errors += validate(
                child,
                f"{path}.{group}[{i}]",
                label,
                fields=fields,
                segment_rules_of=segment_rules_of,
                send_nodes=send_nodes,
                depth=depth + 1,
            )
        return errors
    if kind is None and group == "not":
        if len(rule) != 1:
            errors.append(InvalidInput(f"{label}: 'not' takes one condition.", field=path))
        return errors + validate(
            rule["not"],
            f"{path}.not",
            label,
            fields=fields,
            segment_rules_of=segment_rules_of,
            send_nodes=send_nodes,
            depth=depth + 1,
        )
    if kind is not None:
        for key in rule:
            if key not in RUN_KEYS[kind]:
                errors.append(
                    InvalidInput(f"{label}: unknown key '{str(key)[:40]}'.", field=f"{path}.{key}")
                )
    if kind == "trigger_property":
        condition = {**rule, "property": rule["trigger_property"]}
        condition.pop("trigger_property")
        problems = segment_rules.validate({"event": "x", "where": [condition]})
        for error in problems:
            rest = (error.field or "").removeprefix("rules.where[0]")
            rest = rest.replace(".property", ".trigger_property")
            errors.append(InvalidInput(f"{label}: {error.message}", field=f"{path}{rest}"))
        return errors
    if kind == "since_entry":
        name = rule["since_entry"]
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            errors.append(
                InvalidInput(
                    f"{label}: since_entry takes an event name.", field=f"{path}.since_entry"
                )
            )
        if "where" in rule:
            errors += check_where(rule["where"], f"{path}.where", label)
        return errors
    if kind == "engaged":
        if rule["engaged"] not in ENGAGED:
            errors.append(
                InvalidInput(
                    f"{label}: engaged is one of {', '.join(ENGAGED)}.", field=f"{path}.engaged"
                )
            )
        if rule.get("node") not in send_nodes:
            errors.append(
                InvalidInput(
                    f"{label}: node must be a send node that comes before this branch.",
                    field=f"{path}.node",
                )
            )
        return errors
    problems = segment_rules.validate(rule, fields, segment_rules=segment_rules_of)
    return errors + _rebase(
        [InvalidInput(f"{label}: {e.message}", field=e.field) for e in problems], path
    )


def normalize(rule: Any, fields: dict[str, FieldDef]) -> Any:
    """Segment leaves marked as the segment language does (dates), run leaves as they are."""
    if not isinstance(rule, dict):
        return rule
    kind = run_kind(rule)
    if kind == "trigger_property":
        condition = {
            "property": rule["trigger_property"],
            **{k: v for k, v in rule.items() if k in ("op", "value", "type")},
        }
        marked = segment_rules.normalize({"event": "x", "where": [condition]}, {})["where"][0]
        marked.pop("property")
        return {"trigger_property": rule["trigger_property"], **marked}
    if kind == "since_entry":
        if rule.get("where"):
            where = segment_rules.normalize({"event": "x", "where": rule["where"]}, {})["where"]
            return {"since_entry": rule["since_entry"], "where": where}
        return dict(rule)
    if kind == "engaged":
        return dict(rule)
    if "all" in rule or "any" in rule:
        group = "all" if "all" in rule else "any"
        return {group: [normalize(r, fields) for r in rule[group]]}
    if "not" in rule:
        return {"not": normalize(rule["not"], fields)}
    return segment_rules.normalize(rule, fields)


# --- reading and evaluating -----------------------------------------------------------------


def leaves(rule: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(rule, dict):
        return
    if run_kind(rule) is None:
        for group in ("all", "any"):
            if group in rule:
                for child in rule[group]:
                    yield from leaves(child)
                return
        if "not" in rule:
            yield from leaves(rule["not"])
            return
    yield rule


def matches(rule: dict[str, Any], facts: Facts, now: datetime) -> bool:
    kind = run_kind(rule)
    if kind == "trigger_property":
        condition = {k: v for k, v in rule.items() if k != "trigger_property"}
        condition["property"] = rule["trigger_property"]
        return evaluate.where_matches([condition], facts.trigger.get("properties") or {}, now)
    if kind == "since_entry":
        where = rule.get("where") or []
        return any(
            same_event(e.get("event"), rule["since_entry"])
            and evaluate.where_matches(where, e.get("properties") or {}, now)
            for e in facts.since_entry
        )
    if kind == "engaged":
        return rule["engaged"] in facts.engagement.get(rule["node"], set())
    if "all" in rule:
        return all(matches(r, facts, now) for r in rule["all"])
    if "any" in rule:
        return any(matches(r, facts, now) for r in rule["any"])
    if "not" in rule:
        return not matches(rule["not"], facts, now)
    return evaluate.matches(rule, facts.contact, now)
