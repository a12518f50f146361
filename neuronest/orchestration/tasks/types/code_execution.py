from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.types.base import TaskFailed, TaskRun, TaskType
from neuronest.runtimes.oneshot import MAX_TIMEOUT, check_code, run_code

DEFAULT_TIMEOUT = 30


def _check(input_data: dict[str, Any]) -> None:
    check_code(input_data.get("language"), input_data.get("code"), input_data.get("timeout"))


async def run(task: TaskRun) -> dict[str, Any]:
    result = await run_code(
        task.settings,
        language=task.input["language"],
        code=task.input["code"],
        timeout=float(task.input.get("timeout") or DEFAULT_TIMEOUT),
        owner=str(task.task.user_id),  # type: ignore[attr-defined]
    )
    output = {
        "text": result.stdout,
        **result.outcome(),
        "truncated": result.truncated,
        "backend": result.backend,
    }
    failure = result.failure
    if failure is not None:
        raise TaskFailed(failure, output)
    return output


CODE_EXECUTION = TaskType(
    name="code_execution",
    description="Runs code in an isolated sandbox and returns stdout, stderr and the exit code.",
    run=run,
    timeout=MAX_TIMEOUT + 30,
    check=_check,
)
