"""The ASGI middleware in front of the whole app: a request id for each request and websocket,
one counter increment and one histogram observation per HTTP request (labelled by route
template, never the raw path), and the count of open websockets. Nothing here touches the
database or Redis."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neuronest.observability import metrics
from neuronest.observability.context import accept_request_id, request_id

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route took the request (a 404): one label for every such path
REQUEST_ID_HEADER = b"x-request-id"


@dataclass
class RequestInfo:
    operation: str = ""  # the GraphQL operation type, once the document is parsed


current_request: ContextVar[RequestInfo | None] = ContextVar("neuronest_request", default=None)


def record_operation(operation: str) -> None:
    info = current_request.get()
    if info is not None:
        info.operation = operation


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return str(value.decode("latin-1"))
    return None


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = accept_request_id(_incoming_request_id(scope))
        header = (REQUEST_ID_HEADER, rid.encode())
        info = RequestInfo()
        rid_token = request_id.set(rid)
        info_token = current_request.set(info)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status), info.operation).inc()
            metrics.HTTP_DURATION.labels(method, route, info.operation).observe(
                time.perf_counter() - started
            )
            current_request.reset(info_token)
            request_id.reset(rid_token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid_token = request_id.set(accept_request_id(_incoming_request_id(scope)))
        accepted = False

        async def counting_send(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                metrics.WEBSOCKETS_OPEN.inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if accepted:
                metrics.WEBSOCKETS_OPEN.dec()
            request_id.reset(rid_token)
