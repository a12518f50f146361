from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

from neuronest.jobs.dispatch import ArqDispatcher, InProcessDispatcher, Job
from neuronest.jobs.registry import JOBS, job
from neuronest.jobs.wake import WakingWorker, wake_channel

REDIS_URL = os.environ.get("NEURONEST_TEST_REDIS_URL")
calls: list[tuple[str, Any]] = []
gate = asyncio.Event()


@job
async def record_for_test(ctx: dict[str, Any], value: str) -> None:
    calls.append(("start", value))
    await gate.wait()
    calls.append(("done", value))


async def test_in_process_dispatcher_runs_jobs_once_per_id() -> None:
    calls.clear()
    gate.clear()
    dispatcher = InProcessDispatcher(JOBS, {})
    await dispatcher.enqueue("record_for_test", "a", job_id="same")
    await dispatcher.enqueue("record_for_test", "b", job_id="same")
    await dispatcher.enqueue("record_for_test", "c")
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.sleep(0.05)
    assert sorted(calls) == [("done", "a"), ("done", "c"), ("start", "a"), ("start", "c")]
    await dispatcher.close()


async def queue_of_its_own() -> tuple[ArqRedis, str]:
    """A Redis pool whose default queue no other test uses."""
    if not REDIS_URL:
        pytest.skip("NEURONEST_TEST_REDIS_URL not set (make test)")
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    queue = f"test-queue-{uuid.uuid4().hex}"
    pool.default_queue_name = queue
    return pool, queue


async def run_queued_records(pool: ArqRedis, queue: str) -> None:
    """Runs every `record_for_test` job of the queue, then returns."""
    worker = Worker(
        functions=[func(JOBS["record_for_test"], name="record_for_test")],
        redis_pool=pool,
        queue_name=queue,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
    )
    await worker.main()
    await worker.close()


async def test_arq_dispatcher_reaches_a_worker_through_redis() -> None:
    pool, queue = await queue_of_its_own()
    calls.clear()
    gate.set()
    dispatcher = ArqDispatcher(pool)
    job_id = uuid.uuid4().hex
    await dispatcher.enqueue("record_for_test", "x", job_id=job_id)
    await dispatcher.enqueue("record_for_test", "y", job_id=job_id)
    await run_queued_records(pool, queue)
    assert calls == [("start", "x"), ("done", "x")]


arrived: asyncio.Queue[str] = asyncio.Queue()


@job
async def arrive_for_test(ctx: dict[str, Any], value: str) -> None:
    await arrived.put(value)


async def test_an_idle_worker_starts_a_job_without_waiting_for_its_poll() -> None:
    pool, queue = await queue_of_its_own()
    worker = WakingWorker(
        functions=[func(JOBS["arrive_for_test"], name="arrive_for_test")],
        redis_pool=pool,
        queue_name=queue,
        handle_signals=False,
        poll_delay=600,  # a poll would never come within the test
    )
    running = asyncio.create_task(worker.main())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while (await pool.pubsub_numsub(wake_channel(queue)))[0][1] < 1:
            assert asyncio.get_running_loop().time() < deadline, "worker never listened"
            await asyncio.sleep(0.01)
        dispatcher = ArqDispatcher(pool)
        await dispatcher.enqueue("arrive_for_test", "now")
        assert await asyncio.wait_for(arrived.get(), 10) == "now"
        await dispatcher.enqueue("arrive_for_test", "later", defer_by=0.3)
        assert await asyncio.wait_for(arrived.get(), 10) == "later"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        # arq's close gathers the job tasks it cancels first: one still finishing raises.
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()


async def test_a_batch_of_jobs_is_queued_once_per_id() -> None:
    pool, queue = await queue_of_its_own()
    calls.clear()
    gate.set()
    dispatcher = ArqDispatcher(pool)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    await dispatcher.enqueue("record_for_test", "before", job_id=first)
    await dispatcher.enqueue_many(
        [
            Job("record_for_test", ("again",), job_id=first),
            Job("record_for_test", ("b",), job_id=second),
            Job("record_for_test", ("b again",), job_id=second),
            Job("record_for_test", ("anonymous",)),
            Job("record_for_test", ("later",), defer_by=0.2),
        ]
    )
    assert await pool.zcard(queue) == 4
    await run_queued_records(pool, queue)
    started = sorted(value for event, value in calls if event == "start")
    assert started == ["anonymous", "b", "before", "later"]


async def test_the_in_process_dispatcher_takes_a_batch() -> None:
    calls.clear()
    gate.set()
    dispatcher = InProcessDispatcher(JOBS, {})
    await dispatcher.enqueue_many(
        [
            Job("record_for_test", ("a",), job_id="one"),
            Job("record_for_test", ("a again",), job_id="one"),
            Job("record_for_test", ("b",)),
        ]
    )
    deadline = asyncio.get_running_loop().time() + 10
    while len([event for event, _ in calls if event == "done"]) < 2:
        assert asyncio.get_running_loop().time() < deadline, calls
        await asyncio.sleep(0.01)
    await dispatcher.close()  # what was still to run is cancelled: a second "a" would be seen
    assert sorted(value for event, value in calls if event == "start") == ["a", "b"]


async def test_the_queue_depth_counts_waiting_jobs_by_kind() -> None:
    pool, queue = await queue_of_its_own()
    dispatcher = ArqDispatcher(pool)
    await dispatcher.enqueue_many(
        [
            Job("record_for_test", ("a",), job_id=uuid.uuid4().hex),
            Job("record_for_test", ("b",)),
            Job("arrive_for_test", ("later",), defer_by=60),
        ]
    )
    depth = await dispatcher.depth()
    assert depth.by_kind == {"record_for_test": 2, "arrive_for_test": 1}
    assert depth.entries == 3
    await pool.delete(queue)


async def test_the_in_process_queue_depth_counts_deferred_jobs_until_they_start() -> None:
    calls.clear()
    gate.set()
    dispatcher = InProcessDispatcher(JOBS, {})
    await dispatcher.enqueue_many(
        [
            Job("record_for_test", ("soon",), defer_by=0.05),
            Job("arrive_for_test", ("x",), defer_by=60),
        ]
    )
    assert (await dispatcher.depth()).by_kind == {"record_for_test": 1, "arrive_for_test": 1}
    deadline = asyncio.get_running_loop().time() + 10
    while (await dispatcher.depth()).by_kind != {"arrive_for_test": 1}:
        assert asyncio.get_running_loop().time() < deadline, await dispatcher.depth()
        await asyncio.sleep(0.01)
    await dispatcher.close()
    assert (await dispatcher.depth()).by_kind == {}
