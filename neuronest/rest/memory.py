from __future__ import annotations

from typing import Any

from neuronest.graphql.shapes import selection
from neuronest.graphql.types import Message
from neuronest.memory.graphql import Memory, MemoryEntry, MemoryEntryFields, MemoryInput
from neuronest.rest.shim import PAGE, QueryParam, Route


class EntryBody(MemoryEntryFields):
    # An object or nothing: REST refuses anything else before GraphQL sees it.
    metadata: dict[str, Any] | None = None


MEMORY = selection(Memory)
ENTRY = selection(MemoryEntry)
MESSAGE = selection(Message)

ROUTES = [
    Route(
        "POST",
        "/api/memories",
        "Create a memory store",
        f"mutation($input: MemoryInput!) {{ result: createMemory(input: $input) {{ {MEMORY} }} }}",
        Memory,
        status=201,
        body=MemoryInput,
        errors=(409, 422),
        direct=True,
    ),
    Route(
        "GET",
        "/api/memories",
        "List memory stores (newest first)",
        "query($limit: Int, $offset: Int) "
        f"{{ result: memories(limit: $limit, offset: $offset) {{ {MEMORY} }} }}",
        list[Memory],
        query=PAGE,
    ),
    Route(
        "GET",
        "/api/memories/{memory_id}",
        "Get a memory store",
        f"query($memoryId: ID!) {{ result: memory(memoryId: $memoryId) {{ {MEMORY} }} }}",
        Memory,
        errors=(404,),
        direct=True,
    ),
    Route(
        "DELETE",
        "/api/memories/{memory_id}",
        "Delete a memory store and its entries",
        f"mutation($memoryId: ID!) {{ result: deleteMemory(memoryId: $memoryId) {{ {MESSAGE} }} }}",
        Message,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/memories/{memory_id}/entries",
        "Add an entry (role: user, assistant, system or note)",
        "mutation($memoryId: ID!, $input: MemoryEntryInput!) "
        f"{{ result: addMemoryEntry(memoryId: $memoryId, input: $input) {{ {ENTRY} }} }}",
        MemoryEntry,
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
        list[MemoryEntry],
        query=PAGE,
        errors=(404, 422),
    ),
    Route(
        "GET",
        "/api/memories/{memory_id}/search",
        "Search entries by relevance (best first)",
        "query($memoryId: ID!, $q: String!, $limit: Int) "
        f"{{ result: searchMemory(memoryId: $memoryId, query: $q, limit: $limit) {{ {ENTRY} }} }}",
        list[MemoryEntry],
        query=(QueryParam("q", str, ..., "what to look for"), QueryParam("limit", int, 5)),
        errors=(404, 422),
        operation_id="searchMemory",
    ),
]
