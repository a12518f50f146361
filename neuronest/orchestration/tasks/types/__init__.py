"""Task types by name. Adding one: write a module with a TaskType and list it here."""

from __future__ import annotations

from neuronest.orchestration.tasks.types.base import TaskType
from neuronest.orchestration.tasks.types.calculation import CALCULATION
from neuronest.orchestration.tasks.types.code_execution import CODE_EXECUTION
from neuronest.orchestration.tasks.types.research import RESEARCH
from neuronest.orchestration.tasks.types.summarization import SUMMARIZATION
from neuronest.orchestration.tasks.types.text_formatting import TEXT_FORMATTING
from neuronest.orchestration.tasks.types.text_generation import TEXT_GENERATION

REGISTRY: dict[str, TaskType] = {
    task_type.name: task_type
    for task_type in (
        TEXT_GENERATION,
        RESEARCH,
        SUMMARIZATION,
        TEXT_FORMATTING,
        CODE_EXECUTION,
        CALCULATION,
    )
}
