from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.types.base import TaskRun, TaskType
from neuronest.orchestration.tasks.types.llm_common import ask, llm_result


async def run(task: TaskRun) -> dict[str, Any]:
    result = await ask(task, task.input["prompt"])
    return llm_result(result, memory_entries_used=len(task.recalled))


TEXT_GENERATION = TaskType(
    name="text_generation",
    description="Writes text for a prompt, shaped by its context, tools, memory and agent.",
    run=run,
    required=("prompt",),
    uses_llm=True,
)
