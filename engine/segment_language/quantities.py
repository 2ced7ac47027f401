"""Amounts of money in a sentence ("over 5000 rupees", "at least ₹1,000", "$2k"), told
apart from counts and lengths of time, and which fields can hold money.

A number means what its unit says: "5000 rupees" is money, "5 orders" a count, "5 days"
a time. Readers use these to refuse a number in the wrong unit instead of guessing
("spent over 5 days", "more than 5000 rupees orders")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from engine.segment_language.vocabulary import Field, name_tokens, stem

# Currency written before the number ($500, Rs. 500, INR 500) or after it (500 rupees).
CURRENCY_BEFORE = r"[$₹€£¥]|rs\.?|inr|usd|eur|gbp|jpy|aed|sgd|aud|cad"
CURRENCY_AFTER = (
    r"[$₹€£¥]|rs\.?|inr|usd|eur|gbp|jpy|aed|sgd|aud|cad|rupees?|dollars?|bucks|euros?|"
    r"pounds?(?:\s+sterling)?|yen|dirhams?"
)
SCALE = r"k|mn|m|thousand|million|lakhs?|lacs?|crores?|cr"
SCALES = {  # multipliers of the scale words, shared with properties._parse_number
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "lakh": 1e5,
    "lakhs": 1e5,
    "lac": 1e5,
    "lacs": 1e5,
    "crore": 1e7,
    "crores": 1e7,
    "cr": 1e7,
}
_DIGITS = r"\d[\d,]*(?:\.\d+)?"
_AMOUNT = (
    rf"(?:(?:{CURRENCY_BEFORE})\s*{_DIGITS}(?:\s*(?:{SCALE})\b)?"
    rf"(?:\s*(?:{CURRENCY_AFTER})(?![a-z]))?"
    rf"|{_DIGITS}(?:\s*(?:{SCALE}))?\s*(?:{CURRENCY_AFTER})(?![a-z]))"
)
_BARE = rf"{_DIGITS}(?:\s*(?:{SCALE})\b)?"
# Comparators before an amount, longest first within each op.
_MONEY_COMPARATORS: tuple[tuple[str, str], ...] = (
    (
        r"at\s+least|a\s+minimum\s+of|no\s+less\s+than|not\s+less\s+than|minimum(?:\s+of)?|"
        r"greater\s+than\s+or\s+equal\s+to",
        "gte",
    ),
    (
        r"at\s+most|no\s+more\s+than|not\s+more\s+than|up\s+to|a\s+maximum\s+of|"
        r"maximum(?:\s+of)?|less\s+than\s+or\s+equal\s+to",
        "lte",
    ),
    (
        r"more\s+than|over|above|upwards\s+of|greater\s+than|higher\s+than|exceeding|"
        r"in\s+excess\s+of|>",
        "gt",
    ),
    (r"less\s+than|fewer\s+than|under|below|lower\s+than|<", "lt"),
    (r"exactly|precisely|=", "eq"),
)
COMPARATOR = "|".join(pattern for pattern, _ in _MONEY_COMPARATORS)
# Verbs that take an amount of money: after them a bare number is money too.
SPEND_VERB = r"spent|spend|spends|spending|paid|pay|pays|paying"
_SPEND = re.compile(rf"\b(?:{SPEND_VERB})\b", re.IGNORECASE)
# What may follow a bare amount: the end, or a word that starts another part.
_BARE_END = r"(?=\s*$|\s+(?:on|in|at|with|for|during|within|over|this|last|since|so\s+far)\b)"


@dataclass(frozen=True)
class Money:
    op: str  # gt | gte | lt | lte | eq | between
    value: int | float | list[int | float]
    phrase: str  # as written, for reports and to cut from the clause
    currency: bool  # False: a bare number after a verb such as "spent"


def amount(text: str) -> int | float | None:
    """The number of an amount: '₹5,000' -> 5000, '2.5 lakh rupees' -> 250000."""
    match = re.search(
        rf"(?P<n>{_DIGITS})(?:\s*(?P<scale>{SCALE})\b)?", text.strip().lower(), re.IGNORECASE
    )
    if not match:
        return None
    number = float(match.group("n").replace(",", "")) * SCALES.get(match.group("scale") or "", 1)
    if not math.isfinite(number) or abs(number) > 1e15:
        return None
    return int(number) if number.is_integer() else number


def find_money(text: str) -> Money | None:
    """The first amount of money in a clause, with its comparator ('over' = gt; none = gte,
    as "spent ₹500" means at least that much)."""
    between = re.search(
        rf"\bbetween\s+(?P<low>{_AMOUNT}|{_BARE})\s+(?:and|to|-)\s+(?P<high>{_AMOUNT}|{_BARE})",
        text,
        re.IGNORECASE,
    )
    if between and (
        _has_currency(between.group("low"))
        or _has_currency(between.group("high"))
        or _SPEND.search(text)
    ):
        low, high = amount(between.group("low")), amount(between.group("high"))
        if low is not None and high is not None:
            values = sorted([low, high])
            return Money("between", values, between.group(0), True)
    bare = _SPEND.search(text) is not None
    unit = rf"(?:{_AMOUNT})" if not bare else rf"(?:{_AMOUNT}|{_BARE}{_BARE_END})"
    match = re.search(
        rf"(?:(?<![\w$₹€£¥])(?P<cmp>{COMPARATOR})\s*)?(?<![\w.,])(?P<amount>{unit})",
        text,
        re.IGNORECASE,
    )
    if not match:
        return None
    number = amount(match.group("amount"))
    if number is None:
        return None
    op = _op(match.group("cmp")) if match.group("cmp") else "gte"
    return Money(op, number, match.group(0).strip(), _has_currency(match.group("amount")))


def _has_currency(text: str) -> bool:
    return bool(
        re.search(rf"(?:^|\s|\d)(?:{CURRENCY_AFTER})\b|[$₹€£¥]|^(?:{CURRENCY_BEFORE})", text, re.I)
    )


def _op(comparator: str) -> str:
    for pattern, op in _MONEY_COMPARATORS:
        if re.fullmatch(pattern, comparator.strip(), re.IGNORECASE):
            return op
    return "gte"


# Stems of field names: what holds how much a contact spent (best first), and what else
# holds money (a balance or a price is money, but not spending).
def _stemmed(*words: str) -> set[str]:
    return {stem(w) for w in words}


_SPEND_STEMS = (_stemmed("spend", "spent"), _stemmed("revenue", "ltv", "clv", "gmv", "sales"))
_SPEND_PAIRS = tuple(
    _stemmed(*pair) for pair in (("lifetime", "value"), ("customer", "value"), ("order", "value"))
)
_MONEY_STEMS = _stemmed(
    *("value", "amount", "balance", "wallet", "credit", "price", "cost", "budget", "paid"),
    *("payment", "salary", "income", "fee", "discount", "total", "aov", "mrp", "worth"),
)


def _stems(target: Field) -> set[str]:
    return {stem(t) for t in (*name_tokens(target.key), *name_tokens(target.label))}


def spend_rank(target: Field) -> int:
    """How surely a number field holds what a contact spent: 3, 2, or 0 (not spending)."""
    if target.type != "number":
        return 0
    stems = _stems(target)
    if stems & _SPEND_STEMS[0]:
        return 3
    if stems & _SPEND_STEMS[1] or any(pair <= stems for pair in _SPEND_PAIRS):
        return 2
    return 0


def holds_money(target: Field) -> bool:
    return spend_rank(target) > 0 or bool(_stems(target) & _MONEY_STEMS)


def spend_field(fields: tuple[Field, ...]) -> Field | None:
    """The workspace's field for the amount a contact spent, if it has one."""
    ranked = [(spend_rank(f), -i, f) for i, f in enumerate(fields) if spend_rank(f)]
    return max(ranked, key=lambda r: r[:2])[2] if ranked else None
