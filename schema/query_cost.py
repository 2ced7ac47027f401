"""Query cost: a bound on how much work one operation may ask for, checked before it runs.

Depth, alias and token limits bound a document's size, not its fan-out: ten aliases of
`contacts(first: 100) { ... events(first: 100) }` fit them all and still ask for 100,000
rows. The cost counts every field once per object it will be resolved on: a field inside
a page of `first: n` (or `last: n`, `sampleSize: n`) counts n times, inside two nested
pages n * m times. A page-sized field without the argument counts its default size.
Fragments and inline fragments count where they are spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

# Arguments that say how many items a field returns, by their GraphQL names.
SIZE_ARGUMENTS = ("first", "last", "sampleSize")
# List arguments whose length is how many items the field returns (`nodes(ids:)`).
LIST_SIZE_ARGUMENTS = ("ids",)
DEFAULT_PAGE_SIZE = 20  # resolvers.core.pagination.paginate's default


def _size(field: GraphQLField, node: FieldNode, variables: Mapping[str, Any]) -> int:
    """How many items the field returns (1 for a field that takes no size argument)."""
    for name in LIST_SIZE_ARGUMENTS:
        if name not in field.args:
            continue
        given = next((a.value for a in node.arguments or () if a.name.value == name), None)
        if isinstance(given, ListValueNode):
            return max(len(given.values), 1)
        if isinstance(given, VariableNode):
            value = variables.get(given.name.value)
            return max(len(value), 1) if isinstance(value, list) else 1
    for name in SIZE_ARGUMENTS:
        definition = field.args.get(name)
        if definition is None:
            continue
        given = next((a.value for a in node.arguments or () if a.name.value == name), None)
        value: Any = None
        if isinstance(given, IntValueNode):
            value = int(given.value)
        elif isinstance(given, VariableNode):
            value = variables.get(given.name.value)
        if value is None:
            default = definition.default_value
            value = default if isinstance(default, int) else DEFAULT_PAGE_SIZE
        # Negative or non-integer sizes are refused by the resolvers; they cost one page.
        return value if isinstance(value, int) and value > 0 else 1
    return 1


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        # A fragment's cost per object it is spread on: cost scales linearly with the
        # enclosing multiplier, so each fragment is counted once however often it is spread.
        self.fragment_costs: dict[str, int] = {}
        self.counting: set[str] = set()

    def selection_set(self, parent: Any, selections: SelectionSetNode | None) -> int:
        """The cost of resolving `selections` on one object of type `parent`."""
        if selections is None or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                field = parent.fields.get(selection.name.value)
                if field is None:  # __typename, introspection, or invalid (validation says)
                    total += 1
                    continue
                size = _size(field, selection, self.variables)
                child = get_named_type(field.type)
                total += 1 + size * self.selection_set(child, selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(target, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.counting:  # unknown or cyclic: validation says
            return 0
        self.counting.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selection_set(target, definition.selection_set)
        self.counting.discard(name)
        self.fragment_costs[name] = cost
        return cost


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None = None,
) -> int:
    root = schema.get_root_type(operation.operation)
    return _Counter(schema, fragments, variables or {}).selection_set(root, operation.selection_set)


def too_costly(cost: int, limit: int) -> str:
    return f"Query cost {cost} exceeds the limit {limit}; ask for fewer items."


class QueryCostLimiter(SchemaExtension):
    """Refuses, at validation (before any resolver runs), an operation costing over `limit`."""

    def __init__(self, *, limit: int) -> None:
        self.limit = limit

    def on_validate(self):  # type: ignore[override]
        """After schema.validation_cache's verdict: a valid document is costed with this
        request's variables (the same text costs more with a larger `first`)."""
        context = self.execution_context
        if context.pre_execution_errors == [] and context.graphql_document is not None:
            variables = context.variables if isinstance(context.variables, dict) else {}
            context.pre_execution_errors = cost_errors(
                context.schema._schema, context.graphql_document, self.limit, variables
            )
        yield


def cost_errors(
    schema: GraphQLSchema, document: DocumentNode, limit: int, variables: Mapping[str, Any]
) -> list[GraphQLError]:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    errors = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            cost = operation_cost(schema, definition, fragments, variables)
            if cost > limit:
                errors.append(GraphQLError(too_costly(cost, limit), definition))
    return errors
