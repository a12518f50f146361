"""The installation's gauges, computed when /metrics is scraped: one GROUP BY over runtimes and
a look at the job queue, at most once per NEURONEST_METRICS_REFRESH_INTERVAL per process
whoever scrapes how often."""

from __future__ import annotations

import asyncio
import logging
import time

from tortoise.functions import Count

from neuronest.jobs.dispatch import QueueDepth
from neuronest.observability import metrics
from neuronest.runtimes.models import Runtime
from neuronest.services import Services

log = logging.getLogger(__name__)

_lock: asyncio.Lock | None = None
_refreshed_at = float("-inf")


async def refresh_gauges(services: Services, interval: float) -> None:
    global _lock, _refreshed_at
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if time.monotonic() - _refreshed_at < interval:
            return
        try:
            runtimes, depth = await _read(services)
        except Exception as error:  # the process's own metrics are still worth serving
            log.warning("metrics: reading runtimes and the job queue failed: %r", error)
            return
        # Set in one go (no await between): a scrape never sees half an update.
        metrics.RUNTIMES.clear()
        for (status, backend), count in runtimes.items():
            metrics.RUNTIMES.labels(status, backend).set(count)
        metrics.JOBS_QUEUED.clear()
        for kind, count in depth.by_kind.items():
            metrics.JOBS_QUEUED.labels(kind).set(count)
        if depth.entries is not None:
            metrics.QUEUE_ENTRIES.set(depth.entries)
        _refreshed_at = time.monotonic()


async def _read(services: Services) -> tuple[dict[tuple[str, str], int], QueueDepth]:
    rows = (
        await Runtime.all()
        .annotate(count=Count("id"))
        .group_by("status", "backend")
        .values("status", "backend", "count")
    )
    runtimes = {
        (str(getattr(row["status"], "value", row["status"])), row["backend"] or "none"): int(
            row["count"]
        )
        for row in rows
    }
    return runtimes, await services.jobs.depth()
