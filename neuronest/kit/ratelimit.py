"""Rate limits on the `limits` library: in memory for one process, in Redis when shared.

Every attempt is counted before its work is done (hit, then check), so concurrent attempts cannot
slip through between a check and an increment.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis

from neuronest.errors import RateLimited


def per_window(amount: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(amount, seconds)


class RateLimits:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    @classmethod
    def in_memory(cls) -> RateLimits:
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, url: str, redis: Redis, prefix: str) -> RateLimits:
        """Shares `redis`'s connection pool; `prefix` keeps installations on one Redis apart."""
        storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            key_prefix=prefix,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        return cls(storage)

    async def allow(self, limit: RateLimitItem, *key: str) -> int | None:
        """Counts one attempt; None when it is within `limit`, else the seconds to wait."""
        if await self._limiter.hit(limit, *key):
            return None
        reset_at, _ = await self._limiter.get_window_stats(limit, *key)
        return max(math.ceil(reset_at - time.time()), 1)

    async def hit(self, limit: RateLimitItem, *key: str, message: str) -> None:
        """Counts one attempt; raises RateLimited when it is over `limit`."""
        retry_after = await self.allow(limit, *key)
        if retry_after is not None:
            raise RateLimited(message, retry_after=retry_after)

    async def refund(self, limit: RateLimitItem, *key: str) -> None:
        """Takes back one counted attempt (it turned out not to be the kind that is limited)."""
        await self._storage.incr(limit.key_for(*key), limit.get_expiry(), amount=-1)
