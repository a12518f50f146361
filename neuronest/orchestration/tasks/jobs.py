from __future__ import annotations

from typing import Any

from neuronest.jobs.registry import job
from neuronest.orchestration.tasks import execution


@job
async def run_task(ctx: dict[str, Any], task_id: str, attempt: int) -> None:
    await execution.run_task(ctx["services"], task_id, attempt)
