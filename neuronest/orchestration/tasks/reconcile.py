"""Tasks whose worker died go back to the queue, a bounded number of times."""

from __future__ import annotations

import logging
from datetime import timedelta

from neuronest.db import changed_rows
from neuronest.kit.time import utcnow
from neuronest.orchestration.tasks.events import publish_status, task_finished
from neuronest.orchestration.tasks.models import Task, TaskStatus
from neuronest.orchestration.tasks.service import dispatch
from neuronest.services import Services

log = logging.getLogger(__name__)


async def reconcile_once(services: Services) -> None:
    settings = services.settings
    now = utcnow()
    stale = now - timedelta(seconds=settings.task_stale_after)
    # Workflow runs hold no worker (their steps do), so they have no heartbeat to lose.
    for task in await Task.filter(status=TaskStatus.RUNNING, heartbeat_at__lt=stale).exclude(
        task_type="workflow"
    ):
        unchanged = Task.filter(
            id=task.id, status=TaskStatus.RUNNING, heartbeat_at=task.heartbeat_at
        )
        if task.attempts >= settings.task_max_attempts:
            for failed in await changed_rows(
                Task,
                unchanged.update(
                    status=TaskStatus.FAILED,
                    error=f"its worker stopped during each of {task.attempts} attempts",
                    finished_at=now,
                    worker_id=None,
                ),
            ):
                await task_finished(services, failed)
            continue
        for requeued in await changed_rows(
            Task, unchanged.update(status=TaskStatus.CREATED, worker_id=None, heartbeat_at=None)
        ):
            log.info("task %s lost its worker; attempt %s queued", task.id, task.attempts + 1)
            await publish_status(services, requeued)
            await dispatch(services, requeued)
    # Tasks that no worker took (a lost queue, or an embedded process that restarted).
    waiting = stale - timedelta(seconds=settings.task_stale_after * 5)
    for task in await Task.filter(status=TaskStatus.CREATED, updated_at__lt=waiting).limit(100):
        await dispatch(services, task)
    # A run whose `advance` job was lost moves on here (advance is idempotent).
    for run_id in (
        await Task.filter(task_type="workflow", status=TaskStatus.RUNNING, updated_at__lt=stale)
        .limit(100)
        .values_list("id", flat=True)
    ):
        await services.jobs.enqueue("advance_workflow", str(run_id))
