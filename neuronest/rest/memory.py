from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from neuronest.rest.auth import MessageOut
from neuronest.rest.shim import PAGE, QueryParam, Route


class MemoryBody(BaseModel):
    name: str
    description: str = ""


class EntryBody(BaseModel):
    role: str
    content: str
    metadata: dict[str, Any] | None = None


class MemoryOut(BaseModel):
    id: str
    user_id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class EntryOut(BaseModel):
    id: str
    memory_id: str
    role: str
    content: str
    metadata: dict[str, Any]
    created_at: datetime


MEMORY = "id user_id: userId name description created_at: createdAt updated_at: updatedAt"
ENTRY = "id memory_id: memoryId role content metadata created_at: createdAt"

ROUTES = [
    Route(
        "POST",
        "/api/memories",
        "Create a memory store",
        f"mutation($input: MemoryInput!) {{ result: createMemory(input: $input) {{ {MEMORY} }} }}",
        MemoryOut,
        status=201,
        body=MemoryBody,
        errors=(409, 422),
    ),
    Route(
        "GET",
        "/api/memories",
        "List memory stores (newest first)",
        "query($limit: Int, $offset: Int) "
        f"{{ result: memories(limit: $limit, offset: $offset) {{ {MEMORY} }} }}",
        list[MemoryOut],
        query=PAGE,
    ),
    Route(
        "GET",
        "/api/memories/{memory_id}",
        "Get a memory store",
        f"query($memoryId: ID!) {{ result: memory(memoryId: $memoryId) {{ {MEMORY} }} }}",
        MemoryOut,
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/api/memories/{memory_id}",
        "Delete a memory store and its entries",
        "mutation($memoryId: ID!) { result: deleteMemory(memoryId: $memoryId) { message } }",
        MessageOut,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/memories/{memory_id}/entries",
        "Add an entry (role: user, assistant, system or note)",
        "mutation($memoryId: ID!, $input: MemoryEntryInput!) "
        f"{{ result: addMemoryEntry(memoryId: $memoryId, input: $input) {{ {ENTRY} }} }}",
        EntryOut,
        status=201,
        body=EntryBody,
        errors=(404, 409, 422),
    ),
    Route(
        "GET",
        "/api/memories/{memory_id}/entries",
        "List entries (newest first)",
        "query($memoryId: ID!, $limit: Int, $offset: Int) "
        "{ result: memoryEntries(memoryId: $memoryId, limit: $limit, offset: $offset) "
        f"{{ {ENTRY} }} }}",
        list[EntryOut],
        query=PAGE,
        errors=(404, 422),
    ),
    Route(
        "GET",
        "/api/memories/{memory_id}/search",
        "Search entries by relevance (best first)",
        "query($memoryId: ID!, $q: String!, $limit: Int) "
        f"{{ result: searchMemory(memoryId: $memoryId, query: $q, limit: $limit) {{ {ENTRY} }} }}",
        list[EntryOut],
        query=(QueryParam("q", str, ..., "what to look for"), QueryParam("limit", int, 5)),
        errors=(404, 422),
        operation_id="searchMemory",
    ),
]
