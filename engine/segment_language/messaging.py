"""Readers of channels and messages: reachable on a channel, and engagement with its
messages (opened, clicked, bounced, ...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.text import MAX_VALUE, _Clause
from engine.segment_language.vocabulary import Vocabulary

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
