"""A scriptable OpenAI-compatible server on loopback, for tests.

No LLM is reachable from the test machines, so tests run this server and point the real provider
code at it: requests travel over HTTP exactly as they would to a real OpenAI-compatible endpoint.

It serves the Chat Completions API (``POST /v1/chat/completions``, streaming and not) and
``GET /v1/models``, with uvicorn in a background thread on a free ``127.0.0.1`` port. That makes it
usable from sync tests, from async tests (it has its own event loop), and from server or worker
subprocesses that the tests start (they reach it by ``fake.base_url``).

Usage::

    from tests.llm.fake_llm import FakeLLM, echo, rate_limited, text, tool_call

    with FakeLLM(api_key="sk-test") as fake:
        fake.script(
            rate_limited(retry_after=0.1),
            tool_call("calculator", {"expression": "6*7"}),
            text("The answer is 42."),
        )
        ...  # run the code under test with base_url=fake.base_url, api_key="sk-test"
        fake.wait_for_requests(3)
        assert fake.requests[2]["messages"][-1]["role"] == "tool"

Each chat completion request consumes the next scripted :data:`Turn`; when the script is empty the
server answers ``text("ok")``. :attr:`FakeLLM.requests` keeps every chat completion request body,
with its (lower-cased) headers under ``"_headers"``.

In an ``async`` test whose code under test runs on the test's own event loop, use the ``*_async``
waiting helpers: the sync ones block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send

__all__ = [
    "DEFAULT_MODELS",
    "Dynamic",
    "Echo",
    "ErrorTurn",
    "FakeLLM",
    "Malformed",
    "RateLimited",
    "Text",
    "ToolCall",
    "ToolCalls",
    "Turn",
    "dynamic",
    "echo",
    "error",
    "last_user_message",
    "malformed",
    "rate_limited",
    "slow_text",
    "text",
    "tool_call",
    "tool_calls",
]

DEFAULT_MODELS: tuple[str, ...] = ("gpt-4", "gpt-4o", "gpt-4o-mini")
"""Model ids listed by ``GET /v1/models`` unless ``FakeLLM(models=...)`` says otherwise."""


# --------------------------------------------------------------------------------------------
# Turns: what the server answers to one chat completion request
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A normal assistant answer.

    Streamed as pieces of ``chunk`` characters (``chunk <= 0``: one piece) with ``delay`` seconds
    between pieces.
    """

    content: str
    chunk: int = 5
    delay: float = 0.0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class ToolCall:
    """The assistant asks for one call of the tool ``name`` (finish_reason ``tool_calls``).

    ``arguments`` is serialised as JSON; pass a ``str`` to send raw (possibly invalid) arguments.
    Streamed, the arguments are split over several chunks of ``chunk`` characters.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None
    chunk: int = 8


@dataclass(frozen=True)
class ToolCalls:
    """The assistant asks for several tool calls at once (parallel tool calls), with optional
    text ``content`` before them."""

    calls: tuple[ToolCall, ...]
    content: str | None = None


@dataclass(frozen=True)
class RateLimited:
    """Answer 429 with a ``Retry-After`` header (seconds) and an OpenAI-style error body."""

    retry_after: float = 1


@dataclass(frozen=True)
class ErrorTurn:
    """Answer ``status`` with an OpenAI-style error body (e.g. 500, 400, 503)."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with something that is not a valid completion.

    Non-streaming: ``body`` (default ``{"choices": "nope"}``) as ``application/json``.
    Streaming: ``stream_body`` (default one SSE event whose data is not JSON, ``data: {not json``),
    after which the stream ends without ``[DONE]``.
    """

    body: str = '{"choices": "nope"}'
    stream_body: str = "data: {not json\n\n"


@dataclass(frozen=True)
class Echo:
    """Answer with ``prefix`` followed by the whole text of the last user message."""

    prefix: str = "You said: "
    chunk: int = 5
    delay: float = 0.0


@dataclass(frozen=True)
class Dynamic:
    """Compute the turn from the request body (``respond(body) -> Turn``), in the server thread."""

    respond: Callable[[dict[str, Any]], Turn]


Turn: TypeAlias = Text | ToolCall | ToolCalls | RateLimited | ErrorTurn | Malformed | Echo | Dynamic
"""One scripted answer; consumed by one chat completion request."""


def text(content: str, chunk: int = 5, delay: float = 0.0, finish_reason: str = "stop") -> Text:
    """A normal answer: ``content``, streamed in ``chunk``-character pieces ``delay`` s apart."""
    return Text(content, chunk=chunk, delay=delay, finish_reason=finish_reason)


def slow_text(content: str, delay: float = 0.2, chunk: int = 1) -> Text:
    """A slowly streamed answer (``delay`` s between ``chunk``-character pieces), so that a client
    can cancel mid-stream; :attr:`FakeLLM.closed_streams` counts such early closes."""
    return Text(content, chunk=chunk, delay=delay)


def tool_call(
    name: str, arguments: dict[str, Any] | str | None = None, call_id: str | None = None
) -> ToolCall:
    """The assistant asks for one tool call (finish_reason ``tool_calls``)."""
    return ToolCall(name, {} if arguments is None else arguments, call_id=call_id)


def tool_calls(*calls: ToolCall, content: str | None = None) -> ToolCalls:
    """The assistant asks for several tool calls in one answer."""
    return ToolCalls(tuple(calls), content=content)


def rate_limited(retry_after: float = 1) -> RateLimited:
    """429 with ``Retry-After: retry_after`` (a float such as ``0.1`` keeps tests fast)."""
    return RateLimited(retry_after)


def error(status: int = 500, message: str | None = None, code: str | None = None) -> ErrorTurn:
    """An HTTP error with an OpenAI-style body."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return ErrorTurn(status, message or ErrorTurn.message, type=kind, code=code)


def malformed(body: str | None = None, stream_body: str | None = None) -> Malformed:
    """200 with an invalid body (see :class:`Malformed` for the defaults)."""
    default = Malformed()
    return Malformed(
        body=default.body if body is None else body,
        stream_body=default.stream_body if stream_body is None else stream_body,
    )


def echo(prefix: str = "You said: ", chunk: int = 5, delay: float = 0.0) -> Echo:
    """Answer with the whole last user message (proves what the app sent reached the model)."""
    return Echo(prefix, chunk=chunk, delay=delay)


def dynamic(respond: Callable[[dict[str, Any]], Turn]) -> Dynamic:
    """A turn computed from the request body when the request arrives."""
    return Dynamic(respond)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of parts (``{"type": "text"}``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last ``user`` message of a chat completion request body ("" if none)."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _count_tokens(value: str) -> int:
    """A plausible token count: about four characters per token."""
    return max(1, math.ceil(len(value) / 4))


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    total = 3
    for message in messages:
        if isinstance(message, dict):
            total += 4 + _count_tokens(_content_text(message.get("content")))
            if message.get("tool_calls"):
                total += _count_tokens(json.dumps(message["tool_calls"]))
    if body.get("tools"):
        total += _count_tokens(json.dumps(body["tools"]))
    return total


def _split(value: str, size: int) -> list[str]:
    if size <= 0 or len(value) <= size:
        return [value]
    return [value[i : i + size] for i in range(0, len(value), size)]


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


_DONE = "data: [DONE]\n\n"


class _ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always closes its body iterator, so that the iterator's
    ``finally`` runs at once when the client disconnects."""

    def __init__(self, content: AsyncGenerator[str, None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._generator = content

    async def stream_response(self, send: Send) -> None:
        async with contextlib.aclosing(self._generator):
            await super().stream_response(send)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeLLM:
    """A scriptable OpenAI-compatible Chat Completions server on ``127.0.0.1``.

    Args:
        api_key: when set, requests must send ``Authorization: Bearer <api_key>``, otherwise they
            get 401 in OpenAI's error format. ``None`` accepts any key (or none).
        models: the model ids listed by ``GET /v1/models``.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1`` (set by :meth:`start`).
        requests: every chat completion request body (parsed JSON), in order of arrival, with the
            request headers (lower-case names) under ``"_headers"``. Requests refused with 401 are
            included; they consume no turn.
        other_requests: ``"METHOD /path"`` of requests to any other path (answered 404), to spot a
            client that talks to the wrong route.
        closed_streams: streaming responses that the client closed before the end.
        completed_streams: streaming responses sent to the end.
        client_ports: the client's TCP port of each chat completion request, in order: requests
            that came over one kept-alive connection share a port.
    """

    def __init__(self, api_key: str | None = None, models: Iterable[str] = DEFAULT_MODELS) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.base_url = ""
        self.port = 0
        self.requests: list[dict[str, Any]] = []
        self.other_requests: list[str] = []
        self.closed_streams = 0
        self.completed_streams = 0
        self.client_ports: list[int] = []
        self._turns: deque[Turn] = deque()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route(
                    "/{path:path}",
                    self._not_found,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                ),
            ]
        )

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving in a background thread; returns once the server accepts connections."""
        if self._thread is not None:
            return
        self._stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._server = self._thread = None
                sock.close()
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.01)
        self._socket = sock

    def stop(self) -> None:
        """Stop the server and wait for its thread.

        Streams still running end early (without ``[DONE]``) and count neither as closed nor as
        completed.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.should_exit = True
        thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeLLM:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- scripting -------------------------------------------------------------------------

    def script(self, *turns: Turn) -> None:
        """Append ``turns`` to the queue of scripted answers (one consumed per request)."""
        with self._lock:
            self._turns.extend(turns)

    def reset(self) -> None:
        """Forget the script, the recorded requests and the stream counters."""
        with self._lock:
            self._turns.clear()
            self.requests.clear()
            self.other_requests.clear()
            self.closed_streams = 0
            self.completed_streams = 0
            self.client_ports.clear()
            self._changed.notify_all()

    @property
    def pending_turns(self) -> int:
        """How many scripted turns have not been used yet."""
        with self._lock:
            return len(self._turns)

    @property
    def last_request(self) -> dict[str, Any]:
        """The latest chat completion request body (``IndexError`` if none)."""
        with self._lock:
            return self.requests[-1]

    # ----- waiting ---------------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[FakeLLM], bool], timeout: float = 10) -> None:
        """Block until ``predicate(self)`` is true; ``TimeoutError`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fake LLM: condition not met within {timeout} s")
                self._changed.wait(min(remaining, 0.05))

    def wait_for_requests(self, n: int, timeout: float = 10) -> None:
        """Block until at least ``n`` chat completion requests have arrived."""
        try:
            self.wait_until(lambda fake: len(fake.requests) >= n, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"fake LLM: expected {n} requests within {timeout} s, got {len(self.requests)}"
            ) from None

    def wait_for_closed_streams(self, n: int, timeout: float = 10) -> None:
        """Block until at least ``n`` streams have been closed early by their clients."""
        try:
            self.wait_until(lambda fake: fake.closed_streams >= n, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"fake LLM: expected {n} closed streams within {timeout} s, "
                f"got {self.closed_streams}"
            ) from None

    async def wait_until_async(
        self, predicate: Callable[[FakeLLM], bool], timeout: float = 10
    ) -> None:
        """Like :meth:`wait_until`, without blocking the calling event loop."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake LLM: condition not met within {timeout} s")
            await asyncio.sleep(0.01)

    async def wait_for_requests_async(self, n: int, timeout: float = 10) -> None:
        """Like :meth:`wait_for_requests`, without blocking the calling event loop."""
        try:
            await self.wait_until_async(lambda fake: len(fake.requests) >= n, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"fake LLM: expected {n} requests within {timeout} s, got {len(self.requests)}"
            ) from None

    async def wait_for_closed_streams_async(self, n: int, timeout: float = 10) -> None:
        """Like :meth:`wait_for_closed_streams`, without blocking the calling event loop."""
        try:
            await self.wait_until_async(lambda fake: fake.closed_streams >= n, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"fake LLM: expected {n} closed streams within {timeout} s, "
                f"got {self.closed_streams}"
            ) from None

    # ----- HTTP handlers (run in the server thread) ------------------------------------------

    def _unauthorized(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("authorization", "") == f"Bearer {self.api_key}":
            return None
        message = "Incorrect API key provided. You can find your API key in your account settings."
        return JSONResponse(
            _error_body(message, "invalid_request_error", "invalid_api_key"), status_code=401
        )

    async def _list_models(self, request: Request) -> Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        created = int(time.time())
        data = [
            {"id": model, "object": "model", "created": created, "owned_by": "fake-llm"}
            for model in self.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _not_found(self, request: Request) -> Response:
        with self._changed:
            self.other_requests.append(f"{request.method} {request.url.path}")
            self._changed.notify_all()
        message = f"Unknown request URL: {request.method} {request.url.path}."
        return JSONResponse(
            _error_body(message, "invalid_request_error", "unknown_url"), status_code=404
        )

    async def _chat_completions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                _error_body(
                    "The request body is not a JSON object.", "invalid_request_error", None
                ),
                status_code=400,
            )
        refused = self._unauthorized(request)
        with self._changed:
            self.requests.append({**body, "_headers": dict(request.headers.items())})
            self.client_ports.append(request.client.port if request.client else 0)
            turn: Turn | None = None
            if refused is None:
                turn = self._turns.popleft() if self._turns else Text("ok")
            self._changed.notify_all()
        if refused is not None:
            return refused
        assert turn is not None
        if not isinstance(body.get("messages"), list):
            return JSONResponse(
                _error_body(
                    "'messages' is a required property", "invalid_request_error", None, "messages"
                ),
                status_code=400,
            )
        while isinstance(turn, Dynamic):
            turn = turn.respond(body)
        return self._answer(body, turn)

    def _answer(self, body: dict[str, Any], turn: Turn) -> Response:
        stream = bool(body.get("stream"))
        if isinstance(turn, RateLimited):
            seconds = _format_seconds(turn.retry_after)
            message = f"Rate limit reached for requests. Please try again in {seconds}s."
            return JSONResponse(
                _error_body(message, "requests", "rate_limit_exceeded"),
                status_code=429,
                headers={"Retry-After": seconds},
            )
        if isinstance(turn, ErrorTurn):
            return JSONResponse(
                _error_body(turn.message, turn.type, turn.code),
                status_code=turn.status,
                headers=dict(turn.headers),
            )
        if isinstance(turn, Malformed):
            if stream:
                return self._streaming(self._raw_events(turn.stream_body))
            return Response(turn.body, media_type="application/json")
        if isinstance(turn, Echo):
            turn = Text(turn.prefix + last_user_message(body), chunk=turn.chunk, delay=turn.delay)
        if isinstance(turn, ToolCall):
            turn = ToolCalls((turn,))
        assert isinstance(turn, Text | ToolCalls)
        completion = _Completion(body, turn, self._stopping)
        if stream:
            return self._streaming(completion.events())
        return JSONResponse(completion.full())

    def _streaming(self, events: AsyncIterator[str]) -> Response:
        return _ClosingStreamingResponse(
            self._tracked(events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def _tracked(self, events: AsyncIterator[str]) -> AsyncGenerator[str, None]:
        """Pass ``events`` through, counting whether the stream ended or the client left first.

        A stream counts as complete once ``[DONE]`` is handed to the transport (or the events
        run out); a client disconnect cancels this generator before that.
        """
        completed = stopped = False
        try:
            async for event in events:
                if self._stopping.is_set():
                    stopped = True
                    return
                if event == _DONE:
                    completed = True
                yield event
            completed = True
        finally:
            with self._changed:
                if completed:
                    self.completed_streams += 1
                elif not stopped:
                    self.closed_streams += 1
                self._changed.notify_all()

    @staticmethod
    async def _raw_events(payload: str) -> AsyncIterator[str]:
        yield payload


class _Completion:
    """Builds the non-streaming body or the SSE events of one answer."""

    def __init__(
        self, body: dict[str, Any], turn: Text | ToolCalls, stopping: threading.Event
    ) -> None:
        self.body = body
        self.turn = turn
        self.stopping = stopping
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = str(body.get("model") or "fake-model")
        self.calls: list[tuple[str, ToolCall, str]] = []
        if isinstance(turn, ToolCalls):
            for call in turn.calls:
                arguments = (
                    call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments)
                )
                self.calls.append(
                    (call.call_id or f"call_{uuid.uuid4().hex[:24]}", call, arguments)
                )

    @property
    def content(self) -> str | None:
        return self.turn.content

    @property
    def finish_reason(self) -> str:
        return self.turn.finish_reason if isinstance(self.turn, Text) else "tool_calls"

    def usage(self) -> dict[str, Any]:
        prompt = _prompt_tokens(self.body)
        completion = _count_tokens(self.content or "") if self.content else 0
        for _, call, arguments in self.calls:
            completion += _count_tokens(call.name + arguments)
        completion = max(completion, 1)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def full(self) -> dict[str, Any]:
        """The ``chat.completion`` object of a non-streaming answer."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content,
            "refusal": None,
            "annotations": [],
        }
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }
                for call_id, call, arguments in self.calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake_llm",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake_llm",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds, in short slices so that a stopping server is not held up."""
        deadline = time.monotonic() + delay
        while not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    async def events(self) -> AsyncIterator[str]:
        """The SSE events of a streaming answer, ending with ``data: [DONE]``."""
        turn = self.turn
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if isinstance(turn, ToolCalls) and not turn.content:
            first["content"] = None
        yield _sse(self._chunk(first))
        if self.content:
            pieces = _split(self.content, turn.chunk if isinstance(turn, Text) else 5)
            delay = turn.delay if isinstance(turn, Text) else 0.0
            for index, piece in enumerate(pieces):
                if delay > 0 and index > 0:
                    await self._pause(delay)
                yield _sse(self._chunk({"content": piece}))
        for index, (call_id, call, arguments) in enumerate(self.calls):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield _sse(self._chunk({"tool_calls": [head]}))
            for piece in _split(arguments, call.chunk):
                part = {"index": index, "function": {"arguments": piece}}
                yield _sse(self._chunk({"tool_calls": [part]}))
        yield _sse(self._chunk({}, self.finish_reason))
        if self.include_usage:
            usage_chunk = self._chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.usage()
            yield _sse(usage_chunk)
        yield _DONE
