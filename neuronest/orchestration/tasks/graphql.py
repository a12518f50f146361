from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.shapes import Id, Object, OptionalId, OptionalObject, Shape
from neuronest.graphql.types import Message, page
from neuronest.orchestration.tasks import service
from neuronest.orchestration.tasks.events import StreamCatchUp, updates_channel
from neuronest.orchestration.tasks.models import FINISHED, TaskStatus


@strawberry.pydantic.type
class Task(Shape):
    id: Id
    user_id: Id
    task_type: str
    input_data: Object
    context: Object
    tools: list[str] | None
    memory_id: OptionalId
    agent_id: OptionalId
    status: str
    result: OptionalObject
    error: str | None
    parent_id: OptionalId
    step_id: str | None
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.pydantic.type
class TaskUpdate(Shape):
    type: str = Field(description="status, delta or step")
    task: Task = Field(description="The task as it is now")
    text: str | None = Field(default=None, description="A piece of streamed text")
    step_id: str | None = None
    step_status: str | None = None


@strawberry.pydantic.input
class TaskInput(BaseModel):
    task_type: str = Field(examples=["text_generation"])
    input_data: Object = Field(examples=[{"prompt": "Write a poem about AI"}])
    context: OptionalObject = None
    tools: list[str] | None = None
    memory_id: strawberry.ID | None = None
    agent_id: strawberry.ID | None = None


@strawberry.type
class TaskQuery:
    @strawberry.field(description="Your tasks, newest first.")
    async def tasks(
        self,
        info: Info[Context, None],
        task_type: str | None = None,
        status: str | None = None,
        agent_id: strawberry.ID | None = None,
        parent_id: strawberry.ID | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[Task]:
        rows = await service.list_tasks(
            actor=await info.context.user(),
            page=page(limit, offset),
            task_type=task_type,
            status=status,
            agent_id=agent_id,
            parent_id=parent_id,
        )
        return [Task.of(row) for row in rows]

    @strawberry.field
    async def task(self, info: Info[Context, None], task_id: strawberry.ID) -> Task:
        return Task.of(await service.get_task(actor=await info.context.user(), task_id=task_id))


@strawberry.type
class TaskMutation:
    @strawberry.mutation(description="Answers at once (status created); a worker runs it.")
    async def create_task(self, info: Info[Context, None], input: TaskInput) -> Task:
        row = await service.create_task(
            info.context.services,
            actor=await info.context.user(),
            task_type=input.task_type,
            input_data=input.input_data,
            context=input.context,
            tools=input.tools,
            memory_id=input.memory_id,
            agent_id=input.agent_id,
        )
        return Task.of(row)

    @strawberry.mutation(description="Stops the task's work; a finished task is a conflict.")
    async def cancel_task(self, info: Info[Context, None], task_id: strawberry.ID) -> Message:
        await service.cancel_task(
            info.context.services, actor=await info.context.user(), task_id=task_id
        )
        return Message(message="Task cancelled successfully")

    @strawberry.mutation
    async def delete_task(self, info: Info[Context, None], task_id: strawberry.ID) -> Message:
        await service.delete_task(
            info.context.services, actor=await info.context.user(), task_id=task_id
        )
        return Message(message="Task deleted successfully")


@strawberry.type
class TaskSubscription:
    @strawberry.subscription(
        description="The task now, then each change of status, each piece of text the model "
        "writes, and each step's progress for workflows; ends when the task has finished."
    )
    async def task_updates(
        self, info: Info[Context, None], task_id: strawberry.ID
    ) -> AsyncGenerator[TaskUpdate, None]:
        actor = await info.context.user()
        row = await service.get_task(actor=actor, task_id=task_id)
        with await info.context.live(updates_channel(row.id)) as events:
            row = await service.get_task(actor=actor, task_id=task_id)
            yield TaskUpdate(type="status", task=Task.of(row))
            if row.status in FINISHED:
                return
            text = StreamCatchUp(joined_running=row.status == TaskStatus.RUNNING)
            if text.joined_running:
                await service.request_snapshot(info.context.services, row)
            async for _, event in events:
                kind = str(event.get("type"))
                if kind in ("delta", "snapshot"):
                    for piece in text.accept(event):
                        yield TaskUpdate(type="delta", task=Task.of(row), text=piece)
                    if text.waiting:  # the worker may not have heard the first request
                        await service.request_snapshot(info.context.services, row)
                    continue
                row = await service.get_task(actor=actor, task_id=task_id)
                yield TaskUpdate(
                    type=kind,
                    task=Task.of(row),
                    step_id=event.get("step_id"),
                    step_status=event.get("status") if kind == "step" else None,
                )
                if kind == "status" and row.status in FINISHED:
                    return
