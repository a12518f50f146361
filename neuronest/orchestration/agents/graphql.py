from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.scalars import JSON
from neuronest.graphql.types import Message, page
from neuronest.orchestration.agents import service
from neuronest.orchestration.agents.models import Agent as AgentRow


@strawberry.type
class Agent:
    id: strawberry.ID
    user_id: strawberry.ID
    name: str
    description: str
    capabilities: list[str]
    configuration: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: AgentRow) -> Agent:
        return cls(
            id=strawberry.ID(str(row.id)),
            user_id=strawberry.ID(str(row.user_id)),  # type: ignore[attr-defined]
            name=row.name,
            description=row.description,
            capabilities=list(row.capabilities),
            configuration=JSON(row.configuration),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input
class AgentInput:
    name: str
    description: str = ""
    capabilities: list[str] | None = None
    configuration: JSON | None = strawberry.field(
        default=None,
        description="model (provider:model or a bare name), temperature 0..2, max_tokens > 0, "
        "system_prompt",
    )


@strawberry.input
class AgentUpdateInput:
    name: str | None = None
    description: str | None = None
    capabilities: list[str] | None = None
    configuration: JSON | None = None


@strawberry.type
class AgentQuery:
    @strawberry.field(description="Your agents, newest first.")
    async def agents(
        self, info: Info[Context, None], limit: int | None = 100, offset: int | None = 0
    ) -> list[Agent]:
        rows = await service.list_agents(actor=await info.context.user(), page=page(limit, offset))
        return [Agent.of(row) for row in rows]

    @strawberry.field
    async def agent(self, info: Info[Context, None], agent_id: strawberry.ID) -> Agent:
        return Agent.of(await service.get_agent(actor=await info.context.user(), agent_id=agent_id))


@strawberry.type
class AgentMutation:
    @strawberry.mutation
    async def create_agent(self, info: Info[Context, None], input: AgentInput) -> Agent:
        row = await service.create_agent(
            info.context.services,
            actor=await info.context.user(),
            name=input.name,
            description=input.description,
            capabilities=input.capabilities,
            configuration=input.configuration,
        )
        return Agent.of(row)

    @strawberry.mutation
    async def update_agent(
        self, info: Info[Context, None], agent_id: strawberry.ID, input: AgentUpdateInput
    ) -> Agent:
        row = await service.update_agent(
            info.context.services,
            actor=await info.context.user(),
            agent_id=agent_id,
            name=input.name,
            description=input.description,
            capabilities=input.capabilities,
            configuration=input.configuration,
        )
        return Agent.of(row)

    @strawberry.mutation
    async def delete_agent(self, info: Info[Context, None], agent_id: strawberry.ID) -> Message:
        await service.delete_agent(actor=await info.context.user(), agent_id=agent_id)
        return Message(message="Agent deleted successfully")
