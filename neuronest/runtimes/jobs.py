from __future__ import annotations

from typing import Any

from neuronest.jobs.registry import job
from neuronest.runtimes import execution


@job
async def start_runtime_run(ctx: dict[str, Any], runtime_id: str, run: int) -> None:
    await execution.start_run(ctx["services"], runtime_id, run)
