from __future__ import annotations

from datetime import datetime
from typing import Any, NewType

import strawberry

from neuronest.kit.time import iso

DateTime = strawberry.scalar(
    NewType("DateTime", datetime),
    serialize=iso,
    parse_value=datetime.fromisoformat,
    description="UTC ISO 8601 timestamp with milliseconds, e.g. 2023-01-01T00:00:00.000Z",
)
JSON = strawberry.scalar(
    NewType("JSON", object),
    serialize=lambda v: v,
    parse_value=lambda v: v,
    description="Any JSON value",
)

__all__ = ["JSON", "Any", "DateTime"]
