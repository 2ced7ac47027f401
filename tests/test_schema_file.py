"""The committed schema.graphql is the schema the server runs."""

from __future__ import annotations

from pathlib import Path

from schema.sdl import sdl

COMMITTED = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_graphql_is_current():
    assert COMMITTED.exists(), "schema.graphql is missing: run `make schema` and commit it"
    current = sdl()
    assert COMMITTED.read_text() == current, (
        "schema.graphql is out of date with the code: run `make schema` and commit it"
    )


def test_schema_graphql_declares_the_operation_roots():
    text = COMMITTED.read_text()
    for root in ("type Query {", "type Mutation {", "type Subscription {"):
        assert root in text


def test_every_type_field_argument_and_enum_value_is_described():
    """What a front end reads in its IDE or codegen: nothing in the schema goes unexplained."""
    from graphql import (
        GraphQLEnumType,
        GraphQLInputObjectType,
        GraphQLInterfaceType,
        GraphQLObjectType,
    )

    from schema import build_schema

    graph = build_schema(mask_errors=False, introspection=True)._schema
    builtin = {"String", "Int", "Float", "Boolean", "ID"}
    missing = []
    for name, kind in graph.type_map.items():
        if name.startswith("__") or name in builtin:
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInputObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        elif isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in kind.values.items() if not value.description]
    assert missing == []
