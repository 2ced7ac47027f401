"""One clause in, one rule out: the readers tried in order, negation applied, and
what a clause held that its rule did not use."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.segment_language.activity import _activity, _event, _signup
from engine.segment_language.messaging import _engagement, _reachable
from engine.segment_language.profile import _bare_tag, _location, _plan, _tag
from engine.segment_language.properties import _age, _property
from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.spending import _spending
from engine.segment_language.text import MAX_VALUE, _Clause
from engine.segment_language.vocabulary import Vocabulary, closest_events

_CLASSIFIERS: tuple[Callable[[_Clause, Vocabulary], _Outcome | None], ...] = (
    _tag,
    _plan,
    _reachable,
    _signup,
    _activity,
    _age,
    _engagement,
    _location,
    _property,
    _spending,  # before events: an amount of money is never a count of them
    _event,
    _bare_tag,
)
# These read negation themselves (a property comparison turns eq into neq, ...).
_SELF_NEGATING = {_activity, _property, _age}


def _classify(clause: _Clause, vocabulary: Vocabulary) -> _Outcome:
    if clause.mismatch is not None:
        return _Outcome(None, clause.mismatch)
    if not re.search(r"[^\W_]", clause.text):
        if clause.window or clause.count or clause.ago:
            return _Outcome(
                None, NotUnderstood(clause.phrase, "A time or count, but of what? Name an action.")
            )
        return _Outcome(None, NotUnderstood(clause.phrase, "Nothing to read here."))
    for classify in _CLASSIFIERS:
        outcome = classify(clause, vocabulary)
        if outcome is None:
            continue
        if outcome.rule is not None and clause.negated and classify not in _SELF_NEGATING:
            outcome = _Outcome({"not": outcome.rule}, template=None)
        return outcome
    return _Outcome(None, _unknown(clause, vocabulary))


def _unknown(clause: _Clause, vocabulary: Vocabulary) -> NotUnderstood:
    nearest = closest_events(clause.text, vocabulary)
    words = clause.lower
    if re.match(r"^(?:signed[\s-]?up|registered|joined)\b", words):
        reason = "Say when, e.g. 'signed up in the last 7 days'."
    elif not vocabulary.events:
        reason = (
            "No field, tag or event of this workspace matches this phrase (it has no events yet)."
        )
    else:
        reason = "No event, field or tag of this workspace matches this phrase."
    if nearest:
        reason += " Closest events: " + ", ".join(nearest) + "."
    return NotUnderstood(clause.phrase[:MAX_VALUE], reason, nearest)


def _leftovers(clause: _Clause, rule: dict[str, Any] | None) -> list[NotUnderstood]:
    notes = list(clause.notes)
    if rule is None:
        return notes
    if clause.window and "window" not in clause.used:
        notes.append(
            NotUnderstood(
                clause.window_phrase, "This time window does not apply to this condition."
            )
        )
    if clause.count and "count" not in clause.used:
        notes.append(
            NotUnderstood(clause.count_phrase, "A count does not apply to this condition.")
        )
    if clause.money and "money" not in clause.used:
        notes.append(
            NotUnderstood(clause.money.phrase, "This amount does not apply to this condition.")
        )
    if clause.ago and "ago" not in clause.used:
        notes.append(
            NotUnderstood(clause.ago_phrase, "This time does not apply to this condition.")
        )
    return notes
