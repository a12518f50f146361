"""Objects belong to one user: anyone else is told they do not exist."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from neuronest.errors import Invalid, NotFound
from neuronest.kit.pagination import Page

M = TypeVar("M", bound=Model)


def as_uuid(value: str, what: str) -> uuid.UUID:
    """The id of an object to act on: anything that is no id names no object (404)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} not found") from None


def filter_uuid(value: str, field: str) -> uuid.UUID:
    """An id to filter a list by: one that is no id is bad input (422)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid(f"{field}: {value!r} is not a valid id", field=field) from None


async def get_owned(model: type[M], object_id: str, actor: Any, what: str) -> M:
    found = await model.get_or_none(id=as_uuid(object_id, what), user_id=actor.id)
    if found is None:
        raise NotFound(f"{what} not found")
    return found


async def newest_first(query: QuerySet[M], page: Page) -> list[M]:
    return await query.order_by("-created_at", "-id").offset(page.offset).limit(page.limit)
