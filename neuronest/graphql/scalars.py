"""Scalars: UTC timestamps in one format, and JSON values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition, scalar

from neuronest.config import get_settings
from neuronest.kit import jsonvalue
from neuronest.kit.time import iso

# Strawberry's own JSON scalar, its input held to the rules of stored JSON (see SCALARS).
JSON = strawberry.scalars.JSON


def parse_json_value(value: Any) -> Any:
    """A JSON argument is well-formed and nested at most MAX_JSON_DEPTH deep; GraphQL names the
    argument in the error (`... at 'input.inputData'; ...`)."""
    try:
        jsonvalue.check(value, max_depth=get_settings().max_json_depth)
    except jsonvalue.Malformed as error:
        where = jsonvalue.spell(error.parts)
        raise GraphQLError(f"{where}: {error.reason}" if where else error.reason) from None
    return value


def parse_json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return parse_json_value(value_from_ast_untyped(node, variables))


# The last DateTime written and its text. Log lines come in floods that share a few timestamps (the
# log clock reads the time once per millisecond), and formatting one costs more than the rest of
# a line's fields together. One tuple, replaced whole, so threads never see a mismatched pair.
_last_shown: tuple[datetime, str] = (datetime.min, iso(datetime.min) or "")


def serialize_datetime(value: datetime) -> str:
    global _last_shown
    last, shown = _last_shown
    if value == last:  # equal instants have the same UTC text
        return shown
    shown = iso(value) or ""
    _last_shown = (value, shown)
    return shown


SCALARS: dict[object, ScalarDefinition] = {
    datetime: scalar(
        name="DateTime",
        serialize=serialize_datetime,
        parse_value=datetime.fromisoformat,
        description="UTC ISO 8601 timestamp with milliseconds, e.g. 2023-01-01T00:00:00.000Z",
    ),
    JSON: scalar(
        name="JSON",
        serialize=lambda value: value,
        parse_value=parse_json_value,
        parse_literal=parse_json_literal,
        description="Any JSON value",
        specified_by_url="https://ecma-international.org/publications-and-standards/standards/ecma-404/",
    ),
}
