"""Failure counters over a fixed window: in memory for one process, in Redis when shared."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod

from redis.asyncio import Redis


class Counters(ABC):
    @abstractmethod
    async def count(self, key: str) -> tuple[int, int]:
        """The current count and the seconds until it resets."""

    @abstractmethod
    async def increment(self, key: str, window: int) -> None: ...

    @abstractmethod
    async def reset(self, key: str) -> None: ...


class MemoryCounters(Counters):
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}

    async def count(self, key: str) -> tuple[int, int]:
        value, expires = self._counts.get(key, (0, 0.0))
        remaining = expires - time.monotonic()
        if remaining <= 0:
            self._counts.pop(key, None)
            return 0, 0
        return value, math.ceil(remaining)

    async def increment(self, key: str, window: int) -> None:
        value, _ = await self.count(key)
        expires = self._counts.get(key, (0, time.monotonic() + window))[1]
        self._counts[key] = (value + 1, expires)

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)


class RedisCounters(Counters):
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def count(self, key: str) -> tuple[int, int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            value, ttl = await pipe.execute()
        return int(value or 0), max(int(ttl), 0)

    async def increment(self, key: str, window: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            await pipe.execute()

    async def reset(self, key: str) -> None:
        await self._redis.delete(key)
