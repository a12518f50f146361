"""Live logs and status over websockets, and runs that survive their worker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Account, gql, register
from tests.harness import Stack
from tests.runtimes.helpers import (
    FINAL,
    collect_logs,
    logs,
    make_runtime,
    output,
    run_watched,
    start,
    subscribe_logs,
    wait_output,
    wait_status,
)
from tests.ws import Subscriber, bearer

COUNTING = (
    "import time\n"
    "for i in range(300):\n"
    "    print(f'n{i}', flush=True)\n"
    "    if i % 30 == 0:\n"
    "        time.sleep(0.2)\n"
)


def assert_exactly_once_in_order(lines: list[dict[str, Any]]) -> None:
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(set(seqs)), "duplicates or disorder"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap"
    assert [m["message"] for m in lines if m["type"] == "stdout"] == [f"n{i}" for i in range(300)]


async def test_subscriber_from_the_start_sees_every_line_once(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    lines, _, stored = await run_watched(api, account, stack, COUNTING)
    assert_exactly_once_in_order(lines)
    assert [line["message"] for line in stored] == [line["message"] for line in lines]


async def test_log_timestamps_are_date_times_alike_live_stored_and_in_rest(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    runtime = await make_runtime(api, account, COUNTING)
    client = Subscriber(stack.ws_url)
    assert (await client.connect(bearer(account.token)))["type"] == "connection_ack"
    await client.subscribe(
        f'subscription {{ runtimeLogs(runtimeId: "{runtime["id"]}", limit: 1000) '
        "{ id type message timestamp } }"
    )
    await start(api, account, runtime["id"])
    live = await collect_logs(client, "exited with code")
    await client.close()
    stored = await gql(
        api,
        "query($id: ID!) { runtimeLogs(runtimeId: $id, limit: 1000) { id timestamp } }",
        {"id": runtime["id"]},
        account.token,
    )
    rest = await logs(api, account, runtime["id"])
    shown = {line["id"]: line["timestamp"] for line in live}
    assert len(shown) == len(rest) > 300
    assert {line["id"]: line["timestamp"] for line in stored["data"]["runtimeLogs"]} == shown
    assert {line["id"]: line["timestamp"] for line in rest} == shown
    for text in shown.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
        assert datetime.fromisoformat(text).tzinfo == UTC
    introspected = await gql(
        api, '{ __type(name: "RuntimeLog") { fields { name type { ofType { name } } } } }'
    )
    fields = introspected["data"]["__type"]["fields"]
    types = {f["name"]: f["type"]["ofType"]["name"] for f in fields}
    assert types["timestamp"] == "DateTime"


async def test_subscriber_joining_mid_run_sees_every_line_once(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    runtime = await make_runtime(api, account, COUNTING)
    await start(api, account, runtime["id"])
    await wait_output(api, account, runtime["id"], 40)
    client = await subscribe_logs(stack, account, runtime["id"], stack.urls[-1])
    lines = await collect_logs(client, "exited with code")
    await client.close()
    assert_exactly_once_in_order(lines)


async def test_status_subscription_follows_the_run(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    runtime = await make_runtime(api, account, "print('hi')\n")
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(
        f'subscription {{ runtimeStatus(runtimeId: "{runtime["id"]}") {{ status exitCode }} }}'
    )
    seen = [(await client.next())["payload"]["data"]["runtimeStatus"]["status"]]
    await start(api, account, runtime["id"])
    while seen[-1] not in FINAL:
        seen.append((await client.next())["payload"]["data"]["runtimeStatus"]["status"])
    await client.close()
    assert seen[0] == "created"
    assert seen[-1] == "completed"
    assert "running" in seen


async def test_streams_of_other_users_are_refused(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    runtime = await make_runtime(api, account, "print(1)\n")
    intruder = await register(api)
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(intruder.token))
    await client.subscribe(
        f'subscription {{ runtimeLogs(runtimeId: "{runtime["id"]}") {{ seq }} }}'
    )
    message = await client.next()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    await client.close()


async def test_killing_the_worker_mid_run(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    if stack.mode != "postgres":
        pytest.skip("the embedded stack has no separate worker")
    code = (
        "import time\n"
        "for i in range(40):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(0.25)\n"
    )
    runtime = await make_runtime(api, account, code)
    looping = await make_runtime(api, account, "while True:\n    pass\n", timeout=8)
    await start(api, account, runtime["id"])
    await start(api, account, looping["id"])
    await wait_status(api, account, looping["id"], {"running"})
    await wait_output(api, account, runtime["id"], 5)
    worker = stack.processes["worker"]
    os.kill(worker.popen.pid, signal.SIGKILL)
    worker.popen.wait()
    await asyncio.sleep(1)
    stack.start_worker("worker")
    final = await wait_status(api, account, runtime["id"], FINAL, timeout=60)
    lines = await logs(api, account, runtime["id"])
    if stack.backend == "docker":
        assert final["status"] == "completed", final
        assert output(lines) == [f"tick {i}" for i in range(40)]
        assert any("re-attached" in line for line in output(lines, "system"))
        timed = await wait_status(api, account, looping["id"], FINAL, timeout=60)
        assert timed["status"] == "timeout"
    else:
        assert final["status"] == "failed"
        assert "worker" in final["error"]


async def test_batches_subscription_delivers_the_same_lines(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    runtime = await make_runtime(api, account, COUNTING)
    client = Subscriber(stack.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(
        f'subscription {{ runtimeLogBatches(runtimeId: "{runtime["id"]}", limit: 1000) }}'
    )
    await start(api, account, runtime["id"])
    lines: list[dict[str, Any]] = []
    while not any("exited with code" in line["message"] for line in lines):
        message = await client.next()
        lines.extend(message["payload"]["data"]["runtimeLogBatches"])
    await client.close()
    assert_exactly_once_in_order(lines)
    assert set(lines[0]) == {"id", "seq", "type", "message", "timestamp"}
