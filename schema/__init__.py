"""GraphQL schema: thin mapping from GraphQL to resolvers, errors to payloads."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
)

from engine.errors import DomainError
from schema.mutations import Mutation
from schema.node import install_id_decoding
from schema.queries import Query
from schema.query_cost import QueryCostLimiter
from schema.subscriptions import Subscription
from schema.validation_cache import ValidateOnce, Verdicts


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask only crashes: syntax, validation and domain errors name the problem."""
    original = error.original_error
    return original is not None and not isinstance(original, DomainError | GraphQLError)


def build_schema(
    *,
    mask_errors: bool,
    introspection: bool,
    max_depth: int = 12,
    max_aliases: int = 30,
    max_tokens: int = 2000,
    max_cost: int = 10_000,
) -> strawberry.Schema:
    # Factories, not instances: Strawberry builds fresh extensions per request. Order
    # matters: the token limit before the parser cache (it sets the parse options), every
    # rule-adding limiter before ValidateOnce, the cost limit after its verdict.
    verdicts = Verdicts()
    extensions: list = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        lambda: QueryDepthLimiter(max_depth=max_depth),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    extensions += [
        lambda: ValidateOnce(verdicts=verdicts),
        lambda: QueryCostLimiter(limit=max_cost),
    ]
    if mask_errors:
        extensions.append(
            lambda: MaskErrors(
                should_mask_error=_is_unexpected, error_message="Internal server error."
            )
        )
    install_id_decoding()  # `ID` inputs: a global id or a raw ObjectId
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
    )
