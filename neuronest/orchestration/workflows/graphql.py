from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.scalars import JSON
from neuronest.graphql.types import Message, page
from neuronest.orchestration.tasks.graphql import Task
from neuronest.orchestration.workflows import service
from neuronest.orchestration.workflows.engine import StepState
from neuronest.orchestration.workflows.models import Workflow as WorkflowRow


@strawberry.type
class Workflow:
    id: strawberry.ID
    user_id: strawberry.ID
    name: str
    description: str
    steps: JSON
    status: str = strawberry.field(description="The latest run's status")
    result: JSON | None = strawberry.field(description="The latest run's result")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WorkflowRow) -> Workflow:
        return cls(
            id=strawberry.ID(str(row.id)),
            user_id=strawberry.ID(str(row.user_id)),  # type: ignore[attr-defined]
            name=row.name,
            description=row.description,
            steps=JSON(row.steps),
            status=row.status,
            result=None if row.result is None else JSON(row.result),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class WorkflowStep:
    id: str
    name: str | None
    task_type: str
    depends_on: list[str]
    status: str = strawberry.field(description="pending, or the status of its latest attempt")
    attempts: int
    task_id: strawberry.ID | None
    started_at: datetime | None
    finished_at: datetime | None
    result: JSON | None
    error: str | None

    @classmethod
    def of(cls, state: StepState) -> WorkflowStep:
        task = state.latest
        return cls(
            id=state.id,
            name=state.step.get("name"),
            task_type=state.step["task_type"],
            depends_on=list(state.step.get("depends_on", [])),
            status=state.status,
            attempts=state.attempts,
            task_id=strawberry.ID(str(task.id)) if task else None,
            started_at=task.started_at if task else None,
            finished_at=task.finished_at if task else None,
            result=JSON(task.result) if task and task.result is not None else None,
            error=task.error if task else None,
        )


@strawberry.input
class WorkflowInput:
    name: str
    description: str = ""
    steps: JSON


@strawberry.input
class WorkflowUpdateInput:
    name: str | None = None
    description: str | None = None
    steps: JSON | None = None


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
            steps=input.steps,
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
            steps=input.steps,
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
