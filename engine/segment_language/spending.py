"""Reader of amounts spent: "spent over 5000 rupees" becomes a comparison on the field
that holds what a contact spent (a lifetime value, say), or is reported as not
understood. It never becomes a count of events: 5000 rupees are not 5000 orders."""

from __future__ import annotations

import re

from engine.segment_language.quantities import spend_field
from engine.segment_language.results import NotUnderstood, _Outcome
from engine.segment_language.text import MAX_VALUE, _Clause
from engine.segment_language.vocabulary import Vocabulary

# What is left of a clause once its amount is cut: words that say "how much they spent".
_SPENT = re.compile(
    r"^(?:(?:has|have|had|who|they|that)\s+)*(?:(?:in\s+)?(?:total|lifetime|overall)\s+)?"
    r"(?:spent|spend|spends|spending|paid|pay|pays|paying|purchased|bought|ordered|shopped|"
    r"purchases|(?:are|is)\s+worth|worth|amount\s+spent|money\s+spent)"
    r"(?:\s+(?:for|of|a\s+total\s+of|in\s+total|total|overall|altogether|so\s+far|"
    r"with\s+us|on\s+(?:orders?|purchases?|shopping|the\s+(?:store|site|app)))){0,3}$",
    re.IGNORECASE,
)


def _spending(clause: _Clause, vocabulary: Vocabulary) -> _Outcome | None:
    money = clause.money
    if money is None:
        return None
    rest = re.sub(r"\s+", " ", clause.text.replace(money.phrase, " ")).strip(" ,.;:")
    if not _SPENT.match(rest):
        return _Outcome(
            None,
            NotUnderstood(
                clause.phrase[:MAX_VALUE],
                f"'{money.phrase}' is an amount of money, but nothing of this workspace called "
                f"'{rest[:60]}' holds one: say 'spent over ₹5,000' for an amount, or "
                "'more than 5 orders' for a count.",
            ),
        )
    target = spend_field(vocabulary.fields)
    if target is None:
        return _Outcome(
            None,
            NotUnderstood(
                clause.phrase[:MAX_VALUE],
                "This workspace keeps no amount spent per contact (its events carry no "
                "amounts): declare a number custom field such as 'total_spent' or "
                "'lifetime_value' and keep it up to date.",
            ),
        )
    if clause.window or clause.ago:
        return _Outcome(
            None,
            NotUnderstood(
                clause.phrase[:MAX_VALUE],
                f"{target.key} is one running total, not kept per period: an amount spent "
                f"in a time window cannot be read from it.",
            ),
        )
    clause.use("money")
    # Negation ("hasn't spent over ₹5,000") is applied by the caller, as for events.
    return _Outcome({"property": target.key, "op": money.op, "value": money.value})
