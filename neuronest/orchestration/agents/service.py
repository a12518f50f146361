"""Agents: a name and a model configuration that tasks can run with."""

from __future__ import annotations

from typing import Any

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.kit.jsonvalue import small_object
from neuronest.kit.ownership import get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.validation import check_name
from neuronest.llm.models import parse_model
from neuronest.orchestration.agents.models import Agent
from neuronest.services import Services


def check_configuration(settings: Settings, configuration: dict[str, Any]) -> dict[str, Any]:
    """What the configuration's shape (AgentConfigurationInput: its fields and their types)
    cannot say: its size, a model that resolves, the ranges."""
    small_object(configuration, "configuration", settings)
    model = configuration.get("model")
    if model is not None:
        if not model.strip():
            raise Invalid("configuration.model: must be a model name", field="configuration")
        parse_model(model, field="configuration.model")
    temperature = configuration.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise Invalid(
            "configuration.temperature: must be a number from 0 to 2", field="configuration"
        )
    max_tokens = configuration.get("max_tokens")
    if max_tokens is not None and max_tokens <= 0:
        raise Invalid(
            "configuration.max_tokens: must be a whole number above 0", field="configuration"
        )
    return dict(configuration)


async def create_agent(
    services: Services,
    *,
    actor: User,
    name: str,
    description: str = "",
    capabilities: list[str] | None = None,
    configuration: dict[str, Any] | None = None,
) -> Agent:
    return await Agent.create(
        user=actor,
        name=check_name(name),
        description=description,
        capabilities=small_object(capabilities or [], "capabilities", services.settings),
        configuration=check_configuration(services.settings, configuration or {}),
    )


async def list_agents(*, actor: User, page: Page) -> list[Agent]:
    return await newest_first(Agent.filter(user_id=actor.id), page)


async def get_agent(*, actor: User, agent_id: str) -> Agent:
    return await get_owned(Agent, agent_id, actor, "Agent")


async def update_agent(
    services: Services,
    *,
    actor: User,
    agent_id: str,
    name: str | None = None,
    description: str | None = None,
    capabilities: list[str] | None = None,
    configuration: dict[str, Any] | None = None,
) -> Agent:
    agent = await get_agent(actor=actor, agent_id=agent_id)
    if name is not None:
        agent.name = check_name(name)
    if description is not None:
        agent.description = description
    if capabilities is not None:
        agent.capabilities = small_object(capabilities, "capabilities", services.settings)
    if configuration is not None:
        agent.configuration = check_configuration(services.settings, configuration)
    await agent.save()
    return agent


async def delete_agent(*, actor: User, agent_id: str) -> None:
    agent = await get_agent(actor=actor, agent_id=agent_id)
    await agent.delete()
