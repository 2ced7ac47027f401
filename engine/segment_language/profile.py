"""Readers of who a contact is: its tags, its plan and its place (city or country)."""

from __future__ import annotations

import re
from typing import Any

from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.text import _Clause, _value_text
from engine.segment_language.vocabulary import _STOPWORDS, Vocabulary

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
