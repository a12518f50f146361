"""What a service needs besides the database, in one object handed down explicitly.

The app (`create_app`), the worker and the CLI each build one `Services` from their settings
(`neuronest.wiring`) and pass it on: to resolvers in the GraphQL context, to REST through the
app's state, to jobs in arq's ctx. Nothing reads it from a module: two apps of one process, with
settings of their own, each have theirs. The database is Tortoise's (global to the process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis

from neuronest.auth.sessions import SessionCache, sessions_channel
from neuronest.config import Settings
from neuronest.db import close_db, open_db
from neuronest.events import EventBus, MemoryEventBus, RedisEventBus
from neuronest.jobs.dispatch import ArqDispatcher, InProcessDispatcher, JobDispatcher
from neuronest.jobs.registry import JobFunction
from neuronest.kit.hooks import Hooks
from neuronest.kit.ratelimit import RateLimits

Closer = Callable[[], Awaitable[None]]


class Services:
    def __init__(self, settings: Settings, jobs: Mapping[str, JobFunction]) -> None:
        """`jobs`: every job by name, for the in-process runner (without Redis)."""
        self.settings = settings
        settings.ensure_data_dir()
        self.secret_key = settings.resolved_secret_key()
        self.redis: Redis | None = None
        self.bus: EventBus = MemoryEventBus()
        self.jobs: JobDispatcher = InProcessDispatcher(jobs, {"services": self})
        self.rate_limits = RateLimits.in_memory()
        self.sessions = SessionCache(
            settings.session_cache_size,
            settings.session_cache_ttl,
            sessions_channel(settings.resolved_instance),
        )
        # How one domain reacts to another's changes in this process (neuronest.wiring).
        self.hooks = Hooks()
        self._background: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        self._closers: list[Closer] = []
        self.runs_jobs = False

    async def start(self) -> None:
        await open_db(self.settings)
        if self.settings.redis_url:
            arq: ArqRedis = await create_pool(RedisSettings.from_dsn(self.settings.redis_url))
            self.redis = arq
            self.bus = RedisEventBus(arq)
            self.jobs = ArqDispatcher(arq)
            self.rate_limits = RateLimits.on_redis(
                self.settings.redis_url, arq, f"neuronest:{self.settings.resolved_instance}:limits"
            )
        await self.bus.start()
        self.bus.on_gap(self.sessions.clear)
        await self.bus.follow(self.sessions.on_event, self.sessions.channel)
        await self.jobs.start()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` in this process without waiting for it (kept until it ends)."""
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def keep(self, task: asyncio.Task[None]) -> None:
        """A background task of this process (a listener, the reconciler), cancelled by close."""
        self._background.append(task)

    def on_close(self, closer: Closer) -> None:
        """`closer` runs at close, after the jobs stopped and before the bus closes."""
        self._closers.append(closer)

    async def close(self) -> None:
        for task in [*self._background, *self._spawned]:
            task.cancel()
        await asyncio.gather(*self._background, *self._spawned, return_exceptions=True)
        await self.jobs.close()
        for closer in self._closers:
            await closer()
        await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()
        await close_db()
