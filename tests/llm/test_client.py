"""`neuronest.llm.client.complete` over HTTP against the fake OpenAI-compatible server.

The Anthropic path runs against a small Messages API fake defined here (streamed SSE only).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from neuronest.config import Settings
from neuronest.llm.client import (
    LLMError,
    LLMNotConfigured,
    LLMRequest,
    LLMResult,
    ToolSpec,
    close_clients,
    complete,
    preload,
    resolve,
)
from tests.llm.fake_llm import (
    FakeLLM,
    echo,
    error,
    malformed,
    rate_limited,
    slow_text,
    text,
    tool_call,
    tool_calls,
)

API_KEY = "test-key"
HAIKU = "Silicon thinking\nElectronic neurons fire\nHuman-like wisdom"


def make_settings(**overrides: Any) -> Settings:
    """Settings with every LLM field given, so that NEURONEST_* variables cannot leak in."""
    values: dict[str, Any] = {
        "llm_base_url": None,
        "llm_api_key": None,
        "llm_default_model": "gpt-4o-mini",
        "llm_max_retries": 2,
        "llm_timeout": 10.0,
        "llm_max_tool_rounds": 4,
        "openai_api_key": None,
        "openai_base_url": None,
        "anthropic_api_key": None,
        "anthropic_base_url": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLM]:
    with FakeLLM(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeLLM) -> FakeLLM:
    server.reset()
    return server


@pytest.fixture
def settings(fake: FakeLLM) -> Settings:
    return make_settings(llm_base_url=fake.base_url, llm_api_key=API_KEY)


class Deltas:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.first = asyncio.Event()

    async def __call__(self, piece: str) -> None:
        self.pieces.append(piece)
        self.first.set()

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def calculator(calls: list[dict[str, Any]] | None = None) -> ToolSpec:
    async def handler(arguments: dict[str, Any]) -> str:
        if calls is not None:
            calls.append(arguments)
        expression = str(arguments["expression"])
        left, _, right = expression.partition("*")
        return str(int(left) * int(right))

    return ToolSpec(
        name="calculator",
        description="Multiplies two integers written as 'a*b'.",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
        handler=handler,
    )


def body(fake: FakeLLM, index: int) -> dict[str, Any]:
    request = dict(fake.requests[index])
    request.pop("_headers")
    return request


def assert_readable(message: str) -> None:
    assert message
    assert "\n" not in message
    assert "Traceback" not in message
    assert len(message) < 600


# --- streaming and what the request carries ---------------------------------------------------


async def test_streams_deltas_that_reassemble_the_text(fake: FakeLLM, settings: Settings) -> None:
    fake.script(text(HAIKU, chunk=4))
    deltas = Deltas()
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="A haiku"), deltas)
    assert isinstance(result, LLMResult)
    assert result.text == HAIKU
    assert deltas.text == HAIKU
    assert len(deltas.pieces) > 5
    assert result.model == "gpt-4"
    assert result.rounds == 1
    assert result.tool_calls == []
    assert result.usage["input_tokens"] > 0
    assert result.usage["output_tokens"] > 0
    assert result.usage["total_tokens"] == (
        result.usage["input_tokens"] + result.usage["output_tokens"]
    )
    sent = fake.requests[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["_headers"]["authorization"] == f"Bearer {API_KEY}"
    assert fake.completed_streams == 1


async def test_request_carries_model_settings_system_and_history(
    fake: FakeLLM, settings: Settings
) -> None:
    fake.script(echo(prefix=""))
    request = LLMRequest(
        model="llama3",
        prompt="third",
        system="Be brief.",
        history=[("user", "first"), ("assistant", "second")],
        temperature=0.3,
        max_tokens=50,
    )
    result = await complete(settings, request)
    assert result.text == "third"
    sent = body(fake, 0)
    assert sent["model"] == "llama3"
    assert sent["temperature"] == 0.3
    # Bare names go to generic OpenAI-compatible servers, which all know `max_tokens`.
    assert sent["max_tokens"] == 50
    assert "max_completion_tokens" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "third"},
    ]
    assert "tools" not in sent


async def test_no_model_uses_the_default_model(fake: FakeLLM) -> None:
    settings = make_settings(
        llm_base_url=fake.base_url, llm_api_key=API_KEY, llm_default_model="my-default"
    )
    result = await complete(settings, LLMRequest(model=None, prompt="hi"))
    assert result.text == "ok"
    assert result.model == "my-default"
    assert fake.requests[0]["model"] == "my-default"
    assert "temperature" not in fake.requests[0]
    assert "max_tokens" not in fake.requests[0]


# --- tools ------------------------------------------------------------------------------------


async def test_tool_call_is_run_and_its_result_sent_back(fake: FakeLLM, settings: Settings) -> None:
    fake.script(
        tool_call("calculator", {"expression": "6*7"}, call_id="call_1"),
        text("The answer is 42."),
    )
    calls: list[dict[str, Any]] = []
    deltas = Deltas()
    result = await complete(
        settings,
        LLMRequest(model="gpt-4", prompt="What is 6*7?", tools=[calculator(calls)]),
        deltas,
    )
    assert result.text == "The answer is 42."
    assert deltas.text == "The answer is 42."  # the final round is streamed too
    assert calls == [{"expression": "6*7"}]
    assert [(c.name, c.arguments, c.result) for c in result.tool_calls] == [
        ("calculator", {"expression": "6*7"}, "42")
    ]
    assert result.rounds == 2
    assert len(fake.requests) == 2

    first = body(fake, 0)
    [tool] = first["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "calculator"
    assert tool["function"]["description"] == "Multiplies two integers written as 'a*b'."
    assert tool["function"]["parameters"]["properties"] == {"expression": {"type": "string"}}

    messages = body(fake, 1)["messages"]
    assert messages[0] == {"role": "user", "content": "What is 6*7?"}
    assistant, tool_message = messages[-2], messages[-1]
    assert assistant["role"] == "assistant"
    [requested] = assistant["tool_calls"]
    assert requested["id"] == "call_1"
    assert requested["function"]["name"] == "calculator"
    assert json.loads(requested["function"]["arguments"]) == {"expression": "6*7"}
    assert tool_message == {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    # Usage is summed over both rounds.
    assert result.usage["input_tokens"] > 2 * 10


async def test_tool_exception_goes_back_to_the_model_as_text(
    fake: FakeLLM, settings: Settings
) -> None:
    async def broken(arguments: dict[str, Any]) -> str:
        raise ValueError("division by zero is not allowed")

    spec = ToolSpec("calculator", "Calculates.", {"type": "object", "properties": {}}, broken)
    fake.script(tool_call("calculator", {"expression": "1/0"}, call_id="call_x"), text("Sorry."))
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="1/0?", tools=[spec]))
    assert result.text == "Sorry."
    expected = "error: division by zero is not allowed"
    assert result.tool_calls[0].result == expected
    assert body(fake, 1)["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_x",
        "content": expected,
    }


async def test_parallel_tool_calls_are_recorded_in_order(fake: FakeLLM, settings: Settings) -> None:
    fake.script(
        tool_calls(
            tool_call("calculator", {"expression": "2*3"}, call_id="a"),
            tool_call("calculator", {"expression": "4*5"}, call_id="b"),
        ),
        text("6 and 20"),
    )
    result = await complete(
        settings, LLMRequest(model="gpt-4", prompt="both", tools=[calculator()])
    )
    assert result.text == "6 and 20"
    assert [(c.arguments["expression"], c.result) for c in result.tool_calls] == [
        ("2*3", "6"),
        ("4*5", "20"),
    ]
    tool_messages = [m for m in body(fake, 1)["messages"] if m["role"] == "tool"]
    assert {(m["tool_call_id"], m["content"]) for m in tool_messages} == {("a", "6"), ("b", "20")}


async def test_tool_rounds_are_bounded(fake: FakeLLM) -> None:
    settings = make_settings(llm_base_url=fake.base_url, llm_api_key=API_KEY, llm_max_tool_rounds=3)
    fake.script(*[tool_call("calculator", {"expression": "1*1"}) for _ in range(6)])
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="loop", tools=[calculator()]))
    assert str(caught.value) == "the model kept calling tools after 3 rounds"
    assert len(fake.requests) == 3


async def test_unreadable_tool_arguments_are_sent_back_then_fail(
    fake: FakeLLM, settings: Settings
) -> None:
    fake.script(*[tool_call("calculator", "{not json") for _ in range(4)])
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi", tools=[calculator()]))
    assert_readable(str(caught.value))
    assert "kept calling the tool 'calculator' wrongly" in str(caught.value)
    # The model was told what was wrong before giving up.
    assert body(fake, 1)["messages"][-1]["role"] == "tool"
    assert "json" in body(fake, 1)["messages"][-1]["content"].lower()


# --- retries and errors -----------------------------------------------------------------------


async def test_429_is_retried_honouring_retry_after(fake: FakeLLM, settings: Settings) -> None:
    fake.script(rate_limited(retry_after=1), text("fine"))
    started = time.monotonic()
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    elapsed = time.monotonic() - started
    assert result.text == "fine"
    assert len(fake.requests) == 2
    # The SDK's own first backoff is under 0.5 s: waiting a second means Retry-After was read.
    assert elapsed >= 0.95


async def test_5xx_is_retried(fake: FakeLLM, settings: Settings) -> None:
    fake.script(error(503), text("back"))
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    assert result.text == "back"
    assert len(fake.requests) == 2


async def test_retries_are_bounded(fake: FakeLLM) -> None:
    settings = make_settings(llm_base_url=fake.base_url, llm_api_key=API_KEY, llm_max_retries=1)
    fake.script(*[rate_limited(retry_after=0.05) for _ in range(4)])
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    message = str(caught.value)
    assert_readable(message)
    assert "HTTP 429" in message and "after 1 retry" in message
    assert "Rate limit reached" in message
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    "turn",
    [
        malformed(),  # an event whose data is not JSON
        malformed(stream_body='data: {"id": "x", "choices": "nope"}\n\n'),
        malformed(stream_body="data: [1, 2, 3]\n\ndata: [DONE]\n\n"),
    ],
    ids=["invalid-json", "choices-not-a-list", "not-an-object"],
)
async def test_malformed_output_is_a_readable_error(
    fake: FakeLLM, settings: Settings, turn: Any
) -> None:
    fake.script(turn, turn, turn)
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    message = str(caught.value)
    assert_readable(message)
    assert "answered something unreadable" in message


async def test_empty_answers_are_a_readable_error(fake: FakeLLM, settings: Settings) -> None:
    missing_choices = malformed(stream_body='data: {"id": "x"}\n\ndata: [DONE]\n\n')
    fake.script(*[missing_choices] * 5)
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    assert_readable(str(caught.value))
    assert "no usable answer" in str(caught.value)


async def test_wrong_key_names_the_setting(fake: FakeLLM) -> None:
    settings = make_settings(llm_base_url=fake.base_url, llm_api_key="wrong")
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    message = str(caught.value)
    assert_readable(message)
    assert "HTTP 401" in message and "NEURONEST_LLM_API_KEY" in message


async def test_timeout_without_progress(fake: FakeLLM) -> None:
    settings = make_settings(
        llm_base_url=fake.base_url, llm_api_key=API_KEY, llm_timeout=0.3, llm_max_retries=0
    )
    fake.script(slow_text("abc", delay=2))
    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    assert time.monotonic() - started < 1.5
    assert "did not answer within 0.3 s" in str(caught.value)


async def test_unreachable_endpoint(fake: FakeLLM) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(llm_base_url=f"http://127.0.0.1:{port}/v1", llm_max_retries=0)
    with pytest.raises(LLMError) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    assert_readable(str(caught.value))
    assert str(caught.value).startswith("could not reach")


@pytest.mark.parametrize(
    ("model", "sent"),
    [
        ("llama3:8b", "llama3:8b"),
        ("qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M"),
        ("mistral:large", "mistral:large"),
        ("ollama:llama3:8b", "llama3:8b"),
        ("openai-compatible:qwen2.5:0.5b", "qwen2.5:0.5b"),
    ],
)
async def test_local_server_names_reach_the_default_endpoint_unchanged(
    fake: FakeLLM, settings: Settings, model: str, sent: str
) -> None:
    result = await complete(settings, LLMRequest(model=model, prompt="hi"))
    assert result.text == "ok"
    assert fake.requests[-1]["model"] == sent


@pytest.mark.parametrize("model", ["", "   ", "ollama:", "openai: ", "x" * 301, "gpt\n4"])
async def test_unusable_model_strings_are_llm_errors(settings: Settings, model: str) -> None:
    with pytest.raises(LLMError, match="model: "):
        await complete(settings, LLMRequest(model=model, prompt="hi"))


async def test_on_delta_errors_propagate_unchanged(fake: FakeLLM, settings: Settings) -> None:
    class Boom(Exception):
        pass

    async def on_delta(piece: str) -> None:
        raise Boom("event bus down")

    fake.script(text(HAIKU))
    with pytest.raises(Boom):
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"), on_delta)


# --- configuration and providers --------------------------------------------------------------


async def test_not_configured(fake: FakeLLM) -> None:
    settings = make_settings(llm_api_key=API_KEY)
    with pytest.raises(LLMNotConfigured) as caught:
        await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    message = str(caught.value)
    assert message.startswith("no LLM provider is configured: set NEURONEST_LLM_BASE_URL")
    assert "NEURONEST_LLM_API_KEY" in message
    with pytest.raises(LLMNotConfigured):
        await complete(settings, LLMRequest(model=None, prompt="hi"))
    assert fake.requests == []


async def test_openai_prefix_with_its_own_endpoint_and_key(fake: FakeLLM) -> None:
    with FakeLLM(api_key="sk-openai") as openai_fake:
        settings = make_settings(
            openai_base_url=openai_fake.base_url, openai_api_key="sk-openai", llm_api_key="other"
        )
        openai_fake.script(text("from openai"))
        deltas = Deltas()
        result = await complete(
            settings,
            LLMRequest(model="openai:gpt-4o", prompt="hi", temperature=0.5, max_tokens=20),
            deltas,
        )
        assert result.text == deltas.text == "from openai"
        assert result.model == "openai:gpt-4o"
        sent = openai_fake.requests[0]
        assert sent["model"] == "gpt-4o"
        assert sent["_headers"]["authorization"] == "Bearer sk-openai"
        assert sent["temperature"] == 0.5
        # OpenAI's own field for the output bound.
        assert sent["max_completion_tokens"] == 20
    assert fake.requests == []


async def test_openai_prefix_falls_back_to_the_llm_key(fake: FakeLLM) -> None:
    settings = make_settings(openai_base_url=fake.base_url, llm_api_key=API_KEY)
    result = await complete(settings, LLMRequest(model="openai:gpt-4o", prompt="hi"))
    assert result.text == "ok"
    assert fake.requests[0]["_headers"]["authorization"] == f"Bearer {API_KEY}"


def test_openai_prefix_not_configured() -> None:
    with pytest.raises(LLMNotConfigured, match="NEURONEST_OPENAI_API_KEY"):
        resolve(make_settings(), "openai:gpt-4o")
    endpoint = resolve(make_settings(openai_api_key="sk"), "openai:gpt-4o")
    assert endpoint.base_url == "https://api.openai.com/v1"
    assert endpoint.api_key == "sk"


async def test_anthropic_without_key_is_not_configured(fake: FakeLLM) -> None:
    settings = make_settings(llm_base_url=fake.base_url, llm_api_key=API_KEY)
    with pytest.raises(LLMNotConfigured) as caught:
        await complete(settings, LLMRequest(model="anthropic:claude-sonnet-4-5", prompt="hi"))
    assert "NEURONEST_ANTHROPIC_API_KEY" in str(caught.value)
    assert fake.requests == []


def test_preload_imports_the_providers() -> None:
    preload(make_settings(anthropic_api_key="sk-ant"))
    assert "neuronest.llm.providers" in sys.modules
    assert "pydantic_ai.models.anthropic" in sys.modules


# --- cancellation -----------------------------------------------------------------------------


async def test_cancel_mid_stream_closes_the_stream(fake: FakeLLM, settings: Settings) -> None:
    fake.script(slow_text("a" * 100, delay=0.1), text("next"))
    deltas = Deltas()
    task = asyncio.create_task(complete(settings, LLMRequest(model="gpt-4", prompt="hi"), deltas))
    await asyncio.wait_for(deltas.first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake.wait_for_closed_streams_async(1, timeout=2)
    assert fake.closed_streams == 1
    assert fake.completed_streams == 0
    assert len(deltas.pieces) < 100
    # The endpoint's client, shared with later calls, still answers them.
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="again"))
    assert result.text == "next"


async def test_cancel_while_a_tool_runs(fake: FakeLLM, settings: Settings) -> None:
    started = asyncio.Event()

    async def slow(arguments: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    spec = ToolSpec("slow", "Slow.", {"type": "object", "properties": {}}, slow)
    fake.script(tool_call("slow", {}))
    task = asyncio.create_task(complete(settings, LLMRequest("gpt-4", "hi", tools=[spec])))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake.requests) == 1


# --- connections ------------------------------------------------------------------------------


async def test_calls_to_one_endpoint_share_a_kept_alive_connection(
    fake: FakeLLM, settings: Settings
) -> None:
    """A process keeps one client per endpoint: later calls skip the TCP (and TLS) set-up."""
    for _ in range(3):
        result = await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
        assert result.text == "ok"
    assert len(fake.client_ports) == 3
    assert len(set(fake.client_ports)) == 1


async def test_closed_clients_are_built_again(fake: FakeLLM, settings: Settings) -> None:
    await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    await close_clients()
    result = await complete(settings, LLMRequest(model="gpt-4", prompt="hi"))
    assert result.text == "ok"
    assert len(set(fake.client_ports)) == 2


# --- Anthropic --------------------------------------------------------------------------------


class FakeAnthropic:
    """Just enough of the streamed Messages API for one text answer."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> FakeAnthropic:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "fake Anthropic server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    async def messages(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append({**payload, "_headers": dict(request.headers)})

        def event(kind: str, data: dict[str, Any]) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        async def events() -> AsyncIterator[str]:
            message = {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": payload["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            }
            yield event("message_start", {"message": message})
            block = {"type": "text", "text": ""}
            yield event("content_block_start", {"index": 0, "content_block": block})
            for word in self.answer.split(" "):
                delta = {"type": "text_delta", "text": word + " "}
                yield event("content_block_delta", {"index": 0, "delta": delta})
            yield event("content_block_stop", {"index": 0})
            stop = {"stop_reason": "end_turn", "stop_sequence": None}
            yield event("message_delta", {"delta": stop, "usage": {"output_tokens": 7}})
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


async def test_anthropic_prefix_streams_from_the_messages_api() -> None:
    with FakeAnthropic("Hello from Claude") as anthropic:
        settings = make_settings(anthropic_api_key="sk-ant", anthropic_base_url=anthropic.base_url)
        deltas = Deltas()
        request = LLMRequest(
            model="anthropic:claude-test",
            prompt="hi",
            system="Be kind.",
            history=[("user", "before"), ("assistant", "earlier answer")],
            temperature=0.2,
            max_tokens=64,
        )
        result = await complete(settings, request, deltas)
    assert result.text == deltas.text == "Hello from Claude "
    assert result.model == "anthropic:claude-test"
    assert result.usage == {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}
    [sent] = anthropic.requests
    headers = sent["_headers"]
    # The SDK sends the key as x-api-key or, in recent versions, as a bearer token.
    assert headers.get("x-api-key") == "sk-ant" or headers["authorization"] == "Bearer sk-ant"
    assert sent["model"] == "claude-test"
    assert sent["stream"] is True
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 64
    system = sent["system"]
    system_text = system if isinstance(system, str) else "".join(p["text"] for p in system)
    assert system_text == "Be kind."
    roles = [(m["role"], _anthropic_text(m["content"])) for m in sent["messages"]]
    assert roles == [("user", "before"), ("assistant", "earlier answer"), ("user", "hi")]


def _anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)
