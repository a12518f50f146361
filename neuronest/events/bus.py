from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

Message = dict[str, Any]


class Subscription:
    """Messages of some channels, queued for one consumer, from the moment it was created."""

    def __init__(self, channels: tuple[str, ...], release: Callable[[Subscription], None]) -> None:
        self.channels = channels
        self._queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
        self._release = release
        self._closed = False

    def deliver(self, channel: str, message: Message) -> None:
        self._queue.put_nowait((channel, message))

    async def get(self) -> tuple[str, Message]:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[tuple[str, Message]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Message]]:
        while not self._closed:
            yield await self._queue.get()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class EventBus(ABC):
    """Fans messages out to local subscriptions; subclasses decide how messages travel."""

    def __init__(self) -> None:
        self._local: dict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @abstractmethod
    async def publish(self, channel: str, message: Message) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        """Publishes each (channel, message) in order; a bus with a server sends them at once."""
        for channel, message in messages:
            await self.publish(channel, message)

    async def subscribe(self, *channels: str) -> Subscription:
        subscription = Subscription(channels, self._unsubscribe)
        first = [c for c in channels if not self._local[c]]
        for channel in channels:
            self._local[channel].add(subscription)
        if first:
            await self._listen(first)
        return subscription

    async def _listen(self, channels: list[str]) -> None:
        return None

    def _forget(self, channels: list[str]) -> None:
        return None

    def _unsubscribe(self, subscription: Subscription) -> None:
        emptied = []
        for channel in subscription.channels:
            subscribers = self._local.get(channel)
            if subscribers is None:
                continue
            subscribers.discard(subscription)
            if not subscribers:
                del self._local[channel]
                emptied.append(channel)
        if emptied:
            self._forget(emptied)

    def _dispatch(self, channel: str, message: Message) -> None:
        for subscription in tuple(self._local.get(channel, ())):
            subscription.deliver(channel, message)
