"""Validation once per query text: a dashboard sends the same few documents all day.

graphql-core's validation of a small page query costs more than the database work behind
it (about 3 ms of a 10 ms request, bench/graphql.py). The rules are fixed when the schema
is built (depth, aliases, introspection), so a document's verdict depends on its text
alone: keep it, keyed by the text, in a bounded LRU owned by one schema. Strawberry's own
ValidationCache keys by the rule classes, which its limiters make anew per request, so
it never hits. The query cost depends on the variables and is still counted per request
(schema.query_cost), after this."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import GraphQLError, validate
from strawberry.extensions import SchemaExtension

MAX_DOCUMENTS = 512


class Verdicts:
    """Query text -> its validation errors, the least recently used dropped first."""

    def __init__(self, size: int = MAX_DOCUMENTS) -> None:
        self.size = size
        self.items: OrderedDict[str, list[GraphQLError]] = OrderedDict()

    def get(self, text: str) -> list[GraphQLError] | None:
        found = self.items.get(text)
        if found is not None:
            self.items.move_to_end(text)
        return found

    def put(self, text: str, errors: list[GraphQLError]) -> None:
        self.items[text] = errors
        self.items.move_to_end(text)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class ValidateOnce(SchemaExtension):
    """Must come after every extension that adds validation rules (the limiters), and
    before the cost limiter, which reads the verdict."""

    def __init__(self, *, verdicts: Verdicts) -> None:
        self.verdicts = verdicts

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        text, document = context.query, context.graphql_document
        if text is not None and document is not None and context.pre_execution_errors is None:
            errors = self.verdicts.get(text)
            if errors is None:
                errors = validate(context.schema._schema, document, context.validation_rules)
                self.verdicts.put(text, errors)
            context.pre_execution_errors = list(errors)
        yield
