from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from neuronest.kit.models import OwnedCollection
from neuronest.kit.pagination import DEFAULT_LIMIT, Page


@strawberry.type
class Message:
    message: str


def page(limit: int | None = DEFAULT_LIMIT, offset: int | None = 0) -> Page:
    return Page(limit=DEFAULT_LIMIT if limit is None else limit, offset=offset or 0)


@strawberry.type
class Collection:
    """The fields every user-owned collection (project, memory) shows."""

    id: strawberry.ID
    user_id: strawberry.ID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: OwnedCollection) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            user_id=strawberry.ID(str(row.user_id)),  # type: ignore[attr-defined]
            name=row.name,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
