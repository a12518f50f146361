"""Job dispatch: arq on Redis when configured, otherwise an in-process runner."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from functools import partial
from typing import Any

from arq.connections import ArqRedis

from neuronest.jobs.registry import load_all_jobs
from neuronest.jobs.wake import wake_workers

log = logging.getLogger(__name__)


class JobDispatcher(ABC):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> None: ...


class ArqDispatcher(JobDispatcher):
    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> None:
        await self._redis.enqueue_job(name, *args, _job_id=job_id, _defer_by=defer_by)
        await wake_workers(self._redis, self._redis.default_queue_name)


class InProcessDispatcher(JobDispatcher):
    """Runs jobs as tasks of this process; a job id already running is not started twice."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._anonymous: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._anonymous]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, job_id: str, _: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)

    async def enqueue(
        self, name: str, *args: Any, job_id: str | None = None, defer_by: float | None = None
    ) -> None:
        function = load_all_jobs()[name]
        if job_id is not None and job_id in self._tasks:
            return

        async def run() -> None:
            if defer_by:
                await asyncio.sleep(defer_by)
            try:
                await function({"job_id": job_id, "job_try": 1}, *args)
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
