"""Checks shared by the providers' `from_config`: every problem reported, in plain words."""

from __future__ import annotations

from typing import Any

from channels.transport import url_problem


def text(
    config: dict[str, Any],
    key: str,
    problems: list[str],
    *,
    required: bool = True,
    max_length: int = 500,
) -> str:
    """A string field; records a problem when it is missing, empty, not text or too long."""
    value = config.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{key} is required")
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} must be text, not {type(value).__name__}")
        return ""
    if len(value) > max_length:
        problems.append(f"{key} is longer than {max_length} characters")
        return ""
    if value != value.strip() or any(c in value for c in "\r\n\0"):
        problems.append(f"{key} must not contain line breaks or surrounding spaces")
        return ""
    return value


def url(config: dict[str, Any], key: str, problems: list[str], *, required: bool = True) -> str:
    """A URL our requests may go to (https, or http to loopback; see transport.url_problem)."""
    value = text(config, key, problems, required=required, max_length=2048)
    if value and (problem := url_problem(value, key)):
        problems.append(problem)
        return ""
    return value


def only(config: dict[str, Any], allowed: set[str], problems: list[str]) -> None:
    """Unknown keys are typos more often than not: name them instead of ignoring them."""
    extra = sorted(str(key) for key in config if key not in allowed | {"provider"})
    if extra:
        known = ", ".join(sorted(allowed))
        problems.append(f"unknown field(s) {', '.join(extra)} (expected: {known})")


def fail(provider: str, problems: list[str]) -> None:
    if problems:
        raise ValueError(f"{provider} configuration: " + "; ".join(problems))
