"""Runs workflows without a long-lived orchestrator: each time a step finishes, `advance` looks at
the run's state in the database and starts what became ready, retries what failed, or ends the run.
`advance` is idempotent, and a step attempt can be created only once, so it may run any number of
times, anywhere, concurrently."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from neuronest.db import changed_rows
from neuronest.events.bus import Message
from neuronest.kit.time import utcnow
from neuronest.orchestration.tasks import events as task_events
from neuronest.orchestration.tasks.models import FINISHED, Task, TaskStatus
from neuronest.orchestration.tasks.results import stored_result
from neuronest.orchestration.tasks.service import cancel, dispatch
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.orchestration.workflows.models import Workflow, WorkflowRun
from neuronest.orchestration.workflows.templates import TemplateError, render
from neuronest.orchestration.workflows.validation import dependency_graph
from neuronest.services import services

log = logging.getLogger(__name__)
RETRY_BACKOFF = 0.5


@dataclass
class StepState:
    step: dict[str, Any]
    latest: Task | None
    attempts: int

    @property
    def id(self) -> str:
        return str(self.step["id"])

    @property
    def status(self) -> str:
        return "pending" if self.latest is None else str(self.latest.status)

    @property
    def retries_left(self) -> bool:
        return self.attempts <= int(self.step.get("retries", 0))

    @property
    def finally_failed(self) -> bool:
        failed = self.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)
        return failed and not (self.status == TaskStatus.FAILED and self.retries_left)

    @property
    def done(self) -> bool:
        """Finished in a way its dependents can go on from."""
        if self.status == TaskStatus.COMPLETED:
            return True
        return self.finally_failed and bool(self.step.get("continue_on_error"))

    def record(self) -> dict[str, Any]:
        task = self.latest
        return {
            "status": self.status,
            "result": task.result if task else None,
            "error": task.error if task else None,
        }


async def step_states(run: WorkflowRun) -> dict[str, StepState]:
    children = await Task.filter(parent_id=run.id).order_by("step_attempt")
    latest: dict[str, Task] = {}
    attempts: dict[str, int] = {}
    for child in children:
        if child.step_id is None:
            continue
        latest[child.step_id] = child
        attempts[child.step_id] = attempts.get(child.step_id, 0) + 1
    return {
        step["id"]: StepState(step, latest.get(step["id"]), attempts.get(step["id"], 0))
        for step in run.steps
    }


_advancing: set[str] = set()
_again: set[str] = set()


async def advance(run_id: str) -> None:
    """Moves a run on. Calls for a run this process is already advancing are folded into one
    more pass after the current one, so a burst of finishing steps costs a few passes, not one
    each (other processes may still advance the same run: every change is idempotent)."""
    run_id = str(run_id)
    if run_id in _advancing:
        _again.add(run_id)
        return
    _advancing.add(run_id)
    try:
        while True:
            _again.discard(run_id)
            await _advance_once(run_id)
            if run_id not in _again:
                return
    finally:
        _advancing.discard(run_id)


async def _advance_once(run_id: str) -> None:
    parent = await Task.get_or_none(id=run_id)
    run = await WorkflowRun.get_or_none(id=run_id)
    if parent is None or run is None or parent.status != TaskStatus.RUNNING:
        return
    states = await step_states(run)
    for state in states.values():
        if state.finally_failed and not state.step.get("continue_on_error"):
            await fail_run(parent, f"step {state.id!r} failed: {_reason(state)}")
            return
    graph = dependency_graph(run.steps)
    records = {step_id: state.record() for step_id, state in states.items()}
    for state in states.values():
        if state.status == TaskStatus.FAILED and state.retries_left:
            await _start_step(parent, run, state, records, retry=True)
        elif state.latest is None and all(states[d].done for d in graph[state.id]):
            await _start_step(parent, run, state, records, retry=False)
    if all(state.done for state in states.values()):
        await _complete_run(parent, run, states)


def _reason(state: StepState) -> str:
    if state.status == TaskStatus.CANCELLED:
        return "it was cancelled"
    return (state.latest.error if state.latest else None) or "no reason given"


async def _start_step(
    parent: Task,
    run: WorkflowRun,
    state: StepState,
    records: dict[str, Any],
    *,
    retry: bool,
) -> None:
    step = state.step
    attempt = state.attempts + 1
    error: str | None = None
    try:
        limit = services().settings.max_rendered_input_bytes
        input_data = render(step.get("input_data", {}), run.variables, records, limit)
        REGISTRY[step["task_type"]].validate(input_data)
    except (TemplateError, ValueError) as problem:
        input_data, error = step.get("input_data", {}), f"input: {problem}"
    except Exception as problem:  # the task type refused the rendered input
        input_data, error = step.get("input_data", {}), str(problem)
    try:
        child = await Task.create(
            user_id=parent.user_id,  # type: ignore[attr-defined]
            task_type=step["task_type"],
            input_data=input_data,
            context=step.get("context", {}),
            tools=step.get("tools"),
            agent_id=step.get("agent_id"),
            memory_id=step.get("memory_id"),
            parent_id=parent.id,
            step_id=step["id"],
            step_attempt=attempt,
            timeout=step.get("timeout"),
            status=TaskStatus.FAILED if error else TaskStatus.CREATED,
            error=error,
            finished_at=utcnow() if error else None,
        )
    except IntegrityError:
        return  # another scheduler created this attempt first
    await step_event(parent.id, step["id"], str(child.status))
    if error:
        await advance(str(parent.id))
        return
    backoff = RETRY_BACKOFF * 2 ** (attempt - 2) if retry else None
    await dispatch(child, defer_by=backoff, here=True)


def _step_message(run_id: object, step_id: str, status: str) -> tuple[str, Message]:
    return task_events.updates_channel(run_id), {
        "type": "step",
        "step_id": step_id,
        "status": status,
    }


async def step_event(run_id: object, step_id: str, status: str) -> None:
    await services().bus.publish(*_step_message(run_id, step_id, status))


def _final_steps(run: WorkflowRun) -> list[str]:
    needed = {d for step in run.steps for d in step.get("depends_on", [])}
    return [step["id"] for step in run.steps if step["id"] not in needed]


async def _complete_run(parent: Task, run: WorkflowRun, states: dict[str, StepState]) -> None:
    results = {step_id: state.record()["result"] for step_id, state in states.items()}
    finals = _final_steps(run)
    texts = [str((results[s] or {}).get("text", "")) for s in finals]
    text = (
        texts[0]
        if len(finals) == 1
        else "\n\n".join(f"{step_id}: {body}" for step_id, body in zip(finals, texts, strict=True))
    )
    result = stored_result({"steps": results, "text": text})
    completed = await changed_rows(
        Task,
        Task.filter(id=parent.id, status=TaskStatus.RUNNING).update(
            status=TaskStatus.COMPLETED, result=result, finished_at=utcnow()
        ),
    )
    if completed:
        await on_task_finished(completed[0])


async def fail_run(parent: Task, error: str) -> None:
    failed = await changed_rows(
        Task,
        Task.filter(id=parent.id, status=TaskStatus.RUNNING).update(
            status=TaskStatus.FAILED, error=error, finished_at=utcnow()
        ),
    )
    if failed:
        await cancel_steps(parent)
        await on_task_finished(failed[0])


async def cancel_steps(parent: Task) -> None:
    for child in await Task.filter(parent_id=parent.id).exclude(status__in=FINISHED):
        await cancel(child)


async def sync_workflow(parent: Task) -> None:
    """The workflow shows its latest run's status and result."""
    workflow_id = (parent.context or {}).get("workflow_id")
    if workflow_id:
        await Workflow.filter(id=workflow_id, latest_run_id=parent.id).update(
            status=str(parent.status), result=parent.result
        )


async def on_task_finished(task: Task, also: Sequence[tuple[str, Message]] = ()) -> None:
    """Called whenever any task ends, with its row as it now is. Its status event goes out in
    one round trip with `also` and, for a step, its run's step event; a step's end moves its
    workflow on."""
    step = task.parent_id is not None and task.step_id is not None
    events = [*also, task_events.status_event(task)]
    if step:
        events.append(_step_message(task.parent_id, str(task.step_id), str(task.status)))
    await services().bus.publish_many(events)
    if not step:
        if task.task_type == "workflow":
            if task.status == TaskStatus.CANCELLED:
                await cancel_steps(task)
            await sync_workflow(task)
        return
    # Right here rather than as a job: one queue hop less per step. A crash in between is
    # repaired by the reconciler, which advances runs that stopped moving.
    await advance(str(task.parent_id))
