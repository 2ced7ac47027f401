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

from engine.segment_language.backend import RuleBasedBackend, check, suggest
from engine.segment_language.results import Suggestion, Understood
from engine.segment_language.text import MAX_TEXT
from engine.segment_language.vocabulary import MAX_VOCABULARY, Field, Vocabulary

__all__ = [
    "MAX_TEXT",
    "MAX_VOCABULARY",
    "Field",
    "RuleBasedBackend",
    "Suggestion",
    "Understood",
    "Vocabulary",
    "check",
    "suggest",
]
