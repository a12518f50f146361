"""The fake OpenAI-compatible server, exercised with the official ``openai`` client over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tests.llm.fake_llm import (
    FakeLLM,
    dynamic,
    echo,
    error,
    malformed,
    rate_limited,
    slow_text,
    text,
    tool_call,
    tool_calls,
)

API_KEY = "sk-fake-test"
HAIKU = "Silicon thinking\nElectronic neurons fire\nHuman-like wisdom"
USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Write a haiku about AI"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLM]:
    with FakeLLM(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeLLM) -> FakeLLM:
    server.reset()
    return server


@pytest.fixture
async def client(fake: FakeLLM) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


async def test_non_streaming_text_with_usage(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    fake.script(text(HAIKU))
    completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4"
    choice = completion.choices[0]
    assert choice.message.content == HAIKU
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # The reply validates strictly against the client's own model.
    ChatCompletion.model_validate(completion.model_dump())


async def test_streaming_text_reassembles_exactly(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    fake.script(text(HAIKU, chunk=5))
    stream = await client.chat.completions.create(
        model="gpt-4",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish: list[str] = []
    usage = None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    assert "".join(pieces) == HAIKU
    assert len(pieces) == -(-len(HAIKU) // 5)
    assert all(len(piece) <= 5 for piece in pieces)
    assert finish == ["stop"]
    assert usage is not None and usage.completion_tokens > 0
    assert fake.completed_streams == 1
    assert fake.closed_streams == 0


async def test_streaming_without_include_usage_sends_no_usage(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    stream = await client.chat.completions.create(model="gpt-4", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ok"


async def test_tool_call_not_streamed(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    fake.script(tool_call("calculator", {"expression": "2 + 2 * 10"}, call_id="call_abc"))
    completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.id == "call_abc"
    assert call.type == "function"
    assert call.function.name == "calculator"
    assert json.loads(call.function.arguments) == {"expression": "2 + 2 * 10"}


async def test_tool_call_streamed_over_several_chunks(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    arguments = {"expression": "(12 + 30) * 1000", "precision": 2}
    fake.script(tool_call("calculator", arguments))
    stream = await client.chat.completions.create(model="gpt-4", messages=USER, stream=True)
    ids: list[str] = []
    names: list[str] = []
    argument_pieces: list[str] = []
    finish = None
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                assert delta.index == 0
                if delta.id:
                    ids.append(delta.id)
                if delta.function and delta.function.name:
                    names.append(delta.function.name)
                if delta.function and delta.function.arguments:
                    argument_pieces.append(delta.function.arguments)
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert names == ["calculator"]
    assert len(ids) == 1 and ids[0].startswith("call_")
    assert len(argument_pieces) > 1
    assert json.loads("".join(argument_pieces)) == arguments


async def test_parallel_tool_calls(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    fake.script(tool_calls(tool_call("search", {"q": "a"}), tool_call("calculator", {"e": "1"})))
    completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    calls = completion.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["search", "calculator"]  # type: ignore[union-attr]


async def test_rate_limited_then_success_with_retries(fake: FakeLLM) -> None:
    fake.script(rate_limited(retry_after=0.2), text(HAIKU))
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=2) as c:
        started = time.monotonic()
        completion = await c.chat.completions.create(model="gpt-4", messages=USER)
        elapsed = time.monotonic() - started
    assert completion.choices[0].message.content == HAIKU
    assert len(fake.requests) == 2
    assert elapsed >= 0.2  # the client waited as Retry-After asked


async def test_rate_limited_shape(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    fake.script(rate_limited(retry_after=3))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4", messages=USER)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"
    # The next request gets the next turn (here the default answer).
    completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    assert completion.choices[0].message.content == "ok"


async def test_server_error_turn(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    fake.script(error(500, "boom"))
    with pytest.raises(openai.InternalServerError, match="boom"):
        await client.chat.completions.create(model="gpt-4", messages=USER)


async def test_malformed_stream_makes_the_client_raise(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    fake.script(malformed())
    stream = await client.chat.completions.create(model="gpt-4", messages=USER, stream=True)
    with pytest.raises(ValueError):  # json.JSONDecodeError
        async for _ in stream:
            pass


async def test_malformed_completion_makes_the_client_raise(fake: FakeLLM) -> None:
    fake.script(malformed())
    async with openai.AsyncOpenAI(
        base_url=fake.base_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as strict:
        with pytest.raises(openai.APIResponseValidationError):
            await strict.chat.completions.create(model="gpt-4", messages=USER)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
async def test_malformed_completion_with_a_lenient_client(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    # By default the openai client builds its models WITHOUT validation: the bad body only
    # fails when it is used, or when re-validated (as pydantic-ai does).
    fake.script(malformed())
    completion = await client.chat.completions.create(model="gpt-4", messages=USER)
    with pytest.raises(AttributeError):
        _ = completion.choices[0].message
    with pytest.raises(ValueError):  # pydantic.ValidationError
        ChatCompletion.model_validate(completion.model_dump())


async def test_closing_a_stream_early_is_seen_by_the_server(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    fake.script(slow_text("one two three four five six seven", delay=0.2))
    stream = await client.chat.completions.create(model="gpt-4", messages=USER, stream=True)
    received = ""
    async for chunk in stream:
        received += chunk.choices[0].delta.content or ""
        if received:
            break
    await stream.close()
    await fake.wait_for_closed_streams_async(1, timeout=5)
    assert fake.closed_streams == 1
    assert fake.completed_streams == 0
    assert received == "o"


async def test_recorded_requests_carry_what_was_sent(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a poet."},
        {"role": "user", "content": "Write a haiku about AI"},
    ]
    await client.chat.completions.create(
        model="my-model",
        messages=messages,
        temperature=0.3,
        max_tokens=123,
    )
    await fake.wait_for_requests_async(1)
    body = fake.requests[0]
    assert body["model"] == "my-model"
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 123
    assert body["messages"] == messages
    assert "stream" not in body or body["stream"] is False
    assert body["_headers"]["authorization"] == f"Bearer {API_KEY}"
    assert fake.last_request is body


async def test_echo_returns_the_last_user_message(
    fake: FakeLLM, client: openai.AsyncOpenAI
) -> None:
    fake.script(echo(), echo())
    prompt = "Remember: the secret word is ZEPHYR-42."
    completion = await client.chat.completions.create(
        model="gpt-4",
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": prompt},
        ],
    )
    assert prompt in (completion.choices[0].message.content or "")
    # Content given as a list of parts, streamed.
    stream = await client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        stream=True,
    )
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert prompt in streamed


async def test_dynamic_turn_sees_the_request(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    def answer(body: dict[str, Any]) -> Any:
        return text(f"{len(body['messages'])} messages, temperature {body.get('temperature')}")

    fake.script(dynamic(answer))
    completion = await client.chat.completions.create(
        model="gpt-4",
        messages=USER,
        temperature=1.5,
    )
    assert completion.choices[0].message.content == "1 messages, temperature 1.5"


async def test_empty_script_answers_ok(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    for _ in range(2):
        completion = await client.chat.completions.create(model="gpt-4", messages=USER)
        assert completion.choices[0].message.content == "ok"
    assert len(fake.requests) == 2
    assert fake.pending_turns == 0


async def test_wrong_api_key_gets_401_and_consumes_no_turn(fake: FakeLLM) -> None:
    fake.script(text("scripted"))
    async with openai.AsyncOpenAI(base_url=fake.base_url, api_key="wrong", max_retries=2) as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.chat.completions.create(model="gpt-4", messages=USER)
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert len(fake.requests) == 1  # recorded, not retried
    assert fake.pending_turns == 1


async def test_models_list(fake: FakeLLM, client: openai.AsyncOpenAI) -> None:
    models = [model.id async for model in client.models.list()]
    assert models == list(fake.models)
    assert fake.requests == []  # only chat completions are recorded


async def test_unknown_path_is_404_and_noted(fake: FakeLLM) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fake.base_url}/responses", json={"model": "gpt-4"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"
    assert fake.other_requests == ["POST /v1/responses"]


def test_sync_client_and_blocking_wait(fake: FakeLLM) -> None:
    fake.script(text(HAIKU, chunk=3))
    with openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0) as c:
        stream = c.chat.completions.create(model="gpt-4", messages=USER, stream=True)
        assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == HAIKU
    fake.wait_for_requests(1, timeout=5)
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(2, timeout=0.1)


def test_reachable_from_a_subprocess(fake: FakeLLM) -> None:
    fake.script(echo(prefix=""))
    code = (
        "import json, sys, urllib.request\n"
        "body = json.dumps({'model': 'gpt-4', 'messages': "
        "[{'role': 'user', 'content': 'from a child process'}]}).encode()\n"
        "request = urllib.request.Request(sys.argv[1] + '/chat/completions', data=body, headers="
        "{'Content-Type': 'application/json', 'Authorization': 'Bearer ' + sys.argv[2]})\n"
        "print(json.load(urllib.request.urlopen(request))['choices'][0]['message']['content'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, fake.base_url, API_KEY],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == "from a child process"


def test_start_stop_and_context_manager() -> None:
    fake = FakeLLM()
    fake.start()
    url = fake.base_url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert httpx.get(f"{url}/models").status_code == 200  # no api_key configured: any key
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models")
    with FakeLLM() as other:
        assert httpx.get(f"{other.base_url}/models").json()["object"] == "list"


def test_stop_ends_open_streams_promptly() -> None:
    fake = FakeLLM()
    fake.start()
    fake.script(slow_text("x" * 100, delay=0.5))
    received: list[str] = []

    def read() -> None:
        body = {"model": "gpt-4", "messages": USER, "stream": True}
        with httpx.stream("POST", f"{fake.base_url}/chat/completions", json=body) as response:
            received.extend(response.iter_lines())

    reader = threading.Thread(target=read)
    reader.start()
    fake.wait_for_requests(1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1
    reader.join(timeout=5)
    assert "data: [DONE]" not in received
    assert fake.closed_streams == fake.completed_streams == 0
