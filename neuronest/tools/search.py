"""The `search` tool: the task's memory and the user's project files, ranked by relevance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuronest.kit.ranking import rank
from neuronest.memory.models import Memory, MemoryEntry
from neuronest.projects.models import Project, ProjectFile

FILE_WINDOW = 500
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
    query: str, *, user_id: str, memory: Memory | None, limit: int = 5
) -> list[Source]:
    documents: list[tuple[tuple[str, str], str]] = []
    if memory is not None:
        entries = await MemoryEntry.filter(memory_id=memory.id).order_by("-created_at").limit(2000)
        documents += [
            (
                ("memory", f"memory {memory.name}: {entry.role} at {entry.created_at:%Y-%m-%d}"),
                entry.content,
            )
            for entry in entries
        ]
    projects = {p.id: p.name for p in await Project.filter(user_id=user_id).only("id", "name")}
    if projects:
        files = (
            await ProjectFile.filter(project_id__in=list(projects), size__lte=256 * 1024)
            .order_by("-updated_at")
            .limit(FILE_WINDOW)
        )
        for file in files:
            try:
                text = bytes(file.content).decode()
            except UnicodeDecodeError:
                continue
            documents.append(
                (("file", f"{projects[file.project_id]}/{file.path}"), text)  # type: ignore[attr-defined]
            )
    ranked = rank(query, [(n, text) for n, (_, text) in enumerate(documents)], limit)
    return [
        Source(
            kind=documents[n][0][0],
            title=documents[n][0][1],
            excerpt=_excerpt(documents[n][1], query),
            score=score,
        )
        for n, score in ranked
    ]
