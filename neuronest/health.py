"""Liveness (`/healthz`) and readiness (`/readyz`: every dependency answers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from neuronest.db import ping_db
from neuronest.runtimes.backends.sandbox import describe_isolation
from neuronest.runtimes.probe import active_backend
from neuronest.services import Services

router = APIRouter(tags=["health"])
CHECK_TIMEOUT = 3.0


@router.get("/healthz", summary="The process is alive", operation_id="getHealth")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_redis(services: Services) -> str:
    redis = services.redis
    if redis is None:
        return "not configured (in-process jobs and events)"
    await redis.ping()
    return "ok"


async def _check_database(_: Services) -> str:
    await ping_db()
    return "ok"


async def _check_runtime(services: Services) -> str:
    return await active_backend(services.settings)


async def _sandbox_isolation(services: Services) -> dict[str, str]:
    return await asyncio.to_thread(describe_isolation, services.settings.sandbox_network)


@router.get(
    "/readyz",
    summary="Database, Redis and a runtime backend answer",
    operation_id="getReadiness",
)
async def readyz(request: Request) -> JSONResponse:
    """Also says what isolates sandboxes here (`sandbox`: cgroups, network policy)."""
    services: Services = request.app.state.services
    checks = {"database": _check_database, "redis": _check_redis, "runtime": _check_runtime}
    results: dict[str, str] = {}
    down: list[str] = []
    for name, check in checks.items():
        try:
            results[name] = await asyncio.wait_for(check(services), CHECK_TIMEOUT)
        except Exception as error:
            results[name] = f"down: {error or type(error).__name__}"
            down.append(name)
    sandbox = await _sandbox_isolation(services)
    if down:
        return JSONResponse(
            {
                "status": "unavailable",
                "detail": f"down: {', '.join(down)}",
                "checks": results,
                "sandbox": sandbox,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": results, "sandbox": sandbox})
