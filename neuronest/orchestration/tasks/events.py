from __future__ import annotations

from typing import Any

from neuronest.orchestration.tasks.models import Task
from neuronest.services import services


def updates_channel(task_id: object) -> str:
    return f"task:{task_id}:updates"


def control_channel(task_id: object) -> str:
    return f"task:{task_id}:control"


async def publish_status(task: Task) -> None:
    await publish(task.id, {"type": "status", "status": str(task.status)})


async def publish(task_id: object, event: dict[str, Any]) -> None:
    await services().bus.publish(updates_channel(task_id), event)
