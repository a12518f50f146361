"""Hostile input on real servers: every malformed or oversized input is a 413 or a 422 naming
where, nothing is stored, the user's task list is still served and the honest request works."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Account, gql
from tests.harness import Stack

LIMIT = 4 * 1024 * 1024  # the default NEURONEST_MAX_BODY_BYTES
TASKS = "/api/orchestration/tasks"
HONEST = {"task_type": "calculation", "input_data": {"expression": "2+2"}}
CREATE_TASK = "mutation($input: TaskInput!) { createTask(input: $input) { id inputData } }"


async def raw_request(stack: Stack, head: str, chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
    """Sends `head` then `chunks` until the server answers (or the chunks run out); returns the
    status and body of the answer. The server may answer, and close, before the body is sent."""
    address = urlsplit(stack.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head.encode())

    async def send() -> None:
        try:
            async for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the server answered and closed: what we wait for

    sending = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 60)
        headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = next(
            int(line.split(b":")[1])
            for line in headers.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await asyncio.wait_for(reader.readexactly(length), 60)
    finally:
        sending.cancel()
        writer.close()
    return int(status_line.split()[1]), body


async def zeros(total: int, chunked: bool) -> AsyncIterator[bytes]:
    piece = b'{"task_type": "calculation", "input_data": {"expression": "' + b"1" * 65000
    sent = 0
    while sent < total:
        data = piece if sent == 0 else b"1" * 65536
        sent += len(data)
        yield f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data
        await asyncio.sleep(0)


async def task_count(api: httpx.AsyncClient, account: Account) -> int:
    response = await api.get(TASKS, params={"limit": 1000}, headers=account.headers)
    assert response.status_code == 200, response.text
    return len(response.json())


async def honest_task_works(api: httpx.AsyncClient, account: Account) -> None:
    response = await api.post(TASKS, json=HONEST, headers=account.headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("path", [TASKS, "/graphql"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_and_nothing_is_stored(
    stack: Stack, api: httpx.AsyncClient, account: Account, path: str, chunked: bool
) -> None:
    before = await task_count(api, account)
    total = 50 * 1024 * 1024 if not chunked else LIMIT + 1024 * 1024
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {account.token}\r\n{framing}\r\n\r\n"
    )
    status, body = await raw_request(stack, head, zeros(total, chunked))
    assert status == 413, body
    assert b"Too Large" in body or str(LIMIT).encode() in body, body
    assert await task_count(api, account) == before
    await honest_task_works(api, account)


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


MALFORMED: dict[str, bytes] = {
    "nest-700": b'{"task_type": "calculation", "input_data": ' + nested(700).encode() + b"}",
    "nest-100000": b'{"task_type": "calculation", "input_data": ' + nested(100000).encode() + b"}",
    "NaN": b'{"task_type": "calculation", "input_data": {"expression": "1", "x": NaN}}',
    "Infinity": b'{"task_type": "calculation", "input_data": {"expression": "1", "x": -Infinity}}',
    "1e400": b'{"task_type": "calculation", "input_data": {"expression": "1", "x": 1e400}}',
    "2^64": b'{"task_type": "calculation", "input_data": {"expression": "1", '
    b'"x": 18446744073709551616}}',
    "2^53+1": b'{"task_type": "calculation", "input_data": {"expression": "1", '
    b'"x": 9007199254740993}}',
    "lone-surrogate": b'{"task_type": "calculation", "input_data": {"expression": "\\ud800"}}',
    "surrogate-key": b'{"task_type": "calculation", "input_data": {"expression": "1", '
    b'"\\udfff": 1}}',
    "NUL": b'{"task_type": "calculation", "input_data": {"expression": "1\\u0000"}}',
    "invalid-utf8": b'{"task_type": "calculation", "input_data": {"expression": "\xff\xfe"}}',
    "overlong-utf8": b'{"task_type": "calculation", "input_data": {"expression": "\xc0\xaf"}}',
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_rest_bodies_are_422_naming_where(
    api: httpx.AsyncClient, account: Account, case: str
) -> None:
    before = await task_count(api, account)
    response = await api.post(
        TASKS,
        content=MALFORMED[case],
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"][0] == "body"
    if case not in ("nest-100000", "invalid-utf8", "overlong-utf8"):
        # Parsed far enough to know where: the field is named.
        assert problem["loc"][1] == "input_data", problem
    assert await task_count(api, account) == before
    await honest_task_works(api, account)


def graphql_body(input_data: str) -> bytes:
    """A createTask request whose `inputData` variable is the raw JSON text `input_data`."""
    return (
        b'{"query": ' + json.dumps(CREATE_TASK).encode() + b', "variables": {"input": '
        b'{"taskType": "calculation", "inputData": '
        + input_data.encode("utf-8", "surrogatepass")
        + b"}}}"
    )


GRAPHQL_VARIABLES = {
    "nest-700": nested(700),
    "nest-100000": nested(100000),
    "NaN": '{"expression": "1", "x": NaN}',
    "Infinity": '{"expression": "1", "x": Infinity}',
    "1e400": '{"expression": "1", "x": 1e400}',
    "2^64": '{"expression": "1", "x": 18446744073709551616}',
    "lone-surrogate": '{"expression": "\\ud800"}',
    "NUL": '{"expression": "\\u0000"}',
}


@pytest.mark.parametrize("case", list(GRAPHQL_VARIABLES))
async def test_malformed_graphql_variables_are_422_naming_where(
    api: httpx.AsyncClient, account: Account, case: str
) -> None:
    before = await task_count(api, account)
    response = await api.post(
        "/graphql",
        content=graphql_body(GRAPHQL_VARIABLES[case]),
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if case != "nest-100000":
        assert detail.startswith("body.variables.input.inputData"), detail
    assert await task_count(api, account) == before
    honest = await gql(
        api,
        CREATE_TASK,
        {"input": {"taskType": "calculation", "inputData": {"expression": "1+1"}}},
        account.token,
    )
    assert "errors" not in honest, honest


async def test_invalid_utf8_graphql_body_is_422(api: httpx.AsyncClient, account: Account) -> None:
    response = await api.post(
        "/graphql",
        content=b'{"query": "{ me { id } }", "x": "\xff"}',
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "UTF-8" in response.json()["detail"]


def literal_nested(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


GRAPHQL_LITERALS = {
    "nest-40": (literal_nested(40), "nested deeper"),
    "nest-700": (literal_nested(700), "query: is nested deeper"),
    "nest-100000": (literal_nested(100000), "query: is nested deeper"),
    "1e400": ('{expression: "1", x: 1e400}', "input.inputData.x: number 1e400 overflows"),
    "2^64": ('{expression: "1", x: 18446744073709551616}', "input.inputData.x: integer"),
    "NUL": ('{expression: "1\\u0000"}', "input.inputData.expression: must not contain NUL"),
    "lone-surrogate": ('{expression: "\\ud800"}', ""),
}


@pytest.mark.parametrize("case", list(GRAPHQL_LITERALS))
async def test_malformed_graphql_literals_are_refused_naming_where(
    api: httpx.AsyncClient, account: Account, case: str
) -> None:
    before = await task_count(api, account)
    literal, message = GRAPHQL_LITERALS[case]
    query = (
        'mutation { createTask(input: {taskType: "calculation", '
        f"inputData: {literal}}}) {{ id }} }}"
    )
    result = await gql(api, query, token=account.token)
    assert result.get("data") is None, result
    (error,) = result["errors"]
    assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error
    assert message in error["message"], error
    assert await task_count(api, account) == before
    honest = await gql(
        api,
        'mutation { createTask(input: {taskType: "calculation", '
        'inputData: {expression: "3*3", x: 1.5, n: 9007199254740991}}) { id inputData } }',
        token=account.token,
    )
    assert honest["data"]["createTask"]["inputData"]["n"] == 9007199254740991, honest


async def test_free_form_objects_have_size_limits(api: httpx.AsyncClient, account: Account) -> None:
    big = "x" * (1024 * 1024)
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            TASKS,
            {"task_type": "calculation", "input_data": {"expression": "1", "pad": big}},
            "input_data",
        ),
        (TASKS, {**HONEST, "context": {"pad": big}}, "context"),
        (TASKS, {**HONEST, "tools": ["calculator"] * 100}, "tools"),
        (
            "/api/orchestration/agents",
            {"name": "a", "configuration": {"system_prompt": "y" * 70000}},
            "configuration",
        ),
    ]
    for path, body, field in cases:
        response = await api.post(path, json=body, headers=account.headers)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"].startswith(f"{field}:"), response.text
    await honest_task_works(api, account)


async def test_a_websocket_message_over_the_limit_closes_the_socket(
    stack: Stack, account: Account
) -> None:
    import websockets

    async with websockets.connect(
        stack.ws_url,
        subprotocols=["graphql-transport-ws"],
        max_size=None,  # type: ignore[list-item]
    ) as socket:
        await socket.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}}
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"type": "ping", "payload": {"pad": "x" * (LIMIT + 1)}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with websockets.connect(
        stack.ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as socket:
        await socket.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}}
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send('{"type": "ping", "payload": {"x": NaN}}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
