"""Count limits that hold under concurrency: the owner's row is locked (`SELECT ... FOR UPDATE`
on PostgreSQL; SQLite runs one transaction at a time) while counting and creating."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from neuronest.errors import Conflict


def quota_reached(what: str, limit: int) -> Conflict:
    """The 409 of a count limit: which limit and its setting."""
    return Conflict(f"quota: {what} ({limit}) reached")


@asynccontextmanager
async def locked(owner: type[Model], owner_id: Any) -> AsyncIterator[None]:
    """A transaction holding the lock on one row of `owner`."""
    async with in_transaction():
        await owner.select_for_update().filter(id=owner_id).only("id").first()
        yield


@asynccontextmanager
async def within_quota(
    owner: type[Model],
    owner_id: Any,
    count: Callable[[], Awaitable[int]],
    limit: int,
    what: str,
) -> AsyncIterator[None]:
    """The body (which creates one more) runs in the transaction holding the owner's lock, once
    `count()` is below `limit`; otherwise a 409 saying which limit and its setting."""
    async with locked(owner, owner_id):
        if await count() >= limit:
            raise quota_reached(what, limit)
        yield
