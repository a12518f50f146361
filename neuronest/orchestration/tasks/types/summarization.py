from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.types.base import TaskRun, TaskType
from neuronest.orchestration.tasks.types.llm_common import ask, llm_result

PURPOSE = (
    "Summarize the text the user gives you. Keep every important fact, drop repetition, "
    "and do not add anything that is not in the text."
)


async def run(task: TaskRun) -> dict[str, Any]:
    result = await ask(task, task.input["text"], PURPOSE)
    return llm_result(result)


SUMMARIZATION = TaskType(
    name="summarization",
    description="Summarizes a text.",
    run=run,
    required=("text",),
    uses_llm=True,
)
