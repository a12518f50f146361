"""The shapes of a model call, shared by the client and the provider layer it loads lazily
(so that neither imports the other's module at its top and back)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ToolHandler = Callable[[dict[str, Any]], Awaitable[str]]
DeltaCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    handler: ToolHandler  # runs the tool, returns text for the model


@dataclass(frozen=True)
class LLMRequest:
    model: str | None  # "provider:model", bare name, or None = settings.llm_default_model
    prompt: str
    system: str | None = None
    history: Sequence[tuple[str, str]] = ()  # earlier (role, content), role "user"|"assistant"
    temperature: float | None = None
    max_tokens: int | None = None
    tools: Sequence[ToolSpec] = ()


@dataclass
class ToolCallRecord:
    name: str
    arguments: dict[str, Any]
    result: str


@dataclass
class LLMResult:
    text: str
    model: str  # the model string actually used ("gpt-4o-mini", "openai:gpt-4o", ...)
    usage: dict[str, int]  # input_tokens, output_tokens, total_tokens (summed over rounds)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    rounds: int = 0  # model requests made (retries of one request not counted)


class LLMError(Exception):
    """The model call failed; the message is shown to users as the task's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LLMNotConfigured(LLMError):
    """No provider is configured for the requested model; the message says what to set."""


ProviderKind = Literal["compatible", "openai", "anthropic"]


@dataclass(frozen=True)
class Endpoint:
    """Where one model string is sent; built by :func:`resolve` from the settings."""

    kind: ProviderKind
    model: str  # the model string actually used (prefixed for openai:/anthropic:)
    name: str  # the model name the provider sees
    base_url: str
    api_key: str | None
    key_setting: str  # the environment variable that holds the key, for error messages

    @property
    def label(self) -> str:
        if self.kind == "anthropic":
            return "the Anthropic API"
        if self.kind == "openai":
            return "the OpenAI API"
        return "the OpenAI-compatible endpoint (NEURONEST_LLM_BASE_URL)"
