"""`/metrics`: served by each API process on its own port, and by a worker on
NEURONEST_WORKER_METRICS_PORT. Per-process endpoints rather than prometheus-client's
multiprocess mode: the API processes and the worker may run on different machines, and
Prometheus adds up the processes it scrapes (docs/operations.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from neuronest.config import Settings
from neuronest.observability.scrape import refresh_gauges
from neuronest.services import Services

log = logging.getLogger(__name__)


def refusal(settings: Settings, request: Request) -> Response | None:
    """404 when metrics are off; 401 without the scrape token, when one is configured."""
    if not settings.metrics:
        return PlainTextResponse("Not Found", status_code=404)
    token = settings.metrics_token
    if token is None:
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return PlainTextResponse(
        "Unauthorized", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
    )


def exposition() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def api_metrics(request: Request) -> Response:
    """This API process's metrics, and the installation's gauges computed now."""
    services: Services = request.app.state.services
    settings = services.settings
    refused = refusal(settings, request)
    if refused is not None:
        return refused
    await refresh_gauges(services, settings.metrics_refresh_interval)
    return exposition()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the worker handles its signals itself


class WorkerMetricsServer:
    """The worker's own `/metrics` (its jobs, LLM calls and stored log lines), when a port is
    configured; it runs on the worker's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def _metrics(self, request: Request) -> Response:
        refused = refusal(self.settings, request)
        return refused if refused is not None else exposition()

    async def start(self) -> None:
        port = self.settings.worker_metrics_port
        if port is None or not self.settings.metrics:
            return
        app = Starlette(routes=[Route("/metrics", self._metrics)])
        config = uvicorn.Config(
            app,
            host=self.settings.worker_metrics_host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="worker-metrics")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # the port was taken: the worker does not start
                raise RuntimeError("the worker's metrics server stopped at start")
            await asyncio.sleep(0.01)
        log.info("worker metrics on http://%s:%s/metrics", config.host, port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
