"""A workspace's sending rules: approvals, frequency caps and quiet hours."""

from __future__ import annotations

from datetime import time
from typing import Any

from documents.workspace import Workspace
from engine.access import Permission
from engine.errors import InvalidInput, NotFound
from resolvers.core import audit
from resolvers.core.context import RequestContext
from resolvers.messaging import queue

CAP_CHANNELS = ("email", "sms", "whatsapp", "rcs", "push", "web_push", "in_app", "webhook")


MAX_CAPS = 20


def _caps(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(values) > MAX_CAPS:
        raise InvalidInput(f"At most {MAX_CAPS} frequency caps.", field="frequencyCaps")
    caps = []
    for i, cap in enumerate(values):
        channel, limit, days = cap.get("channel"), cap.get("limit"), cap.get("days")
        if channel is not None and channel not in CAP_CHANNELS:
            raise InvalidInput(
                f"Unknown channel; one of {', '.join(CAP_CHANNELS)} (or none for all).",
                field=f"frequencyCaps[{i}].channel",
            )
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput("limit must be 1..1000.", field=f"frequencyCaps[{i}].limit")
        if not isinstance(days, int) or not 1 <= days <= 365:
            raise InvalidInput("days must be 1..365.", field=f"frequencyCaps[{i}].days")
        caps.append({"channel": channel, "limit": limit, "days": days})
    return caps


def _clock(value: str, field: str) -> str:
    try:
        parsed = time.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise InvalidInput("Use HH:MM (24-hour).", field=field) from error
    return parsed.strftime("%H:%M")


async def current(ctx: RequestContext) -> Workspace:
    ctx.require(Permission.READ)
    workspace = await Workspace.get(ctx.workspace_id)
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace


async def update(
    ctx: RequestContext,
    *,
    approval_required: bool | None = None,
    frequency_caps: list[dict[str, Any]] | None = None,
    quiet_hours: dict[str, str] | None = None,
    clear_quiet_hours: bool = False,
) -> Workspace:
    ctx.require(Permission.ADMIN)
    workspace = await Workspace.get(ctx.workspace_id)
    if workspace is None:
        raise NotFound("Workspace not found.")
    changes: dict[str, Any] = {}
    if approval_required is not None:
        changes["approval_required"] = approval_required
    if frequency_caps is not None:
        changes["frequency_caps"] = _caps(frequency_caps)
    if clear_quiet_hours:
        changes["quiet_hours"] = None
    elif quiet_hours is not None:
        start = _clock(quiet_hours.get("start", ""), "quietHours.start")
        end = _clock(quiet_hours.get("end", ""), "quietHours.end")
        if start == end:
            raise InvalidInput("Quiet hours must not start and end at once.", field="quietHours")
        changes["quiet_hours"] = {"start": start, "end": end}
    for key, value in changes.items():
        setattr(workspace, key, value)
    if changes:
        await workspace.save()
        queue.forget_rules(workspace.id)
        await audit.record(
            ctx.principal, "workspace.sending_rules", "workspace", workspace.id, changes
        )
    return workspace
