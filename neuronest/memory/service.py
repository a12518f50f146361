"""Memory stores: entries that tasks recall (by relevance) and add their exchanges to."""

from __future__ import annotations

from typing import Any

from tortoise.functions import Length

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.kit.jsonvalue import small_object
from neuronest.kit.ownership import get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.quota import within_quota
from neuronest.kit.ranking import rank_bounded, within_budget
from neuronest.kit.validation import check_name
from neuronest.memory.models import Memory, MemoryEntry
from neuronest.services import Services

ROLES = ("user", "assistant", "system", "note")
MAX_CONTENT = 100_000


async def create_memory(
    services: Services, *, actor: User, name: str, description: str = ""
) -> Memory:
    name = check_name(name)
    limit = services.settings.max_memories_per_user
    mine = Memory.filter(user_id=actor.id).count
    async with within_quota(User, actor.id, mine, limit, "MAX_MEMORIES_PER_USER memory stores"):
        return await Memory.create(user=actor, name=name, description=description)


async def list_memories(*, actor: User, page: Page) -> list[Memory]:
    return await newest_first(Memory.filter(user_id=actor.id), page)


async def get_memory(*, actor: User, memory_id: str) -> Memory:
    return await get_owned(Memory, memory_id, actor, "Memory")


async def delete_memory(*, actor: User, memory_id: str) -> None:
    memory = await get_memory(actor=actor, memory_id=memory_id)
    await memory.delete()


async def add_entry(
    services: Services,
    *,
    actor: User,
    memory_id: str,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
) -> MemoryEntry:
    memory = await get_memory(actor=actor, memory_id=memory_id)
    return await store_entry(
        services.settings, memory, role=role, content=content, metadata=metadata
    )


async def store_entry(
    settings: Settings,
    memory: Memory,
    *,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
) -> MemoryEntry:
    if role not in ROLES:
        raise Invalid(f"role: must be one of {', '.join(ROLES)}", field="role")
    if not content or len(content) > MAX_CONTENT:
        raise Invalid(f"content: must be 1 to {MAX_CONTENT} characters", field="content")
    if metadata is not None and not isinstance(metadata, dict):
        raise Invalid("metadata: must be an object", field="metadata")
    small_object(metadata, "metadata", settings)
    limit = settings.max_memory_entries
    entries = MemoryEntry.filter(memory_id=memory.id).count
    async with within_quota(Memory, memory.id, entries, limit, "MAX_MEMORY_ENTRIES entries"):
        return await MemoryEntry.create(
            memory=memory, role=role, content=content, metadata=metadata or {}
        )


async def list_entries(*, actor: User, memory_id: str, page: Page) -> list[MemoryEntry]:
    memory = await get_memory(actor=actor, memory_id=memory_id)
    return await newest_first(MemoryEntry.filter(memory_id=memory.id), page)


async def search(
    services: Services, *, actor: User, memory_id: str, query: str, limit: int = 5
) -> list[MemoryEntry]:
    memory = await get_memory(actor=actor, memory_id=memory_id)
    return [
        entry
        for entry, _ in await relevant_entries(
            services.settings, memory, query, Page(limit=limit).limit
        )
    ]


async def relevant_entries(
    settings: Settings, memory: Memory, query: str, limit: int
) -> list[tuple[MemoryEntry, float]]:
    """The entries that best match `query`, among the store's most recent ones."""
    entries = await recent_entries(settings, memory, settings.search_max_bytes)
    ranked = await rank_bounded(query, [entry.content for entry in entries], limit, settings)
    return [(entries[index], score) for index, score in ranked]


async def recent_entries(settings: Settings, memory: Memory, max_chars: int) -> list[MemoryEntry]:
    """The newest entries (at most `NEURONEST_SEARCH_MAX_CANDIDATES`) within `max_chars`."""
    sizes = (
        await MemoryEntry.filter(memory_id=memory.id)
        .annotate(size=Length("content"))
        .order_by("-created_at")
        .limit(settings.search_max_candidates)
        .values_list("id", "size")
    )
    ids = within_budget([(str(i), int(size)) for i, size in sizes], max_chars)
    if not ids:
        return []
    found = {str(entry.id): entry for entry in await MemoryEntry.filter(id__in=ids)}
    return [found[i] for i in ids if i in found]
