"""The ASGI application: GraphQL at /graphql, the legacy REST API under /api, health probes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from neuronest import docs, health
from neuronest.config import Settings, get_settings
from neuronest.console import DIST as CONSOLE_BUILD
from neuronest.console import ConsoleRoute
from neuronest.db import migrate
from neuronest.errors import AppError
from neuronest.graphql.router import graphql_router
from neuronest.graphql.schema import Schema
from neuronest.observability.asgi import Observe
from neuronest.observability.endpoint import api_metrics
from neuronest.rest import auth as auth_rest
from neuronest.rest import memory as memory_rest
from neuronest.rest import openapi
from neuronest.rest import orchestration as orchestration_rest
from neuronest.rest import projects as projects_rest
from neuronest.rest import runtimes as runtimes_rest
from neuronest.rest.shim import build_router
from neuronest.wiring import build_services, prepare_workers

log = logging.getLogger("neuronest")

REST = (
    (auth_rest.ROUTES, "auth"),
    (projects_rest.ROUTES, "projects"),
    (runtimes_rest.ROUTES, "runtimes"),
    (orchestration_rest.ROUTES, "orchestration"),
    (memory_rest.ROUTES, "memory"),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app of its own: its schema, limits and services come from `settings` alone."""
    settings = settings or get_settings()
    schema = Schema(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_startable()
        if settings.is_embedded:
            await migrate(settings)
        services = build_services(settings)
        await services.start()
        if settings.is_embedded:
            await prepare_workers(services)
        app.state.services = services
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="NeuroNest",
        version="0.1.0",
        description=(
            "Accounts, isolated code runtimes and orchestration of LLM work. GraphQL (the primary "
            "API, with subscriptions) is at `/graphql`; these are the legacy REST routes."
        ),
        lifespan=lifespan,
        # Served by neuronest.docs from local files; ReDoc (CDN only) is not offered.
        docs_url=None,
        redoc_url=None,
        max_body_size=settings.max_body_bytes,
    )
    app.state.settings = settings
    app.state.schema = schema

    @app.exception_handler(AppError)
    async def app_error(_: Request, error: AppError) -> JSONResponse:
        return JSONResponse(
            {"detail": error.message}, status_code=error.status, headers=error.headers()
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        # A body that is not even text (FastAPI says 400) is invalid input like any other.
        status = 422 if error.status_code == 400 else error.status_code
        return JSONResponse(
            {"detail": error.detail}, status_code=status, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=error)
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    docs.install(app)
    app.add_middleware(Observe)
    app.add_route("/metrics", api_metrics, include_in_schema=False)
    app.include_router(health.router)
    for routes, tag in REST:
        app.include_router(build_router(routes, tag, schema))
    # GraphQL documents itself (introspection, GraphiQL); OpenAPI covers the REST routes.
    app.include_router(graphql_router(schema), include_in_schema=False)
    openapi.install(app)
    # Last: the web console answers only GETs of paths that no route above has.
    app.router.routes.append(ConsoleRoute(settings.console_dir or CONSOLE_BUILD))
    return app
