"""Simple-mode campaign goals: each suggests an audience (segment rules in our rule
language), a starter message per channel and the event that counts as a conversion.

Starters must render for any contact, also one with no properties at all, so every
personal field carries a `default`. Treat the dicts as read-only (copy before editing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ORDER = "order_completed"
CHECKOUT = "checkout_started"
FEEDBACK = "feedback_submitted"
NAME = '{{ contact.first_name | default("there") }}'
BRAND = '{{ workspace.name | default("us") }}'
UNSUBSCRIBE = '{{ message.unsubscribe_url | default("#") }}'


@dataclass(frozen=True)
class Goal:
    key: str
    label: str
    description: str
    suggested_rules: dict[str, Any]
    starter: dict[str, dict[str, str]]
    conversion_event: str | None


def _starter(
    subject: str, lines: list[str], sms: str, push_title: str, link: tuple[str, str] | None = None
) -> dict:
    """Email (text and HTML from the same lines, plus an optional (label, url) link), SMS
    and push starters."""
    label, url = link or (None, None)
    text_lines = [f"Hi {NAME},", *lines]
    html = f"<p>Hi {NAME},</p>" + "".join(f"<p>{line}</p>" for line in lines)
    if link:
        text_lines.append(f"{label}: {url}")
        html += f'<p><a href="{url}">{label}</a></p>'
    text_lines.append(f"Unsubscribe: {UNSUBSCRIBE}")
    html += f'<p style="font-size:12px"><a href="{UNSUBSCRIBE}">Unsubscribe</a></p>'
    return {
        "email": {"subject": subject, "text": "\n\n".join(text_lines), "html": html},
        "sms": {"text": sms},
        "push": {"title": push_title, "body": lines[0]},
    }


GOALS: dict[str, Goal] = {
    goal.key: goal
    for goal in (
        Goal(
            key="cart_recovery",
            label="Cart recovery",
            description="Remind people who started checking out in the last 3 days and "
            "have not ordered since.",
            suggested_rules={
                "all": [
                    {"event": CHECKOUT, "within_days": 3},
                    {"not": {"event": ORDER, "within_days": 3}},
                ]
            },
            starter=_starter(
                f"{NAME}, you left something in your cart",
                [
                    "Your cart is still waiting for you.",
                    "Finish your order before the items sell out.",
                ],
                f"Hi {NAME}, your cart is waiting. Finish your order with {BRAND}.",
                "Your cart is waiting",
                ("Back to my cart", '{{ event.properties.cart_url | default("#") }}'),
            ),
            conversion_event=ORDER,
        ),
        Goal(
            key="product_launch",
            label="Product launch",
            description="Announce something new to people active in the last 90 days.",
            suggested_rules={
                "property": "last_active_at",
                "op": "within_last_days",
                "value": 90,
            },
            starter=_starter(
                f"New from {BRAND}: take a first look",
                [
                    "Something new has just landed, and you are among the first to see it.",
                    "Take a look before everyone else does.",
                ],
                f"Hi {NAME}, something new just landed at {BRAND}. Take a first look!",
                "Something new just landed",
            ),
            conversion_event=ORDER,
        ),
        Goal(
            key="win_back",
            label="Win-back",
            description="Bring back customers who ordered before but not in the last 90 days.",
            suggested_rules={
                "all": [
                    {"event": ORDER},
                    {"not": {"event": ORDER, "within_days": 90}},
                ]
            },
            starter=_starter(
                f"We miss you, {NAME}",
                [
                    "It has been a while since your last order, and a lot has changed.",
                    "Come back and see what is new.",
                ],
                f"Hi {NAME}, we miss you at {BRAND}. Come back and see what is new.",
                "We miss you",
            ),
            conversion_event=ORDER,
        ),
        Goal(
            key="birthday",
            label="Birthday",
            description="Greet contacts on their birthday (the birthday property).",
            suggested_rules={"property": "birthday", "op": "anniversary_in_days", "value": 0},
            starter=_starter(
                f"Happy birthday, {NAME}!",
                [
                    "Happy birthday from all of us! We hope your day is a great one.",
                    "Here is a little treat to celebrate.",
                ],
                f"Happy birthday, {NAME}! A little treat from {BRAND} is waiting for you.",
                "Happy birthday!",
            ),
            conversion_event=ORDER,
        ),
        Goal(
            key="feedback_request",
            label="Feedback request",
            description="Ask people who ordered in the last 7 days how it went, unless they "
            "gave feedback in the last 30.",
            suggested_rules={
                "all": [
                    {"event": ORDER, "within_days": 7},
                    {"not": {"event": FEEDBACK, "within_days": 30}},
                ]
            },
            starter=_starter(
                "How did we do?",
                [
                    "Thanks for your recent order. How did we do?",
                    "It takes a minute, and it helps us get better.",
                ],
                f"Hi {NAME}, how was your recent order from {BRAND}? Tell us in a minute.",
                "How did we do?",
            ),
            conversion_event=FEEDBACK,
        ),
        Goal(
            key="reorder_reminder",
            label="Reorder reminder",
            description="Remind people who ordered 30-60 days ago and not since that it may "
            "be time to stock up.",
            suggested_rules={
                "all": [
                    {"event": ORDER, "within_days": 60},
                    {"not": {"event": ORDER, "within_days": 30}},
                ]
            },
            starter=_starter(
                f"Time to stock up, {NAME}?",
                [
                    "It has been about a month since your last order. Running low?",
                    "Reorder in a couple of clicks.",
                ],
                f"Hi {NAME}, running low? Reorder from {BRAND} in a couple of clicks.",
                "Time to reorder?",
            ),
            conversion_event=ORDER,
        ),
    )
}
