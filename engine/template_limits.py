"""The limits one template render works within, and the budget that enforces them.

A sandbox stops a template from reaching Python internals, not from working or allocating
without end. These limits do: steps and time per render, the size of any value a
template builds, and how much it writes (also into macro and `{% set %}` buffers).
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from typing import Any

from jinja2.exceptions import SecurityError

MAX_VALUE = 100 * 1024  # size of any one value a template builds (characters or items)
MAX_WRITTEN = 1_000_000  # characters written in one render, captures included
MAX_STEPS = 100_000
MAX_SECONDS = 2.0
MAX_RANGE = 10_000
MAX_INT_BITS = 4096
MAX_COUNT_ARG = 1_000  # batch/slice sizes


class TemplateLimit(SecurityError):
    """A template tried to do more than one message may."""


# --- the budget of one render --------------------------------------------------------


class Budget:
    __slots__ = ("deadline", "steps", "written")

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def charge(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimit(f"the template does too much work (over {MAX_STEPS} steps)")
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"the template took longer than {MAX_SECONDS:g} s")

    def write(self, size: int) -> None:
        self.written += size
        if self.written > MAX_WRITTEN:
            raise TemplateLimit(f"the template writes more than {MAX_WRITTEN} characters")


# Filters may also run while Jinja folds constants at compile time: then there is no
# budget and only the size checks apply.
budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def charge() -> None:
    current = budget.get()
    if current is not None:
        current.charge()


def size_of(value: Any, limit: int = MAX_VALUE) -> int:
    """Characters plus items of a value, counted only until it passes `limit`."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if not isinstance(value, list | tuple | set | frozenset):
        return 1
    total = len(value)
    if total > limit:
        return total
    for item in value:
        total += size_of(item, limit - total) if isinstance(item, str | dict | list | tuple) else 0
        if total > limit:
            break
    return total


def check(value: Any, what: str = "a value") -> Any:
    if size_of(value) > MAX_VALUE:
        raise TemplateLimit(f"{what} would be larger than {MAX_VALUE // 1024} KB")
    return value


# glibc strftime pads to any width given after the %: "%999999999Y".
_STRFTIME_WIDTH = re.compile(r"%[-_0^#]*[1-9]")


def check_strftime(fmt: Any) -> None:
    if isinstance(fmt, str) and _STRFTIME_WIDTH.search(fmt):
        raise TemplateLimit("date formats may not carry a field width (like %10d)")


def check_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(old, str) or not isinstance(new, str):
        return
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_VALUE:
        raise TemplateLimit(f"replace() would build more than {MAX_VALUE // 1024} KB")
