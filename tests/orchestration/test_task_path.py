"""The task path as a user meets it: a cancel stops the model at once (on a deployment whose
heartbeat is far too slow to notice it), a task cancelled while still queued never runs, and a job
delivered twice asks the model once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from arq.connections import RedisSettings, create_pool
from arq.constants import job_key_prefix

from tests.conftest import Account, register, stack_fixture
from tests.harness import Stack
from tests.llm import fake_llm as turns
from tests.llm.fake_llm import FakeLLM
from tests.orchestration.helpers import create_task, wait_task
from tests.ws import Subscriber, bearer

# Nothing but the control message can stop a running task within the tests' deadlines.
SLOW_HEARTBEAT = {"NEURONEST_TASK_HEARTBEAT": "600", "NEURONEST_TASK_STALE_AFTER": "3600"}
JOB_DEADLINE = 30.0


slow_beat = stack_fixture("slow-beat", **SLOW_HEARTBEAT)


@pytest.fixture
async def api(slow_beat: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=slow_beat.url, timeout=30) as client:
        yield client


UPDATES = 'subscription {{ taskUpdates(taskId: "{}") {{ type text task {{ status }} }} }}'


async def test_a_cancel_stops_the_model_at_once(
    api: httpx.AsyncClient, slow_beat: Stack, fake_llm: FakeLLM
) -> None:
    account = await register(api)
    fake_llm.script(turns.slow_text("word " * 200, delay=0.1))
    task = await create_task(api, account, task_type="text_generation", input_data={"prompt": "x"})
    client = Subscriber(slow_beat.ws_url)
    await client.connect(bearer(account.token))
    await client.subscribe(UPDATES.format(task["id"]))
    try:
        while (await client.next())["payload"]["data"]["taskUpdates"]["type"] != "delta":
            pass  # statuses, until the model has begun to answer
        cancelled = await api.post(
            f"/api/orchestration/tasks/{task['id']}/cancel", headers=account.headers
        )
        assert cancelled.status_code == 200, cancelled.text
        statuses = []
        while (message := await client.next())["type"] != "complete":
            update = message["payload"]["data"]["taskUpdates"]
            if update["type"] == "status":
                statuses.append(update["task"]["status"])
        assert statuses[-1] == "cancelled"
    finally:
        await client.close()
    await fake_llm.wait_for_closed_streams_async(1, timeout=20)
    assert fake_llm.completed_streams == 0
    assert (await wait_task(api, account, task["id"]))["status"] == "cancelled"


@contextlib.contextmanager
def paused_worker(stack: Stack) -> Iterator[None]:
    """The worker process stopped (SIGSTOP): jobs enqueued meanwhile wait in the queue."""
    pid = stack.processes["worker"].popen.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def wait_jobs_done(stack: Stack, *job_ids: str) -> None:
    """Until the worker has run every one of `job_ids` (arq drops a job's key at its end)."""
    redis = await create_pool(RedisSettings.from_dsn(stack.env["NEURONEST_REDIS_URL"]))
    try:
        deadline = time.monotonic() + JOB_DEADLINE
        while await redis.exists(*(job_key_prefix + job_id for job_id in job_ids)):
            assert time.monotonic() < deadline, f"jobs {job_ids} still queued or running"
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


def asked(fake_llm: FakeLLM, prompt: str) -> int:
    return sum(turns.last_user_message(request) == prompt for request in fake_llm.requests)


def needs_worker(stack: Stack) -> None:
    if stack.mode != "postgres":
        pytest.skip("the embedded stack has no separate worker to hold back")


async def test_a_task_cancelled_while_queued_never_runs(
    api: httpx.AsyncClient, slow_beat: Stack, fake_llm: FakeLLM
) -> None:
    needs_worker(slow_beat)
    account: Account = await register(api)
    with paused_worker(slow_beat):
        task = await create_task(
            api, account, task_type="text_generation", input_data={"prompt": "never asked"}
        )
        cancelled = await api.post(
            f"/api/orchestration/tasks/{task['id']}/cancel", headers=account.headers
        )
        assert cancelled.status_code == 200, cancelled.text
    await wait_jobs_done(slow_beat, task["id"])
    final = await wait_task(api, account, task["id"])
    assert final["status"] == "cancelled"
    assert final["attempts"] == 0 and final["result"] is None
    assert asked(fake_llm, "never asked") == 0


async def test_a_job_delivered_twice_asks_the_model_once(
    api: httpx.AsyncClient, slow_beat: Stack, fake_llm: FakeLLM
) -> None:
    needs_worker(slow_beat)
    account = await register(api)
    fake_llm.script(turns.text("the one answer", delay=0.05))
    redis = await create_pool(RedisSettings.from_dsn(slow_beat.env["NEURONEST_REDIS_URL"]))
    try:
        with paused_worker(slow_beat):
            task = await create_task(
                api, account, task_type="text_generation", input_data={"prompt": "twice sent"}
            )
            # The same attempt again under another job id: the queue cannot tell them apart.
            again = await redis.enqueue_job("run_task", task["id"], 0, _job_id=f"{task['id']}:x")
            assert again is not None
    finally:
        await redis.aclose()
    await wait_jobs_done(slow_beat, task["id"], f"{task['id']}:x")
    final = await wait_task(api, account, task["id"])
    assert final["status"] == "completed", final
    assert final["result"]["text"] == "the one answer"
    assert final["attempts"] == 1
    assert asked(fake_llm, "twice sent") == 1
