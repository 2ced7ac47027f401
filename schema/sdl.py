"""The schema as SDL, for `schema.graphql`: what front ends run codegen against."""

from __future__ import annotations

from strawberry.printer import print_schema


def sdl() -> str:
    from schema import build_schema

    return print_schema(build_schema(mask_errors=True, introspection=True)) + "\n"
