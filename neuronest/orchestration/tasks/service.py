"""Tasks: units of work (mostly model calls) that a worker executes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neuronest.auth.models import User
from neuronest.db import changed_rows
from neuronest.errors import Conflict, Invalid
from neuronest.jobs.dispatch import Job
from neuronest.kit.jsonvalue import input_value
from neuronest.kit.ownership import filter_uuid, get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.time import utcnow
from neuronest.memory.service import get_memory
from neuronest.orchestration.agents.service import get_agent
from neuronest.orchestration.tasks.events import control_event, task_finished
from neuronest.orchestration.tasks.models import FINISHED, UNFINISHED, Task, TaskStatus
from neuronest.orchestration.tasks.quota import create_within_quota
from neuronest.orchestration.tasks.quota import within_tasks_quota as within_tasks_quota
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.services import Services
from neuronest.tools.registry import check_tools


def check_type(task_type: str) -> str:
    if task_type not in REGISTRY:
        raise Invalid(
            f"task_type: unknown task type {task_type!r} (known: {', '.join(sorted(REGISTRY))})",
            field="task_type",
        )
    return task_type


async def create_task(
    services: Services,
    *,
    actor: User,
    task_type: str,
    input_data: Any,
    context: Any = None,
    tools: Any = None,
    memory_id: str | None = None,
    agent_id: str | None = None,
) -> Task:
    """Stores the task (status `created`) and hands it to a worker."""
    settings = services.settings
    checked = REGISTRY[check_type(task_type)].validate(
        input_value(input_data, "input_data", settings)
    )
    if context is not None and not isinstance(context, dict):
        raise Invalid("context: must be an object", field="context")
    input_value(context, "context", settings)
    tool_names = check_tools(tools)
    memory = await get_memory(actor=actor, memory_id=memory_id) if memory_id else None
    agent = await get_agent(actor=actor, agent_id=agent_id) if agent_id else None
    task = await create_within_quota(
        settings,
        actor,
        task_type=task_type,
        input_data=checked,
        context=context or {},
        tools=tool_names,
        memory_id=memory.id if memory else None,
        agent_id=agent.id if agent else None,
    )
    await dispatch(services, task)
    return task


async def dispatch(services: Services, task: Task, defer_by: float | None = None) -> None:
    await dispatch_many(services, [task], defer_by=defer_by)


async def dispatch_many(
    services: Services, tasks: Sequence[Task], defer_by: float | None = None
) -> None:
    """Queues the tasks, all in one batch."""
    # The job id is the task id: a second delivery of the same attempt is refused by the queue.
    await services.jobs.enqueue_many(
        [
            Job(
                "run_task",
                (str(task.id), task.attempts),
                job_id=str(task.id) if task.attempts == 0 else f"{task.id}:{task.attempts}",
                defer_by=defer_by,
            )
            for task in tasks
        ]
    )


async def list_tasks(
    *,
    actor: User,
    page: Page,
    task_type: str | None = None,
    status: str | None = None,
    agent_id: str | None = None,
    parent_id: str | None = None,
) -> list[Task]:
    query = Task.filter(user_id=actor.id)
    if task_type is not None:
        query = query.filter(task_type=task_type)
    if status is not None:
        if status not in {s.value for s in TaskStatus}:
            raise Invalid(f"status: {status!r} is not a task status", field="status")
        query = query.filter(status=status)
    if agent_id is not None:
        query = query.filter(agent_id=filter_uuid(agent_id, "agent_id"))
    if parent_id is not None:
        query = query.filter(parent_id=filter_uuid(parent_id, "parent_id"))
    return await newest_first(query, page)


async def get_task(*, actor: User, task_id: str) -> Task:
    return await get_owned(Task, task_id, actor, "Task")


async def cancel_task(services: Services, *, actor: User, task_id: str) -> Task:
    """Stops the task's work promptly; a finished task cannot be cancelled (409)."""
    task = await get_task(actor=actor, task_id=task_id)
    cancelled = await cancel(services, task)
    if cancelled is None:
        raise Conflict(f"Task is already {task.status}")
    return cancelled


async def cancel(services: Services, task: Task) -> Task | None:
    """Cancels `task` unless it has finished: one statement changes and returns the row, one
    publish tells its worker to stop and its subscribers the new status. The task as it now is,
    or None when it had already finished."""
    cancelled = await changed_rows(
        Task,
        Task.filter(id=task.id, status__in=UNFINISHED).update(
            status=TaskStatus.CANCELLED, finished_at=utcnow(), worker_id=None, error=None
        ),
    )
    if not cancelled:
        return None
    await task_finished(services, cancelled[0], also=[control_event(task.id, "cancel")])
    return cancelled[0]


async def request_snapshot(services: Services, task: Task) -> None:
    """Asks the worker running `task` to publish the text streamed so far."""
    await services.bus.publish(*control_event(task.id, "snapshot"))


async def delete_task(services: Services, *, actor: User, task_id: str) -> None:
    task = await get_task(actor=actor, task_id=task_id)
    if task.status not in FINISHED:
        await cancel(services, task)
    for child in await Task.filter(parent_id=task.id):
        await delete_task(services, actor=actor, task_id=str(child.id))
    await task.delete()
