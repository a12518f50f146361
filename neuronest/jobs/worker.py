"""The arq worker: `neuronest worker` runs every registered job against the shared Redis."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any, cast

from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import Worker, func

from neuronest.config import Settings
from neuronest.jobs.wake import WakingWorker
from neuronest.observability.endpoint import WorkerMetricsServer
from neuronest.observability.jobs import instrumented
from neuronest.wiring import all_jobs, build_services, prepare_workers

log = logging.getLogger(__name__)


def build_worker(settings: Settings) -> Worker:
    if not settings.redis_url:
        raise SystemExit("neuronest worker needs NEURONEST_REDIS_URL")
    services = build_services(settings)
    metrics_server = WorkerMetricsServer(settings)

    async def on_startup(ctx: dict[str, Any]) -> None:
        await services.start()
        await prepare_workers(services)
        ctx["services"] = services
        await metrics_server.start()
        # What the worker holds from here on (modules, the job table, its services) lives as
        # long as the process: out of the cyclic collector's way, as in the server (asgi.py).
        gc.freeze()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await metrics_server.stop()
        await services.close()

    # Runs last as long as their program (up to the longest runtime timeout, plus a margin).
    job_timeout = settings.runtime_max_timeout + 600
    functions = [
        func(
            cast(WorkerCoroutine, instrumented(name, f)),
            name=name,
            keep_result=0,
            timeout=job_timeout,
            max_tries=3,
        )
        for name, f in all_jobs().items()
    ]
    return WakingWorker(
        functions=functions,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        max_jobs=100,
        # Woken by each enqueue (jobs/wake.py): the poll is only the fallback.
        poll_delay=settings.worker_poll_delay,
        handle_signals=True,
        keep_result=0,
    )


def run_worker(settings: Settings) -> None:
    """Runs the worker until a signal stops it, on uvloop's event loop when it is installed (it
    comes with uvicorn[standard]), as uvicorn runs the API."""
    asyncio.set_event_loop(new_event_loop())
    build_worker(settings).run()


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
