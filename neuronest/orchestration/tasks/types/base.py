from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.llm.client import ToolSpec
from neuronest.memory.models import Memory
from neuronest.orchestration.tasks.models import Task


class TaskFailed(Exception):
    """The work ran to its end and failed: the task ends `failed` with `error`, keeping `result`."""

    def __init__(self, error: str, result: dict[str, Any]) -> None:
        super().__init__(error)
        self.error = error
        self.result = result


@dataclass
class TaskRun:
    """Everything a task type needs to do its work."""

    task: Task
    settings: Settings
    agent: dict[str, Any]
    memory: Memory | None
    tools: list[ToolSpec]
    emit: Callable[[str], Awaitable[None]]
    recalled: list[str] = field(default_factory=list)

    @property
    def input(self) -> dict[str, Any]:
        return self.task.input_data


@dataclass(frozen=True)
class TaskType:
    name: str
    description: str
    run: Callable[[TaskRun], Awaitable[dict[str, Any]]]
    required: tuple[str, ...] = ()
    timeout: float = 600.0
    uses_llm: bool = False
    # Pure computation that ends in milliseconds: nothing to cancel or heartbeat while it runs.
    instant: bool = False
    check: Callable[[dict[str, Any]], None] | None = None

    def validate(self, input_data: Any) -> dict[str, Any]:
        if not isinstance(input_data, dict):
            raise Invalid("input_data: must be an object", field="input_data")
        for key in self.required:
            value = input_data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise Invalid(
                    f"input_data.{key}: a {self.name} task needs it as non-empty text",
                    field="input_data",
                )
        if self.check is not None:
            self.check(input_data)
        return input_data
