from __future__ import annotations

from typing import Any

from neuronest.jobs.registry import job
from neuronest.orchestration.workflows import engine


@job
async def advance_workflow(ctx: dict[str, Any], run_id: str) -> None:
    await engine.advance(ctx["services"], run_id)
