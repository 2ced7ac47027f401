"""Reading the sentence itself: clean-up, splitting into clauses, and taking each
clause's negation, time window, "... ago" and count out of its words."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from engine.segment_language.quantities import COMPARATOR as _MONEY_CMP
from engine.segment_language.quantities import SPEND_VERB, Money, find_money
from engine.segment_language.results import NotUnderstood

MAX_TEXT = 1000  # characters read from a sentence
MAX_CLAUSES = 20
MAX_VALUE = 200
MAX_DAYS = 36_500


# --- words ------------------------------------------------------------------------------------


_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    "a few": 3,
    "few": 3,
    "several": 3,
}
_TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}
_NUM = r"(?:\d{1,7}|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + ")"
_UNIT = r"(?:hours?|hrs?|days?|nights?|weeks?|wks?|fortnights?|months?|mos?|quarters?|years?|yrs?)"
_UNIT_DAYS = {
    "h": 1 / 24,
    "d": 1,
    "n": 1,
    "w": 7,
    "f": 14,
    "m": 30,
    "q": 90,
    "y": 365,
}


_WINDOW_PATTERNS: tuple[tuple[str, str], ...] = (
    # (regex, kind): kind last = a past window, next = a coming window.
    (
        rf"\b(?:in|within|during|over|for)\s+(?:the\s+)?(?:next|coming|upcoming|following)"
        rf"\s+(?:(?P<n>{_NUM})\s+)?(?P<u>{_UNIT})\b",
        "next",
    ),
    (rf"\b(?:the\s+)?(?:next|coming|upcoming)\s+(?:(?P<n>{_NUM})\s+)?(?P<u>{_UNIT})\b", "next"),
    (
        rf"\b(?:in|within|during|over|for)\s+(?:the\s+)?(?:last|past|previous|recent|prior)"
        rf"\s+(?:(?P<n>{_NUM})\s+)?(?P<u>{_UNIT})\b",
        "last",
    ),
    (
        rf"\b(?:the\s+)?(?:last|past|previous|prior)\s+(?:(?P<n>{_NUM})\s+)?(?P<u>{_UNIT})\b",
        "last",
    ),
    (rf"\b(?:within|in|for|over)\s+(?:(?P<n>{_NUM})\s+)?(?P<u>{_UNIT})\b", "last"),
    (
        r"\b(?:in\s+|during\s+)?(?:this|the\s+current|the\s+present)\s+"
        r"(?P<u>week|month|quarter|year)\b",
        "this",
    ),
    (r"\bsince\s+(?:the\s+)?(?:last|past)\s+(?P<u>week|month|quarter|year)\b", "last"),
    (r"\btoday\b", "today"),
    (r"\byesterday\b", "yesterday"),
    (r"\b(?:recently|lately|of late)\b", "recent"),
)
_AGO = re.compile(
    rf"\b(?:(?P<cmp>more\s+than|over|at\s+least|less\s+than|under|fewer\s+than|within|"
    rf"not\s+more\s+than|up\s+to)\s+)?(?P<n>{_NUM})\s+(?P<u>{_UNIT})\s+ago\b",
    re.IGNORECASE,
)
_COUNT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(?:at\s+least|a\s+minimum\s+of|no\s+fewer\s+than|no\s+less\s+than|minimum)\s+", "gte"),
    (r"\b(?:more\s+than|over|above|upwards\s+of)\s+", "gt"),
    (r"\b(?:fewer\s+than|less\s+than|under|below)\s+", "lt"),
    (r"\b(?:at\s+most|no\s+more\s+than|up\s+to|a\s+maximum\s+of|maximum)\s+", "lte"),
    (r"\b(?:exactly|only|just|precisely)\s+", "eq"),
)
_TIMES = r"(?:(?P<n>\d{1,7}|[a-z]+)\s*(?:times|x)\b|(?P<w>once|twice|thrice)(?:\s+times)?\b)"

_NEGATIONS = re.compile(
    r"\b(?:has\s*n[o']?t|hasnt|have\s*n[o']?t|havent|had\s*n[o']?t|hadnt|never|"
    r"did\s*n[o']?t|didnt|does\s*n[o']?t|doesnt|do\s*n[o']?t|dont|won'?t|cannot|can'?t|"
    r"no\s+longer|without|nor|not)\b",
    re.IGNORECASE,
)
_BE_NEGATIONS = re.compile(
    r"\b(is|are|was|were)\s*n[o']?t\b|\b(isnt|arent|wasnt|werent)\b", re.IGNORECASE
)
_NO_START = re.compile(r"^(?:(?:has|have|had|with|made|makes|having)\s+)?(?:no|zero)\s+", re.I)
_LEADING = re.compile(
    r"^(?:(?:all|any|every|the|only)\s+)?(?:contacts|people|persons|users|customers|"
    r"subscribers|members|shoppers|buyers|visitors|leads|those|everyone|everybody|anyone|"
    r"anybody|ones|folks)\b\s*",
    re.IGNORECASE,
)
_LEAD_WORDS = {
    "who",
    "that",
    "which",
    "whom",
    "they",
    "also",
    "both",
    "either",
    "ever",
    "already",
    "still",
    "yet",
    "then",
    "and",
    "but",
    "or",
    "so",
    "are",
    "were",
    "was",
    "been",
    "being",
    "did",
    "do",
    "does",
    "currently",
    "since",
    "just",
}


def _number(text: str | None) -> int | None:
    if text is None:
        return 1
    text = re.sub(r"\s+", " ", text.strip().lower())
    if text.isdigit():
        return int(text)
    return _NUMBER_WORDS.get(text)


def _days(n: str | None, unit: str) -> int | None:
    amount = _number(n)
    if amount is None:
        return None
    per = _UNIT_DAYS.get(unit.lower()[0], 1)
    return max(1, math.ceil(amount * per))


# --- clauses ------------------------------------------------------------------------------


@dataclass
class _Clause:
    phrase: str  # as written, for reports
    text: str  # what is left to classify (window, count and negation removed)
    negated: bool = False
    window: int | None = None
    window_kind: str | None = None
    window_phrase: str = ""
    ago: tuple[str, int] | None = None
    ago_phrase: str = ""
    count: dict[str, int] | None = None
    count_phrase: str = ""
    money: Money | None = None  # found, not cut: a field comparison reads it in place
    mismatch: NotUnderstood | None = None  # a number in the wrong unit: nothing to guess
    used: set[str] = field(default_factory=set)
    notes: list[NotUnderstood] = field(default_factory=list)

    @property
    def lower(self) -> str:
        return self.text.lower()

    def use(self, *parts: str) -> None:
        self.used.update(parts)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(
        str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
    )
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


_SEPARATOR = re.compile(
    r"\s*(?:(?<!\d),|,(?!\d)|;|(?<!\brs)\.(?:\s+|$)|\s+&\s+)\s*(?:(?P<w1>and|but|or)\b\s*)?"
    r"|\s+(?P<w2>and|but|or|while|whereas|although|though|yet|plus|who|whose|which|that)\s+",
    re.IGNORECASE,
)


def _split(text: str) -> list[tuple[str | None, str]]:
    """[(connector before the piece, piece)]; connectors: and / or / None (a comma)."""
    pieces: list[tuple[str | None, str]] = []
    connector: str | None = "and"
    pos = 0
    for match in _SEPARATOR.finditer(text):
        piece = text[pos : match.start()]
        pieces.append((connector, piece))
        word = (match.group("w1") or match.group("w2") or "").lower()
        connector = "or" if word == "or" else ("and" if word else None)
        if connector == "and" and word not in ("and", "but"):
            connector = "and!"  # "who", "while": and, but not a list's connector
        pos = match.end()
    pieces.append((connector, text[pos:]))
    # "between 10 and 20" is one clause.
    merged: list[tuple[str | None, str]] = []
    for conn, piece in pieces:
        if merged and conn == "and" and re.search(r"\bbetween\s+\S+$", merged[-1][1], re.I):
            merged[-1] = (merged[-1][0], f"{merged[-1][1]} and {piece}")
        elif (
            merged
            and conn == "or"
            and re.match(r"(?:more|fewer|less)\b", piece, re.I)
            and re.search(rf"\b{_NUM}$", merged[-1][1], re.I)
        ):  # "3 or more times" is one clause
            merged[-1] = (merged[-1][0], f"{merged[-1][1]} or {piece}")
        else:
            merged.append((conn, piece))
    words = {c for c, p in merged[1:] if c in ("and", "or")}
    comma = "or" if words == {"or"} else "and"
    return [("and" if c == "and!" else (c or comma), p.strip(" \t'\"()[]{}")) for c, p in merged]


def _strip_leading(text: str) -> str:
    text = text.strip()
    for _ in range(6):
        before = text
        text = _LEADING.sub("", text).strip()
        first, _, rest = text.partition(" ")
        if first.lower() in _LEAD_WORDS:
            text = rest.strip()
        if text == before:
            break
    return text


def _cut(text: str, match: re.Match) -> str:
    return re.sub(r"\s+", " ", f"{text[: match.start()]} {text[match.end() :]}").strip()


# "spent over 5 days": a length of time where an amount of money belongs.
_TIME_SPENT = re.compile(
    rf"\b(?:{SPEND_VERB})\s+(?:(?:{_MONEY_CMP})\s+)?(?P<time>{_NUM}\s+{_UNIT})\b", re.IGNORECASE
)


def _prepare(phrase: str) -> _Clause:
    clause = _Clause(phrase=phrase, text=phrase)
    text = phrase
    clause.money = find_money(phrase)
    wrong_unit = _TIME_SPENT.search(phrase)
    if wrong_unit and clause.money is None:
        clause.mismatch = NotUnderstood(
            phrase[:MAX_VALUE],
            f"'{wrong_unit.group('time')}' is a length of time, not an amount of money: say "
            "e.g. 'spent over ₹5,000' for an amount, or 'purchased in the last 5 days' "
            "for a time window.",
        )
    # "more than 30 days ago" first: its number is not a count nor a window.
    match = _AGO.search(text)
    if match:
        days = _days(match.group("n"), match.group("u"))
        cmp = (match.group("cmp") or "").lower()
        if days is not None:
            less = cmp.startswith(("less", "under", "fewer", "within", "not", "up"))
            clause.ago = ("less" if less else "more", days)
            clause.ago_phrase = match.group(0)
            text = _cut(text, match)
    for pattern, kind in _WINDOW_PATTERNS:
        match = re.search(pattern, text, re.IGNORECASE)
        if not match:
            continue
        groups = match.groupdict()
        if kind in ("last", "next"):
            days = _days(groups.get("n"), groups["u"])
        elif kind == "this":
            days = {"w": 7, "m": 30, "q": 90, "y": 365}[groups["u"].lower()[0]]
        else:
            days = {"today": 1, "yesterday": 2, "recent": 30}[kind]
        if days is None:
            continue
        clause.window, clause.window_kind = days, kind
        clause.window_phrase = match.group(0)
        text = _cut(text, match)
        break
    for pattern, op in _COUNT_PATTERNS:
        match = re.search(pattern + _TIMES, text, re.IGNORECASE)
        if match and _times(match) is not None:
            n = _times(match)
            clause.count, clause.count_phrase = {op: n}, match.group(0)
            text = _cut(text, match)
            break
    else:
        match = re.search(
            rf"\b(?P<n>\d{{1,7}}|{_NUM})\s*(?:\+|or\s+(?P<dir>more|fewer|less))\s*times\b",
            text,
            re.IGNORECASE,
        ) or re.search(rf"\b{_TIMES}", text, re.IGNORECASE)
        if match and _times(match) is not None:
            n = _times(match)
            op = (
                "lte"
                if (match.groupdict().get("dir") or "").lower() in ("fewer", "less")
                else "gte"
            )
            clause.count, clause.count_phrase = {op: n}, match.group(0)
            text = _cut(text, match)
    # Negation: "is not" keeps its "is" (city is not Mumbai -> not(city is Mumbai)).
    negations = 0
    text, n = _BE_NEGATIONS.subn(lambda m: m.group(1) or "is", text)
    negations += n
    text, n = _NEGATIONS.subn(" ", text)
    negations += n
    text = _strip_leading(re.sub(r"\s+", " ", text))
    text, n = _NO_START.subn("", text)
    negations += n
    clause.negated = negations % 2 == 1
    clause.text = _strip_leading(text).strip(" .,;:!?'\"")
    return clause


def _times(match: re.Match) -> int | None:
    word = match.groupdict().get("w")
    if word:
        return _TIMES_WORDS[word.lower()]
    n = match.groupdict().get("n")
    return _number(n) if n else None


def _value_text(text: str) -> str:
    return text.strip().strip(" \"'.,;:!?").strip()[:MAX_VALUE]
