"""Readers of what contacts did: signed up, active or inactive, and the workspace's
own events (with a window, a count or "... ago")."""

from __future__ import annotations

import re
from typing import Any

from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.text import (
    _COUNT_PATTERNS,
    _NUM,
    _UNIT,
    MAX_VALUE,
    _Clause,
    _cut,
    _number,
)
from engine.segment_language.vocabulary import (
    _NEUTRAL,
    _STOPWORDS,
    Vocabulary,
    _concept,
    _concepts_of_name,
    _concepts_of_phrase,
    _rank_events,
)


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


# --- events ------------------------------------------------------------------------------------


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
