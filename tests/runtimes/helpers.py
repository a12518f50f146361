from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account
from tests.harness import Stack
from tests.ws import Subscriber, bearer

FINAL = {"stopped", "completed", "failed", "timeout"}


async def make_project(
    api: httpx.AsyncClient, account: Account, files: dict[str, str]
) -> dict[str, Any]:
    response = await api.post(
        "/api/projects", json={"name": "app", "description": "test"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    project = dict(response.json())
    for path, content in files.items():
        put = await api.put(
            f"/api/projects/{project['id']}/files/{path}",
            json={"content": content},
            headers=account.headers,
        )
        assert put.status_code == 200, put.text
    return project


async def make_runtime(
    api: httpx.AsyncClient,
    account: Account,
    code: str,
    *,
    language: str = "python",
    entry_point: str = "main.py",
    env: dict[str, str] | None = None,
    timeout: int = 60,
    extra_files: dict[str, str] | None = None,
) -> dict[str, Any]:
    project = await make_project(api, account, {entry_point: code, **(extra_files or {})})
    response = await api.post(
        "/api/runtimes",
        json={
            "project_id": project["id"],
            "language": language,
            "entry_point": entry_point,
            "environment_vars": env or {},
            "timeout": timeout,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def start(api: httpx.AsyncClient, account: Account, runtime_id: str) -> None:
    response = await api.post(f"/api/runtimes/{runtime_id}/start", headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Runtime starting"}


async def wait_status(
    api: httpx.AsyncClient,
    account: Account,
    runtime_id: str,
    statuses: set[str],
    timeout: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await api.get(f"/api/runtimes/{runtime_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"runtime stayed {body['status']}: {body}")
        await asyncio.sleep(0.1)


async def logs(
    api: httpx.AsyncClient, account: Account, runtime_id: str, limit: int = 1000
) -> list[dict[str, Any]]:
    response = await api.get(
        f"/api/runtimes/{runtime_id}/logs", params={"limit": limit}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def output(lines: list[dict[str, Any]], kind: str = "stdout") -> list[str]:
    return [line["message"] for line in lines if line["type"] == kind]


async def wait_output(
    api: httpx.AsyncClient, account: Account, runtime_id: str, count: int, timeout: float = 60
) -> list[str]:
    """The runtime's stdout lines once there are at least `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = output(await logs(api, account, runtime_id))
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(lines)} of {count} stdout lines after {timeout} s: {lines}")
        await asyncio.sleep(0.05)


async def run_to_end(
    api: httpx.AsyncClient, account: Account, code: str, **options: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runtime = await make_runtime(api, account, code, **options)
    await start(api, account, runtime["id"])
    final = await wait_status(api, account, runtime["id"], FINAL, timeout=120)
    return final, await logs(api, account, runtime["id"])


async def collect_logs(client: Subscriber, until: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Every line the subscription delivers, until a system line containing `until`."""
    lines: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await client.next(timeout=max(deadline - loop.time(), 0.1))
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        batch = message["payload"]["data"]["runtimeLogs"]
        lines.extend(batch)
        if any(line["type"] == "system" and until in line["message"] for line in batch):
            return lines


async def subscribe_logs(stack: Stack, account: Account, runtime_id: str, url: str) -> Subscriber:
    client = Subscriber(url.replace("http://", "ws://") + "/graphql")
    assert (await client.connect(bearer(account.token)))["type"] == "connection_ack"
    await client.subscribe(
        f'subscription {{ runtimeLogs(runtimeId: "{runtime_id}", limit: 1000) '
        "{ seq type message timestamp } }"
    )
    return client


async def run_watched(
    api: httpx.AsyncClient, account: Account, stack: Stack, code: str
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Runs `code` with a `runtimeLogs` subscriber from the start: the lines it got until the
    exit line, the runtime's final state, and the stored lines."""
    runtime = await make_runtime(api, account, code)
    client = await subscribe_logs(stack, account, runtime["id"], stack.urls[-1])
    await start(api, account, runtime["id"])
    live = await collect_logs(client, "exited with code")
    await client.close()
    final = await wait_status(api, account, runtime["id"], FINAL)
    return live, final, await logs(api, account, runtime["id"])


def http_server_program(body: str) -> str:
    """A Python program that answers every GET on its `PORT` with `body`."""
    return (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        f"        self.wfile.write({body.encode()!r})\n"
        "print('serving', flush=True)\n"
        "http.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    )


async def fetch_when_up(client: httpx.AsyncClient, url: str, timeout: float = 10) -> str:
    """The body of GET `url`, retried until the program listens (fails after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await client.get(url)).text
        except httpx.HTTPError as error:
            assert time.monotonic() < deadline, f"{url} never answered: {error!r}"
            await asyncio.sleep(0.1)
