from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from pydantic import BaseModel, Field, model_validator
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.scalars import JSON
from neuronest.graphql.shapes import (
    Id,
    OptionalId,
    OptionalObject,
    Shape,
    Sparse,
    SparseInput,
    given,
)
from neuronest.graphql.types import Message, page
from neuronest.orchestration.tasks.graphql import Task
from neuronest.orchestration.workflows import service
from neuronest.orchestration.workflows.engine import StepState
from neuronest.orchestration.workflows.validation import MAX_RETRIES, MAX_TIMEOUT


class StepDefinition(Sparse):
    """A step of a workflow: a task to run once the steps it depends on are done."""

    id: str = Field(description="Letters, digits, '_' or '-'")
    name: str | None = None
    task_type: str
    input_data: OptionalObject = Field(
        None, description="Templates: ${variable}, ${step_id.result.text}"
    )
    depends_on: list[str] | None = Field(None, description="Ids of the steps it waits for")
    retries: int | None = Field(None, description=f"0 to {MAX_RETRIES} (0 when left out)")
    timeout: float | None = Field(None, description=f"Seconds, up to {MAX_TIMEOUT}")
    continue_on_error: bool | None = Field(
        None, description="Whether the run goes on when it fails"
    )
    context: OptionalObject = None
    tools: list[str] | None = None
    agent_id: strawberry.ID | None = None
    memory_id: strawberry.ID | None = None


@strawberry.pydantic.type
class WorkflowStepDefinition(StepDefinition, Shape):
    pass


@strawberry.pydantic.input
class WorkflowStepDefinitionInput(StepDefinition, SparseInput):
    pass


@strawberry.pydantic.type
class Workflow(Shape):
    id: Id
    user_id: Id
    name: str
    description: str
    steps: list[WorkflowStepDefinition]
    status: str = Field(description="The latest run's status")
    result: OptionalObject = Field(description="The latest run's result")
    created_at: datetime
    updated_at: datetime


@strawberry.pydantic.type
class WorkflowStep(Shape):
    id: str
    name: str | None
    task_type: str
    depends_on: list[str]
    status: str = Field(description="pending, or the status of its latest attempt")
    attempts: int
    task_id: OptionalId
    started_at: datetime | None
    finished_at: datetime | None
    result: OptionalObject
    error: str | None

    @model_validator(mode="before")
    @classmethod
    def _of_state(cls, state: Any) -> Any:
        """A step of a run: its definition, then what its latest attempt (a task) shows."""
        if not isinstance(state, StepState):
            return state
        task = state.latest
        return {
            "id": state.id,
            "name": state.step.get("name"),
            "task_type": state.step["task_type"],
            "depends_on": state.step.get("depends_on", []),
            "status": state.status,
            "attempts": state.attempts,
            "task_id": task and task.id,
            "started_at": task and task.started_at,
            "finished_at": task and task.finished_at,
            "result": task and task.result,
            "error": task and task.error,
        }


@strawberry.pydantic.input
class WorkflowInput(BaseModel):
    name: str = Field(examples=["Poetry Generation Workflow"])
    description: str = ""
    steps: list[WorkflowStepDefinitionInput]


@strawberry.pydantic.input
class WorkflowUpdateInput(BaseModel):
    name: str | None = None
    description: str | None = None
    steps: list[WorkflowStepDefinitionInput] | None = None


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Your workflows, newest first.")
    async def workflows(
        self, info: Info[Context, None], limit: int | None = 100, offset: int | None = 0
    ) -> list[Workflow]:
        rows = await service.list_workflows(
            actor=await info.context.user(), page=page(limit, offset)
        )
        return [Workflow.of(row) for row in rows]

    @strawberry.field
    async def workflow(self, info: Info[Context, None], workflow_id: strawberry.ID) -> Workflow:
        row = await service.get_workflow(actor=await info.context.user(), workflow_id=workflow_id)
        return Workflow.of(row)

    @strawberry.field(description="A workflow's runs (its `workflow` tasks), newest first.")
    async def workflow_runs(
        self,
        info: Info[Context, None],
        workflow_id: strawberry.ID,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[Task]:
        rows = await service.list_runs(
            actor=await info.context.user(), workflow_id=workflow_id, page=page(limit, offset)
        )
        return [Task.of(row) for row in rows]

    @strawberry.field(description="The steps of a run (a workflow task) with status and timing.")
    async def workflow_steps(
        self, info: Info[Context, None], task_id: strawberry.ID
    ) -> list[WorkflowStep]:
        states = await service.run_steps(actor=await info.context.user(), task_id=task_id)
        return [WorkflowStep.of(state) for state in states]


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation
    async def create_workflow(self, info: Info[Context, None], input: WorkflowInput) -> Workflow:
        row = await service.create_workflow(
            info.context.services,
            actor=await info.context.user(),
            name=input.name,
            description=input.description,
            steps=given(input.steps),
        )
        return Workflow.of(row)

    @strawberry.mutation(description="A run in progress keeps the steps it started with.")
    async def update_workflow(
        self, info: Info[Context, None], workflow_id: strawberry.ID, input: WorkflowUpdateInput
    ) -> Workflow:
        row = await service.update_workflow(
            info.context.services,
            actor=await info.context.user(),
            workflow_id=workflow_id,
            name=input.name,
            description=input.description,
            steps=given(input.steps),
        )
        return Workflow.of(row)

    @strawberry.mutation
    async def delete_workflow(
        self, info: Info[Context, None], workflow_id: strawberry.ID
    ) -> Message:
        await service.delete_workflow(actor=await info.context.user(), workflow_id=workflow_id)
        return Message(message="Workflow deleted successfully")

    @strawberry.mutation(
        description="Starts a run with these variables; answers with its `workflow` task."
    )
    async def execute_workflow(
        self, info: Info[Context, None], workflow_id: strawberry.ID, variables: JSON
    ) -> Task:
        task = await service.execute_workflow(
            info.context.services,
            actor=await info.context.user(),
            workflow_id=workflow_id,
            variables=variables,
        )
        return Task.of(task)
