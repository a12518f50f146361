"""Executing a task in a worker: claim it once, run its type with a heartbeat, record the end.

Every change of status is a compare-and-set: a duplicate delivery finds the task claimed and does
nothing; a cancel moves the task to `cancelled` first and the running work is stopped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from neuronest.config import Settings
from neuronest.db import PreparedUpdate, returned_ids, to_the_end
from neuronest.errors import AppError, Conflict
from neuronest.events.bus import EventBus, Message, Subscription
from neuronest.jobs.identity import WORKER_ID
from neuronest.kit.hooks import Hook
from neuronest.kit.time import utcnow
from neuronest.llm.client import LLMError
from neuronest.memory.models import Memory
from neuronest.memory.service import relevant_entries, store_entry
from neuronest.orchestration.agents.models import Agent
from neuronest.orchestration.tasks.events import (
    CONTROL_CHANNEL,
    publish,
    status_events,
    task_finished,
    tasks_finished,
)
from neuronest.orchestration.tasks.models import Task, TaskStatus
from neuronest.orchestration.tasks.results import stored_result
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.orchestration.tasks.types.base import TaskFailed, TaskRun
from neuronest.services import Services
from neuronest.tools.registry import build_tools

log = logging.getLogger(__name__)
RECALL_LIMIT = 5
WORKFLOW = "workflow"
# A worker claimed a `workflow` task: its steps run as child tasks (orchestration.workflows,
# connected by neuronest.wiring), whose ends move the run on.
RUN_CLAIMED: Hook[[Services, Task]] = Hook("workflow run claimed")


async def run_task(services: Services, task_id: str, attempt: int) -> None:
    streamed = Streamed(services, task_id)
    # Listening before the claim: a cancel can only follow a claim it did not prevent.
    with _controlled(task_id, streamed) as control:
        task = await _claim(task_id, attempt)
        if task is None:
            return
        # An instant type ends before anyone could act on its start: `running` goes out with
        # its end, in the same round trip and still first.
        running = status_events(task)
        if task.task_type != WORKFLOW and REGISTRY[task.task_type].instant:
            end = partial(_finish, services, task, started=running)
        else:
            await services.bus.publish_many(running)
            end = partial(_finish, services, task)
        if task.task_type == WORKFLOW:
            await services.hooks.run(RUN_CLAIMED, services, task)
            return
        outcome = await _outcome(services, task, control)
        if outcome is None:
            return
        status, result, error = outcome
        if await end(status, result=result, error=error) and status == TaskStatus.COMPLETED:
            await _remember(services.settings, task, task.result or {})


_Outcome = tuple[TaskStatus, dict[str, Any] | None, str | None]  # status, result, error


async def _outcome(services: Services, task: Task, control: _Control) -> _Outcome | None:
    """How the run of a claimed task ended; None when it was stopped (cancelled)."""
    try:
        result = await _supervised(services, task, control)
    except _Cancelled:
        return None
    except TimeoutError:
        return TaskStatus.FAILED, None, f"timed out after {_timeout(task):g} s"
    except TaskFailed as failure:
        return TaskStatus.FAILED, failure.result, failure.error
    except (AppError, LLMError) as error:
        return TaskStatus.FAILED, None, str(error)
    except Exception as error:
        log.exception("task %s failed", task.id)
        return TaskStatus.FAILED, None, f"internal error ({type(error).__name__})"
    return TaskStatus.COMPLETED, result, None


_claim_row = PreparedUpdate(
    Task,
    changes=("status", "attempts", "worker_id", "heartbeat_at", "started_at", "error"),
    where=("id", "status", "attempts"),
)


async def _claim(task_id: str, attempt: int) -> Task | None:
    """The task, now running here, if it was waiting for this attempt: one compare-and-set that
    returns the row. A second delivery of the job, a later attempt's job or a cancel that came
    first all leave nothing to claim."""
    now = utcnow()
    claimed = await _claim_row.rows(
        {"id": task_id, "status": TaskStatus.CREATED, "attempts": attempt},
        status=TaskStatus.RUNNING,
        attempts=attempt + 1,
        worker_id=WORKER_ID,
        heartbeat_at=now,
        started_at=now,
        error=None,
    )
    return claimed[0] if claimed else None


class _Cancelled(Exception):
    pass


def _timeout(task: Task) -> float:
    return task.timeout or REGISTRY[task.task_type].timeout


class Streamed:
    """The text a task's model has written so far; every piece is published with its offset."""

    def __init__(self, services: Services, task_id: object) -> None:
        self.services = services
        self.task_id = task_id
        self.text = ""

    async def add(self, piece: str) -> None:
        offset = len(self.text)
        self.text += piece
        await publish(
            self.services, self.task_id, {"type": "delta", "text": piece, "offset": offset}
        )

    async def snapshot(self) -> None:
        """For a subscriber that joined mid-stream: everything so far, in order with the pieces
        (published from this same loop, so no piece can overtake it)."""
        await publish(self.services, self.task_id, {"type": "snapshot", "text": self.text})


class _Control:
    """What the control channel says to one run of a task in this process."""

    def __init__(self, streamed: Streamed) -> None:
        self.streamed = streamed
        self.cancelled = asyncio.Event()


_controls: dict[str, set[_Control]] = {}  # by task id; a duplicate delivery may run alongside


@contextlib.contextmanager
def _controlled(task_id: str, streamed: Streamed) -> Iterator[_Control]:
    control = _Control(streamed)
    _controls.setdefault(task_id, set()).add(control)
    try:
        yield control
    finally:
        runs = _controls[task_id]
        runs.discard(control)
        if not runs:
            del _controls[task_id]


async def listen_for_control(bus: EventBus) -> asyncio.Task[None]:
    """Subscribes this process to the tasks' control channel, once for every task it runs; the
    subscription is confirmed when this returns, so no later cancel is missed (should the
    connection drop all the same, the next heartbeat finds the task cancelled)."""
    subscription = await bus.subscribe(CONTROL_CHANNEL)
    return asyncio.create_task(_route_control(subscription), name="task-control")


async def _route_control(subscription: Subscription) -> None:
    with subscription:
        async for _, message in subscription:
            for control in tuple(_controls.get(str(message.get("task_id")), ())):
                if message.get("action") != "snapshot":
                    control.cancelled.set()
                    continue
                try:
                    await control.streamed.snapshot()
                except Exception:
                    log.exception("snapshot of task %s not published", message.get("task_id"))


async def _supervised(services: Services, task: Task, control: _Control) -> dict[str, Any]:
    """Runs the task's type; a cancel or a lost claim stops it at once."""
    if REGISTRY[task.task_type].instant:
        return await _execute(services.settings, task, control.streamed)
    work = asyncio.create_task(_execute(services.settings, task, control.streamed))
    watcher = asyncio.create_task(_watch(services.settings, task, control))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped = not work.done()
        work.cancel()
        watcher.cancel()
        await asyncio.gather(work, watcher, return_exceptions=True)
    if stopped:
        raise _Cancelled
    return work.result()


_beat_row = PreparedUpdate(Task, changes=("heartbeat_at",), where=("id", "status", "worker_id"))


async def _watch(settings: Settings, task: Task, control: _Control) -> None:
    """Returns once the task is cancelled, or once its heartbeat finds it no longer running
    here (cancelled meanwhile, or given to another worker)."""
    every = settings.task_heartbeat
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(control.cancelled.wait(), every)
            return
        where = {"id": task.id, "status": TaskStatus.RUNNING, "worker_id": WORKER_ID}
        if not await to_the_end(_beat_row.count(where, heartbeat_at=utcnow())):
            return


async def _execute(settings: Settings, task: Task, streamed: Streamed) -> dict[str, Any]:
    task_type = REGISTRY[task.task_type]
    agent = await Agent.get_or_none(id=task.agent_id) if task.agent_id else None
    memory = await Memory.get_or_none(id=task.memory_id) if task.memory_id else None
    recalled: list[str] = []
    if memory is not None and task_type.uses_llm:
        query = " ".join(str(v) for v in task.input_data.values() if isinstance(v, str))
        recalled = [
            f"{entry.role}: {entry.content}"
            for entry, _ in await relevant_entries(settings, memory, query, RECALL_LIMIT)
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


_finish_row = PreparedUpdate(
    Task,
    changes=("status", "result", "error", "finished_at", "worker_id"),
    where=("id", "status", "worker_id"),
)


async def _finish(
    services: Services,
    task: Task,
    status: TaskStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    started: Sequence[tuple[str, Message]] = (),
) -> bool:
    """Records the end of the run this worker holds (one compare-and-set, which a cancel or a
    new owner wins), then tells subscribers (`started` first: its start, not yet published)
    and a workflow."""
    changes: dict[str, Any] = {
        "status": status,
        "result": stored_result(result, services.settings.max_result_bytes),
        "error": error,
        "finished_at": utcnow(),
        "worker_id": None,
    }
    where = {"id": task.id, "status": TaskStatus.RUNNING, "worker_id": WORKER_ID}
    if not await _finish_row.count(where, **changes):
        return False
    task.update_from_dict(changes)  # what the row now holds, without reading it back
    await task_finished(services, task, also=started)
    return True


async def run_together(services: Services, tasks: Sequence[Task]) -> None:
    """Runs attempts never claimed yet, of instant task types (`TaskType.instant`), as they
    were created: one after the other in this process, with one claim, one publish of their
    start, one finish statement and one publish of their ends for them all (a workflow's wave of
    calculations costs a few statements, not two statements and two publishes per step). The
    changes are the compare-and-sets of `run_task`: a cancel (or another claim) that came first
    leaves a task alone, a cancel while it runs wins over the finish. TASK_FINISHED runs for all
    the ends at once."""
    now = utcnow()
    claim = {
        "status": TaskStatus.RUNNING,
        "attempts": 1,
        "worker_id": WORKER_ID,
        "heartbeat_at": now,
        "started_at": now,
        "error": None,
    }
    unclaimed = Task.filter(id__in=[task.id for task in tasks], status=TaskStatus.CREATED)
    # The rows' ids alone come back: the tasks are as the caller has them, plus the claim.
    ids = await returned_ids(unclaimed.filter(attempts=0).update(**claim))
    claimed = [task for task in tasks if str(task.id) in ids]
    for task in claimed:
        task.update_from_dict(claim)
    if not claimed:
        return
    await services.bus.publish_many([e for task in claimed for e in status_events(task)])
    ends: list[tuple[Task, _Outcome]] = []
    for task in claimed:
        with _controlled(str(task.id), Streamed(services, task.id)) as control:
            outcome = await _outcome(services, task, control)
        if outcome is not None:
            ends.append((task, outcome))
    finished: list[Task] = []
    for start in range(0, len(ends), FINISH_BATCH):
        finished += await _finish_together(services, ends[start : start + FINISH_BATCH])
    await tasks_finished(services, finished)


FINISH_BATCH = 1000  # rows per finish statement (4 values each: within both databases' limits)


async def _finish_together(services: Services, ends: list[tuple[Task, _Outcome]]) -> list[Task]:
    """`_finish` for many tasks in one statement (UPDATE ... FROM VALUES: PostgreSQL, SQLite >=
    3.33); the tasks whose end it recorded, updated as their rows now are."""
    db = Task._meta.db
    postgres = db.capabilities.dialect == "postgres"
    fields = Task._meta.fields_map
    marks = itertools.count(1)

    def mark(cast: str) -> str:
        return f"${next(marks)}::{cast}" if postgres else "?"

    now = utcnow()
    rows: list[str] = []
    values: list[Any] = []
    changes: dict[str, dict[str, Any]] = {}
    for task, (status, result, error) in ends:
        stored = stored_result(result, services.settings.max_result_bytes)
        rows.append(f"({mark('uuid')}, {mark('varchar')}, {mark('jsonb')}, {mark('text')})")
        values += [
            fields["id"].to_db_value(task.id, Task),
            fields["status"].to_db_value(status, Task),
            fields["result"].to_db_value(stored, Task),
            error,
        ]
        changes[str(task.id)] = {
            "status": status,
            "result": stored,
            "error": error,
            "finished_at": now,
            "worker_id": None,
        }
    sql = (
        f'UPDATE "tasks" SET "status" = v.column2, "result" = v.column3, "error" = v.column4, '
        f'"finished_at" = {mark("timestamptz")}, "worker_id" = NULL '
        f'FROM (VALUES {", ".join(rows)}) AS v WHERE "tasks"."id" = v.column1 '
        f'AND "tasks"."status" = {mark("varchar")} AND "tasks"."worker_id" = {mark("varchar")} '
        'RETURNING "id"'
    )
    values += [
        fields["finished_at"].to_db_value(now, Task),
        fields["status"].to_db_value(TaskStatus.RUNNING, Task),
        WORKER_ID,
    ]
    recorded = {str(row["id"]) for row in await db.execute_query_dict(sql, values)}
    finished = []
    for task, _ in ends:
        if str(task.id) in recorded:
            task.update_from_dict(changes[str(task.id)])
            finished.append(task)
    return finished


async def _remember(settings: Settings, task: Task, result: dict[str, Any]) -> None:
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
            await store_entry(settings, memory, role="user", content=asked[:100_000], metadata=meta)
        if result.get("text"):
            await store_entry(
                settings,
                memory,
                role="assistant",
                content=str(result["text"])[:100_000],
                metadata=meta,
            )
    except Conflict as full:  # the store is at its entry limit: the task's result stands
        log.warning("task %s not remembered: %s", task.id, full.message)
