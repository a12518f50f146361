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
from arq.utils import timestamp_ms
from arq.worker import Worker

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0


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
