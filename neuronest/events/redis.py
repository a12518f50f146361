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
SYNC_TIMEOUT = 2.0
SYNC_PREFIX = "neuronest-sync:"


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
        # sync(): one PING in flight on the pub/sub connection, and the callers that arrived
        # after it was sent waiting for the next one.
        self._pings = 0
        self._in_flight: tuple[str, asyncio.Future[bool]] | None = None
        self._next_ping: asyncio.Future[bool] | None = None

    async def start(self) -> None:
        # Subscribing to a placeholder keeps the connection in pub/sub mode from the start.
        await self._pubsub.subscribe("neuronest:bus")
        assert self._pubsub.connection is not None
        # Every reconnection (redis-py reconnects quietly) may have lost messages.
        self._pubsub.connection.register_connect_callback(self._reconnected)
        self._reader = asyncio.create_task(self._read(), name="event-bus-reader")

    def _reconnected(self, _connection: object) -> None:
        log.warning("event bus reconnected to Redis; messages may have been lost")
        self._gap()
        if self._in_flight is not None:  # its PONG may never come
            self._pong(self._in_flight[0], ok=False)

    async def sync(self) -> bool:
        """Redis answers a PING on the pub/sub connection after every message it queued there
        before: once the PONG is read, each of them has been dispatched. Callers arriving while
        a PING is under way share the next one."""
        if self._reader is None or self._reader.done():
            return False
        if self._next_ping is None:
            self._next_ping = asyncio.get_running_loop().create_future()
        waiting = self._next_ping
        if self._in_flight is None:
            self._send_ping()
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), SYNC_TIMEOUT)
        except TimeoutError:
            log.warning("Redis did not answer a PING on the event bus in time")
            return False

    def _send_ping(self) -> None:
        assert self._next_ping is not None
        self._pings += 1
        token = f"{SYNC_PREFIX}{self._pings}"
        self._in_flight, self._next_ping = (token, self._next_ping), None
        task = asyncio.create_task(self._ping(token))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _ping(self, token: str) -> None:
        try:
            await self._pubsub.ping(token)
        except Exception:
            log.warning("could not PING Redis on the event bus", exc_info=True)
            self._pong(token, ok=False)

    def _pong(self, token: str, ok: bool) -> None:
        if self._in_flight is None or self._in_flight[0] != token:
            return
        future = self._in_flight[1]
        self._in_flight = None
        if not future.done():
            future.set_result(ok)
        if self._next_ping is not None:
            self._send_ping()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for waiting in (self._in_flight and self._in_flight[1], self._next_ping):
            if waiting and not waiting.done():
                waiting.set_result(False)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, channel: str, message: Message) -> None:
        await self._redis.publish(channel, json.dumps(message, default=str))

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        if len(messages) < 2:
            await super().publish_many(messages)
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
                self._gap()
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
            elif item["type"] == "pong":
                data = item["data"]
                self._pong(data.decode() if isinstance(data, bytes) else str(data), ok=True)
