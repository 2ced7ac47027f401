"""The shape of a campaign definition: every problem found at once, each at its path.

`clean` runs when a draft is saved (so nothing malformed is ever stored, while a draft may
still be incomplete); `completeness` runs when it is scheduled (what a launch needs). The
checks that read the database (segments, outlets, content rendered for a sample contact)
live in campaigns.launch_checks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from channels import transport
from engine import errors as domain_errors
from engine import recurrence
from engine.errors import DomainError, InvalidInput
from engine.goals import GOALS
from engine.names import clean_name, clean_timezone
from engine.segments import rules as rule_language
from engine.templates import CONTENT_FIELDS

CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "webhook")


MODES = ("simple", "advanced")


KINDS = ("one_time", "recurring", "triggered", "hybrid")


METRICS = ("open", "click", "conversion")


MAX_VARIANTS = 5


MAX_SEGMENTS = 20


MAX_TAGS = 20


MAX_TEMPLATE = 50_000  # characters per template field


MAX_WINDOW_HOURS = 24 * 90


_KEY = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


_EVENT = re.compile(r"^[^\x00-\x1f$][^\x00-\x1f]{0,199}$")


class Problems(domain_errors.Problems):
    """Every problem of a campaign definition or launch, each with its field path."""


class _Checker:
    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def fail(self, field: str, message: str, code: str | None = None) -> None:
        self.errors.append(InvalidInput(message, field=field, code=code))

    def number(
        self, value: Any, field: str, low: float, high: float, *, integer: bool = False
    ) -> Any:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            self.fail(field, f"{field.rsplit('.', 1)[-1]} must be {kind} from {low} to {high}.")
            return None
        return int(value) if integer else float(value)

    def event_name(self, value: Any, field: str) -> str | None:
        if not isinstance(value, str) or not _EVENT.match(value.strip() or "\x00"):
            self.fail(field, "An event name (1-200 characters).")
            return None
        return value.strip()

    def where(self, event: str, where: Any, field: str) -> list | None:
        if where is None:
            return None
        problems = rule_language.validate({"event": event or "x", "where": where})
        for problem in problems:
            path = problem.field or ""
            self.fail(field + path.removeprefix("rules.where"), problem.message)
        if problems:
            return None
        return rule_language.normalize({"event": event or "x", "where": where})["where"]


def _ids(check: _Checker, values: Any, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or len(values) > MAX_SEGMENTS:
        check.fail(field, f"At most {MAX_SEGMENTS} segments.")
        return []
    out = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{24}", value):
            check.fail(f"{field}[{i}]", "Segment not found.", code="NOT_FOUND")
        elif value not in out:
            out.append(value)
    return out


def _channels(check: _Checker, values: Any) -> list[str]:
    if not isinstance(values, list) or len(values) > len(CHANNELS):
        check.fail("channels", "channels is a list of channel names in priority order.")
        return []
    out = []
    for i, value in enumerate(values):
        if value not in CHANNELS:
            check.fail(f"channels[{i}]", f"Unknown channel; one of {', '.join(CHANNELS)}.")
        elif value in out:
            check.fail(f"channels[{i}]", f"{value} is listed twice.")
        else:
            out.append(value)
    return out


def clean_content(check: _Checker, content: Any, field: str) -> dict[str, dict[str, str]]:
    if content is None:
        return {}
    if not isinstance(content, dict):
        check.fail(field, "content maps a channel to its template fields.")
        return {}
    out: dict[str, dict[str, str]] = {}
    for channel, fields in content.items():
        at = f"{field}.{channel}"
        if channel not in CHANNELS:
            check.fail(at, f"Unknown channel; one of {', '.join(CHANNELS)}.")
            continue
        if not isinstance(fields, dict):
            check.fail(at, "Template fields of a channel are an object of strings.")
            continue
        required, optional = CONTENT_FIELDS[channel]
        allowed = (*required, *optional)
        out[channel] = {}
        for name, template in fields.items():
            if name not in allowed:
                check.fail(f"{at}.{name}", f"{channel} has the fields {', '.join(allowed)}.")
            elif not isinstance(template, str):
                check.fail(f"{at}.{name}", "A template is a string.")
            elif len(template) > MAX_TEMPLATE:
                check.fail(f"{at}.{name}", f"A template may be at most {MAX_TEMPLATE} characters.")
            else:
                out[channel][name] = template
    return out


def _variants(check: _Checker, values: Any) -> list[dict[str, Any]]:
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_VARIANTS:
        check.fail("variants", f"A campaign has 1 to {MAX_VARIANTS} variants.")
        return []
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for i, variant in enumerate(values):
        at = f"variants[{i}]"
        if not isinstance(variant, dict):
            check.fail(at, "A variant is {key, weight, content}.")
            continue
        key = variant.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            check.fail(f"{at}.key", "key is 1-20 letters, digits, _ or -.")
            key = None
        elif key in keys:
            check.fail(f"{at}.key", f"Variant key {key!r} is used twice.")
        weight = check.number(variant.get("weight", 0), f"{at}.weight", 0, 100, integer=True)
        content = clean_content(check, variant.get("content") or {}, f"{at}.content")
        if key:
            keys.add(key)
            out.append({"key": key, "weight": weight or 0, "content": content})
    if out and len(out) == len(values) and sum(v["weight"] for v in out) != 100:
        check.fail("variants", "Variant weights must add up to 100.")
    return out


def _ab_test(check: _Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.fail("abTest", "abTest is {testFraction, metric, windowHours, onTimeout}.")
        return None
    metric = value.get("metric", "open")
    if metric not in METRICS:
        check.fail("abTest.metric", f"metric is one of {', '.join(METRICS)}.")
    on_timeout = value.get("on_timeout", "best")
    if on_timeout not in ("best", "stop"):
        check.fail("abTest.onTimeout", "onTimeout is best or stop.")
    fraction = value.get("test_fraction")
    if fraction is not None:
        fraction = check.number(fraction, "abTest.testFraction", 0.01, 1.0)
    window = check.number(value.get("window_hours", 24), "abTest.windowHours", 1, 720)
    return {
        "test_fraction": fraction,
        "metric": metric,
        "window_hours": window,
        "on_timeout": on_timeout,
    }


def _schedule(check: _Checker, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        check.fail("schedule", "schedule is {sendAt, timezone, recurrence, sto}.")
        return {}
    out: dict[str, Any] = {"send_at": None, "timezone": None, "recurrence": None, "sto": None}
    send_at = value.get("send_at")
    if send_at is not None:
        if not isinstance(send_at, datetime):
            check.fail("schedule.sendAt", "sendAt is a date-time.")
        else:
            out["send_at"] = send_at if send_at.tzinfo else send_at.replace(tzinfo=UTC)
            out["send_at"] = out["send_at"].astimezone(UTC)
    if value.get("timezone") is not None:
        try:
            out["timezone"] = clean_timezone(str(value["timezone"]), "schedule.timezone")
        except InvalidInput as error:
            check.errors.append(error)
    rule = value.get("recurrence")
    if rule is not None:
        if not isinstance(rule, dict):
            check.fail("schedule.recurrence", "recurrence is an object (every, at, ...).")
        else:
            if out["timezone"] and "timezone" not in rule:
                rule = {**rule, "timezone": out["timezone"]}
            problems = recurrence.validate(rule)
            for problem in problems:
                at = "schedule.recurrence" + (f".{problem.field}" if problem.field else "")
                check.fail(at, problem.message)
            if not problems:
                out["recurrence"] = rule
    sto = value.get("sto")
    if sto is not None:
        if not isinstance(sto, dict):
            check.fail("schedule.sto", "sto is {enabled, windowHours}.")
        else:
            hours = check.number(sto.get("window_hours", 24), "schedule.sto.windowHours", 1, 168)
            out["sto"] = {"enabled": bool(sto.get("enabled")), "window_hours": hours}
    return out


def _trigger(check: _Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.fail("trigger", "trigger is {event, where} or {segmentId}.")
        return None
    cooldown = check.number(
        value.get("cooldown_hours", 24), "trigger.cooldownHours", 0, 8760, integer=True
    )
    if value.get("segment_id") is not None:
        if value.get("event") is not None:
            check.fail("trigger", "A trigger is an event or a segment entry, not both.")
        [segment_id] = _ids(check, [value["segment_id"]], "trigger.segmentId") or [None]
        return {"segment_id": segment_id, "cooldown_hours": cooldown}
    event = check.event_name(value.get("event"), "trigger.event")
    where = check.where(event or "", value.get("where"), "trigger.where")
    return {"event": event, "where": where, "cooldown_hours": cooldown}


def _goal(check: _Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.fail("conversionGoal", "conversionGoal is {event, where, windowHours, ...}.")
        return None
    event = check.event_name(value.get("event"), "conversionGoal.event")
    where = check.where(event or "", value.get("where"), "conversionGoal.where")
    hours = check.number(
        value.get("window_hours", 72), "conversionGoal.windowHours", 1, MAX_WINDOW_HOURS
    )
    prop = value.get("revenue_property")
    if prop is not None and (not isinstance(prop, str) or not re.fullmatch(r"[\w.]{1,100}", prop)):
        check.fail("conversionGoal.revenueProperty", "A property name (letters, digits, _ .).")
        prop = None
    return {"event": event, "where": where, "window_hours": hours, "revenue_property": prop}


def _paid(check: _Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("kind") not in ("csv", "webhook"):
        check.fail("paidAudience.kind", "kind is csv (a file) or webhook (POST JSON).")
        return None
    if value["kind"] == "csv":
        return {"kind": "csv"}
    url = value.get("url")
    problem = transport.url_problem(url, "url")
    if problem:
        check.fail("paidAudience.url", problem)
        return None
    secret = value.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 200):
        check.fail("paidAudience.secret", "secret is 16-200 characters.")
        return None
    return {"kind": "webhook", "url": url, "secret": secret}


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of what `data` (snake_case input) sets; raises Problems."""
    check = _Checker()
    out: dict[str, Any] = {}
    if "name" in data:
        try:
            out["name"] = clean_name(data["name"] or "", "name")
        except InvalidInput as error:
            check.errors.append(error)
    if data.get("description") is not None:
        out["description"] = str(data["description"]).strip()[:2000]
    if data.get("tags") is not None:
        try:
            tags = sorted({clean_name(t, "tags", max_length=64) for t in data["tags"]})
        except InvalidInput as error:
            check.errors.append(error)
            tags = []
        if len(tags) > MAX_TAGS:
            check.fail("tags", f"At most {MAX_TAGS} tags.")
        out["tags"] = tags
    if data.get("mode") is not None:
        if data["mode"] not in MODES:
            check.fail("mode", "mode is simple or advanced.")
        out["mode"] = data["mode"]
    if data.get("goal") is not None:
        if data["goal"] not in GOALS:
            check.fail("goal", f"goal is one of {', '.join(sorted(GOALS))}.")
        out["goal"] = data["goal"]
    if data.get("kind") is not None:
        if data["kind"] not in KINDS:
            check.fail("kind", f"kind is one of {', '.join(KINDS)}.")
        out["kind"] = data["kind"]
    if "segment_ids" in data:
        out["segment_ids"] = _ids(check, data["segment_ids"], "segmentIds")
    if "exclude_segment_ids" in data:
        out["exclude_segment_ids"] = _ids(check, data["exclude_segment_ids"], "excludeSegmentIds")
    if data.get("all_outlets") is not None:
        out["all_outlets"] = bool(data["all_outlets"])
    if data.get("channels") is not None:
        out["channels"] = _channels(check, data["channels"])
    if data.get("variants") is not None:
        out["variants"] = _variants(check, data["variants"])
    if "ab_test" in data:
        out["ab_test"] = _ab_test(check, data["ab_test"])
    if "schedule" in data:
        out["schedule"] = _schedule(check, data["schedule"])
    if "trigger" in data:
        out["trigger"] = _trigger(check, data["trigger"])
    if "conversion_goal" in data:
        out["conversion_goal"] = _goal(check, data["conversion_goal"])
    if "paid_audience" in data:
        out["paid_audience"] = _paid(check, data["paid_audience"])
    if check.errors:
        raise Problems(check.errors)
    return out


def completeness(campaign: Any) -> list[DomainError]:
    """What a campaign needs before it may be scheduled (beyond what `clean` checked)."""
    check = _Checker()
    if campaign.kind != "triggered" and not campaign.segment_ids:
        check.fail("segmentIds", "Choose at least one segment to send to.")
    if set(campaign.segment_ids) & set(campaign.exclude_segment_ids):
        check.fail("excludeSegmentIds", "A segment cannot be both targeted and excluded.")
    if not campaign.channels:
        check.fail("channels", "Choose at least one channel.")
    if not campaign.variants:
        check.fail("variants", "Write the message (at least one variant).")
    for i, variant in enumerate(campaign.variants):
        for channel in campaign.channels:
            # Present content is checked field by field with the templates (launch).
            if channel not in variant["content"] and CONTENT_FIELDS[channel][0]:
                check.fail(f"variants[{i}].content.{channel}", f"No {channel} content.")
    if campaign.ab_test:
        if len(campaign.variants) < 2:
            check.fail("abTest", "An A/B test needs at least two variants.")
        if campaign.ab_test["metric"] == "conversion" and not campaign.conversion_goal:
            check.fail("abTest.metric", "The conversion metric needs a conversion goal.")
        if campaign.kind == "triggered":
            check.fail("abTest", "Triggered campaigns split by weight; they have no test phase.")
    schedule = campaign.schedule or {}
    if campaign.kind == "recurring" and not schedule.get("recurrence"):
        check.fail("schedule.recurrence", "A recurring campaign needs a recurrence.")
    if campaign.kind != "recurring" and schedule.get("recurrence"):
        check.fail("schedule.recurrence", "Only recurring campaigns recur.")
    if campaign.kind == "triggered" and not campaign.trigger:
        check.fail("trigger", "A triggered campaign needs a trigger event or segment.")
    if campaign.kind == "hybrid" and not campaign.paid_audience:
        check.fail("paidAudience", "A hybrid campaign needs a paid-audience destination.")
    if campaign.location_id is not None and campaign.all_outlets:
        check.fail("allOutlets", "Choose one outlet or all outlets, not both.")
    return check.errors
