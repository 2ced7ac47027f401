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
