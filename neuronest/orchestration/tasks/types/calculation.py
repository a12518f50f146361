from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.types.base import TaskRun, TaskType
from neuronest.tools.calculator import evaluate, format_number


def _check(input_data: dict[str, Any]) -> None:
    evaluate(input_data["expression"])


async def run(task: TaskRun) -> dict[str, Any]:
    value = evaluate(task.input["expression"])
    # JSON clients lose integer precision past 2**53: such values are exact in `text` only.
    exact = isinstance(value, float) or abs(value) < 2**53
    return {
        "text": format_number(value),
        "value": value if exact else None,
        "expression": task.input["expression"],
    }


CALCULATION = TaskType(
    name="calculation",
    description="Evaluates an arithmetic expression exactly, without a model.",
    run=run,
    required=("expression",),
    timeout=10,
    check=_check,
    instant=True,
)
