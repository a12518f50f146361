"""Scalars: UTC timestamps in one format, and JSON values."""

from __future__ import annotations

from datetime import datetime
from typing import NewType

from strawberry.types.scalar import ScalarDefinition, scalar

from neuronest.kit.time import iso

JSON = NewType("JSON", object)


SCALARS: dict[object, ScalarDefinition] = {
    datetime: scalar(
        name="DateTime",
        serialize=iso,
        parse_value=datetime.fromisoformat,
        description="UTC ISO 8601 timestamp with milliseconds, e.g. 2023-01-01T00:00:00.000Z",
    ),
    JSON: scalar(
        name="JSON",
        serialize=lambda value: value,
        parse_value=lambda value: value,
        description="Any JSON value",
        specified_by_url="https://ecma-international.org/publications-and-standards/standards/ecma-404/",
    ),
}
