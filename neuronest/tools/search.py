"""The `search` tool: the task's memory and the user's project files, ranked by relevance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuronest.config import Settings
from neuronest.kit.ranking import rank_bounded, within_budget
from neuronest.memory.models import Memory
from neuronest.memory.service import recent_entries
from neuronest.projects.models import Project, ProjectFile

FILE_WINDOW = 500
MAX_FILE_BYTES = 256 * 1024
EXCERPT = 600


@dataclass(frozen=True)
class Source:
    kind: str  # "memory" or "file"
    title: str
    excerpt: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "excerpt": self.excerpt}


def _excerpt(text: str, query: str) -> str:
    lowered = text.lower()
    positions = [lowered.find(word) for word in query.lower().split() if word in lowered]
    start = max(min(positions) - EXCERPT // 4, 0) if positions else 0
    return text[start : start + EXCERPT].strip()


async def search_sources(
    query: str, *, settings: Settings, user_id: str, memory: Memory | None, limit: int = 5
) -> list[Source]:
    """Ranked over a bounded set: the newest memory entries, then the most recently changed
    project files, together within `NEURONEST_SEARCH_MAX_BYTES`."""
    budget = settings.search_max_bytes
    documents: list[tuple[str, str, str | bytes]] = []  # kind, title, text
    if memory is not None:
        for entry in await recent_entries(settings, memory, budget):
            title = f"memory {memory.name}: {entry.role} at {entry.created_at:%Y-%m-%d}"
            documents.append(("memory", title, entry.content))
            budget -= len(entry.content)
    projects = {p.id: p.name for p in await Project.filter(user_id=user_id).only("id", "name")}
    if projects and budget > 0:
        sizes = (
            await ProjectFile.filter(project_id__in=list(projects), size__lte=MAX_FILE_BYTES)
            .order_by("-updated_at")
            .limit(min(FILE_WINDOW, settings.search_max_candidates))
            .values_list("id", "size")
        )
        ids = within_budget([(str(i), int(size)) for i, size in sizes], budget)
        found = {str(f.id): f for f in await ProjectFile.filter(id__in=ids)} if ids else {}
        for file in (found[i] for i in ids if i in found):
            title = f"{projects[file.project_id]}/{file.path}"  # type: ignore[attr-defined]
            documents.append(("file", title, bytes(file.content)))
    ranked = await rank_bounded(query, [text for _, _, text in documents], limit, settings)
    sources: list[Source] = []
    for index, score in ranked:
        kind, title, text = documents[index]
        shown = text if isinstance(text, str) else text.decode(errors="replace")
        sources.append(Source(kind=kind, title=title, excerpt=_excerpt(shown, query), score=score))
    return sources
