"""What reading a sentence gives back: the Suggestion with its understood and not
understood phrases, and the outcome of reading one clause."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Understood:
    phrase: str
    rule: dict[str, Any]


@dataclass(frozen=True)
class NotUnderstood:
    phrase: str
    reason: str
    suggestions: tuple[str, ...] = ()


@dataclass
class Suggestion:
    rules: dict[str, Any] | None
    understood: list[Understood] = field(default_factory=list)
    not_understood: list[NotUnderstood] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "understood": [{"phrase": u.phrase, "rule": u.rule} for u in self.understood],
            "not_understood": [
                {"phrase": n.phrase, "reason": n.reason, "suggestions": list(n.suggestions)}
                for n in self.not_understood
            ],
        }


@dataclass
class _Outcome:
    rule: dict[str, Any] | None
    problem: NotUnderstood | None = None
    # For "in Mumbai or Pune": how to read a bare value that follows.
    template: Callable[[str], dict[str, Any] | None] | None = None  # reads a bare value
