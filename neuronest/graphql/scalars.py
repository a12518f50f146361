"""Scalars: UTC timestamps in one format, and JSON values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition, scalar

from neuronest.config import Settings
from neuronest.kit import jsonvalue
from neuronest.kit.time import iso

# Strawberry's own JSON scalar, its input held to the rules of stored JSON (see scalars).
JSON = strawberry.scalars.JSON


def json_parsers(max_depth: int) -> tuple[Callable[[Any], Any], Callable[..., Any]]:
    """The JSON scalar's parsers: a JSON argument is well-formed and nested at most
    `max_depth` (MAX_JSON_DEPTH) deep; GraphQL names the argument in the error
    (`... at 'input.inputData'; ...`)."""

    def parse_value(value: Any) -> Any:
        try:
            jsonvalue.check(value, max_depth=max_depth)
        except jsonvalue.Malformed as error:
            where = jsonvalue.spell(error.parts)
            raise GraphQLError(f"{where}: {error.reason}" if where else error.reason) from None
        return value

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        return parse_value(value_from_ast_untyped(node, variables))

    return parse_value, parse_literal


def scalars(settings: Settings) -> dict[object, ScalarDefinition]:
    """The scalar map of a schema built for `settings`."""
    parse_value, parse_literal = json_parsers(settings.max_json_depth)
    return {
        datetime: scalar(
            name="DateTime",
            serialize=iso,
            parse_value=datetime.fromisoformat,
            description="UTC ISO 8601 timestamp with milliseconds, e.g. 2023-01-01T00:00:00.000Z",
        ),
        JSON: scalar(
            name="JSON",
            serialize=lambda value: value,
            parse_value=parse_value,
            parse_literal=parse_literal,
            description="Any JSON value",
            specified_by_url="https://ecma-international.org/publications-and-standards/standards/ecma-404/",
        ),
    }
