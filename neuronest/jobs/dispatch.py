"""Job dispatch: arq on Redis when configured, otherwise an in-process runner."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import uuid4

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from neuronest.jobs.registry import JobFunction
from neuronest.jobs.wake import wake_channel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None  # a job whose id is queued or running already is not queued again
    defer_by: float | None = None


class JobDispatcher(ABC):
    # Whether a job queued here starts at once in this process (True), or waits for a worker
    # to take it from a queue (False): a worker may then start work it queued itself, sooner.
    starts_at_once: bool = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> None:
        await self.enqueue_many([Job(name, args, job_id, defer_by)])

    @abstractmethod
    async def enqueue_many(self, jobs: Sequence[Job]) -> None:
        """Queues every job at once (one round trip to the queue, however many)."""


# arq's enqueue_job (a job or result under the id means it is queued already), made one
# command so that a whole batch goes in one pipeline rather than a WATCH/MULTI per job.
_ENQUEUE = """
if redis.call('exists', KEYS[1], KEYS[2]) == 0 then
  redis.call('psetex', KEYS[1], ARGV[1], ARGV[2])
  redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
end
"""


class ArqDispatcher(JobDispatcher):
    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def enqueue_many(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        redis, queue = self._redis, self._redis.default_queue_name
        now = timestamp_ms()
        async with redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                job_id = job.job_id or uuid4().hex
                delay = round(job.defer_by * 1000) if job.defer_by else 0
                payload = serialize_job(
                    job.name, job.args, {}, None, now, serializer=redis.job_serializer
                )
                keys = [job_key_prefix + job_id, result_key_prefix + job_id, queue]
                args: list[Any] = [delay + redis.expires_extra_ms, payload, now + delay, job_id]
                # EVAL rather than EVALSHA: no round trip to ask Redis whether it has the script.
                pipe.eval(_ENQUEUE, len(keys), *keys, *args)
            pipe.publish(wake_channel(queue), b"1")
            await pipe.execute()


class InProcessDispatcher(JobDispatcher):
    """Runs jobs as tasks of this process; a job id already running is not started twice.

    `jobs`: every job by name; `context`: what each job finds in its ctx besides its id and try
    (as arq's ctx holds what the worker's start-up put there)."""

    starts_at_once = True

    def __init__(self, jobs: Mapping[str, JobFunction], context: Mapping[str, Any]) -> None:
        self._jobs = jobs
        self._context = context
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._anonymous: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._anonymous]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, job_id: str, _: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)

    async def enqueue_many(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            self._start(job.name, job.args, job.job_id, job.defer_by)

    def _start(
        self, name: str, args: tuple[Any, ...], job_id: str | None, defer_by: float | None
    ) -> None:
        function = self._jobs[name]
        if job_id is not None and job_id in self._tasks:
            return

        async def run() -> None:
            if defer_by:
                await asyncio.sleep(defer_by)
            try:
                await function({**self._context, "job_id": job_id, "job_try": 1}, *args)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s failed", name)

        task = asyncio.create_task(run(), name=f"job:{name}")
        if job_id is None:
            self._anonymous.add(task)
            task.add_done_callback(self._anonymous.discard)
        else:
            self._tasks[job_id] = task
            task.add_done_callback(partial(self._forget, job_id))
