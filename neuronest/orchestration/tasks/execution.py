"""Executing a task in a worker: claim it once, run its type with a heartbeat, record the end.

Every change of status is a compare-and-set: a duplicate delivery finds the task claimed and does
nothing; a cancel moves the task to `cancelled` first and the running work is stopped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from neuronest.db import to_the_end
from neuronest.errors import AppError, Conflict
from neuronest.jobs.identity import WORKER_ID
from neuronest.kit.time import utcnow
from neuronest.llm.client import LLMError
from neuronest.memory.models import Memory
from neuronest.memory.service import relevant_entries, store_entry
from neuronest.orchestration.agents.models import Agent
from neuronest.orchestration.tasks.events import control_channel, publish, publish_status
from neuronest.orchestration.tasks.models import Task, TaskStatus
from neuronest.orchestration.tasks.results import stored_result
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.orchestration.tasks.types.base import TaskFailed, TaskRun
from neuronest.orchestration.workflows.engine import advance, on_task_finished, sync_workflow
from neuronest.services import services
from neuronest.tools.registry import build_tools

log = logging.getLogger(__name__)
RECALL_LIMIT = 5
WORKFLOW = "workflow"


async def run_task(task_id: str, attempt: int) -> None:
    now = utcnow()
    claimed = await Task.filter(id=task_id, status=TaskStatus.CREATED, attempts=attempt).update(
        status=TaskStatus.RUNNING,
        attempts=attempt + 1,
        worker_id=WORKER_ID,
        heartbeat_at=now,
        started_at=now,
        error=None,
    )
    if not claimed:
        return
    task = await Task.get(id=task_id)
    await publish_status(task)
    if task.task_type == WORKFLOW:
        await sync_workflow(task)
        await advance(task_id)  # steps run as child tasks; their ends move the run on
        return
    try:
        result = await _supervised(task)
    except _Cancelled:
        return
    except TimeoutError:
        await _finish(task, TaskStatus.FAILED, error=f"timed out after {_timeout(task):g} s")
    except TaskFailed as failure:
        await _finish(task, TaskStatus.FAILED, result=failure.result, error=failure.error)
    except (AppError, LLMError) as error:
        await _finish(task, TaskStatus.FAILED, error=str(error))
    except Exception as error:
        log.exception("task %s failed", task_id)
        await _finish(task, TaskStatus.FAILED, error=f"internal error ({type(error).__name__})")
    else:
        if await _finish(task, TaskStatus.COMPLETED, result=result):
            await _remember(task, task.result or {})


class _Cancelled(Exception):
    pass


def _timeout(task: Task) -> float:
    return task.timeout or REGISTRY[task.task_type].timeout


class Streamed:
    """The text a task's model has written so far; every piece is published with its offset."""

    def __init__(self, task_id: object) -> None:
        self.task_id = task_id
        self.text = ""

    async def add(self, piece: str) -> None:
        offset = len(self.text)
        self.text += piece
        await publish(self.task_id, {"type": "delta", "text": piece, "offset": offset})

    async def snapshot(self) -> None:
        """For a subscriber that joined mid-stream: everything so far, in order with the pieces
        (published from this same loop, so no piece can overtake it)."""
        await publish(self.task_id, {"type": "snapshot", "text": self.text})


async def _supervised(task: Task) -> dict[str, Any]:
    """Runs the task's type; a cancel or a lost claim stops it at once."""
    streamed = Streamed(task.id)
    if REGISTRY[task.task_type].instant:
        return await _execute(task, streamed)
    work = asyncio.create_task(_execute(task, streamed))
    settings = services().settings
    with await services().bus.subscribe(control_channel(task.id)) as control:

        async def watch() -> None:
            while True:
                try:
                    _, message = await asyncio.wait_for(control.get(), settings.task_heartbeat)
                    if message.get("action") == "snapshot":
                        await streamed.snapshot()
                        continue
                    return  # cancel requested
                except TimeoutError:
                    mine = await to_the_end(
                        Task.filter(
                            id=task.id, status=TaskStatus.RUNNING, worker_id=WORKER_ID
                        ).update(heartbeat_at=utcnow())
                    )
                    if not mine:
                        return

        watcher = asyncio.create_task(watch())
        # A cancel that came before the subscription is seen here.
        if await Task.filter(id=task.id, status=TaskStatus.RUNNING).exists():
            await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        else:
            watcher.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            raise _Cancelled
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return work.result()


async def _execute(task: Task, streamed: Streamed) -> dict[str, Any]:
    task_type = REGISTRY[task.task_type]
    settings = services().settings
    agent = await Agent.get_or_none(id=task.agent_id) if task.agent_id else None
    memory = await Memory.get_or_none(id=task.memory_id) if task.memory_id else None
    recalled: list[str] = []
    if memory is not None and task_type.uses_llm:
        query = " ".join(str(v) for v in task.input_data.values() if isinstance(v, str))
        recalled = [
            f"{entry.role}: {entry.content}"
            for entry, _ in await relevant_entries(memory, query, RECALL_LIMIT)
        ]

    run = TaskRun(
        task=task,
        settings=settings,
        agent=dict(agent.configuration) if agent else {},
        memory=memory,
        tools=build_tools(
            task.tools,
            settings=settings,
            user_id=str(task.user_id),  # type: ignore[attr-defined]
            memory=memory,
        ),
        emit=streamed.add,
        recalled=recalled,
    )
    return await asyncio.wait_for(task_type.run(run), _timeout(task))


async def _finish(
    task: Task,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    changes: dict[str, Any] = {
        "status": status,
        "result": stored_result(result),
        "error": error,
        "finished_at": utcnow(),
        "worker_id": None,
    }
    done = await Task.filter(id=task.id, status=TaskStatus.RUNNING, worker_id=WORKER_ID).update(
        **changes
    )
    if done:
        task.update_from_dict(changes)  # what the row now holds, without reading it back
        await publish_status(task)
        await on_task_finished(task)
    return bool(done)


async def _remember(task: Task, result: dict[str, Any]) -> None:
    """A task with a memory adds its exchange to it."""
    if task.memory_id is None or not REGISTRY[task.task_type].uses_llm:
        return
    memory = await Memory.get_or_none(id=task.memory_id)
    if memory is None:
        return
    asked = next((v for v in task.input_data.values() if isinstance(v, str) and v.strip()), "")
    meta = {"task_id": str(task.id), "task_type": task.task_type}
    try:
        if asked:
            await store_entry(memory, role="user", content=asked[:100_000], metadata=meta)
        if result.get("text"):
            await store_entry(
                memory, role="assistant", content=str(result["text"])[:100_000], metadata=meta
            )
    except Conflict as full:  # the store is at its entry limit: the task's result stands
        log.warning("task %s not remembered: %s", task.id, full.message)
