"""Workflows: validated DAGs of steps whose inputs are templates; each run is a `workflow` task."""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Subquery

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.kit.jsonvalue import input_value
from neuronest.kit.ownership import get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.validation import check_name
from neuronest.orchestration.tasks.models import Task
from neuronest.orchestration.tasks.service import dispatch, within_tasks_quota
from neuronest.orchestration.workflows.engine import StepState, step_states
from neuronest.orchestration.workflows.models import Workflow, WorkflowRun
from neuronest.orchestration.workflows.templates import TemplateError, references, render
from neuronest.orchestration.workflows.validation import check_steps, required_variables
from neuronest.services import Services


async def create_workflow(
    services: Services, *, actor: User, name: str, description: str = "", steps: Any
) -> Workflow:
    return await Workflow.create(
        user=actor,
        name=check_name(name),
        description=description,
        steps=await check_steps(input_value(steps, "steps", services.settings), actor),
    )


async def list_workflows(*, actor: User, page: Page) -> list[Workflow]:
    return await newest_first(Workflow.filter(user_id=actor.id), page)


async def get_workflow(*, actor: User, workflow_id: str) -> Workflow:
    return await get_owned(Workflow, workflow_id, actor, "Workflow")


async def update_workflow(
    services: Services,
    *,
    actor: User,
    workflow_id: str,
    name: str | None = None,
    description: str | None = None,
    steps: Any = None,
) -> Workflow:
    """A run in progress keeps the steps it started with."""
    workflow = await get_workflow(actor=actor, workflow_id=workflow_id)
    if name is not None:
        workflow.name = check_name(name)
    if description is not None:
        workflow.description = description
    if steps is not None:
        workflow.steps = await check_steps(input_value(steps, "steps", services.settings), actor)
    await workflow.save()
    return workflow


async def delete_workflow(*, actor: User, workflow_id: str) -> None:
    workflow = await get_workflow(actor=actor, workflow_id=workflow_id)
    await workflow.delete()


async def execute_workflow(
    services: Services, *, actor: User, workflow_id: str, variables: Any
) -> Task:
    """Checks the run's variables, then hands a `workflow` task to the workers."""
    workflow = await get_workflow(actor=actor, workflow_id=workflow_id)
    if not isinstance(variables, dict):
        raise Invalid("variables: must be an object", field="variables")
    input_value(variables, "variables", services.settings)
    missing = [name for name in required_variables(workflow.steps) if name not in variables]
    if missing:
        raise Invalid(
            f"variables: missing {', '.join(missing)} (the steps use "
            f"{', '.join('${' + name + '}' for name in missing)})",
            field="variables",
        )
    _check_rendered_sizes(services.settings, workflow.steps, variables)
    async with within_tasks_quota(services.settings, actor):
        task = await Task.create(
            user=actor,
            task_type="workflow",
            input_data=variables,
            context={"workflow_id": str(workflow.id)},
            tools=None,
        )
        await WorkflowRun.create(
            id=task.id, workflow_id=workflow.id, steps=workflow.steps, variables=variables
        )
    await Workflow.filter(id=workflow.id).update(
        latest_run_id=task.id, status="created", result=None
    )
    await dispatch(services, task)
    return task


def _check_rendered_sizes(
    settings: Settings, steps: list[dict[str, Any]], variables: dict[str, Any]
) -> None:
    """Steps that use only run variables are rendered now: too big an input is a 422 at once."""
    limit = settings.max_rendered_input_bytes
    ids = {step["id"] for step in steps}
    for step in steps:
        value = step.get("input_data", {})
        if any(reference.head in ids for reference in references(value)):
            continue
        try:
            render(value, variables, {}, limit)
        except TemplateError as problem:
            raise Invalid(
                f"variables: step {step['id']!r} would get too big an input: {problem}",
                field="variables",
            ) from None


async def list_runs(*, actor: User, workflow_id: str, page: Page) -> list[Task]:
    """A workflow's runs (their `workflow` tasks), newest first."""
    workflow = await get_workflow(actor=actor, workflow_id=workflow_id)
    runs = Subquery(WorkflowRun.filter(workflow_id=workflow.id).values("id"))
    return await newest_first(Task.filter(user_id=actor.id, id__in=runs), page)


async def run_steps(*, actor: User, task_id: str) -> list[StepState]:
    """The steps of a run (a `workflow` task) with their state, in the order of the workflow."""
    task = await get_owned(Task, task_id, actor, "Task")
    run = await WorkflowRun.get_or_none(id=task.id)
    if run is None:
        return []
    return list((await step_states(run)).values())
