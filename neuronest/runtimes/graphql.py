from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any, cast

import strawberry
from pydantic import BaseModel, BeforeValidator, Field
from strawberry.types import Info

from neuronest.errors import Invalid
from neuronest.graphql.context import Context
from neuronest.graphql.cost import embedded
from neuronest.graphql.flat import Columns
from neuronest.graphql.scalars import JSON
from neuronest.graphql.shapes import Id, Shape
from neuronest.graphql.types import Message, page
from neuronest.runtimes import service
from neuronest.runtimes.events import status_channel
from neuronest.runtimes.logs import LogBatch, logs_channel
from neuronest.runtimes.models import Runtime as RuntimeRow

GAP_CHUNK = 1000


@strawberry.pydantic.type
class EnvironmentVariable(Shape):
    name: str
    value: str


@strawberry.pydantic.input
class EnvironmentVariableInput(EnvironmentVariable):
    pass


def listed(env: Any) -> Any:
    """A runtime's variables (stored as an object) as GraphQL lists them."""
    if isinstance(env, dict):
        return [{"name": name, "value": value} for name, value in env.items()]
    return env


def variables(env: list[EnvironmentVariableInput] | None) -> dict[str, str] | None:
    """GraphQL's list of variables as the object a runtime stores; a name given twice is refused."""
    if env is None:
        return None
    found: dict[str, str] = {}
    for variable in env:
        if variable.name in found:
            raise Invalid(
                f"environment_vars: {variable.name} is given twice", field="environment_vars"
            )
        found[variable.name] = variable.value
    return found


@strawberry.pydantic.type
class Runtime(Shape):
    id: Id
    project_id: Id
    user_id: Id
    language: str
    status: str
    environment_vars: Annotated[list[EnvironmentVariable], BeforeValidator(listed), embedded()]
    entry_point: str
    container_id: str | None
    port: int | None
    url: str | None
    timeout: int
    exit_code: int | None
    error: str | None
    backend: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


@strawberry.pydantic.type
class RuntimeLog(Shape):
    id: Id
    runtime_id: Id
    user_id: Id
    seq: int = Field(description="Position in the runtime's log, across runs")
    type: str = Field(description="stdout, stderr or system")
    message: str
    timestamp: datetime


@strawberry.pydantic.input
class RuntimeInput(BaseModel):
    project_id: strawberry.ID
    language: str = Field(examples=["python"])
    entry_point: str = Field(examples=["main.py"])
    environment_vars: list[EnvironmentVariableInput] | None = None
    timeout: int = 300


@strawberry.pydantic.input
class RuntimeUpdateInput(BaseModel):
    entry_point: str | None = None
    environment_vars: list[EnvironmentVariableInput] | None = None
    timeout: int | None = None


@strawberry.type
class RuntimeQuery:
    @strawberry.field(description="Your runtimes, newest first.")
    async def runtimes(
        self,
        info: Info[Context, None],
        project_id: strawberry.ID | None = None,
        status: str | None = None,
        language: str | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[Runtime]:
        rows = await service.list_runtimes(
            actor=await info.context.user(),
            page=page(limit, offset),
            project_id=project_id,
            status=status,
            language=language,
        )
        return [Runtime.of(row) for row in rows]

    @strawberry.field
    async def runtime(self, info: Info[Context, None], runtime_id: strawberry.ID) -> Runtime:
        row = await service.get_runtime(actor=await info.context.user(), runtime_id=runtime_id)
        return Runtime.of(row)

    @strawberry.field(description="The most recent `limit` lines, in time order.")
    async def runtime_logs(
        self, info: Info[Context, None], runtime_id: strawberry.ID, limit: int | None = 100
    ) -> list[RuntimeLog]:
        rows = await service.list_logs(
            actor=await info.context.user(), runtime_id=runtime_id, limit=page(limit).limit
        )
        return [RuntimeLog.of(row) for row in rows]


@strawberry.type
class RuntimeMutation:
    @strawberry.mutation
    async def create_runtime(self, info: Info[Context, None], input: RuntimeInput) -> Runtime:
        row = await service.create_runtime(
            info.context.services,
            actor=await info.context.user(),
            project_id=input.project_id,
            language=input.language,
            entry_point=input.entry_point,
            environment_vars=variables(input.environment_vars),
            timeout=input.timeout,
        )
        return Runtime.of(row)

    @strawberry.mutation(description="A running runtime is stopped first.")
    async def update_runtime(
        self, info: Info[Context, None], runtime_id: strawberry.ID, input: RuntimeUpdateInput
    ) -> Runtime:
        row = await service.update_runtime(
            info.context.services,
            actor=await info.context.user(),
            runtime_id=runtime_id,
            entry_point=input.entry_point,
            environment_vars=variables(input.environment_vars),
            timeout=input.timeout,
        )
        return Runtime.of(row)

    @strawberry.mutation(description="Stops it and removes its container, files and logs.")
    async def delete_runtime(self, info: Info[Context, None], runtime_id: strawberry.ID) -> Message:
        await service.delete_runtime(
            info.context.services, actor=await info.context.user(), runtime_id=runtime_id
        )
        return Message(message="Runtime deleted successfully")

    @strawberry.mutation(description="Answers at once; a worker starts the program.")
    async def start_runtime(self, info: Info[Context, None], runtime_id: strawberry.ID) -> Message:
        await service.start_runtime(
            info.context.services, actor=await info.context.user(), runtime_id=runtime_id
        )
        return Message(message="Runtime starting")

    @strawberry.mutation(description="Waits until the program has stopped.")
    async def stop_runtime(self, info: Info[Context, None], runtime_id: strawberry.ID) -> Message:
        await service.stop_runtime(
            info.context.services, actor=await info.context.user(), runtime_id=runtime_id
        )
        return Message(message="Runtime stopped")

    @strawberry.mutation
    async def restart_runtime(
        self, info: Info[Context, None], runtime_id: strawberry.ID
    ) -> Message:
        await service.restart_runtime(
            info.context.services, actor=await info.context.user(), runtime_id=runtime_id
        )
        return Message(message="Runtime restarting")


async def _log_batches(
    info: Info[Context, None], runtime_id: str, limit: int | None
) -> AsyncGenerator[tuple[RuntimeRow, LogBatch], None]:
    """Recent lines, then live batches: subscribed before reading, so nothing falls between;
    a batch that starts past the last line delivered has its gap read from the database."""
    actor = await info.context.user()
    runtime = await service.get_runtime(actor=actor, runtime_id=runtime_id)
    with await info.context.live(logs_channel(runtime.id)) as events:
        recent = await service.list_logs(
            actor=actor, runtime_id=runtime_id, limit=page(limit).limit
        )
        last = recent[-1].seq if recent else 0
        if recent:
            yield runtime, LogBatch.of_rows(recent)
        async for _, message in events:
            lines = LogBatch.of_event(message).after(last)
            if not lines.seq:
                continue
            while lines.seq[0] > last + 1:
                gap = await service.list_logs(
                    actor=actor, runtime_id=runtime_id, limit=GAP_CHUNK, after_seq=last
                )
                gap = [row for row in gap if row.seq < lines.seq[0]]
                if not gap:
                    break
                last = gap[-1].seq
                yield runtime, LogBatch.of_rows(gap)
            last = lines.seq[-1]
            yield runtime, lines


@strawberry.type
class RuntimeSubscription:
    @strawberry.subscription(
        description="Recent lines (up to `limit`), then every new line as it is written: each "
        "event is a batch, in order, with no gap and no duplicate."
    )
    async def runtime_logs(
        self, info: Info[Context, None], runtime_id: strawberry.ID, limit: int | None = 100
    ) -> AsyncGenerator[list[RuntimeLog], None]:
        async for runtime, batch in _log_batches(info, runtime_id, limit):
            count = len(batch.seq)
            columns = {
                **batch._asdict(),
                "runtime_id": [str(runtime.id)] * count,
                "user_id": [str(runtime.user_id)] * count,  # type: ignore[attr-defined]
            }
            # Completed column by column (see `Columns`), as a list of `RuntimeLog`s.
            yield cast(list[RuntimeLog], Columns(columns, RuntimeLog))

    @strawberry.subscription(
        description="The same lines as `runtimeLogs`, each batch as one JSON list of "
        "{id, seq, type, message, timestamp}: for high-volume output, where typed objects per "
        "line would cost the server more than the lines themselves."
    )
    async def runtime_log_batches(
        self, info: Info[Context, None], runtime_id: strawberry.ID, limit: int | None = 100
    ) -> AsyncGenerator[JSON, None]:
        async for _, batch in _log_batches(info, runtime_id, limit):
            yield JSON(batch.lines())

    @strawberry.subscription(description="The runtime now, then after each change of status.")
    async def runtime_status(
        self, info: Info[Context, None], runtime_id: strawberry.ID
    ) -> AsyncGenerator[Runtime, None]:
        actor = await info.context.user()
        runtime = await service.get_runtime(actor=actor, runtime_id=runtime_id)
        with await info.context.live(status_channel(runtime.id)) as events:
            yield Runtime.of(runtime)
            async for _ in events:
                runtime = await service.get_runtime(actor=actor, runtime_id=runtime_id)
                yield Runtime.of(runtime)
