"""Jobs start the moment they are enqueued: a pub/sub wake-up in front of arq's queue poll.

arq finds new jobs by polling its queue (a sorted set). Polling often costs Redis work on every
idle worker; polling rarely makes every job wait for the next poll. Here the dispatcher publishes
on a channel right after each enqueue and every worker polls as soon as it hears it, so the poll
interval only matters as a fallback: for a lost message, a deferred job whose time has come, or a
job slot that freed while the queue was full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0

# arq's claim of a queued job (start_jobs: WATCH the in-progress key, read it and the job's score,
# then MULTI/PSETEX/EXEC: four round trips) as one atomic command: the job's score, or nil when it
# is running elsewhere, gone from the queue or not due yet.
_CLAIM = """
if redis.call('exists', KEYS[1]) == 1 then return nil end
local score = redis.call('zscore', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return nil end
redis.call('psetex', KEYS[1], ARGV[3], '1')
return score
"""


def wake_channel(queue_name: str) -> str:
    return f"{queue_name}:wake"


class WakingWorker(Worker):
    """arq's worker that polls when told a job arrived, and otherwise every `poll_delay`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._woken = asyncio.Event()

    async def main(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(
                self.redis_settings,
                job_deserializer=self.job_deserializer,
                job_serializer=self.job_serializer,
                default_queue_name=self.queue_name,
                expires_extra_ms=self.expires_extra_ms,
            )
        log.info("Starting worker for %d functions", len(self.functions))
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        listener = asyncio.create_task(self._listen(), name="job-wake-listener")
        try:
            while True:
                self._woken.clear()
                await self._poll_iteration()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), await self._idle_wait())
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's start_jobs, with the jobs read by one poll claimed in one pipeline (one atomic
        command each) rather than one WATCH/MULTI exchange each, and without asking about the
        jobs that are running here (a job stays in the queue until it ends); the job slots are
        counted as arq counts them. A batch is sent before waiting for a slot to free."""
        batch: list[str] = []
        for raw in job_ids:
            job_id = raw.decode()
            running = self.tasks.get(job_id)
            if running is not None and not running.done():
                continue  # still in the queue because it is running here
            if self.sem.locked() and batch:
                await self._claim(batch)
                batch = []
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                break
            self.job_counter += 1
            batch.append(job_id)
        await self._claim(batch)

    async def _claim(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        now, timeout_ms = str(timestamp_ms()), str(int(self.in_progress_timeout_s * 1000))
        try:
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    keys = (in_progress_key_prefix + job_id, self.queue_name)
                    pipe.eval(_CLAIM, len(keys), *keys, job_id, now, timeout_ms)
                scores = await pipe.execute()
        except BaseException:
            for _ in job_ids:
                self._release_sem_dec_counter_on_complete()
            raise
        for job_id, score in zip(job_ids, scores, strict=True):
            if score is None:  # started elsewhere, finished, or re-queued for later
                self._release_sem_dec_counter_on_complete()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def _idle_wait(self) -> float:
        """Until the next poll: the fallback interval, or sooner when a deferred job is due."""
        now = timestamp_ms()
        due = await self.pool.zrangebyscore(
            self.queue_name, min=now, max="+inf", start=0, num=1, withscores=True
        )
        if not due:
            return self.poll_delay_s
        return max(0.0, min(self.poll_delay_s, (float(due[0][1]) - now) / 1000))

    async def _listen(self) -> None:
        channel = wake_channel(self.queue_name)
        while True:
            try:
                async with self.pool.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    self._woken.set()  # anything enqueued while we were not listening
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._woken.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("job wake-up channel lost (%s); polling until it is back", error)
                await asyncio.sleep(RECONNECT_DELAY)
