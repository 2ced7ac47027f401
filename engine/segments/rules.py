"""Rule shapes, validation with paths (rules.all[2].op), and what a rule reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from engine.errors import InvalidInput
from engine.event_names import name_key
from engine.traits import FieldDef, parse_datetime

MAX_DEPTH = 8
MAX_LIST = 500
MAX_STRING = 500
MAX_DAYS = 36_500

STANDARD_FIELDS = {
    "email": "string",
    "phone": "string",
    "user_id": "string",
    "location_id": "string",
    "created_at": "date",
    "last_active_at": "date",  # the contact's own last activity (engine.activity)
    "last_messaged_at": "date",  # the last message Reach sent them
}
STANDARD_PROPERTY_TYPES = {"birthday": "date"}

STRING_OPS = ("contains", "not_contains", "starts_with", "ends_with")
ORDER_OPS = ("gt", "gte", "lt", "lte")
SET_OPS = ("in", "not_in")
PRESENCE_OPS = ("is_empty", "is_not_empty", "exists", "not_exists")
DATE_OPS = ("before", "after", "within_last_days", "more_than_days_ago", "anniversary_in_days")
RELATIVE_DATE_OPS = ("within_last_days", "more_than_days_ago", "anniversary_in_days")
OPS = ("eq", "neq", *STRING_OPS, *ORDER_OPS, "between", *SET_OPS, *PRESENCE_OPS, *DATE_OPS)
COUNT_OPS = ("eq", "gte", "lte", "gt", "lt")
ENGAGEMENTS = ("opened", "clicked", "replied", "delivered", "bounced")
CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "in_app")
# location_id is an id: compared as a whole, never as text or a number.
ID_OPS = ("eq", "neq", "in", "not_in", "exists", "not_exists", "is_empty", "is_not_empty")

CONDITION_KEYS = {
    # "type": "date" is added by normalize() where a value compares as a date.
    "property": {"property", "op", "value", "type"},
    "tag": {"tag"},
    "event": {"event", "within_days", "count", "where"},
    "engagement": {"engagement", "channel", "within_days", "count"},
    "reachable": {"reachable"},
    "in_segment": {"in_segment"},
}


def kind_of(rule: dict[str, Any]) -> str | None:
    for kind in ("all", "any", "not", *CONDITION_KEYS):
        if kind in rule:
            return kind
    return None


def field_path(name: str) -> str:
    """Where a rule's property lives on the contact document."""
    return name if name in STANDARD_FIELDS else f"properties.{name}"


def value_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def parse_date_value(value: Any) -> datetime:
    """A date in a rule, truncated to milliseconds (what MongoDB stores and compares)."""
    moment = parse_datetime(value)
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def where_key(event: str, where: list[dict[str, Any]]) -> str:
    """The aggregate name of an event filtered by `where` (kept up to date on ingest)."""
    canonical = json.dumps(where, sort_keys=True, separators=(",", ":"), default=str)
    return f"{name_key(event)}?{hashlib.sha1(canonical.encode()).hexdigest()[:12]}"  # noqa: S324 - a name


def behaviour_key(rule: dict[str, Any]) -> str:
    """The aggregate an event condition reads: its name's key, or its `where`'s own."""
    if rule.get("where"):
        return where_key(rule["event"], rule["where"])
    return name_key(rule["event"])


def engagement_events(rule: dict[str, Any]) -> list[str]:
    channels = [rule["channel"]] if rule.get("channel") else list(CHANNELS)
    return [f"{channel}_{rule['engagement']}" for channel in channels]


# --- validation -----------------------------------------------------------------------


class _Validator:
    def __init__(
        self,
        fields: dict[str, FieldDef],
        segment_rules: Callable[[str], Any] | None,
        self_id: str | None,
    ) -> None:
        self.fields = fields
        self.segment_rules = segment_rules
        self.self_id = self_id
        self.errors: list[InvalidInput] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(InvalidInput(message, field=path))

    def rule(self, rule: Any, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.fail(path, f"Rules may nest at most {MAX_DEPTH} levels deep.")
            return
        if not isinstance(rule, dict):
            self.fail(path, "A rule must be an object (a group or a condition).")
            return
        kind = kind_of(rule)
        if kind is None:
            keys = ", ".join(sorted(str(k) for k in rule)[:5]) or "none"
            self.fail(path, f"Unknown rule: expected all, any, not or a condition (keys: {keys}).")
            return
        if kind in ("all", "any"):
            self.only(rule, {kind}, path)
            children = rule[kind]
            if not isinstance(children, list):
                self.fail(f"{path}.{kind}", f"'{kind}' takes a list of rules.")
                return
            if len(children) > MAX_LIST:
                self.fail(f"{path}.{kind}", f"A group may hold at most {MAX_LIST} rules.")
                return
            for i, child in enumerate(children):
                self.rule(child, f"{path}.{kind}[{i}]", depth + 1)
            return
        if kind == "not":
            self.only(rule, {"not"}, path)
            self.rule(rule["not"], f"{path}.not", depth + 1)
            return
        self.only(rule, CONDITION_KEYS[kind], path)
        getattr(self, kind)(rule, path)

    def only(self, rule: dict, allowed: set[str], path: str) -> None:
        for key in rule:
            if key not in allowed:
                self.fail(f"{path}.{key}", f"Unknown key '{str(key)[:40]}' here.")

    def declared_type(self, name: str) -> str | None:
        if name in STANDARD_FIELDS:
            return STANDARD_FIELDS[name]
        top = name.split(".", 1)[0]
        if top in self.fields and "." not in name:
            return self.fields[top].type
        return STANDARD_PROPERTY_TYPES.get(name)

    def property(self, rule: dict, path: str, *, allow_standard: bool = True) -> None:
        name = rule.get("property")
        if not isinstance(name, str) or not name or len(name) > 200:
            self.fail(f"{path}.property", "property must be a field name.")
            return
        parts = name.split(".")
        if any(not p or p.startswith("$") for p in parts):
            self.fail(f"{path}.property", f"Invalid property name '{name[:40]}'.")
            return
        op = rule.get("op")
        if op not in OPS:
            self.fail(f"{path}.op", f"Unknown operator '{str(op)[:40]}'.")
            return
        if "type" in rule and rule["type"] != "date":
            self.fail(f"{path}.type", "type may only be 'date'.")
        declared = self.declared_type(name) if allow_standard else None
        if allow_standard and name == "location_id" and op not in ID_OPS:
            self.fail(f"{path}.op", f"location_id supports {', '.join(ID_OPS)}.")
            return
        if rule.get("type") == "date":
            declared = "date"
        self.value(rule, op, declared, path)

    def value(self, rule: dict, op: str, declared: str | None, path: str) -> None:
        at = f"{path}.value"
        has = "value" in rule
        value = rule.get("value")
        if op in PRESENCE_OPS:
            if has:
                self.fail(at, f"'{op}' takes no value.")
            return
        if not has:
            self.fail(at, f"'{op}' needs a value.")
            return
        if op in RELATIVE_DATE_OPS:
            limit = 366 if op == "anniversary_in_days" else MAX_DAYS
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                self.fail(at, f"'{op}' takes a whole number of days from 0 to {limit}.")
            elif declared not in (None, "date"):
                self.fail(at, f"'{op}' applies to dates; this field is a {declared}.")
            return
        if op in ("before", "after"):
            self.date(value, at, declared)
            return
        if op in SET_OPS or op == "between":
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                self.fail(at, f"'{op}' takes a non-empty list (at most {MAX_LIST}).")
                return
            if op == "between" and len(value) != 2:
                self.fail(at, "'between' takes [low, high].")
                return
            kinds = {self.scalar(v, at, declared, op) for v in value}
            if len(kinds) > 1:
                self.fail(at, "All values of the list must have one type.")
            return
        self.scalar(value, at, declared, op)

    def date(self, value: Any, at: str, declared: str | None) -> str | None:
        if declared not in (None, "date"):
            self.fail(at, f"This field is a {declared}, not a date.")
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            parse_date_value(value)
        except (ValueError, OverflowError):
            self.fail(at, "Expected an ISO 8601 date, like 2026-01-31.")
            return None
        return "date"

    def scalar(self, value: Any, at: str, declared: str | None, op: str) -> str | None:
        if declared == "date" or (
            declared is None and op in (*ORDER_OPS, "between") and isinstance(value, str)
        ):
            return self.date(value, at, declared)
        kind = value_type(value)
        if kind is None:
            self.fail(at, "Expected a string, number or boolean.")
            return None
        if kind == "string" and len(value) > MAX_STRING:
            self.fail(at, f"Values may be at most {MAX_STRING} characters.")
            return None
        if declared in ("string", "list") and kind != "string":
            self.fail(at, f"This field holds text; got a {kind}.")
            return None
        if declared in ("number", "boolean") and kind != declared:
            self.fail(at, f"This field is a {declared}; got a {kind}.")
            return None
        if op in STRING_OPS and kind != "string":
            self.fail(at, f"'{op}' compares text.")
            return None
        if op in (*ORDER_OPS, "between") and kind != "number":
            self.fail(at, f"'{op}' compares numbers or dates.")
            return None
        if kind == "boolean" and op not in ("eq", "neq"):
            self.fail(at, "Booleans support eq and neq only.")
            return None
        return kind

    def tag(self, rule: dict, path: str) -> None:
        tag = rule.get("tag")
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 64:
            self.fail(f"{path}.tag", "tag must be a tag name (1-64 characters).")

    def window_and_count(self, rule: dict, path: str) -> None:
        if "within_days" in rule:
            days = rule["within_days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
                self.fail(f"{path}.within_days", f"within_days is 1 to {MAX_DAYS} days.")
        if "count" in rule:
            count = rule["count"]
            if not isinstance(count, dict) or len(count) != 1:
                self.fail(f"{path}.count", 'count takes one comparison, like {"gte": 2}.')
                return
            [(op, n)] = count.items()
            if op not in COUNT_OPS:
                self.fail(f"{path}.count.{op}", f"Unknown count comparison '{str(op)[:20]}'.")
            elif isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 1_000_000:
                self.fail(f"{path}.count.{op}", "Counts are whole numbers from 0.")

    def event(self, rule: dict, path: str) -> None:
        name = rule.get("event")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            self.fail(f"{path}.event", "event must be an event name.")
        self.window_and_count(rule, path)
        if "where" in rule:
            where = rule["where"]
            if not isinstance(where, list) or not where or len(where) > 20:
                self.fail(f"{path}.where", "where takes a list of 1-20 property conditions.")
                return
            for i, condition in enumerate(where):
                at = f"{path}.where[{i}]"
                if not isinstance(condition, dict) or "property" not in condition:
                    self.fail(at, "where holds property conditions on the event's properties.")
                    continue
                self.only(condition, CONDITION_KEYS["property"], at)
                self.property(condition, at, allow_standard=False)

    def engagement(self, rule: dict, path: str) -> None:
        if rule.get("engagement") not in ENGAGEMENTS:
            self.fail(f"{path}.engagement", f"engagement is one of {', '.join(ENGAGEMENTS)}.")
        if "channel" in rule and rule["channel"] not in CHANNELS:
            self.fail(f"{path}.channel", f"channel is one of {', '.join(CHANNELS)}.")
        self.window_and_count(rule, path)

    def reachable(self, rule: dict, path: str) -> None:
        if rule.get("reachable") not in CHANNELS:
            self.fail(f"{path}.reachable", f"reachable is one of {', '.join(CHANNELS)}.")

    def in_segment(self, rule: dict, path: str) -> None:
        target = rule.get("in_segment")
        at = f"{path}.in_segment"
        if not isinstance(target, str) or not target:
            self.fail(at, "in_segment takes a segment id.")
            return
        if self.segment_rules is None:
            return
        if target == self.self_id:
            self.fail(at, "A segment cannot contain itself.")
            return
        seen: set[str] = set()
        pending = [target]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            rules = self.segment_rules(current)
            if rules is None and current == target:
                self.fail(at, "No such segment in this workspace.")
                return
            for other in segment_dependencies(rules):
                if other == self.self_id:
                    self.fail(at, "Segment references form a cycle.")
                    return
                pending.append(other)


def validate(
    rules: Any,
    fields: dict[str, FieldDef] | None = None,
    *,
    segment_rules: Callable[[str], Any] | None = None,
    self_id: str | None = None,
) -> list[InvalidInput]:
    """Every problem of a rule tree, each with the path it is at."""
    checker = _Validator(fields or {}, segment_rules, self_id)
    checker.rule(rules, "rules", 1)
    return checker.errors


def normalize(rules: Any, fields: dict[str, FieldDef] | None = None) -> Any:
    """A copy of a valid rule tree where every property condition whose value compares as
    a date says so ("type": "date"), so compiling and evaluating need no field types."""
    checker = _Validator(fields or {}, None, None)

    def visit(rule: Any, event_properties: bool = False) -> Any:
        if not isinstance(rule, dict):
            return rule
        kind = kind_of(rule)
        if kind in ("all", "any"):
            return {kind: [visit(r) for r in rule[kind]]}
        if kind == "not":
            return {"not": visit(rule["not"])}
        if kind == "event" and rule.get("where"):
            return {**rule, "where": [visit(c, True) for c in rule["where"]]}
        if kind != "property":
            return dict(rule)
        declared = None if event_properties else checker.declared_type(rule["property"])
        op, value = rule["op"], rule.get("value")
        sample = value[0] if isinstance(value, list) and value else value
        dated = (
            op in DATE_OPS
            or declared == "date"
            or rule.get("type") == "date"
            or (op in (*ORDER_OPS, "between") and isinstance(sample, str))
        )
        if dated and op not in PRESENCE_OPS:
            return {**rule, "type": "date"}
        return dict(rule)

    return visit(rules)


# --- reading a rule ---------------------------------------------------------------------


def walk(rule: Any) -> Iterator[dict[str, Any]]:
    """Every condition of a (valid) rule tree."""
    if not isinstance(rule, dict):
        return
    kind = kind_of(rule)
    if kind in ("all", "any"):
        for child in rule[kind]:
            yield from walk(child)
    elif kind == "not":
        yield from walk(rule["not"])
    elif kind is not None:
        yield rule


def segment_dependencies(rules: Any) -> set[str]:
    return {c["in_segment"] for c in walk(rules) if "in_segment" in c}


def references(rules: Any) -> set[tuple[str, str]]:
    """What a rule reads, so a change re-evaluates only the segments it can affect."""
    refs: set[tuple[str, str]] = set()
    for condition in walk(rules):
        if "property" in condition:
            name = condition["property"]
            if name in STANDARD_FIELDS:
                refs.add(("field", name))
            else:
                refs.add(("property", name.split(".", 1)[0]))
        elif "tag" in condition:
            refs.add(("tag", condition["tag"]))
        elif "event" in condition:
            refs.add(("event", name_key(condition["event"])))
        elif "engagement" in condition:
            refs |= {("event", name) for name in engagement_events(condition)}
        elif "reachable" in condition:
            channel = condition["reachable"]
            refs.add(("consent", channel))
            refs |= {("field", f) for f in reachability_fields(channel)}
        elif "in_segment" in condition:
            refs.add(("segment", condition["in_segment"]))
    return refs


def reachability_fields(channel: str) -> tuple[str, ...]:
    if channel == "email":
        return ("email",)
    if channel in ("sms", "whatsapp", "rcs"):
        return ("phone",)
    if channel == "in_app":
        return ("user_id", "anonymous_ids")
    return ("push_tokens",)


def is_time_dependent(rules: Any) -> bool:
    """Whether membership can change with time alone (a window that lapses)."""
    for condition in walk(rules):
        if "within_days" in condition:
            return True
        if condition.get("op") in RELATIVE_DATE_OPS:
            return True
    return False


def event_filters(rules: Any) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(aggregate key, event name key, where) of every behaviour condition with a `where`."""
    return [
        (where_key(c["event"], c["where"]), name_key(c["event"]), c["where"])
        for c in walk(rules)
        if "event" in c and c.get("where")
    ]
