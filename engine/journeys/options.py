"""Journey-wide settings: re-entry, exit criteria and the conversion goal.

    {"reentry": "never" | "after_exit" | "cooldown", "cooldown_hours": n,
     "exit_event": name?, "exit_segment_id": id?, "goal": {"event": name, "window_hours": n}?}

A run ends early (exited) when the contact does `exit_event`, leaves `exit_segment_id`, or
reaches the goal; the goal also counts as a conversion when it happens within
window_hours of entering.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from engine.errors import InvalidInput
from engine.zones import as_utc

REENTRY = ("never", "after_exit", "cooldown")
MAX_HOURS = 366 * 24
DEFAULTS: dict[str, Any] = {
    "reentry": "never",
    "cooldown_hours": None,
    "exit_event": None,
    "exit_segment_id": None,
    "goal": None,
}


def _hours(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= MAX_HOURS


def _event(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= 200


def check(
    raw: Any, segment_exists: Callable[[str], bool] | None = None
) -> tuple[dict[str, Any], list[InvalidInput]]:
    errors: list[InvalidInput] = []
    if raw is None:
        return dict(DEFAULTS), errors
    if not isinstance(raw, dict):
        return dict(DEFAULTS), [InvalidInput("settings must be an object.", field="settings")]
    out = dict(DEFAULTS)
    for key in raw:
        if key not in DEFAULTS:
            errors.append(
                InvalidInput(
                    f"Unknown setting '{str(key)[:40]}'.", field=f"settings.{str(key)[:40]}"
                )
            )
    reentry = raw.get("reentry", "never")
    if reentry not in REENTRY:
        errors.append(
            InvalidInput(f"reentry is one of {', '.join(REENTRY)}.", field="settings.reentry")
        )
    out["reentry"] = reentry
    if reentry == "cooldown":
        if not _hours(raw.get("cooldown_hours")):
            errors.append(
                InvalidInput(
                    f"A cool-down is 1 to {MAX_HOURS} hours.", field="settings.cooldown_hours"
                )
            )
        out["cooldown_hours"] = raw.get("cooldown_hours")
    if raw.get("exit_event") is not None:
        if not _event(raw["exit_event"]):
            errors.append(
                InvalidInput("exit_event must be an event name.", field="settings.exit_event")
            )
        out["exit_event"] = raw["exit_event"]
    if raw.get("exit_segment_id") is not None:
        value = raw["exit_segment_id"]
        if not isinstance(value, str) or (segment_exists is not None and not segment_exists(value)):
            errors.append(
                InvalidInput("No such segment in this workspace.", field="settings.exit_segment_id")
            )
        out["exit_segment_id"] = value
    goal = raw.get("goal")
    if goal is not None:
        if not isinstance(goal, dict) or set(goal) - {"event", "window_hours"}:
            errors.append(InvalidInput("goal is {event, window_hours}.", field="settings.goal"))
        else:
            if not _event(goal.get("event")):
                errors.append(
                    InvalidInput("goal.event must be an event name.", field="settings.goal.event")
                )
            window = goal.get("window_hours", 168)
            if not _hours(window):
                errors.append(
                    InvalidInput(
                        f"goal.window_hours is 1 to {MAX_HOURS}.",
                        field="settings.goal.window_hours",
                    )
                )
            out["goal"] = {"event": goal.get("event"), "window_hours": window}
    return out, errors


def may_enter(options: dict[str, Any], previous: dict[str, Any] | None, now: datetime) -> bool:
    """Whether a contact whose latest run (if any, and not live) is `previous` may start
    another one. A live run always blocks (the database enforces it too)."""
    if previous is None:
        return True
    if previous.get("status") in ("active", "waiting"):
        return False
    reentry = options.get("reentry", "never")
    if reentry == "after_exit":
        return True
    if reentry == "cooldown":
        ended = previous.get("ended_at") or previous.get("entered_at")
        hours = options.get("cooldown_hours") or 0
        return ended is not None and as_utc(now) >= as_utc(ended) + timedelta(hours=hours)
    return False


def in_goal_window(options: dict[str, Any], entered_at: datetime, at: datetime) -> bool:
    goal = options.get("goal") or {}
    hours = goal.get("window_hours") or 0
    return as_utc(entered_at) <= as_utc(at) <= as_utc(entered_at) + timedelta(hours=hours)
