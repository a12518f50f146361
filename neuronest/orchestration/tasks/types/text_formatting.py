from __future__ import annotations

from typing import Any

from neuronest.errors import Invalid
from neuronest.orchestration.tasks.formatting import FORMATS, format_bounded
from neuronest.orchestration.tasks.types.base import TaskRun, TaskType


def _check(input_data: dict[str, Any]) -> None:
    if input_data.get("format") not in FORMATS:
        raise Invalid(f"input_data.format: must be one of {', '.join(FORMATS)}", field="input_data")


async def run(task: TaskRun) -> dict[str, Any]:
    fmt = task.input["format"]
    text = await format_bounded(task.input["text"], fmt, task.settings)
    return {"text": text, "format": fmt}


TEXT_FORMATTING = TaskType(
    name="text_formatting",
    description="Formats text as markdown, html, plain text or json, deterministically.",
    run=run,
    required=("text", "format"),
    timeout=60,  # the work itself has the tighter budget of NEURONEST_FORMAT_TIMEOUT
    check=_check,
)
