from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.types.base import TaskRun, TaskType
from neuronest.orchestration.tasks.types.llm_common import ask, llm_result
from neuronest.tools.search import search_sources

PURPOSE = (
    "Answer the research question. Use the numbered sources when they are relevant and cite "
    "them as [1], [2]. Say clearly when the sources do not cover something."
)


async def run(task: TaskRun) -> dict[str, Any]:
    query = task.input["query"]
    sources = await search_sources(
        query,
        settings=task.settings,
        user_id=str(task.task.user_id),  # type: ignore[attr-defined]
        memory=task.memory,
    )
    listing = "\n\n".join(
        f"[{n}] {source.title}\n{source.excerpt}" for n, source in enumerate(sources, 1)
    )
    prompt = f"Question: {query}\n\nSources:\n{listing or '(none found)'}"
    result = await ask(task, prompt, PURPOSE)
    cited = [{"n": n, **source.as_dict()} for n, source in enumerate(sources, 1)]
    return llm_result(result, sources=cited)


RESEARCH = TaskType(
    name="research",
    description="Searches memory and project files, then answers citing its sources.",
    run=run,
    required=("query",),
    uses_llm=True,
)
