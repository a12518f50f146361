"""One call to a language model: streaming, the tool-calling loop, retries and readable errors.

The task runner calls :func:`complete`. Which provider answers is chosen by the model string
(see :mod:`neuronest.llm.models`):

- a bare name (``gpt-4o-mini``, ``llama3``) goes to the default OpenAI-compatible endpoint
  ``NEURONEST_LLM_BASE_URL`` with ``NEURONEST_LLM_API_KEY`` (OpenAI, Ollama, vLLM, llama.cpp, ...);
- ``openai:NAME`` goes to OpenAI (``NEURONEST_OPENAI_BASE_URL`` overrides the endpoint) with
  ``NEURONEST_OPENAI_API_KEY``, or ``NEURONEST_LLM_API_KEY`` when that is unset;
- ``anthropic:NAME`` goes to Anthropic with ``NEURONEST_ANTHROPIC_API_KEY``
  (``NEURONEST_ANTHROPIC_BASE_URL`` overrides the endpoint).

The provider clients and the tool loop are pydantic-ai's (:mod:`neuronest.llm.providers`), which
is imported on the first call only: it takes a few seconds to import. Each process builds one SDK
client per endpoint and key (per event loop) and reuses it, with its connections, for every call.
"""

from __future__ import annotations

import sys
import time

from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.llm.models import parse_model
from neuronest.llm.types import (
    DeltaCallback,
    Endpoint,
    LLMError,
    LLMNotConfigured,
    LLMRequest,
    LLMResult,
    ProviderKind,
    ToolCallRecord,
    ToolHandler,
    ToolSpec,
)
from neuronest.observability.metrics import record_llm_call

__all__ = [
    "DeltaCallback",
    "Endpoint",
    "LLMError",
    "LLMNotConfigured",
    "LLMRequest",
    "LLMResult",
    "ProviderKind",
    "ToolCallRecord",
    "ToolHandler",
    "ToolSpec",
    "complete",
    "resolve",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"


def resolve(settings: Settings, model: str | None) -> Endpoint:
    """The endpoint for ``model`` (None: ``settings.llm_default_model``).

    Cheap and free of network access: the task runner may call it to fail early.
    Raises :class:`LLMNotConfigured` when the provider lacks its settings and :class:`LLMError`
    for a model string that does not parse.
    """
    try:
        ref = parse_model(model if model is not None else settings.llm_default_model)
    except Invalid as exc:
        raise LLMError(exc.message) from None
    if ref.provider is None:
        if not settings.llm_base_url:
            raise LLMNotConfigured(
                "no LLM provider is configured: set NEURONEST_LLM_BASE_URL (and "
                "NEURONEST_LLM_API_KEY) to an OpenAI-compatible endpoint for bare model names such "
                f"as {ref.name!r}, or use 'openai:MODEL' with NEURONEST_OPENAI_API_KEY or "
                "'anthropic:MODEL' with NEURONEST_ANTHROPIC_API_KEY"
            )
        return Endpoint(
            "compatible",
            str(ref),
            ref.name,
            settings.llm_base_url,
            settings.llm_api_key,
            "NEURONEST_LLM_API_KEY",
        )
    if ref.provider == "openai":
        key = settings.openai_api_key or settings.llm_api_key
        if not key and not settings.openai_base_url:
            raise LLMNotConfigured(
                f"the OpenAI provider is not configured for model {str(ref)!r}: set "
                "NEURONEST_OPENAI_API_KEY (or NEURONEST_LLM_API_KEY; NEURONEST_OPENAI_BASE_URL "
                "for another endpoint)"
            )
        key_setting = (
            "NEURONEST_OPENAI_API_KEY" if settings.openai_api_key else "NEURONEST_LLM_API_KEY"
        )
        return Endpoint(
            "openai",
            str(ref),
            ref.name,
            settings.openai_base_url or OPENAI_BASE_URL,
            key,
            key_setting if key else "NEURONEST_OPENAI_API_KEY",
        )
    if ref.provider == "anthropic":
        if not settings.anthropic_api_key:
            raise LLMNotConfigured(
                f"the Anthropic provider is not configured for model {str(ref)!r}: set "
                "NEURONEST_ANTHROPIC_API_KEY (and NEURONEST_ANTHROPIC_BASE_URL for another "
                "endpoint)"
            )
        return Endpoint(
            "anthropic",
            str(ref),
            ref.name,
            settings.anthropic_base_url or ANTHROPIC_BASE_URL,
            settings.anthropic_api_key,
            "NEURONEST_ANTHROPIC_API_KEY",
        )
    raise LLMError(f"model: unknown provider {ref.provider!r}")  # pragma: no cover


async def complete(
    settings: Settings,
    request: LLMRequest,
    on_delta: DeltaCallback | None = None,
) -> LLMResult:
    """Ask the model, run the tools it calls, and return its final answer.

    Always streams from the provider: ``on_delta`` receives each piece of text as it arrives, in
    every round (text the model writes before calling tools included). Tool handlers run between
    rounds; an exception from a handler is sent to the model as ``"error: ..."``. At most
    ``settings.llm_max_tool_rounds`` model requests are made. 429 and 5xx answers are retried
    (``settings.llm_max_retries`` times, honouring ``Retry-After``); each HTTP request times out
    after ``settings.llm_timeout`` seconds without progress.

    Raises :class:`LLMNotConfigured` or :class:`LLMError` with a message for users. Cancelling
    the calling task closes the provider's stream and propagates ``CancelledError``. An exception
    raised by ``on_delta`` propagates unchanged.
    """
    endpoint = resolve(settings, request.model)
    for role, _ in request.history:
        if role not in ("user", "assistant", "system"):
            raise LLMError(f"history: unknown message role {role!r} (use 'user' or 'assistant')")
    names = [tool.name for tool in request.tools]
    if len(set(names)) != len(names):
        raise LLMError(f"tools: duplicate tool names in {names}")

    from neuronest.llm.providers import run  # imported on first use: pydantic-ai is slow to import

    started = time.perf_counter()
    try:
        result = await run(settings, endpoint, request, on_delta)
    except LLMError:
        record_llm_call(endpoint.kind, endpoint.name, "error", time.perf_counter() - started, None)
        raise
    record_llm_call(endpoint.kind, endpoint.name, "ok", time.perf_counter() - started, result.usage)
    return result


def preload(settings: Settings | None = None) -> None:
    """Import the provider machinery now rather than in the first :func:`complete` call.

    The import takes one to three seconds of CPU, during which the event loop would be blocked;
    a process that runs tasks can call this at startup (``await asyncio.to_thread(preload,
    settings)``). Anthropic's SDK is imported too when an Anthropic key is configured.
    """
    from neuronest.llm import providers

    providers.preload(anthropic=bool(settings and settings.anthropic_api_key))


async def close_clients() -> None:
    """Closes the provider clients (and their connections) that calls on this event loop built;
    nothing to do when no call was made."""
    providers = sys.modules.get("neuronest.llm.providers")
    # Still being imported (by the preload thread of a process stopped at once): no client yet.
    close = getattr(providers, "close_clients", None)
    if close is not None:
        await close()
