"""The provider side of :func:`neuronest.llm.client.complete`, on pydantic-ai.

pydantic-ai runs the tool loop and maps messages, tools and streamed events for each provider;
the official ``openai`` and ``anthropic`` SDK clients underneath do the HTTP, including the retries
(429 and 5xx, honouring ``Retry-After``) and the timeouts. This module builds those clients from
the settings, turns pydantic-ai's events into text deltas and its errors into readable
:class:`~neuronest.llm.client.LLMError` messages.

Imported lazily by the client: importing pydantic-ai takes a few seconds.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import re
import ssl
import weakref
from collections.abc import AsyncIterable, Sequence
from functools import cache
from typing import Any, NamedTuple

import httpx2
import pydantic_ai
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
    UserError,
)
from pydantic_ai.messages import (
    AgentStreamEvent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    SystemPromptPart,
    TextPart,
    TextPartDelta,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.profiles.openai import OpenAIModelProfile
from pydantic_ai.providers import Provider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from neuronest.config import Settings
from neuronest.llm.types import (
    DeltaCallback,
    Endpoint,
    LLMError,
    LLMRequest,
    LLMResult,
    ToolCallRecord,
    ToolSpec,
)

log = logging.getLogger(__name__)

# A library started by a platform does not print pydantic-ai's first-run banner.
pydantic_ai.BANNER_ENABLED = False

# Sent when the default endpoint has no key: the SDK needs one, local servers ignore it.
NO_KEY = "not-set"
DETAIL_LIMIT = 300
TOOL_RETRIES = 2  # re-asks when the model sends tool arguments that are not valid JSON

# Servers behind a bare model name (Ollama, vLLM, llama.cpp, ...) know `max_tokens` but not always
# OpenAI's newer `max_completion_tokens`, nor strict tool schemas.
COMPATIBLE_PROFILE = OpenAIModelProfile(
    openai_chat_supports_max_completion_tokens=False,
    openai_supports_strict_tool_definition=False,
)

EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
TOOL_RETRIES_EXCEEDED = re.compile(r"Tool '(.+?)' exceeded max retries")


async def run(
    settings: Settings,
    endpoint: Endpoint,
    request: LLMRequest,
    on_delta: DeltaCallback | None,
) -> LLMResult:
    records: list[ToolCallRecord] = []
    callback_errors: list[BaseException] = []

    async def stream_handler(
        ctx: RunContext[None], events: AsyncIterable[AgentStreamEvent]
    ) -> None:
        async for event in events:
            piece = _text_piece(event)
            if piece and on_delta is not None:
                try:
                    await on_delta(piece)
                except Exception as exc:
                    callback_errors.append(exc)
                    raise

    model_settings: ModelSettings = {}
    if request.temperature is not None:
        model_settings["temperature"] = request.temperature
    if request.max_tokens is not None:
        model_settings["max_tokens"] = request.max_tokens

    model = _model(settings, endpoint)
    try:
        agent: Agent[None, str] = Agent(
            model,
            name="neuronest",
            instructions=request.system or None,
            tools=[_tool(spec, records) for spec in request.tools],
            retries={"tools": TOOL_RETRIES},
        )
        result = await agent.run(
            request.prompt,
            message_history=_history(request.history),
            model_settings=model_settings,
            usage_limits=UsageLimits(request_limit=settings.llm_max_tool_rounds),
            event_stream_handler=stream_handler,
        )
    except Exception as exc:
        if any(exc is error for error in callback_errors):
            raise
        # The cause stays chained for the logs; the message alone is for users.
        raise _llm_error(exc, settings, endpoint) from exc

    usage = result.usage
    return LLMResult(
        text=result.output,
        model=endpoint.model,
        usage={
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        },
        tool_calls=records,
        rounds=usage.requests,
    )


def preload(*, anthropic: bool = False) -> None:
    """Import what the first call would import (see :func:`neuronest.llm.client.preload`)."""
    _ssl_context()
    if anthropic:
        importlib.import_module("pydantic_ai.models.anthropic")
        importlib.import_module("pydantic_ai.providers.anthropic")


class _ClientKey(NamedTuple):
    kind: str
    base_url: str
    api_key: str | None
    max_retries: int
    timeout: float


@cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one reads the CA bundle (~30 ms of CPU)."""
    return httpx2.create_ssl_context()


# Per event loop (a client's connection pool belongs to the loop it was used on), then per
# endpoint: each process builds each SDK client once and reuses its connections for every call.
_providers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[_ClientKey, Provider[Any]]
] = weakref.WeakKeyDictionary()


def _model(settings: Settings, endpoint: Endpoint) -> Model:
    """The pydantic-ai model for ``endpoint``, over this process's SDK client for it."""
    provider = _provider(settings, endpoint)
    if endpoint.kind == "anthropic":
        from pydantic_ai.models.anthropic import AnthropicModel

        return AnthropicModel(endpoint.name, provider=provider)
    return OpenAIChatModel(
        endpoint.name,
        provider=provider,
        profile=COMPATIBLE_PROFILE if endpoint.kind == "compatible" else None,
    )


def _provider(settings: Settings, endpoint: Endpoint) -> Provider[Any]:
    key = _ClientKey(
        endpoint.kind,
        endpoint.base_url,
        endpoint.api_key,
        settings.llm_max_retries,
        settings.llm_timeout,
    )
    providers = _providers.setdefault(asyncio.get_running_loop(), {})
    provider = providers.get(key)
    if provider is None:
        provider = providers[key] = _new_provider(key)
    return provider


def _new_provider(key: _ClientKey) -> Provider[Any]:
    if key.kind == "anthropic":
        import anthropic  # slow to import: only when used
        from pydantic_ai.providers.anthropic import AnthropicProvider

        return AnthropicProvider(
            anthropic_client=anthropic.AsyncAnthropic(
                api_key=key.api_key,
                base_url=key.base_url,
                max_retries=key.max_retries,
                timeout=key.timeout,
                http_client=anthropic.DefaultAsyncHttpxClient(verify=_ssl_context()),
            )
        )
    return OpenAIProvider(
        openai_client=AsyncOpenAI(
            api_key=key.api_key or NO_KEY,
            base_url=key.base_url,
            max_retries=key.max_retries,
            timeout=key.timeout,
            http_client=DefaultAsyncHttpxClient(verify=_ssl_context()),
        )
    )


async def close_clients() -> None:
    """Closes the SDK clients this event loop built (their connections); later calls build new
    ones."""
    providers = _providers.pop(asyncio.get_running_loop(), {})
    for provider in providers.values():
        await provider.client.close()


def _history(history: Sequence[tuple[str, str]]) -> list[ModelMessage]:
    messages: list[ModelMessage] = []
    for role, content in history:
        if role == "assistant":
            messages.append(ModelResponse(parts=[TextPart(content)]))
        elif role == "system":
            messages.append(ModelRequest(parts=[SystemPromptPart(content)]))
        else:
            messages.append(ModelRequest(parts=[UserPromptPart(content)]))
    return messages


def _tool(spec: ToolSpec, records: list[ToolCallRecord]) -> Tool[None]:
    """``spec`` as a pydantic-ai tool; each call is recorded, a handler's exception becomes text."""

    async def call(**arguments: Any) -> str:
        record = ToolCallRecord(spec.name, dict(arguments), "")
        records.append(record)  # in the order the calls start, i.e. the model's order
        try:
            result = await spec.handler(dict(arguments))
        except Exception as exc:
            log.info("tool %s failed: %r", spec.name, exc)
            result = f"error: {_one_line(str(exc)) or type(exc).__name__}"
        record.result = result if isinstance(result, str) else str(result)
        return record.result

    return Tool.from_schema(
        call,
        name=spec.name,
        description=spec.description,
        json_schema=spec.parameters or EMPTY_OBJECT_SCHEMA,
    )


def _text_piece(event: AgentStreamEvent) -> str:
    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return ""


def _one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body_detail(body: object) -> str:
    """The provider's own error message out of an error body."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _one_line(error["message"])
        return _one_line(json.dumps(body, default=str))
    if isinstance(body, str | bytes):
        return _one_line(body.decode(errors="replace") if isinstance(body, bytes) else body)
    return ""


def _without_hint(message: str) -> str:
    """pydantic-ai's messages without its trailing pointers to its docs."""
    for marker in (" Consider raising", " Consider ", " See https://", " see https://"):
        head, found, _ = message.partition(marker)
        if found:
            message = head
    return _one_line(message.rstrip(" .,:;"))


def _llm_error(exc: Exception, settings: Settings, endpoint: Endpoint) -> LLMError:
    """A readable error for users out of whatever the run raised (details go to the log)."""
    where = endpoint.label
    retries = settings.llm_max_retries
    after = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    if isinstance(exc, UsageLimitExceeded):
        return LLMError(f"the model kept calling tools after {settings.llm_max_tool_rounds} rounds")
    if isinstance(exc, ModelHTTPError):
        status = exc.status_code
        detail = _body_detail(exc.body)
        suffix = f": {detail}" if detail else ""
        if status == 429:
            message = f"{where} kept refusing with HTTP 429 (rate limited){after}{suffix}"
        elif status in (401, 403):
            message = (
                f"{where} refused the credentials (HTTP {status}){suffix}; "
                f"check {endpoint.key_setting}"
            )
        elif status == 404:
            message = f"{where} answered HTTP 404 for model {endpoint.name!r}{suffix}"
        elif status >= 500:
            message = f"{where} failed with HTTP {status}{after}{suffix}"
        else:
            message = f"{where} refused the request (HTTP {status}){suffix}"
        return LLMError(message)
    if isinstance(exc, ModelTimeoutError):
        return LLMError(f"{where} did not answer within {settings.llm_timeout:g} s")
    if isinstance(exc, ModelConnectionError):
        return LLMError(f"could not reach {where}: {_without_hint(exc.message)}")
    if isinstance(exc, ModelAPIError):
        return LLMError(f"{where} answered something unreadable: {_without_hint(exc.message)}")
    if isinstance(exc, UnexpectedModelBehavior):
        if tool := TOOL_RETRIES_EXCEEDED.search(exc.message):
            return LLMError(
                f"the model kept calling the tool {tool.group(1)!r} wrongly "
                "(an unknown tool, or arguments that are not a JSON object)"
            )
        if "output retries" in exc.message:
            return LLMError(f"{where} gave no usable answer (empty, also when asked again)")
        return LLMError(f"{where} gave no usable answer: {_without_hint(exc.message)}")
    if isinstance(exc, UserError):
        log.warning("LLM request rejected by pydantic-ai", exc_info=exc)
        return LLMError(f"the request to the model is invalid: {_without_hint(str(exc))}")
    # The SDKs and pydantic-ai fail in their own ways on output they cannot parse (a chunk whose
    # `choices` is not a list, a missing field, ...).
    log.warning("unreadable answer from %s", where, exc_info=exc)
    detail = _one_line(str(exc))
    return LLMError(
        f"{where} answered something unreadable ({type(exc).__name__}"
        + (f": {detail})" if detail else ")")
    )
