from __future__ import annotations

import strawberry

from neuronest.kit.pagination import DEFAULT_LIMIT, Page


@strawberry.type
class Message:
    message: str


def page(limit: int | None = DEFAULT_LIMIT, offset: int | None = 0) -> Page:
    return Page(limit=DEFAULT_LIMIT if limit is None else limit, offset=offset or 0)
