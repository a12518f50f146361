from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.scalars import JSON
from neuronest.graphql.shapes import Id, Shape
from neuronest.graphql.types import Collection, Message, page
from neuronest.memory import service


@strawberry.pydantic.type
class MemoryEntry(Shape):
    id: Id
    memory_id: Id
    role: str
    content: str
    # Always an object (the service refuses others): REST documents it as one.
    metadata: Annotated[dict[str, Any], strawberry.field(graphql_type=JSON)]
    created_at: datetime


@strawberry.pydantic.type
class Memory(Collection):
    pass


@strawberry.pydantic.input
class MemoryInput(BaseModel):
    name: str
    description: str = ""


class MemoryEntryFields(BaseModel):
    """An entry's fields as both APIs take them; `metadata` differs (see below)."""

    role: str = Field(description="user, assistant, system or note")
    content: str


@strawberry.pydantic.input
class MemoryEntryInput(MemoryEntryFields):
    # Any JSON value: the service refuses one that is not an object, with the field named.
    metadata: JSON | None = None


@strawberry.type
class MemoryQuery:
    @strawberry.field(description="Your memory stores, newest first.")
    async def memories(
        self, info: Info[Context, None], limit: int | None = 100, offset: int | None = 0
    ) -> list[Memory]:
        rows = await service.list_memories(
            actor=await info.context.user(), page=page(limit, offset)
        )
        return [Memory.of(row) for row in rows]

    @strawberry.field
    async def memory(self, info: Info[Context, None], memory_id: strawberry.ID) -> Memory:
        row = await service.get_memory(actor=await info.context.user(), memory_id=memory_id)
        return Memory.of(row)

    @strawberry.field(description="A store's entries, newest first.")
    async def memory_entries(
        self,
        info: Info[Context, None],
        memory_id: strawberry.ID,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[MemoryEntry]:
        rows = await service.list_entries(
            actor=await info.context.user(), memory_id=memory_id, page=page(limit, offset)
        )
        return [MemoryEntry.of(row) for row in rows]

    @strawberry.field(description="The entries most relevant to `query`, best first.")
    async def search_memory(
        self, info: Info[Context, None], memory_id: strawberry.ID, query: str, limit: int = 5
    ) -> list[MemoryEntry]:
        rows = await service.search(
            info.context.services,
            actor=await info.context.user(),
            memory_id=memory_id,
            query=query,
            limit=limit,
        )
        return [MemoryEntry.of(row) for row in rows]


@strawberry.type
class MemoryMutation:
    @strawberry.mutation
    async def create_memory(self, info: Info[Context, None], input: MemoryInput) -> Memory:
        row = await service.create_memory(
            info.context.services,
            actor=await info.context.user(),
            name=input.name,
            description=input.description,
        )
        return Memory.of(row)

    @strawberry.mutation
    async def delete_memory(self, info: Info[Context, None], memory_id: strawberry.ID) -> Message:
        await service.delete_memory(actor=await info.context.user(), memory_id=memory_id)
        return Message(message="Memory deleted successfully")

    @strawberry.mutation
    async def add_memory_entry(
        self, info: Info[Context, None], memory_id: strawberry.ID, input: MemoryEntryInput
    ) -> MemoryEntry:
        row = await service.add_entry(
            info.context.services,
            actor=await info.context.user(),
            memory_id=memory_id,
            role=input.role,
            content=input.content,
            metadata=input.metadata,  # type: ignore[arg-type]
        )
        return MemoryEntry.of(row)
