"""Runs workflows without a long-lived orchestrator.

Each run has a row per step (`WorkflowStep`: pending, started or done, and how many of its
dependencies are not done yet). A finishing step moves its run on from its own row alone
(`step_finished`): in one transaction it marks itself done, counts itself off its dependents'
rows, and claims and creates those that reached zero, with one INSERT; they are then queued in
one batch. The rows an UPDATE changes stay locked until its transaction ends (SQLite runs one
transaction at a time), so of two steps finishing at once in two workers exactly one sees a
dependent reach zero, and a step's end handled twice is counted once (its row is `done` already).

`advance` is the full pass: it creates the rows when a run begins, and repairs a run whose step
ends were lost (a worker died in between). Every change is a compare-and-set and an attempt of a
step can be created only once, so both may run any number of times, anywhere, concurrently.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import F
from tortoise.queryset import QuerySet

from neuronest.db import atomically, changed_rows, insert_all
from neuronest.kit.time import utcnow
from neuronest.orchestration.tasks import events as task_events
from neuronest.orchestration.tasks.execution import run_task, run_together
from neuronest.orchestration.tasks.models import FINISHED, Task, TaskStatus
from neuronest.orchestration.tasks.results import stored_result
from neuronest.orchestration.tasks.service import cancel, dispatch_many
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.orchestration.workflows.models import (
    StepProgress,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from neuronest.orchestration.workflows.templates import TemplateError, references, render
from neuronest.services import Services

log = logging.getLogger(__name__)
RETRY_BACKOFF = 0.5
PLANS_KEPT = 256  # runs whose parsed steps a process keeps


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

    def record(self) -> dict[str, Any]:
        return _record(self.latest)


def _record(task: Task | None) -> dict[str, Any]:
    """What `${step.…}` templates see of a step."""
    return {
        "status": "pending" if task is None else str(task.status),
        "result": task.result if task else None,
        "error": task.error if task else None,
    }


async def _latest(
    run_id: object, step_ids: Iterable[str] | None = None
) -> tuple[dict[str, Task], dict[str, int]]:
    """The latest attempt of each step of the run (or of `step_ids`), and how many it had."""
    children = Task.filter(parent_id=run_id)
    if step_ids is not None:
        children = children.filter(step_id__in=list(step_ids))
    latest: dict[str, Task] = {}
    attempts: dict[str, int] = {}
    for child in await children.order_by("step_attempt"):
        if child.step_id is None:
            continue
        latest[child.step_id] = child
        attempts[child.step_id] = attempts.get(child.step_id, 0) + 1
    return latest, attempts


async def step_states(run: WorkflowRun) -> dict[str, StepState]:
    """Every step with its latest attempt (reads all of the run's children)."""
    latest, attempts = await _latest(run.id)
    return {
        step["id"]: StepState(step, latest.get(step["id"]), attempts.get(step["id"], 0))
        for step in run.steps
    }


@dataclass(frozen=True)
class Plan:
    """A run's steps as scheduling needs them, parsed once per process (a run never changes)."""

    run_id: str
    user_id: Any
    run: WorkflowRun
    steps: dict[str, dict[str, Any]]  # in the workflow's order
    dependents: dict[str, list[str]]
    finals: list[str]  # no step depends on them: once they are all done, so is the run
    refers: dict[str, set[str]]  # the earlier steps each step's templates read

    @classmethod
    def of(cls, run: WorkflowRun, user_id: Any) -> Plan:
        steps = {str(step["id"]): step for step in run.steps}
        dependents: dict[str, list[str]] = {step_id: [] for step_id in steps}
        for step_id, step in steps.items():
            for dependency in step.get("depends_on", []):
                dependents[dependency].append(step_id)
        refers = {
            step_id: {r.head for r in references(step.get("input_data", {}))} & steps.keys()
            for step_id, step in steps.items()
        }
        finals = [step_id for step_id, after in dependents.items() if not after]
        return cls(str(run.id), user_id, run, steps, dependents, finals, refers)


_plans: OrderedDict[str, Plan] = OrderedDict()


async def plan_of(run_id: str) -> Plan | None:
    plan = _plans.get(run_id)
    if plan is not None:
        _plans.move_to_end(run_id)
        return plan
    run = await WorkflowRun.get_or_none(id=run_id)
    parent = await Task.get_or_none(id=run_id)
    if run is None or parent is None:
        return None
    plan = _plans[run_id] = Plan.of(run, parent.user_id)  # type: ignore[attr-defined]
    while len(_plans) > PLANS_KEPT:
        _plans.popitem(last=False)
    return plan


DONE, RETRY, FAILED = "done", "retry", "failed"


def _verdict(step: dict[str, Any], task: Task) -> str:
    """What a finished attempt means for its run: its dependents may go on, it is tried again,
    or the run fails."""
    if task.status == TaskStatus.COMPLETED:
        return DONE
    if task.status == TaskStatus.FAILED and (task.step_attempt or 1) <= int(step.get("retries", 0)):
        return RETRY
    return DONE if step.get("continue_on_error") else FAILED


async def _running(run_id: str) -> bool:
    return await Task.filter(id=run_id, status=TaskStatus.RUNNING).exists()


_advancing: set[str] = set()
_again: set[str] = set()


async def advance(services: Services, run_id: str) -> None:
    """The full pass over a run. Calls for a run this process is already advancing are folded
    into one more pass after the current one."""
    run_id = str(run_id)
    if run_id in _advancing:
        _again.add(run_id)
        return
    _advancing.add(run_id)
    try:
        while True:
            _again.discard(run_id)
            await _advance_once(services, run_id)
            if run_id not in _again:
                return
    finally:
        _advancing.discard(run_id)


async def _advance_once(services: Services, run_id: str) -> None:
    if not await _running(run_id):
        return
    plan = await plan_of(run_id)
    if plan is None:
        return
    finals_left = await _finals_left(run_id)
    if finals_left is None:
        await _begin(services, plan)
        return
    # Repair: ends that were not handled (their worker died first), attempts that no worker
    # claimed (started in a process that died, see `_start`), steps left unstarted.
    latest, _ = await _latest(run_id)
    done: list[str] = []
    unclaimed: list[Task] = []
    for row in await WorkflowStep.filter(run_id=run_id).order_by("id"):
        task = latest.get(row.step_id)
        if row.state == StepProgress.STARTED and task is not None and task.status in FINISHED:
            if _verdict(plan.steps[row.step_id], task) == DONE:
                done.append(row.step_id)
            else:
                await step_finished(services, task)
        elif row.state == StepProgress.STARTED and task is not None:
            if task.status == TaskStatus.CREATED:
                unclaimed.append(task)
        elif row.state == StepProgress.PENDING and row.waiting == 0:
            await _start_claimed(services, plan, [row.step_id])
    # Queued under their own ids: a retry waiting for its backoff is queued already (and so
    # not twice), and of a job and a run in a live process only one claims the attempt.
    await dispatch_many(services, unclaimed)
    if done:
        await _steps_done(services, plan, done)
    if finals_left == 0:
        await _complete_run(services, plan)


async def _begin(services: Services, plan: Plan) -> None:
    """Creates the run's step rows and starts the steps that wait for nothing. A run that
    began under an earlier version has children already: the rows say what they did."""
    latest, _ = await _latest(plan.run_id)
    done = {
        step_id
        for step_id, task in latest.items()
        if task.status in FINISHED and _verdict(plan.steps[step_id], task) == DONE
    }
    rows: list[WorkflowStep] = []
    ready: list[str] = []
    for step_id, step in plan.steps.items():
        waiting = sum(1 for d in step.get("depends_on", []) if d not in done)
        if step_id in done:
            state = StepProgress.DONE
        elif step_id in latest or waiting == 0:
            state = StepProgress.STARTED
            if step_id not in latest:
                ready.append(step_id)
        else:
            state = StepProgress.PENDING
        rows.append(WorkflowStep(run_id=plan.run_id, step_id=step_id, state=state, waiting=waiting))
    finals_left = sum(1 for f in plan.finals if f not in done)

    async def begin(_: object) -> list[Task] | None:
        began = await WorkflowRun.filter(id=plan.run_id, finals_left__isnull=True).update(
            finals_left=finals_left
        )
        if not began:
            return None  # another pass began it
        await insert_all(WorkflowStep, rows)
        return await _create_attempts(services, plan, [(step_id, 1) for step_id in ready])

    created = await atomically(begin)
    if created is None:
        return
    await _launch(services, plan, created, retry=False)
    if latest:
        _again.add(plan.run_id)  # one more pass handles what the earlier children did
    if finals_left == 0:
        await _complete_run(services, plan)


async def step_finished(services: Services, task: Task) -> None:
    """An attempt of a step ended: its run moves on from this step alone."""
    run_id, step_id = str(task.parent_id), str(task.step_id)
    plan = await plan_of(run_id)
    if plan is None or step_id not in plan.steps:
        return
    verdict = _verdict(plan.steps[step_id], task)
    if verdict == RETRY:
        await _retry(services, plan, step_id, (task.step_attempt or 1) + 1)
    elif verdict == FAILED:
        parent = await Task.get_or_none(id=run_id)
        if parent is not None and parent.status == TaskStatus.RUNNING:
            await fail_run(services, parent, f"step {step_id!r} failed: {_reason(task)}")
    else:
        await _steps_done(services, plan, [step_id])


def _reason(task: Task) -> str:
    if task.status == TaskStatus.CANCELLED:
        return "it was cancelled"
    return task.error or "no reason given"


_done: dict[str, dict[str, None]] = {}  # run id -> steps whose end is yet to be counted
_counting: set[str] = set()
COUNT_TRIES = 3


async def _steps_done(services: Services, plan: Plan, step_ids: list[str]) -> None:
    """Ends that arrive while this process is counting others of the same run are counted
    together after it, in one transaction: a wide wave costs a few transactions, not one per
    step (and they do not queue on the same rows)."""
    run_id = plan.run_id
    _done.setdefault(run_id, {}).update(dict.fromkeys(step_ids))
    if run_id in _counting:
        return
    _counting.add(run_id)
    try:
        while step_ids := list(_done.pop(run_id, {})):
            for attempt in range(1, COUNT_TRIES + 1):
                try:
                    await _count_done(services, plan, step_ids)
                    break
                except OperationalError:  # a deadlock, say; the full pass repairs what is left
                    log.warning("counting steps of run %s failed (try %d)", run_id, attempt)
                    if attempt == COUNT_TRIES:
                        raise
    finally:
        _counting.discard(run_id)


async def _count_done(services: Services, plan: Plan, step_ids: list[str]) -> None:
    """Marks the steps done, counts them off their dependents and their run, and creates the
    dependents that now wait for nothing, in one transaction. The rows are locked in order of
    id, the steps' own (started) rows first, then their dependents' (pending) ones, so two
    workers counting at once wait for each other, then see each other's counts."""
    run_id = plan.run_id

    async def count(_: object) -> tuple[list[Task], int | None] | None:
        marked = await _mark_done(run_id, step_ids)
        if not marked:
            return None  # these ends were counted already (or the run has ended)
        counts = Counter(d for step_id in marked for d in plan.dependents[step_id])
        ready = await _count_off(run_id, counts) if counts else []
        finals = sum(1 for step_id in marked if not plan.dependents[step_id])
        finals_left = None
        if finals:
            await WorkflowRun.filter(id=run_id).update(finals_left=F("finals_left") - finals)
            finals_left = await _finals_left(run_id)
        return await _create_attempts(services, plan, [(s, 1) for s in ready]), finals_left

    outcome = await atomically(count)
    if outcome is None:
        return
    created, finals_left = outcome
    await _launch(services, plan, created, retry=False)
    if finals_left == 0:
        await _complete_run(services, plan)


async def _mark_done(run_id: str, step_ids: list[str]) -> list[str]:
    """Those of the steps that were started, now done."""
    started = WorkflowStep.filter(run_id=run_id, step_id__in=step_ids, state=StepProgress.STARTED)
    # One row needs no lock first: the UPDATE takes it and says whether it was started.
    marked = step_ids if len(step_ids) == 1 else await _locked(started)
    if not marked or not await started.filter(step_id__in=marked).update(state=StepProgress.DONE):
        return []
    return marked


async def _count_off(run_id: str, counts: Counter[str]) -> list[str]:
    """Takes `counts[d]` off the dependencies dependent `d` waits for; claims (pending to
    started) and returns those that now wait for nothing."""
    pending = WorkflowStep.filter(
        run_id=run_id, step_id__in=list(counts), state=StepProgress.PENDING
    )
    if len(counts) == 1:
        # A chain's step: the last dependency it waited for is claimed in one statement.
        ((dependent, amount),) = counts.items()
        if await pending.filter(waiting=amount).update(waiting=0, state=StepProgress.STARTED):
            return [dependent]
    else:
        await _locked(WorkflowStep.filter(run_id=run_id, step_id__in=list(counts)))
    by_amount: dict[int, list[str]] = {}
    for dependent, amount in counts.items():
        by_amount.setdefault(amount, []).append(dependent)
    for amount, dependents in by_amount.items():
        await pending.filter(step_id__in=dependents).update(waiting=F("waiting") - amount)
    # Locked by the UPDATEs: what another transaction counted off before is in these counts.
    ready = await _step_ids(pending.filter(waiting=0))
    if ready:
        await pending.filter(step_id__in=ready).update(state=StepProgress.STARTED)
    return ready


async def _finals_left(run_id: str) -> int | None:
    run = await WorkflowRun.filter(id=run_id).only("id", "finals_left").first()
    return None if run is None else run.finals_left


async def _step_ids(rows: QuerySet[WorkflowStep]) -> list[str]:
    return [str(step_id) for step_id in await rows.order_by("id").values_list("step_id", flat=True)]


async def _locked(rows: QuerySet[WorkflowStep]) -> list[str]:
    """Locks the rows (PostgreSQL: FOR UPDATE, in order of id); their step ids."""
    locked = await rows.select_for_update().order_by("id").only("id", "step_id")
    return [row.step_id for row in locked]


async def _start_claimed(services: Services, plan: Plan, step_ids: list[str]) -> None:
    """Starts pending steps that wait for nothing, each claimed once."""

    async def start(_: object) -> list[Task]:
        claimed = await _locked(
            WorkflowStep.filter(
                run_id=plan.run_id, step_id__in=step_ids, state=StepProgress.PENDING, waiting=0
            )
        )
        await WorkflowStep.filter(run_id=plan.run_id, step_id__in=claimed).update(
            state=StepProgress.STARTED
        )
        return await _create_attempts(services, plan, [(s, 1) for s in claimed])

    await _launch(services, plan, await atomically(start), retry=False)


async def _retry(services: Services, plan: Plan, step_id: str, attempt: int) -> None:
    if not await _running(plan.run_id):
        return
    try:
        created = await _create_attempts(services, plan, [(step_id, attempt)])
    except IntegrityError:
        return  # another scheduler created this attempt first
    await _launch(services, plan, created, retry=True)


async def _create_attempts(
    services: Services, plan: Plan, wanted: list[tuple[str, int]]
) -> list[Task]:
    """Creates the attempts `wanted` ((step id, attempt number)) with one INSERT; a step whose
    input cannot be rendered gets a failed attempt saying why."""
    if not wanted:
        return []
    read = {ref for step_id, _ in wanted for ref in plan.refers[step_id]}
    records: dict[str, Any] = {}
    if read:
        latest, _ = await _latest(plan.run_id, read)
        records = {step_id: _record(latest.get(step_id)) for step_id in read}
    limit = services.settings.max_rendered_input_bytes
    now = utcnow()
    tasks = []
    for step_id, attempt in wanted:
        step = plan.steps[step_id]
        error: str | None = None
        try:
            input_data = render(step.get("input_data", {}), plan.run.variables, records, limit)
            REGISTRY[step["task_type"]].validate(input_data)
        except (TemplateError, ValueError) as problem:
            input_data, error = step.get("input_data", {}), f"input: {problem}"
        except Exception as problem:  # the task type refused the rendered input
            input_data, error = step.get("input_data", {}), str(problem)
        tasks.append(
            Task(
                user_id=plan.user_id,
                task_type=step["task_type"],
                input_data=input_data,
                context=step.get("context", {}),
                tools=step.get("tools"),
                agent_id=step.get("agent_id"),
                memory_id=step.get("memory_id"),
                parent_id=plan.run_id,
                step_id=step_id,
                step_attempt=attempt,
                timeout=step.get("timeout"),
                status=TaskStatus.FAILED if error else TaskStatus.CREATED,
                error=error,
                finished_at=now if error else None,
            )
        )
    await insert_all(Task, tasks)
    return tasks


async def _launch(services: Services, plan: Plan, tasks: list[Task], *, retry: bool) -> None:
    """Announces and queues attempts just created, all at once."""
    if not tasks:
        return
    await services.bus.publish_many(
        [task_events.step_event(plan.run_id, str(t.step_id), str(t.status)) for t in tasks]
    )
    if not await _running(plan.run_id):
        # The run ended while they were created: its cancel may not have seen them.
        for task in tasks:
            await cancel(services, task)
        return
    queued = [task for task in tasks if task.status == TaskStatus.CREATED]
    if retry and queued:
        attempt = queued[0].step_attempt or 1
        await dispatch_many(services, queued, defer_by=RETRY_BACKOFF * 2 ** (attempt - 2))
    elif queued:
        await _start(services, queued)
    for task in tasks:
        if task.status == TaskStatus.FAILED:
            await step_finished(services, task)


async def _start(services: Services, tasks: list[Task]) -> None:
    """A process that runs jobs runs new attempts itself, at once: those of instant types (a
    wave's calculations) together, with a few statements for them all; the others each on its
    own, in a worker without queuing them (a queued job per step would cost its round trips to
    the queue and a claim that finds the step claimed). Should the process die before it claims
    them, the full pass queues what nobody claimed (the reconciler runs it for runs that stopped
    moving, and queues tasks left unclaimed)."""
    if not services.runs_jobs:
        await dispatch_many(services, tasks)
        return
    instant = [task for task in tasks if REGISTRY[task.task_type].instant]
    alone = tasks
    if len(instant) > 1:  # one alone runs as fast its own way
        services.spawn(run_together(services, instant))
        alone = [task for task in tasks if not REGISTRY[task.task_type].instant]
    if services.jobs.starts_at_once:
        await dispatch_many(services, alone)
    else:
        for task in alone:
            services.spawn(run_task(services, str(task.id), task.attempts))


async def _complete_run(services: Services, plan: Plan) -> None:
    if not await _running(plan.run_id):
        return
    states = await step_states(plan.run)
    results = {step_id: state.record()["result"] for step_id, state in states.items()}
    finals = plan.finals
    texts = [str((results[s] or {}).get("text", "")) for s in finals]
    text = (
        texts[0]
        if len(finals) == 1
        else "\n\n".join(f"{step_id}: {body}" for step_id, body in zip(finals, texts, strict=True))
    )
    result = stored_result({"steps": results, "text": text}, services.settings.max_result_bytes)
    completed = await changed_rows(
        Task,
        Task.filter(id=plan.run_id, status=TaskStatus.RUNNING).update(
            status=TaskStatus.COMPLETED, result=result, finished_at=utcnow()
        ),
    )
    if completed:
        await _run_ended(services, completed[0])


async def fail_run(services: Services, parent: Task, error: str) -> None:
    failed = await changed_rows(
        Task,
        Task.filter(id=parent.id, status=TaskStatus.RUNNING).update(
            status=TaskStatus.FAILED, error=error, finished_at=utcnow()
        ),
    )
    if failed:
        await cancel_steps(services, parent)
        await _run_ended(services, failed[0])


async def cancel_steps(services: Services, parent: Task) -> None:
    for child in await Task.filter(parent_id=parent.id).exclude(status__in=FINISHED):
        await cancel(services, child)


async def _run_ended(services: Services, parent: Task) -> None:
    """`parent`, the run's row as it now is, has ended: its event, its workflow, its rows."""
    await task_events.task_finished(services, parent)
    await _forget(str(parent.id))


async def _forget(run_id: str) -> None:
    """An ended run needs no step rows (its children keep what it did)."""
    _plans.pop(run_id, None)
    await WorkflowStep.filter(run_id=run_id).delete()


async def sync_workflow(parent: Task) -> None:
    """The workflow shows its latest run's status and result."""
    workflow_id = (parent.context or {}).get("workflow_id")
    if workflow_id:
        await Workflow.filter(id=workflow_id, latest_run_id=parent.id).update(
            status=str(parent.status), result=parent.result
        )


async def on_task_finished(services: Services, task: Task) -> None:
    """Whenever any task ends (tasks.TASK_FINISHED), with its row as it now is: a step's end
    moves its workflow on; a run's end shows on its workflow (a cancelled run's steps stop)."""
    if task.parent_id is None or task.step_id is None:
        if task.task_type == "workflow":
            if task.status == TaskStatus.CANCELLED:
                await cancel_steps(services, task)
                await _forget(str(task.id))
            await sync_workflow(task)
        return
    # Right here rather than as a job: one queue hop less per step. A crash in between is
    # repaired by the reconciler, which advances runs that stopped moving.
    await step_finished(services, task)


async def start_run(services: Services, run: Task) -> None:
    """A worker claimed a `workflow` task (tasks.RUN_CLAIMED): its steps run as child tasks,
    whose ends move the run on."""
    await sync_workflow(run)
    await advance(services, str(run.id))
