"""Backends turn a sentence into a Suggestion: the SuggestionBackend protocol, the
default RuleBasedBackend, check() that holds any backend to the rules, and suggest()."""

from __future__ import annotations

from typing import Any, Protocol

from engine.event_names import name_key
from engine.segment_language.conditions import _classify, _leftovers
from engine.segment_language.properties import _negate_property
from engine.segment_language.results import NotUnderstood, Suggestion, Understood, _Outcome
from engine.segment_language.text import (
    MAX_CLAUSES,
    MAX_TEXT,
    _normalize,
    _prepare,
    _split,
    _strip_leading,
)
from engine.segment_language.vocabulary import Vocabulary
from engine.segments.rules import validate, walk

BACKEND_SETTING = "REACH_SEGMENT_LANGUAGE_BACKEND"  # "rules" (default); an LLM is optional


class SuggestionBackend(Protocol):
    """Turns a sentence into a Suggestion. Must not do I/O in the engine; a backend that
    calls a model lives outside it and is chosen by the `BACKEND_SETTING` setting."""

    def suggest(self, text: str, vocabulary: Vocabulary) -> Suggestion: ...


class RuleBasedBackend:
    """The default backend: deterministic, offline, explainable."""

    def suggest(self, text: str, vocabulary: Vocabulary) -> Suggestion:
        problems: list[NotUnderstood] = []
        text = _normalize(text)
        if len(text) > MAX_TEXT:
            cut = text.rfind(" ", 0, MAX_TEXT)
            cut = cut if cut > MAX_TEXT // 2 else MAX_TEXT
            ignored = text[cut:].strip()
            problems.append(
                NotUnderstood(
                    ignored[:60] + ("…" if len(ignored) > 60 else ""),
                    f"Only the first {MAX_TEXT} characters are read; "
                    f"{len(ignored)} more were ignored.",
                )
            )
            text = text[:cut]
        text = _strip_leading(text)
        pieces = [(c, p) for c, p in _split(text) if p.strip()]
        if len(pieces) > MAX_CLAUSES:
            dropped = pieces[MAX_CLAUSES:]
            problems.append(
                NotUnderstood(
                    dropped[0][1][:60],
                    f"At most {MAX_CLAUSES} conditions are read; {len(dropped)} more were ignored.",
                )
            )
            pieces = pieces[:MAX_CLAUSES]
        understood: list[Understood] = []
        sequence: list[tuple[str, dict[str, Any]]] = []  # (connector, rule)
        previous: _Outcome | None = None
        field_defs = vocabulary.field_defs()
        for connector, piece in pieces:
            clause = _prepare(piece)
            outcome = _classify(clause, vocabulary)
            if outcome.rule is None and previous is not None and previous.template:
                # "in Mumbai or Pune": a bare value continues the condition before it.
                extra = previous.template(clause.text) if len(clause.text.split()) <= 4 else None
                # A property holds one value: "in Mumbai or Pune" continues, "in Mumbai
                # and purchased ..." does not (nor does a clause with its own window).
                if (
                    extra is not None
                    and "property" in extra
                    and (connector != "or" or clause.window)
                ):
                    extra = None
                if extra is not None and "engagement" in extra and clause.window:
                    extra["within_days"] = clause.window
                    clause.use("window")
                if extra is not None and clause.negated:
                    extra = _negate_property(extra) if "property" in extra else {"not": extra}
                if extra is not None:
                    outcome = _Outcome(extra, template=previous.template)
            if outcome.rule is not None:
                errors = validate(outcome.rule, field_defs)
                if errors:
                    reason = "; ".join(e.message for e in errors[:2])
                    outcome = _Outcome(None, NotUnderstood(clause.phrase, reason))
            if outcome.rule is None:
                problems.append(
                    outcome.problem or NotUnderstood(clause.phrase, "Could not read this phrase.")
                )
                previous = None
                continue
            problems.extend(_leftovers(clause, outcome.rule))
            understood.append(Understood(clause.phrase, outcome.rule))
            sequence.append((connector, outcome.rule))
            previous = outcome
        if not sequence and not problems:
            problems.append(NotUnderstood(text[:60], "Describe the contacts you want."))
        return Suggestion(_combine(sequence), understood, problems)


def _combine(sequence: list[tuple[str, dict[str, Any]]]) -> dict[str, Any] | None:
    alternatives: list[list[dict[str, Any]]] = []
    for connector, rule in sequence:
        if connector == "or" or not alternatives:
            alternatives.append([rule])
        else:
            alternatives[-1].append(rule)
    groups: list[dict[str, Any]] = []
    for rules in alternatives:
        unique: list[dict[str, Any]] = []
        for rule in rules:
            if rule not in unique:
                unique.append(rule)
        groups.append(unique[0] if len(unique) == 1 else {"all": unique})
    if not groups:
        return None
    return groups[0] if len(groups) == 1 else {"any": groups}


DEFAULT_BACKEND = RuleBasedBackend()


def check(suggestion: Suggestion, vocabulary: Vocabulary) -> Suggestion:
    """Hold any backend to the rules: valid rules naming only the vocabulary's events."""
    known = {name_key(name) for name in vocabulary.event_names}  # as rules match them
    fields = vocabulary.field_defs()

    def problem(rule: Any) -> str | None:
        if rule is None:
            return None
        if not isinstance(rule, dict):
            return "Rules must be an object."
        errors = validate(rule, fields)
        if errors:
            return errors[0].message
        named = {c["event"] for c in walk(rule) if "event" in c}
        unknown = sorted(n for n in named if name_key(n) not in known)
        if unknown:
            return f"Unknown event {unknown[0][:60]!r}: this workspace has no such event."
        return None

    not_understood = list(suggestion.not_understood)
    understood = []
    for item in suggestion.understood:
        reason = problem(item.rule)
        if reason:
            not_understood.append(NotUnderstood(item.phrase, reason))
        else:
            understood.append(item)
    rules = suggestion.rules
    reason = problem(rules)
    if reason:
        not_understood.append(NotUnderstood("(whole sentence)", reason))
        rules = None
    return Suggestion(rules, understood, not_understood)


def suggest(
    text: str, vocabulary: Vocabulary, backend: SuggestionBackend | None = None
) -> Suggestion:
    """Rules for a sentence, what was understood, and what was not. Never raises."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text.strip():
        return Suggestion(None, [], [NotUnderstood("", "Describe the contacts you want.")])
    chosen = backend or DEFAULT_BACKEND
    try:
        return check(chosen.suggest(text, vocabulary), vocabulary)
    except Exception:  # a parser bug must not become an error for the marketer
        if chosen is not DEFAULT_BACKEND:
            try:
                return check(DEFAULT_BACKEND.suggest(text, vocabulary), vocabulary)
            except Exception:  # noqa: S110
                pass
        return Suggestion(None, [], [NotUnderstood(text[:60], "This sentence could not be read.")])
