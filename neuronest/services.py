"""The process-wide adapters (database, Redis, jobs, events) chosen from configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio import Redis

from neuronest.auth.sessions import SessionCache, sessions_channel
from neuronest.config import Settings
from neuronest.db import close_db, open_db
from neuronest.events import EventBus, MemoryEventBus, RedisEventBus
from neuronest.jobs.dispatch import ArqDispatcher, InProcessDispatcher, JobDispatcher
from neuronest.kit.ratelimit import RateLimits

_current: Services | None = None


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_data_dir()
        self.secret_key = settings.resolved_secret_key()
        self.redis: Redis | None = None
        self.bus: EventBus = MemoryEventBus()
        self.jobs: JobDispatcher = InProcessDispatcher()
        self.rate_limits = RateLimits.in_memory()
        self.sessions = SessionCache(
            settings.session_cache_size,
            settings.session_cache_ttl,
            sessions_channel(settings.resolved_instance),
        )
        self._background: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        self.runs_jobs = False

    async def start(self) -> None:
        global _current
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
        _current = self

    async def prepare_workers(self) -> None:
        """What runs jobs here (workers, the embedded process) loads the model layer up front:
        its first import would otherwise stall the event loop for seconds mid-request."""
        from neuronest.llm.client import preload
        from neuronest.orchestration.tasks.execution import listen_for_control

        await asyncio.to_thread(preload, self.settings)
        self._background.append(await listen_for_control(self.bus))
        self.runs_jobs = True
        self.start_reconciler()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` in this process without waiting for it (kept until it ends)."""
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def start_reconciler(self) -> None:
        """Runs the runtime reconciler here (workers, and the embedded single process)."""
        from neuronest.jobs.reconcile import reconcile_forever

        self._background.append(asyncio.create_task(reconcile_forever(), name="reconciler"))

    async def close(self) -> None:
        global _current
        from neuronest.llm.client import close_clients
        from neuronest.runtimes.backends import close_backends

        for task in [*self._background, *self._spawned]:
            task.cancel()
        await asyncio.gather(*self._background, *self._spawned, return_exceptions=True)
        await self.jobs.close()
        await close_backends()
        await close_clients()
        await self.bus.close()
        if self.redis is not None:
            await self.redis.aclose()
        await close_db()
        if _current is self:
            _current = None


def services() -> Services:
    if _current is None:
        raise RuntimeError("services are not started")
    return _current
