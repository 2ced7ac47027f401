"""Plain-language segments: a sentence in, segment rules in the workspace's own words out.

`suggest("purchased in the last 30 days and opened an email in the last 7 days", vocab)`
returns rules such as

    {"all": [{"event": "order_completed", "within_days": 30, "count": {"gte": 1}},
             {"engagement": "opened", "channel": "email", "within_days": 7}]}

plus the phrases it mapped (each with the condition it became) and the phrases it could
not map (each with a reason and the closest names of the workspace). It is a deterministic
rule-based parser: no model, no I/O. It only names events, fields and tags that the
vocabulary holds; what it cannot place is reported, never guessed.

How a sentence is read:

- clauses are split on "and", "but" (= and), "or", commas and semicolons; "and" binds
  tighter than "or" ("A and B or C" = any[all[A, B], C]); a comma takes the meaning of
  the sentence's word connectors (all "or" -> or, otherwise and);
- negation ("hasn't", "has not", "never", "didn't", "not", "no ...", "without") wraps
  the condition in {"not": ...};
- time windows: "in the last 30 days", "within 7 days", "past week" (7), "last month"
  (30), "this week" (7), "this month" (30), "this quarter" (90), "this year" (365),
  "today" (1), "yesterday" (2), "recently" (30); hours round up to one day;
- counts: "at least 3 times" (gte 3), "more than twice" (gt 2), "fewer than 3 times"
  (lt 3), "at most 2 times" (lte 2), "exactly once" (eq 1), "twice" (gte 2), and
  "at least 3 purchases";
- a behaviour condition with a window and no count counts at least one occurrence.

Other backends (an LLM behind the `REACH_SEGMENT_LANGUAGE_BACKEND` setting, say) plug in
through `SuggestionBackend`; whatever they return is checked here the same way: rules
must validate and name only the vocabulary's events, or they are withheld.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from engine.segments.rules import validate, walk
from engine.traits import STANDARD_PROPERTIES, FieldDef

MAX_TEXT = 1000  # characters read from a sentence
MAX_CLAUSES = 20
MAX_VALUE = 200
MAX_DAYS = 36_500
MAX_VOCABULARY = 500  # event names, fields and tags each
BACKEND_SETTING = "REACH_SEGMENT_LANGUAGE_BACKEND"  # "rules" (default); an LLM is optional


# --- vocabulary and results ---------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    key: str
    type: str = "string"  # string | number | boolean | date | list
    label: str = ""


STANDARD_FIELDS: tuple[Field, ...] = (
    Field("email", "string", "email address"),
    Field("phone", "string", "phone number"),
    Field("user_id", "string", "user id"),
    Field("created_at", "date", "signup date"),
    Field("last_active_at", "date", "last active"),
    Field("location_id", "string", "location"),
)


def _standard_properties() -> tuple[Field, ...]:
    types = {"birthday": "date"}
    labels = {"birthday": "date of birth", "timezone": "time zone"}
    return tuple(
        Field(key, types.get(key, "string"), labels.get(key, key.replace("_", " ")))
        for key in STANDARD_PROPERTIES
    )


@dataclass(frozen=True)
class Vocabulary:
    """What a workspace calls things: its event names (most used first), its custom
    fields (the standard fields are always known) and its tags."""

    events: tuple[tuple[str, int], ...] = ()
    custom_fields: tuple[Field, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        events: Mapping[str, int] | Iterable[str | tuple[str, int]] = (),
        custom_fields: Iterable[Field | FieldDef | tuple] = (),
        tags: Iterable[str] = (),
    ) -> Vocabulary:
        pairs: dict[str, int] = {}
        items = events.items() if isinstance(events, Mapping) else events
        for item in items:
            name, count = (item, 0) if isinstance(item, str) else (item[0], item[1])
            if isinstance(name, str) and name.strip() and len(name) <= 200:
                pairs[name] = max(pairs.get(name, 0), int(count or 0))
        ordered = sorted(pairs.items(), key=lambda p: (-p[1], p[0]))[:MAX_VOCABULARY]
        fields: list[Field] = []
        for f in custom_fields:
            if isinstance(f, Field):
                fields.append(f)
            elif isinstance(f, FieldDef):
                fields.append(Field(f.key, f.type, f.label))
            else:
                fields.append(Field(*f))
        clean_tags = tuple(dict.fromkeys(t for t in tags if isinstance(t, str) and t.strip()))
        return cls(tuple(ordered), tuple(fields[:MAX_VOCABULARY]), clean_tags[:MAX_VOCABULARY])

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.events)

    @property
    def fields(self) -> tuple[Field, ...]:
        """Standard fields, standard properties, then custom fields (a custom field
        declared under a standard property's key overrides it)."""
        custom = {f.key: f for f in self.custom_fields}
        standard = [custom.pop(f.key, f) for f in (*STANDARD_FIELDS, *_standard_properties())]
        return (*standard, *custom.values())

    def field(self, key: str) -> Field | None:
        return next((f for f in self.fields if f.key == key), None)

    def field_defs(self) -> dict[str, FieldDef]:
        return {f.key: FieldDef(f.key, f.type, f.label) for f in self.custom_fields}


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


class SuggestionBackend(Protocol):
    """Turns a sentence into a Suggestion. Must not do I/O in the engine; a backend that
    calls a model lives outside it and is chosen by the `BACKEND_SETTING` setting."""

    def suggest(self, text: str, vocabulary: Vocabulary) -> Suggestion: ...


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

_CHANNEL_WORDS = {
    "email": "email",
    "emails": "email",
    "e-mail": "email",
    "e-mails": "email",
    "mail": "email",
    "mails": "email",
    "newsletter": "email",
    "newsletters": "email",
    "sms": "sms",
    "text": "sms",
    "texts": "sms",
    "text message": "sms",
    "text messages": "sms",
    "whatsapp": "whatsapp",
    "whats app": "whatsapp",
    "rcs": "rcs",
    "push": "push",
    "push notification": "push",
    "push notifications": "push",
    "notification": "push",
    "notifications": "push",
    "in-app": "in_app",
    "in app": "in_app",
    "inapp": "in_app",
    "in_app": "in_app",
    "inbox": "in_app",
}
_CH = "|".join(sorted(map(re.escape, _CHANNEL_WORDS), key=len, reverse=True))
_ENGAGEMENT_VERBS = {
    "opened": "opened",
    "open": "opened",
    "opens": "opened",
    "read": "opened",
    "reads": "opened",
    "clicked": "clicked",
    "click": "clicked",
    "clicks": "clicked",
    "tapped": "clicked",
    "tap": "clicked",
    "replied": "replied",
    "reply": "replied",
    "replies": "replied",
    "responded": "replied",
    "respond": "replied",
    "answered": "replied",
    "received": "delivered",
    "receive": "delivered",
    "got": "delivered",
    "get": "delivered",
    "delivered": "delivered",
    "bounced": "bounced",
    "bounce": "bounced",
    "bounces": "bounced",
}
_MESSAGE_WORDS = {
    "message",
    "messages",
    "msg",
    "link",
    "links",
    "campaign",
    "campaigns",
    "newsletter",
    "newsletters",
}
_ENGAGEMENT_FILLER = {
    "a",
    "an",
    "the",
    "any",
    "our",
    "their",
    "one",
    "of",
    "on",
    "in",
    "to",
    "via",
    "by",
    "through",
    "over",
    "from",
    "us",
    "we",
    "sent",
    "it",
    "them",
    "at",
    "least",
    "has",
    "have",
    "had",
    "link",
    "links",
    "message",
    "messages",
    "msg",
    "campaign",
    "campaigns",
    "button",
    "marketing",
    "last",
    "latest",
    "recent",
    "with",
    "been",
}

_COUNTRIES = {
    "india",
    "bharat",
    "usa",
    "us",
    "u.s.",
    "u.s.a.",
    "united states",
    "united states of america",
    "america",
    "uk",
    "u.k.",
    "united kingdom",
    "great britain",
    "britain",
    "england",
    "scotland",
    "wales",
    "ireland",
    "northern ireland",
    "canada",
    "mexico",
    "brazil",
    "argentina",
    "chile",
    "colombia",
    "peru",
    "germany",
    "france",
    "spain",
    "portugal",
    "italy",
    "netherlands",
    "holland",
    "belgium",
    "switzerland",
    "austria",
    "sweden",
    "norway",
    "denmark",
    "finland",
    "poland",
    "czechia",
    "czech republic",
    "greece",
    "turkey",
    "türkiye",
    "russia",
    "ukraine",
    "romania",
    "hungary",
    "israel",
    "egypt",
    "nigeria",
    "kenya",
    "south africa",
    "morocco",
    "ghana",
    "ethiopia",
    "uae",
    "u.a.e.",
    "united arab emirates",
    "saudi arabia",
    "qatar",
    "kuwait",
    "oman",
    "bahrain",
    "pakistan",
    "bangladesh",
    "sri lanka",
    "nepal",
    "bhutan",
    "maldives",
    "china",
    "japan",
    "south korea",
    "korea",
    "taiwan",
    "hong kong",
    "singapore",
    "malaysia",
    "indonesia",
    "thailand",
    "vietnam",
    "philippines",
    "australia",
    "new zealand",
}

# Concepts: stems that mean the same thing in event names and in sentences.
_SYNONYMS = {
    "purchas": "purchase",
    "purchase": "purchase",
    "buy": "purchase",
    "order": "purchase",
    "checkout": "purchase",
    "pay": "purchase",
    "payment": "purchase",
    "transaction": "purchase",
    "transact": "purchase",
    "spend": "purchase",
    "shop": "purchase",
    "sale": "purchase",
    "conversion": "purchase",
    "convert": "purchase",
    "signup": "signup",
    "register": "signup",
    "registration": "signup",
    "join": "signup",
    "enrol": "signup",
    "enroll": "signup",
    "complet": "complete",
    "finish": "complete",
    "done": "complete",
    "success": "complete",
    "successful": "complete",
    "accomplish": "complete",
    "view": "view",
    "visit": "view",
    "see": "view",
    "browse": "view",
    "look": "view",
    "login": "login",
    "signin": "login",
    "logon": "login",
    "cart": "cart",
    "basket": "cart",
    "bag": "cart",
    "cancel": "cancel",
    "cancell": "cancel",
    "cancellation": "cancel",
    "subscrib": "subscribe",
    "subscription": "subscribe",
    "onboard": "onboard",
    "launch": "open",
    "start": "start",
    "begin": "start",
    "initiat": "start",
    "product": "product",
    "item": "product",
    "refer": "refer",
    "referral": "refer",
    "invit": "invite",
    "invitation": "invite",
}
# Tokens that say an action happened rather than which action: they neither make a match
# nor stand in its way ("order_completed" is a purchase; "order_placed" too).
_NEUTRAL = {
    *("complete", "place", "creat", "submit", "make", "do", "event", "action", "track"),
    *("user", "customer", "contact"),  # user_logged_in is about logging in
}
_STOPWORDS = {
    "a",
    "an",
    "the",
    "any",
    "some",
    "their",
    "his",
    "her",
    "its",
    "our",
    "my",
    "your",
    "them",
    "they",
    "it",
    "this",
    "that",
    "these",
    "those",
    "who",
    "which",
    "has",
    "have",
    "had",
    "having",
    "was",
    "were",
    "is",
    "are",
    "be",
    "been",
    "being",
    "did",
    "do",
    "does",
    "ever",
    "yet",
    "already",
    "still",
    "also",
    "just",
    "at",
    "least",
    "on",
    "in",
    "to",
    "of",
    "for",
    "with",
    "from",
    "by",
    "via",
    "and",
    "or",
    "but",
    "one",
    "time",
    "times",
    "once",
    "twice",
    "all",
    "every",
    "more",
    "than",
    "less",
    "made",
    "make",
    "user",
    "users",
    "customer",
    "customers",
    "contact",
    "contacts",
    "people",
    "person",
    "someone",
    "something",
    "thing",
    "things",
    "we",
    "us",
    "you",
    "successfully",
    "actually",
}
_IRREGULAR = {
    "bought": "buy",
    "buying": "buy",
    "paid": "pay",
    "spent": "spend",
    "saw": "see",
    "seen": "see",
    "began": "begin",
    "begun": "begin",
    "made": "make",
    "did": "do",
    "got": "get",
    "sent": "send",
    "cancelled": "cancel",
    "cancelling": "cancel",
    "canceled": "cancel",
    "canceling": "cancel",
    "shopping": "shop",
    "shopped": "shop",
    "used": "use",
    "uses": "use",
    "using": "use",
}
_PHRASES = (
    (r"\bsign(?:ed|ing|s)?[\s\-_]?up\b|\bsignups?\b", "signup"),
    (r"\b(?:log(?:ged|ging|s)?|sign(?:ed|ing|s)?)[\s\-_]?(?:in|on)\b|\blogins?\b", "login"),
    (r"\blog(?:ged|ging|s)?[\s\-_]?out\b", "logout"),
    (r"\bcheck(?:ed|ing|s)?[\s\-_]?out\b", "checkout"),
    (r"\b(?:make|made|makes|making|complete|completed|do|did)\s+(?:a|an|any|their|one)\s+", ""),
    (r"\bplac(?:e|ed|es|ing)\s+(?:a|an|any|their)?\s*orders?\b", "order"),
    (r"\b(?:opened|open|opens|launched|launch|launches)\s+(?:the|our|their)?\s*app\b", "app open"),
    (r"\be-mail", "email"),
)

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


def stem(word: str) -> str:
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    stripped = True
    if len(w) > 4 and (w.endswith("ies") or w.endswith("ied")):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith(("ed", "ches", "shes", "sses", "xes", "zes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    else:
        stripped = False
    if stripped and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def _concept(token: str) -> str:
    s = stem(token)
    return _SYNONYMS.get(s, _SYNONYMS.get(token.lower(), s))


def name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _concepts_of_name(name: str) -> set[str]:
    text = " ".join(name_tokens(name))
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, f" {repl} ", text)
    return {_concept(t) for t in text.split() if t and t not in {"a", "an", "the", "to", "of"}}


def _concepts_of_phrase(text: str) -> list[str]:
    text = text.lower()
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, f" {repl} ", text)
    words = re.findall(r"[a-z0-9]+", text)
    out: list[str] = []
    for word in words:
        if word in _STOPWORDS or word.isdigit():
            continue
        concept = _concept(word)
        if concept not in out:
            out.append(concept)
    return out


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
    used: set[str] = field(default_factory=set)
    notes: list[NotUnderstood] = field(default_factory=list)

    @property
    def lower(self) -> str:
        return self.text.lower()

    def use(self, *parts: str) -> None:
        self.used.update(parts)


@dataclass
class _Outcome:
    rule: dict[str, Any] | None
    problem: NotUnderstood | None = None
    # For "in Mumbai or Pune": how to read a bare value that follows.
    template: Callable[[str], dict[str, Any] | None] | None = None  # reads a bare value


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(
        str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
    )
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


_SEPARATOR = re.compile(
    r"\s*(?:(?<!\d),|,(?!\d)|;|\.(?:\s+|$)|\s+&\s+)\s*(?:(?P<w1>and|but|or)\b\s*)?"
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


def _prepare(phrase: str) -> _Clause:
    clause = _Clause(phrase=phrase, text=phrase)
    text = phrase
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


# --- classifiers -----------------------------------------------------------------------------


def _value_text(text: str) -> str:
    return text.strip().strip(" \"'.,;:!?").strip()[:MAX_VALUE]


def _match_tag(value: str, vocabulary: Vocabulary) -> str | None:
    wanted = value.strip().lower()
    for tag in vocabulary.tags:
        if tag.lower() == wanted:
            return tag
    for tag in vocabulary.tags:  # plural: "VIPs"
        if wanted.endswith("s") and tag.lower() == wanted[:-1]:
            return tag
    return None


def _tag(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    patterns = (
        r"^(?:(?:has|have|had|with|carries|carry|having)\s+)?(?:been\s+)?"
        r"(?:tagged|labell?ed|marked)\s*(?:as|with|by)?\s+(?P<v>.+)$",
        r"^(?:(?:has|have|had|with|having)\s+)?(?:the\s+|a\s+)?(?:tags?|labels?)\s*"
        r"(?:of|is|=|:|named|called)?\s+(?P<v>.+)$",
        r"^(?:(?:has|have|had|with|having)\s+)?(?:the\s+|a\s+|an\s+)?(?P<v>\S+)\s+(?:tag|label)$",
    )
    for pattern in patterns:
        match = re.match(pattern, clause.text, re.IGNORECASE)
        if not match:
            continue
        value = _value_text(match.group("v"))
        if not value:
            return None
        if len(value) > 64:
            return _Outcome(None, NotUnderstood(clause.phrase, "Tags are at most 64 characters."))
        tag = _match_tag(value, vocabulary) or value
        return _Outcome({"tag": tag}, template=lambda v: {"tag": _match_tag(v, vocabulary) or v})
    return None


def _bare_tag(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = re.sub(r"^(?:(?:is|are|a|an|the|has|have)\s+)+", "", clause.text, flags=re.I)
    text = re.sub(r"\s+(?:contacts|customers|users|members|people)$", "", text, flags=re.I)
    tag = _match_tag(_value_text(text), vocabulary) if text else None
    return _Outcome({"tag": tag}) if tag else None


def _plan(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    match = re.match(
        r"^(?:(?:is|are|on|in|using|uses|use|has|have|having|with|subscribed\s+to|"
        r"subscribes\s+to|pays\s+for|paying\s+for|upgraded\s+to|downgraded\s+to|bought|"
        r"buys|signed\s+up\s+for|chose|picked)\s+)*(?:the\s+|a\s+|an\s+)?[\"']?"
        r"(?P<v>[^\s\"'][^\"']{0,60}?)[\"']?\s+(?:plan|tier|subscription|package)"
        r"(?:\s+(?:users|customers|subscribers|members|contacts|accounts))?$",
        clause.text,
        re.IGNORECASE,
    )
    if not match:
        match = re.match(
            r"^(?:their\s+|the\s+)?(?:plan|tier)\s*(?:is|=|:|equals|of)\s*(?P<v>.+)$",
            clause.text,
            re.IGNORECASE,
        )
    if not match:
        return None
    value = _value_text(match.group("v"))
    if not value or value.lower() in {"any", "a", "some", "no"}:
        if value.lower() == "any":
            return _Outcome({"property": "plan", "op": "is_not_empty"})
        return None
    return _Outcome(
        {"property": "plan", "op": "eq", "value": value},
        template=lambda v: {"property": "plan", "op": "eq", "value": _value_text(v)},
    )


def _channel(text: str) -> str | None:
    match = re.search(rf"(?<![\w-])(?:{_CH})(?![\w-])", text, re.IGNORECASE)
    if not match:
        return None
    return _CHANNEL_WORDS[re.sub(r"\s+", " ", match.group(0).lower())]


def _reachable(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = clause.text
    match = re.match(
        r"^(?:(?:is|are|can\s+be)\s+)?(?:reachable|contactable|reached|contacted|messageable|"
        r"available|opted[\s-]?in|subscribed|consented)\s+(?:on|by|via|over|through|to|for|"
        rf"in|with)\s+(?:the\s+|our\s+)?(?P<ch>{_CH})(?:\s+(?:messages?|channel|marketing|"
        r"notifications?|updates?))?$",
        text,
        re.IGNORECASE,
    )
    if match:
        channel = _channel(match.group("ch"))
        return _Outcome({"reachable": channel}) if channel else None
    if re.match(
        r"^(?:has|have|having|with)\s+(?:an?\s+|the\s+|a\s+valid\s+|valid\s+)?"
        r"(?:email|e-mail)(?:\s+address)?(?:es)?(?:\s+on\s+file)?$",
        text,
        re.IGNORECASE,
    ):
        return _Outcome({"reachable": "email"})
    if re.match(
        r"^(?:has|have|having|with)\s+(?:an?\s+|the\s+|a\s+valid\s+|valid\s+)?"
        r"(?:phone|mobile|cell|phone\s+number|mobile\s+number)(?:\s+number)?s?(?:\s+on\s+file)?$",
        text,
        re.IGNORECASE,
    ):
        return _Outcome({"property": "phone", "op": "is_not_empty"})
    match = re.match(
        r"^(?:has|have|having|uses|use|with|on)\s+(?:a\s+|the\s+)?(?P<ch>whatsapp|rcs|"
        r"push(?:\s+(?:enabled|token|notifications))?)$",
        text,
        re.IGNORECASE,
    )
    if match:
        return _Outcome({"reachable": _channel(match.group("ch")) or "push"})
    return None


def _signup(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    if not re.match(
        r"^(?:(?:who|has|have|had)\s+)?(?:signed[\s-]?up|sign[\s-]?ups?|registered|joined|"
        r"became\s+(?:a\s+|an\s+)?(?:contact|customer|subscriber|member|user)|"
        r"(?:got\s+|was\s+|were\s+)?(?:created|added)|new|first\s+seen|"
        r"(?:are|is)\s+new)(?:\s+(?:contacts?|customers?|users?|subscribers?|members?|"
        r"signups?))?(?:\s+(?:for|to|with|on|at)\s+(?:us|our\s+\w+|the\s+(?:site|app|website|"
        r"store|platform|shop|service)))?$",
        clause.text,
        re.IGNORECASE,
    ):
        return None
    if clause.ago:
        cmp, days = clause.ago
        clause.use("ago")
        op = "more_than_days_ago" if cmp == "more" else "within_last_days"
        return _Outcome({"property": "created_at", "op": op, "value": days})
    if clause.window and clause.window_kind != "next":
        clause.use("window")
        return _Outcome(
            {"property": "created_at", "op": "within_last_days", "value": clause.window}
        )
    return None  # no time: maybe a signup event of the workspace


def _activity(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = clause.lower
    be = r"^(?:(?:has|have|had)\s+)?(?:(?:been|was|were|is|are)\s+)?"
    inactive = re.match(
        be + r"(?:inactive|dormant|idle|lapsed|churned|absent|away|quiet|gone\s+quiet|"
        r"unengaged|disengaged)$",
        text,
    )
    active = re.match(
        be + r"(?:active|seen|around|engaged|online|(?:last\s+)?(?:active|seen))$", text
    )
    visited = re.match(
        be + r"(?:logged\s+in|log\s+in|logins?|signed\s+in|sign\s+in|visited|visit|"
        r"been\s+back|come\s+back|came\s+back|returned|used\s+the\s+app|opened\s+the\s+app)"
        r"(?:\s+(?:to\s+)?(?:the\s+|our\s+)?(?:app|site|website|store|account))?$",
        text,
    )
    if visited and not _rank_events(_concepts_of_phrase(text), vocabulary):
        active = visited  # the workspace tracks no such event: read it as activity
    last = re.match(r"^(?:(?:was|were)\s+)?last\s+(?:active|seen|online)$", text)
    if not (inactive or active or last):
        return None
    lapsed = bool(inactive) != clause.negated if not last else False
    if last:
        if clause.ago:
            clause.use("ago")
            cmp, days = clause.ago
            op = "more_than_days_ago" if cmp == "more" else "within_last_days"
            rule = {"property": "last_active_at", "op": op, "value": days}
            return _Outcome({"not": rule} if clause.negated else rule)
        if clause.window and clause.window_kind != "next":
            clause.use("window")
            rule = {"property": "last_active_at", "op": "within_last_days", "value": clause.window}
            return _Outcome({"not": rule} if clause.negated else rule)
        return _Outcome(
            None, NotUnderstood(clause.phrase, "Say when, e.g. 'last seen 30 days ago'.")
        )
    days = None
    if clause.window and clause.window_kind != "next":
        days = clause.window
        clause.use("window")
    elif clause.ago:
        days = clause.ago[1]
        clause.use("ago")
    if days is None:
        return _Outcome(
            None,
            NotUnderstood(
                clause.phrase,
                "Say for how long, e.g. 'inactive for 30 days' or 'active this week'.",
            ),
        )
    clause.use("negation")
    op = "more_than_days_ago" if lapsed else "within_last_days"
    return _Outcome({"property": "last_active_at", "op": op, "value": days})


def _engagement(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    words = re.findall(r"[a-z0-9_'\-]+", clause.lower)
    verbs = [w for w in words if w in _ENGAGEMENT_VERBS]
    if not verbs:
        return None
    kind = _ENGAGEMENT_VERBS[verbs[0]]
    channel = _channel(clause.text)
    rest = clause.lower
    rest = re.sub(rf"(?<![\w-])(?:{_CH})(?![\w-])", " ", rest)
    leftover = [
        w
        for w in re.findall(r"[a-z0-9_'\-]+", rest)
        if w not in _ENGAGEMENT_VERBS and w not in _ENGAGEMENT_FILLER
    ]
    has_message = any(w in _MESSAGE_WORDS for w in words) or bool(channel)
    if not has_message and not (kind == "bounced" and not leftover):
        return None  # "opened the app": a workspace event, not engagement
    if leftover and not channel:
        return None
    if kind == "delivered" and not channel and "message" not in words:
        return None
    rule: dict[str, Any] = {"engagement": kind}
    if channel:
        rule["channel"] = channel
    template = _engagement_template(channel)
    if clause.window and clause.window_kind not in ("next",):
        rule["within_days"] = clause.window
        clause.use("window")
    if clause.count:
        rule["count"] = clause.count
        clause.use("count")
    if leftover:
        clause.notes.append(
            NotUnderstood(
                " ".join(leftover)[:MAX_VALUE],
                "Read as any message of the channel: messages cannot be told apart by "
                "these words here.",
            )
        )
    return _Outcome(rule, template=template)


def _engagement_template(channel: str | None) -> Callable[[str], dict[str, Any] | None]:
    """'opened an email but didn't click': a bare verb keeps the channel before it."""

    def read(text: str) -> dict[str, Any] | None:
        words = [w for w in re.findall(r"[a-z'\-]+", text.lower()) if w not in _ENGAGEMENT_FILLER]
        if len(words) != 1 or words[0] not in _ENGAGEMENT_VERBS:
            return None
        rule = {"engagement": _ENGAGEMENT_VERBS[words[0]]}
        return {**rule, "channel": channel} if channel else rule

    return read


def _place_kind(value: str, vocabulary: Vocabulary) -> str:
    lowered = value.lower().strip()
    if lowered.startswith("the "):
        lowered = lowered[4:]
    return "country" if lowered in _COUNTRIES else "city"


def _location(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    match = re.match(
        r"^(?:(?:located|living|lives|live|based|resides|residing|reside|staying|stays|"
        r"situated|currently|who|that|are|is|was|were|come|comes|coming|originally|hail|"
        r"hails|people|customers|users)\s+)*(?P<prep>in|from|at|of)\s+(?:the\s+city\s+of\s+)?"
        r"(?P<v>[^\d@#$%^*{}\[\]<>=|\\/:;!?]{1,60})$",
        clause.text,
        re.IGNORECASE,
    )
    if not match:
        return None
    value = _value_text(match.group("v"))
    value = re.sub(r"\s+(?:city|area|region)$", "", value, flags=re.I).strip()
    words = value.split()
    if not words or len(words) > 5:
        return None
    first = words[0].lower()
    named = (  # "the Netherlands", "the united states"
        first == "the"
        and len(words) > 1
        and (words[1][:1].isupper() or " ".join(words[1:]).lower() in _COUNTRIES)
    )
    if first in {"the", "a", "an", "any", "their", "our", "last", "past", "next"} and not named:
        return None
    if match.group("prep").lower() in ("at", "of") and not words[0][:1].isupper():
        return None
    if words[0].lower() == "the":
        value = " ".join(words[1:])
    if any(w.lower() in _STOPWORDS - {"us"} for w in value.split()):
        return None
    prop = _place_kind(value, vocabulary)
    return _Outcome(
        {"property": prop, "op": "eq", "value": value},
        template=lambda v: _bare_place(v, vocabulary),
    )


def _bare_place(text: str, vocabulary: Vocabulary) -> dict[str, Any] | None:
    value = _value_text(re.sub(r"^(?:in|from|the)\s+", "", text.strip(), flags=re.I))
    if not value or len(value.split()) > 4 or re.search(r"[\d@#$%^*{}\[\]<>=|\\/]", value):
        return None
    return {"property": _place_kind(value, vocabulary), "op": "eq", "value": value}


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
    scale = {
        "k": 1e3,
        "thousand": 1e3,
        "m": 1e6,
        "mn": 1e6,
        "million": 1e6,
        "lakh": 1e5,
        "lakhs": 1e5,
        "crore": 1e7,
        "crores": 1e7,
    }
    number *= scale.get(match.group("m") or "", 1)
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


def _rank_events(concepts: list[str], vocabulary: Vocabulary) -> list[tuple[tuple, str]]:
    wanted = set(concepts)
    core = wanted - _NEUTRAL
    ranked = []
    if not core:
        return []
    for index, (name, count) in enumerate(vocabulary.events):
        have = _concepts_of_name(name)
        have_core = have - _NEUTRAL
        matched = core & have_core
        if not matched or have_core - core:
            continue
        coverage = len(matched) / len(core)
        if coverage < 0.5:
            continue
        neutral = len(wanted & have & _NEUTRAL)
        ranked.append(((coverage, neutral, count, -index, -len(have - wanted)), name))
    ranked.sort(reverse=True)
    return ranked


def closest_events(phrase: str, vocabulary: Vocabulary, limit: int = 3) -> tuple[str, ...]:
    """The workspace's event names nearest to a phrase (for 'did you mean')."""
    concepts = set(_concepts_of_phrase(phrase))
    plain = " ".join(sorted(concepts))
    scored = []
    for index, (name, _count) in enumerate(vocabulary.events):
        have = _concepts_of_name(name)
        overlap = len((concepts & have) - _NEUTRAL)
        ratio = difflib.SequenceMatcher(None, plain, " ".join(sorted(have))).ratio()
        if overlap or ratio >= 0.5:
            scored.append((overlap, ratio, -index, name))
    scored.sort(reverse=True)
    return tuple(name for *_, name in scored[:limit])


def _event(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    text = clause.text
    count = clause.count
    if count is None:
        # "at least 3 purchases", "more than 2 orders", "3 purchases"
        for pattern, op in (*_COUNT_PATTERNS, (r"\b", "gte")):
            match = re.search(
                pattern + rf"(?P<n>\d{{1,7}}|{_NUM})\s+(?!{_UNIT}\b)(?=[a-z])",
                text,
                re.IGNORECASE,
            )
            if not match:
                continue
            n = _number(match.group("n"))
            bare = op == "gte" and pattern == r"\b"
            if n is None or (bare and not match.group("n").isdigit() and n < 2):
                continue
            count = {op: n}
            text = _cut(text, match)
            break
    if clause.ago:  # "last purchased more than 30 days ago"
        text = re.sub(r"^last\s+", "", text, flags=re.I)
    concepts = _concepts_of_phrase(text)
    if not concepts:
        return None
    ranked = _rank_events(concepts, vocabulary)
    if not ranked:
        return None
    name = ranked[0][1]
    covered = _concepts_of_name(name)
    missed = [
        word
        for word in re.findall(r"[A-Za-z0-9]+", text)
        if word.lower() not in _STOPWORDS
        and not word.isdigit()
        and _concept(word) not in covered
        and _concept(word) not in _NEUTRAL
        and _concept(word) in concepts
    ]
    if missed:
        clause.notes.append(
            NotUnderstood(
                " ".join(missed)[:MAX_VALUE],
                f"Read as any '{name}' event: these words do not tell its events apart.",
            )
        )
    rule: dict[str, Any] = {"event": name}
    if clause.window and clause.window_kind != "next":
        rule["within_days"] = clause.window
        clause.use("window")
    if count is not None:
        rule["count"] = count
        clause.use("count")
    elif "within_days" in rule:
        rule["count"] = {"gte": 1}
    if clause.ago and "within_days" not in rule:
        cmp, days = clause.ago
        clause.use("ago")
        recent = {"event": name, "within_days": days, "count": {"gte": 1}}
        if cmp == "more":  # "last purchased more than 30 days ago"
            return _Outcome({"all": [{"event": name}, {"not": recent}]})
        return _Outcome(recent)
    return _Outcome(rule)


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
    _event,
    _bare_tag,
)
# These read negation themselves (a property comparison turns eq into neq, ...).
_SELF_NEGATING = {_activity, _property, _age}


def _classify(clause: _Clause, vocabulary: Vocabulary) -> _Outcome:
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
    if clause.ago and "ago" not in clause.used:
        notes.append(
            NotUnderstood(clause.ago_phrase, "This time does not apply to this condition.")
        )
    return notes


# --- the backend ----------------------------------------------------------------------------


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
    known = set(vocabulary.event_names)
    fields = vocabulary.field_defs()

    def problem(rule: Any) -> str | None:
        if rule is None:
            return None
        if not isinstance(rule, dict):
            return "Rules must be an object."
        errors = validate(rule, fields)
        if errors:
            return errors[0].message
        unknown = sorted({c["event"] for c in walk(rule) if "event" in c} - known)
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
