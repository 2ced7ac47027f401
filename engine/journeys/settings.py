"""Typed settings per node type: every problem reported at its path, then normalised.

trigger  {"kind": "event", "event": name, "where": [property conditions]?}
         {"kind": "segment_entered" | "segment_exited", "segment_id": id}
         {"kind": "date", "property": key, "offset_days": -3, "annual": false,
          "at": "09:00"}   (fires on property date + offset_days, at local time)
         {"kind": "api"}   (only enrollInJourney)
wait     {"kind": "duration", "seconds": n}
         {"kind": "until", "until": ISO date-time}
         {"kind": "time_of_day", "at": "HH:MM", "weekdays": [0..6]?}  (contact's zone)
         {"kind": "event", "event": name, "where": [...]?, "timeout_seconds": n}
send     {"channels": [priority list], "content": {channel: {field: template}},
          "templates": {channel: template id}?}
branch   {"cases": [{"key": k, "rules": condition tree}]}   (+ edge "default")
split    {"cohorts": [{"key": k, "percent": p}]}              (percentages sum to 100)
exit     {}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from engine.errors import InvalidInput
from engine.journeys import conditions
from engine.journeys.model import DEFAULT, KEY
from engine.traits import FieldDef, parse_datetime

CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "webhook")
TRIGGER_KINDS = ("event", "segment_entered", "segment_exited", "date", "api")
WAIT_KINDS = ("duration", "until", "time_of_day", "event")
MAX_WAIT_SECONDS = 366 * 86_400
MAX_CASES = 10
MAX_COHORTS = 10
MAX_OFFSET_DAYS = 366
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DATE_FIELD_TYPES = ("date",)


@dataclass
class Context:
    """What validation may ask about the workspace (the resolver fills it in)."""

    fields: dict[str, FieldDef] = field(default_factory=dict)
    segment_rules_of: Callable[[str], Any] | None = None  # id -> rules, None when unknown
    template_channel_of: Callable[[str], str | None] | None = None  # id -> channel
    check_content: Callable[[dict[str, dict[str, str]]], list[InvalidInput]] | None = None


class _Checker:
    def __init__(self, node: dict[str, Any], path: str, ctx: Context) -> None:
        self.node = node
        self.path = f"{path}.settings"
        self.label = f"Node '{node['id']}'"
        self.ctx = ctx
        self.errors: list[InvalidInput] = []
        raw = node.get("settings")
        self.settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if raw is not None and not isinstance(raw, dict):
            self.fail("", "settings must be an object.")

    def fail(self, key: str, message: str) -> None:
        at = f"{self.path}.{key}" if key else self.path
        self.errors.append(InvalidInput(f"{self.label}: {message}", field=at))

    def only(self, allowed: set[str]) -> None:
        for key in self.settings:
            if key not in allowed:
                self.fail(str(key)[:40], f"unknown setting '{str(key)[:40]}'.")

    def name(self, key: str, what: str = "an event name") -> str | None:
        value = self.settings.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            self.fail(key, f"{key} must be {what}.")
            return None
        return value.strip()

    def seconds(self, key: str, low: int) -> int | None:
        value = self.settings.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not low <= value <= MAX_WAIT_SECONDS
        ):
            self.fail(
                key, f"{key} must be a whole number of seconds from {low} to {MAX_WAIT_SECONDS}."
            )
            return None
        return value

    def clock(self, key: str, default: str | None = None) -> str | None:
        value = self.settings.get(key, default)
        if not isinstance(value, str) or not _HHMM.match(value):
            self.fail(key, f"{key} must be a time of day as HH:MM (24-hour).")
            return None
        return value

    def where(self) -> list[dict[str, Any]] | None:
        if "where" not in self.settings:
            return None
        problems = conditions.check_where(self.settings["where"], f"{self.path}.where", self.label)
        self.errors += problems
        if problems:
            return None
        normalized = conditions.normalize({"since_entry": "x", "where": self.settings["where"]}, {})
        return normalized["where"]


# --- per type ----------------------------------------------------------------------------


def _trigger(c: _Checker) -> dict[str, Any]:
    kind = c.settings.get("kind")
    if kind not in TRIGGER_KINDS:
        c.fail("kind", f"a trigger's kind is one of {', '.join(TRIGGER_KINDS)}.")
        return {}
    out: dict[str, Any] = {"kind": kind}
    if kind == "event":
        c.only({"kind", "event", "where"})
        out["event"] = c.name("event")
        where = c.where()
        if where:
            out["where"] = where
    elif kind in ("segment_entered", "segment_exited"):
        c.only({"kind", "segment_id"})
        out["segment_id"] = c.name("segment_id", "a segment id")
        known = c.ctx.segment_rules_of
        if out["segment_id"] and known is not None and known(out["segment_id"]) is None:
            c.fail("segment_id", "no such segment in this workspace.")
    elif kind == "date":
        c.only({"kind", "property", "offset_days", "annual", "at"})
        prop = c.name("property", "a contact property holding a date")
        if prop is not None:
            declared = c.ctx.fields.get(prop)
            if prop != "birthday" and (declared is None or declared.type not in DATE_FIELD_TYPES):
                c.fail("property", f"'{prop[:40]}' is not a DATE custom field (or birthday).")
        out["property"] = prop
        offset = c.settings.get("offset_days", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or abs(offset) > MAX_OFFSET_DAYS:
            c.fail(
                "offset_days",
                f"offset_days is a whole number from -{MAX_OFFSET_DAYS} to {MAX_OFFSET_DAYS}.",
            )
        out["offset_days"] = offset
        annual = c.settings.get("annual", prop == "birthday")
        if not isinstance(annual, bool):
            c.fail("annual", "annual is true or false.")
        out["annual"] = annual
        out["at"] = c.clock("at", "09:00")
    else:
        c.only({"kind"})
    return out


def _wait(c: _Checker) -> dict[str, Any]:
    kind = c.settings.get("kind")
    if kind not in WAIT_KINDS:
        c.fail("kind", f"a wait's kind is one of {', '.join(WAIT_KINDS)}.")
        return {}
    out: dict[str, Any] = {"kind": kind}
    if kind == "duration":
        c.only({"kind", "seconds"})
        out["seconds"] = c.seconds("seconds", 0)
    elif kind == "until":
        c.only({"kind", "until"})
        try:
            value = c.settings.get("until")
            if not isinstance(value, str):
                raise ValueError
            out["until"] = parse_datetime(value).astimezone(UTC).isoformat()
        except (ValueError, OverflowError):
            c.fail("until", "until must be an ISO 8601 date-time, like 2026-12-24T18:00:00Z.")
    elif kind == "time_of_day":
        c.only({"kind", "at", "weekdays"})
        out["at"] = c.clock("at")
        days = c.settings.get("weekdays", list(range(7)))
        if (
            not isinstance(days, list)
            or not days
            or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in days)
        ):
            c.fail("weekdays", "weekdays lists days 0 (Monday) to 6 (Sunday), at least one.")
        else:
            out["weekdays"] = sorted(set(days))
    else:
        c.only({"kind", "event", "where", "timeout_seconds"})
        out["event"] = c.name("event")
        where = c.where()
        if where:
            out["where"] = where
        out["timeout_seconds"] = c.seconds("timeout_seconds", 1)
    return out


def _send(c: _Checker) -> dict[str, Any]:
    c.only({"channels", "content", "templates"})
    channels = c.settings.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or len(channels) > len(CHANNELS)
        or any(ch not in CHANNELS for ch in channels)
        or len(set(channels)) != len(channels)
    ):
        c.fail(
            "channels", f"channels is a priority list of distinct channels: {', '.join(CHANNELS)}."
        )
        return {}
    content = c.settings.get("content", {})
    templates = c.settings.get("templates", {})
    if not isinstance(content, dict) or any(
        not isinstance(v, dict) or any(not isinstance(t, str) for t in v.values())
        for v in content.values()
    ):
        c.fail("content", "content maps a channel to {field: template text}.")
        return {}
    if not isinstance(templates, dict) or any(not isinstance(v, str) for v in templates.values()):
        c.fail("templates", "templates maps a channel to a template id.")
        return {}
    for channel in [*content, *templates]:
        if channel not in channels:
            where = "content" if channel in content else "templates"
            c.fail(
                f"{where}.{str(channel)[:20]}",
                f"'{str(channel)[:20]}' is not one of this node's channels.",
            )
    for channel in channels:
        if channel in content and channel in templates:
            c.fail(f"templates.{channel}", f"{channel} has both inline content and a template.")
        elif channel in templates:
            found = (
                c.ctx.template_channel_of(templates[channel])
                if c.ctx.template_channel_of
                else channel
            )
            if found is None:
                c.fail(f"templates.{channel}", "no such template in this workspace.")
            elif found != channel:
                c.fail(f"templates.{channel}", f"that template is for {found}, not {channel}.")
        elif channel not in content and channel != "webhook":
            c.fail(f"content.{channel}", f"{channel} needs content or a template.")
    if content and c.ctx.check_content is not None:
        for problem in c.ctx.check_content(content):
            c.errors.append(
                InvalidInput(f"{c.label}: {problem.message}", field=f"{c.path}.{problem.field}")
            )
    out: dict[str, Any] = {"channels": list(channels), "content": content}
    if templates:
        out["templates"] = templates
    return out


def _branch(c: _Checker, send_nodes: set[str]) -> dict[str, Any]:
    c.only({"cases"})
    cases = c.settings.get("cases")
    if not isinstance(cases, list) or not 1 <= len(cases) <= MAX_CASES:
        c.fail("cases", f"a branch has 1-{MAX_CASES} cases (the default edge is extra).")
        return {}
    out = []
    seen: set[str] = set()
    for i, case in enumerate(cases):
        at = f"cases[{i}]"
        if not isinstance(case, dict):
            c.fail(at, "a case is {key, rules}.")
            continue
        for key in case:
            if key not in ("key", "rules"):
                c.fail(f"{at}.{str(key)[:40]}", f"unknown key '{str(key)[:40]}'.")
        key = case.get("key")
        if not isinstance(key, str) or not KEY.match(key) or key == DEFAULT:
            c.fail(f"{at}.key", "a case key is 1-40 letters, digits, _ or - (not 'default').")
        elif key in seen:
            c.fail(f"{at}.key", f"case key '{key}' is used twice.")
        else:
            seen.add(key)
        problems = conditions.validate(
            case.get("rules"),
            f"{c.path}.{at}.rules",
            c.label,
            fields=c.ctx.fields,
            segment_rules_of=c.ctx.segment_rules_of,
            send_nodes=send_nodes,
        )
        c.errors += problems
        if not problems:
            out.append({"key": key, "rules": conditions.normalize(case["rules"], c.ctx.fields)})
    return {"cases": out}


def _split(c: _Checker) -> dict[str, Any]:
    c.only({"cohorts"})
    cohorts = c.settings.get("cohorts")
    if not isinstance(cohorts, list) or not 2 <= len(cohorts) <= MAX_COHORTS:
        c.fail("cohorts", f"a split has 2-{MAX_COHORTS} cohorts.")
        return {}
    out = []
    seen: set[str] = set()
    total = 0
    for i, cohort in enumerate(cohorts):
        at = f"cohorts[{i}]"
        if not isinstance(cohort, dict) or set(cohort) - {"key", "percent"}:
            c.fail(at, "a cohort is {key, percent}.")
            continue
        key, percent = cohort.get("key"), cohort.get("percent")
        if not isinstance(key, str) or not KEY.match(key):
            c.fail(f"{at}.key", "a cohort key is 1-40 letters, digits, _ or -.")
        elif key in seen:
            c.fail(f"{at}.key", f"cohort key '{key}' is used twice.")
        else:
            seen.add(key)
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            c.fail(f"{at}.percent", "percent is a whole number from 0 to 100.")
        else:
            total += percent
        out.append({"key": key, "percent": percent})
    if (
        len(out) == len(cohorts)
        and total != 100
        and not any(e.field and e.field.endswith("percent") for e in c.errors)
    ):
        c.fail("cohorts", f"percentages must sum to 100 (they sum to {total}).")
    return {"cohorts": out}


def check(
    node: dict[str, Any], path: str, ctx: Context, send_nodes: set[str]
) -> tuple[dict[str, Any], list[InvalidInput]]:
    """(normalised settings, problems) of one node whose id and type are valid."""
    checker = _Checker(node, path, ctx)
    kind = node["type"]
    if kind == "trigger":
        out = _trigger(checker)
    elif kind == "wait":
        out = _wait(checker)
    elif kind == "send":
        out = _send(checker)
    elif kind == "branch":
        out = _branch(checker, send_nodes)
    elif kind == "split":
        out = _split(checker)
    else:
        checker.only(set())
        out = {}
    return out, checker.errors


def parse_clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def parse_until(value: str) -> datetime:
    return datetime.fromisoformat(value)
