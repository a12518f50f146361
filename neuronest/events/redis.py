from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from neuronest.events.bus import EventBus, Message

log = logging.getLogger(__name__)
SUBSCRIBE_TIMEOUT = 5.0


class RedisEventBus(EventBus):
    """Redis pub/sub shared by all API processes; one connection serves every local subscriber."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self._redis = redis
        self._pubsub: PubSub = redis.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Subscribing to a placeholder keeps the connection in pub/sub mode from the start.
        await self._pubsub.subscribe("neuronest:bus")
        self._reader = asyncio.create_task(self._read(), name="event-bus-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(channel, json.dumps(message, default=str))

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        if not messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, json.dumps(message, default=str))
            await pipe.execute()

    async def _listen(self, channels: list[str]) -> None:
        """Returns once Redis confirms, so nothing published afterwards can be missed."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            waiting = {channel: loop.create_future() for channel in channels}
            self._confirmations.update(waiting)
            try:
                await self._pubsub.subscribe(*channels)
                await asyncio.wait_for(asyncio.gather(*waiting.values()), SUBSCRIBE_TIMEOUT)
            except TimeoutError:
                # Subscribed all the same, most likely; a slow Redis must not fail the caller.
                log.warning("Redis did not confirm subscribing to %s in time", channels)
            finally:
                for channel, future in waiting.items():
                    if self._confirmations.get(channel) is future:
                        del self._confirmations[channel]

    def _forget(self, channels: list[str]) -> None:
        task = asyncio.create_task(self._unsubscribe_idle(channels))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _unsubscribe_idle(self, channels: list[str]) -> None:
        async with self._lock:
            idle = [c for c in channels if not self._local.get(c)]
            if idle:
                await self._pubsub.unsubscribe(*idle)

    async def _read(self) -> None:
        while True:
            try:
                item = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event bus connection failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if item is None:
                continue
            channel = item["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            if item["type"] == "subscribe":
                confirmation = self._confirmations.pop(channel, None)
                if confirmation is not None and not confirmation.done():
                    confirmation.set_result(None)
            elif item["type"] == "message":
                self._dispatch(channel, json.loads(item["data"]))
