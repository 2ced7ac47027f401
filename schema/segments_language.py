"""suggestSegmentRules: plain-language segment descriptions to rules."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from resolvers.segments import language


@strawberry.type(description="A phrase of the sentence and the condition it became.")
class SuggestedCondition:
    phrase: str = strawberry.field(description="The words of the text.")
    rule: JSON = strawberry.field(description="The segment rule they became.")


@strawberry.type(description="A phrase that could not be mapped, and why.")
class UnparsedPhrase:
    phrase: str = strawberry.field(description="The words of the text.")
    reason: str = strawberry.field(description="Why they were not understood.")
    suggestions: list[str] = strawberry.field(
        description="The workspace's closest event names, if any."
    )


@strawberry.type(description="Rules suggested for a plain-language description.")
class SegmentSuggestion:
    rules: JSON | None = strawberry.field(
        description="Segment rules from the phrases understood; null when none was."
    )
    understood: list[SuggestedCondition] = strawberry.field(
        description="Phrases mapped to conditions."
    )
    not_understood: list[UnparsedPhrase] = strawberry.field(
        description="Phrases that could not be mapped."
    )


@strawberry.type
class SegmentLanguageQueries:
    @strawberry.field(
        description="Segment rules for a plain-language description such as 'purchased in "
        "the last 30 days and opened an email in the last 7 days', in this workspace's own "
        "event, field and tag names, with the phrases it could not understand."
    )
    async def suggest_segment_rules(
        self,
        info: strawberry.Info,
        text: Annotated[str, strawberry.argument(description="At most 1,000 characters are read.")],
    ) -> SegmentSuggestion:
        result = await language.suggest_rules(info.context.caller(), text)
        return SegmentSuggestion(
            rules=result.rules,
            understood=[
                SuggestedCondition(phrase=u.phrase, rule=u.rule) for u in result.understood
            ],
            not_understood=[
                UnparsedPhrase(phrase=n.phrase, reason=n.reason, suggestions=list(n.suggestions))
                for n in result.not_understood
            ],
        )
