from __future__ import annotations

from datetime import datetime

import strawberry
from pydantic import BaseModel, Field
from strawberry.types import Info

from neuronest.graphql.context import Context
from neuronest.graphql.shapes import Id, Shape, Sparse, SparseInput, given
from neuronest.graphql.types import Message, page
from neuronest.orchestration.agents import service


class Configuration(Sparse):
    """The model settings of an agent; each may be left out."""

    model: str | None = Field(None, description="provider:model or a bare name")
    temperature: float | None = Field(None, description="0 to 2")
    max_tokens: int | None = Field(None, description="above 0")
    system_prompt: str | None = None


@strawberry.pydantic.type
class AgentConfiguration(Configuration, Shape):
    pass


@strawberry.pydantic.input
class AgentConfigurationInput(Configuration, SparseInput):
    pass


@strawberry.pydantic.type
class Agent(Shape):
    id: Id
    user_id: Id
    name: str
    description: str
    capabilities: list[str]
    configuration: AgentConfiguration
    created_at: datetime
    updated_at: datetime


@strawberry.pydantic.input
class AgentInput(BaseModel):
    name: str = Field(examples=["Poetry Agent"])
    description: str = ""
    capabilities: list[str] | None = None
    configuration: AgentConfigurationInput | None = Field(
        None,
        description="model (provider:model or a bare name), temperature 0..2, max_tokens > 0, "
        "system_prompt",
        examples=[{"model": "gpt-4", "temperature": 0.7, "max_tokens": 1000}],
    )


@strawberry.pydantic.input
class AgentUpdateInput(BaseModel):
    name: str | None = None
    description: str | None = None
    capabilities: list[str] | None = None
    configuration: AgentConfigurationInput | None = None


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
            configuration=given(input.configuration),
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
            configuration=given(input.configuration),
        )
        return Agent.of(row)

    @strawberry.mutation
    async def delete_agent(self, info: Info[Context, None], agent_id: strawberry.ID) -> Message:
        await service.delete_agent(actor=await info.context.user(), agent_id=agent_id)
        return Message(message="Agent deleted successfully")
