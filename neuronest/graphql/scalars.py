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


# The last DateTime written and its text. Log lines come in floods that share a few timestamps (the
# log clock reads the time once per millisecond), and formatting one costs more than the rest of
# a line's fields together. One tuple, replaced whole, so threads never see a mismatched pair.
_last_shown: tuple[datetime, str] = (datetime.min, iso(datetime.min) or "")


def serialize_datetime(value: datetime | str) -> str:
    global _last_shown
    if isinstance(value, str):  # already the API's text (log events carry their lines' so)
        return value
    last, shown = _last_shown
    if value == last:  # equal instants have the same UTC text
        return shown
    shown = iso(value) or ""
    _last_shown = (value, shown)
    return shown


def scalars(settings: Settings) -> dict[object, ScalarDefinition]:
    """The scalar map of a schema built for `settings`."""
    parse_value, parse_literal = json_parsers(settings.max_json_depth)
    return {
        datetime: scalar(
            name="DateTime",
            serialize=serialize_datetime,
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
