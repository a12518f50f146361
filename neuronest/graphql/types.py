from __future__ import annotations

from datetime import datetime

import strawberry

from neuronest.graphql.shapes import Id, Shape
from neuronest.kit.pagination import DEFAULT_LIMIT, Page


@strawberry.pydantic.type
class Message(Shape):
    message: str


def page(limit: int | None = DEFAULT_LIMIT, offset: int | None = 0) -> Page:
    return Page(limit=DEFAULT_LIMIT if limit is None else limit, offset=offset or 0)


@strawberry.pydantic.type
class Collection(Shape):
    """The fields every user-owned collection (project, memory) shows."""

    id: Id
    user_id: Id
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
