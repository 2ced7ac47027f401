"""What a workspace calls things (Vocabulary, Field) and how words meet its names:
stemming, synonyms, and matching a phrase to the workspace's event names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.traits import STANDARD_PROPERTIES, FieldDef

MAX_VOCABULARY = 500  # event names, fields and tags each


# --- vocabulary ------------------------------------------------------------------------------


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


# --- words ------------------------------------------------------------------------------------


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
