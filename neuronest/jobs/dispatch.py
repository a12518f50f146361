"""Job dispatch: arq on Redis when configured, otherwise an in-process runner."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import uuid4

from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_job, serialize_job
from arq.utils import timestamp_ms

from neuronest.jobs.registry import JobFunction
from neuronest.jobs.wake import wake_channel
from neuronest.observability import metrics
from neuronest.observability.context import request_id
from neuronest.observability.jobs import REQUEST_ID_ARG, instrumented

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None  # a job whose id is queued or running already is not queued again
    defer_by: float | None = None


@dataclass(frozen=True)
class QueueDepth:
    by_kind: dict[str, int]  # waiting to start (deferred included), not yet running
    entries: int | None = None  # the whole Redis queue (waiting and running); None in-process


# Queued jobs looked at per scrape of /metrics: beyond this many, `by_kind` counts the first.
QUEUE_SCAN_LIMIT = 1000


def queued_by_request() -> dict[str, Any]:
    """The keyword arguments that carry the current request id along with a job."""
    rid = request_id.get()
    return {REQUEST_ID_ARG: rid} if rid is not None else {}


def note_queued(jobs: Sequence[Job]) -> None:
    """Counts and logs jobs that went onto the queue (one log line per batch)."""
    if not jobs:
        return
    for kind, count in Counter(job.name for job in jobs).items():
        metrics.JOBS_ENQUEUED.labels(kind).inc(count)
    if len(jobs) == 1:
        job = jobs[0]
        log.info("queued job %s", job.name, extra={"job_kind": job.name, "job_id": job.job_id})
    else:
        log.info("queued %d jobs", len(jobs), extra={"job_count": len(jobs)})


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

    async def depth(self) -> QueueDepth:
        """The jobs waiting to start, by kind (for /metrics); none known here by default."""
        return QueueDepth({})


# arq's enqueue_job (a job or result under the id means it is queued already), made one
# command so that a whole batch goes in one pipeline rather than a WATCH/MULTI per job.
_ENQUEUE = """
if redis.call('exists', KEYS[1], KEYS[2]) == 0 then
  redis.call('psetex', KEYS[1], ARGV[1], ARGV[2])
  redis.call('zadd', KEYS[3], ARGV[3], ARGV[4])
  return 1
end
return 0
"""


class ArqDispatcher(JobDispatcher):
    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def enqueue_many(self, jobs: Sequence[Job]) -> None:
        if not jobs:
            return
        redis, queue = self._redis, self._redis.default_queue_name
        now = timestamp_ms()
        kwargs = queued_by_request()
        async with redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                job_id = job.job_id or uuid4().hex
                delay = round(job.defer_by * 1000) if job.defer_by else 0
                payload = serialize_job(
                    job.name, job.args, kwargs, None, now, serializer=redis.job_serializer
                )
                keys = [job_key_prefix + job_id, result_key_prefix + job_id, queue]
                args: list[Any] = [delay + redis.expires_extra_ms, payload, now + delay, job_id]
                # EVAL rather than EVALSHA: no round trip to ask Redis whether it has the script.
                pipe.eval(_ENQUEUE, len(keys), *keys, *args)
            pipe.publish(wake_channel(queue), b"1")
            added = await pipe.execute()
        note_queued([job for job, new in zip(jobs, added, strict=False) if new == 1])

    async def depth(self) -> QueueDepth:
        """Reads the first QUEUE_SCAN_LIMIT entries of the queue: two round trips."""
        redis, queue = self._redis, self._redis.default_queue_name
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(queue)
            pipe.zrange(queue, 0, QUEUE_SCAN_LIMIT - 1)
            entries, ids = await pipe.execute()
        by_kind: dict[str, int] = {}
        if ids:
            async with redis.pipeline(transaction=False) as pipe:
                for raw in ids:
                    job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
                    pipe.get(job_key_prefix + job_id)
                    pipe.exists(in_progress_key_prefix + job_id)
                answers = await pipe.execute()
            for payload, running in zip(answers[::2], answers[1::2], strict=True):
                if payload is None or running:
                    continue
                try:
                    kind = deserialize_job(payload, deserializer=redis.job_deserializer).function
                except Exception:  # not a job of ours; nothing to count
                    continue
                by_kind[kind] = by_kind.get(kind, 0) + 1
        return QueueDepth(by_kind, int(entries))


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
        self._waiting: Counter[str] = Counter()

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._anonymous]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, job_id: str, _: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)

    async def enqueue_many(self, jobs: Sequence[Job]) -> None:
        note_queued(
            [job for job in jobs if self._start(job.name, job.args, job.job_id, job.defer_by)]
        )

    async def depth(self) -> QueueDepth:
        return QueueDepth({kind: n for kind, n in self._waiting.items() if n})

    def _start(
        self, name: str, args: tuple[Any, ...], job_id: str | None, defer_by: float | None
    ) -> bool:
        function = instrumented(name, self._jobs[name])
        if job_id is not None and job_id in self._tasks:
            return False
        self._waiting[name] += 1

        async def run() -> None:
            try:
                if defer_by:
                    await asyncio.sleep(defer_by)
            finally:
                self._waiting[name] -= 1
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
        return True
