"""Readers of field conditions: "<field> <comparator> <value>", date fields with a
time, and age; with the parsing of numbers and dates and the negation of a comparison."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from engine.segment_language.quantities import SCALES, find_money, holds_money
from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.text import MAX_VALUE, _Clause, _value_text
from engine.segment_language.vocabulary import Field, Vocabulary, name_tokens, stem

# Comparators of "<field> <comparator> <value>", longest first within each op.
_COMPARATORS: tuple[tuple[str, str], ...] = (
    (r"is\s+between|between|ranges?\s+from|from", "between"),
    (
        r"is\s+greater\s+than\s+or\s+equal\s+to|greater\s+than\s+or\s+equal\s+to|is\s+at\s+least|"
        r"at\s+least|>=|is\s+no\s+less\s+than|no\s+less\s+than|of\s+at\s+least",
        "gte",
    ),
    (
        r"is\s+less\s+than\s+or\s+equal\s+to|less\s+than\s+or\s+equal\s+to|is\s+at\s+most|"
        r"at\s+most|<=|is\s+no\s+more\s+than|no\s+more\s+than|up\s+to|of\s+at\s+most",
        "lte",
    ),
    (
        r"is\s+greater\s+than|greater\s+than|is\s+more\s+than|more\s+than|is\s+over|over|"
        r"is\s+above|above|exceeds?|exceeding|is\s+higher\s+than|higher\s+than|"
        r"is\s+bigger\s+than|bigger\s+than|>|of\s+over|of\s+more\s+than",
        "gt",
    ),
    (
        r"is\s+less\s+than|less\s+than|is\s+under|under|is\s+below|below|fewer\s+than|"
        r"is\s+lower\s+than|lower\s+than|is\s+smaller\s+than|smaller\s+than|<|of\s+under|"
        r"of\s+less\s+than",
        "lt",
    ),
    (r"starts?\s+with|begins?\s+with|starting\s+with|beginning\s+with", "starts_with"),
    (r"ends?\s+with|ending\s+with|ending\s+in|ends?\s+in", "ends_with"),
    (r"contains?|containing|includes?|including|mentions?", "contains"),
    (
        r"is\s+empty|is\s+blank|is\s+missing|is\s+unknown|is\s+null|is\s+unset|empty|blank|"
        r"missing|unknown|unset",
        "is_empty",
    ),
    (
        r"is\s+set|is\s+present|is\s+known|is\s+filled(?:\s+in)?|is\s+provided|exists|present|"
        r"known|filled\s+in|provided|given",
        "is_not_empty",
    ),
    (r"is\s+before|before|earlier\s+than|prior\s+to", "before"),
    (r"is\s+after|after|later\s+than|since", "after"),
    (
        r"is\s+equal\s+to|equal\s+to|equals?|is\s+exactly|is|was|are|=|==|:|of|matches|"
        r"set\s+to",
        "eq",
    ),
)
_FIELD_LEAD = re.compile(
    r"^(?:(?:with|whose|where|having|has|have|had|their|the|a|an|its|his|her|total|"
    r"and)\s+)*",
    re.IGNORECASE,
)


def _resolve_field(words: str, vocabulary: Vocabulary) -> Field | None:
    words = _FIELD_LEAD.sub("", words.strip()).strip(" '\"")
    if not words or len(words) > 80:
        return None
    wanted = [stem(t) for t in re.findall(r"[a-z0-9]+", words.lower())]
    if not wanted:
        return None
    best: tuple[float, int, Field] | None = None
    for index, candidate in enumerate(vocabulary.fields):
        names = [candidate.key, candidate.label] if candidate.label else [candidate.key]
        for name in names:
            have = [stem(t) for t in name_tokens(name)]
            if not have:
                continue
            if wanted == have:
                score = 2.0
            elif set(wanted) <= set(have):
                score = len(wanted) / len(have)
            else:
                continue
            # Custom fields first on ties: the workspace's words.
            key = (score, -index if candidate not in vocabulary.custom_fields else 1000)
            if best is None or key > best[:2]:
                best = (key[0], key[1], candidate)
    if best is None or best[0] < 0.5:
        return None
    return best[2]


def _parse_number(text: str) -> float | int | None:
    match = re.fullmatch(
        r"(?:[$₹€£¥]|rs\.?|inr|usd|eur|gbp)?\s*(?P<n>-?\d[\d,]*(?:\.\d+)?)\s*"
        r"(?P<m>k|m|mn|thousand|million|lakhs?|crores?)?\s*"
        r"(?:[$₹€£¥]|rs\.?|inr|usd|eur|gbp|rupees|dollars|euros|pounds|points|pts|"
        r"years?(?:\s+old)?|items?|units?)?",
        text.strip().lower(),
    )
    if not match:
        return None
    number = float(match.group("n").replace(",", ""))
    number *= SCALES.get(match.group("m") or "", 1)
    if not math.isfinite(number) or abs(number) > 1e15:
        return None
    return int(number) if number.is_integer() else number


_DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y", "%d/%m/%Y")


def _parse_date(text: str) -> str | None:
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().replace(",", " "))
    cleaned = re.sub(r"\s+", " ", cleaned)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date().isoformat()
        except ValueError:
            continue
    for fmt in ("%B %Y", "%b %Y"):
        try:
            return datetime.strptime(cleaned, fmt).date().replace(day=1).isoformat()
        except ValueError:
            continue
    if re.fullmatch(r"\d{4}", cleaned) and 1900 <= int(cleaned) <= 2200:
        return date(int(cleaned), 1, 1).isoformat()
    return None


def _coerce(value: str, target: Field, op: str) -> tuple[Any, str | None]:  # (value, problem)
    value = _value_text(value)
    if target.type == "number":
        number = _parse_number(value)
        if number is None:
            return None, f"{target.key} is a number; '{value[:40]}' is not."
        return number, None
    if target.type == "boolean":
        lowered = value.lower()
        if lowered in {"true", "yes", "on", "1", "set", "checked"}:
            return True, None
        if lowered in {"false", "no", "off", "0", "unset", "unchecked"}:
            return False, None
        return None, f"{target.key} is yes/no; '{value[:40]}' is neither."
    if target.type == "date":
        parsed = _parse_date(value)
        if parsed is None:
            return None, f"{target.key} is a date; write it like 2026-01-31."
        return parsed, None
    if not value:
        return None, "No value given."
    return value, None


def _property(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = clause.text
    # A date field with a time: "birthday in the next 7 days", "created before 2024".
    dated = _date_field(clause, vocabulary)
    if dated is not None:
        return dated
    for pattern, op in _COMPARATORS:
        for match in re.finditer(rf"(?<![\w])(?:{pattern})(?![\w])", text, re.IGNORECASE):
            left, right = text[: match.start()].strip(), text[match.end() :].strip()
            if not left:
                continue
            target = _resolve_field(left, vocabulary)
            if target is None:
                continue
            outcome = _comparison(clause, target, op, right)
            if outcome is not None:
                return outcome
    return None


def _comparison(clause: _Clause, target: Field, op: str, right: str) -> _Outcome | None:
    money = clause.money
    value = right.strip().lower()
    if money is not None and value and (value in money.phrase.lower() or find_money(value)):
        if money.currency and not holds_money(target):  # "age over ₹500"
            return _Outcome(
                None,
                NotUnderstood(
                    clause.phrase[:MAX_VALUE],
                    f"'{money.phrase}' is an amount of money; {target.key} does not hold money.",
                ),
            )
        clause.use("money")
    presence = op in ("is_empty", "is_not_empty")
    if presence:
        if right:
            return None
        rule: dict[str, Any] = {"property": target.key, "op": op}
        return _Outcome(_negate_property(rule) if clause.negated else rule, template=None)
    if not right:
        return None
    if op == "between":
        parts = re.split(r"\s+(?:and|to|-)\s+|\s*-\s*", right, maxsplit=1)
        if len(parts) != 2:
            return None
        low, problem = _coerce(parts[0], target, op)
        high, problem2 = _coerce(parts[1], target, op)
        if problem or problem2:
            return _Outcome(None, NotUnderstood(clause.phrase, problem or problem2 or ""))
        if target.type not in ("number", "date"):
            number_low, number_high = _parse_number(parts[0]), _parse_number(parts[1])
            if number_low is None or number_high is None:
                return None
            low, high = number_low, number_high
        values = sorted([low, high])
        rule = {"property": target.key, "op": "between", "value": values}
    else:
        if target.type == "date":
            op = {"gt": "after", "gte": "after", "lt": "before", "lte": "before"}.get(op, op)
        elif op in ("before", "after"):
            return None
        value, problem = _coerce(right, target, op)
        if problem:
            return _Outcome(None, NotUnderstood(clause.phrase, problem))
        if op in ("gt", "gte", "lt", "lte") and target.type != "number":
            number = _parse_number(right)
            if number is None:
                return None  # "over" in a place name, say
            value = number
        if op in ("starts_with", "ends_with", "contains") and not isinstance(value, str):
            value = _value_text(right)
            if target.type in ("number", "boolean", "date"):
                return _Outcome(
                    None,
                    NotUnderstood(
                        clause.phrase, f"{target.key} is not text: '{op}' does not apply."
                    ),
                )
        rule = {"property": target.key, "op": op, "value": value}
    outcome_rule = _negate_property(rule) if clause.negated else rule
    return _Outcome(
        outcome_rule,
        template=(lambda v, t=target: _template_value(t, v)) if op == "eq" else None,
    )


def _template_value(target: Field, text: str) -> dict[str, Any] | None:
    value, problem = _coerce(text, target, "eq")
    if problem or value in (None, ""):
        return None
    return {"property": target.key, "op": "eq", "value": value}


_OPPOSITE = {
    "eq": "neq",
    "neq": "eq",
    "contains": "not_contains",
    "not_contains": "contains",
    "is_empty": "is_not_empty",
    "is_not_empty": "is_empty",
    "in": "not_in",
    "not_in": "in",
}


def _negate_property(rule: dict[str, Any]) -> dict[str, Any]:
    opposite = _OPPOSITE.get(rule.get("op", ""))
    if opposite:
        return {**rule, "op": opposite}
    return {"not": rule}


def _date_field(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    if not (clause.window or clause.ago):
        return None
    words = re.sub(
        r"\s+(?:is|was|falls|fell|comes?|occurs?|happens?|happened|date)$",
        "",
        clause.text,
        flags=re.I,
    ).strip()
    words = re.sub(r"^(?:(?:a|an|the|has|have|their|with|whose)\s+)+", "", words, flags=re.I)
    words = {"born": "birthday", "birthdays": "birthday", "birth day": "birthday"}.get(
        words.lower(), words
    )
    target = _resolve_field(words, vocabulary)
    if target is None or target.type != "date":
        return None
    yearly = bool(re.search(r"birth|anniversar", f"{target.key} {target.label}", re.I))
    rule: dict[str, Any] | None = None
    if clause.window and clause.window_kind in ("next", "this", "today") and yearly:
        days = 0 if clause.window_kind == "today" else clause.window
        rule = {"property": target.key, "op": "anniversary_in_days", "value": min(days, 366)}
        clause.use("window")
    elif clause.window and clause.window_kind != "next":
        rule = {"property": target.key, "op": "within_last_days", "value": clause.window}
        clause.use("window")
    elif clause.ago:
        cmp, days = clause.ago
        op = "more_than_days_ago" if cmp == "more" else "within_last_days"
        rule = {"property": target.key, "op": op, "value": days}
        clause.use("ago")
    if rule is None:
        return None
    return _Outcome({"not": rule} if clause.negated else rule)


def _age(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = clause.lower
    match = re.match(
        r"^(?:is\s+|are\s+|aged\s+|age\s+)?(?P<cmp>older|younger|over|under|above|below|"
        r"at\s+least|more\s+than|less\s+than)\s+(?:than\s+)?(?P<n>\d{1,3})"
        r"(?:\s+(?:years?|yrs?)(?:\s+(?:old|of\s+age))?)?$",
        text,
    )
    if not match or (
        match.group("cmp")
        in ("over", "under", "above", "below", "at least", "more than", "less than")
        and not re.search(r"\b(?:aged?|years?|yrs?|old)\b", text)
    ):
        return None
    target = None
    for candidate in vocabulary.fields:
        tokens = set(name_tokens(candidate.key)) | set(name_tokens(candidate.label))
        if "age" in tokens and candidate.type == "number":
            target = candidate
            break
    if target is None:
        return _Outcome(
            None,
            NotUnderstood(
                clause.phrase,
                "This workspace has no age field; declare a number custom field such as "
                "'age' to segment by age.",
            ),
        )
    cmp = match.group("cmp")
    op = {"older": "gt", "over": "gt", "above": "gt", "more than": "gt", "at least": "gte"}.get(
        cmp, "lt"
    )
    rule = {"property": target.key, "op": op, "value": int(match.group("n"))}
    return _Outcome({"not": rule} if clause.negated else rule)


# --- events ------------------------------------------------------------------------------------
