"""graphql-transport-ws connections whose session is checked on every operation and event."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from neuronest.auth import service as auth
from neuronest.errors import AppError, Forbidden, Unauthenticated, Unavailable
from neuronest.graphql.context import Context

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_INACTIVE = 4403
CLOSE_INTERNAL = 1011


def close_code(error: AppError) -> int:
    if isinstance(error, Forbidden):
        return CLOSE_INACTIVE
    if isinstance(error, Unavailable):
        return CLOSE_INTERNAL
    return CLOSE_UNAUTHENTICATED


class SessionCheckedHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Each operation first reads its token afresh (revocation, expiry, an inactive account);
    meanwhile one watcher per connection follows the user's auth channel and the token's
    expiry, and closes the connection the moment its session ends, cancelling every operation
    before it sends anything more: 4401, or 4403 for an inactive account."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended = False
        self.watcher: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None
        self.context.end_connection = self.end_soon

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.watcher is None:
            self.watcher = asyncio.create_task(self.watch())
            self.watcher.add_done_callback(self._task_done)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.ended:
            return
        if self.connection_acknowledged:
            try:
                await self.context.recheck()
            except AppError as error:
                await self.end(error)
                return
            if self.ended:
                return
        await super().handle_subscribe(message)

    async def watch(self) -> None:
        try:
            session = await self.context.session()
            claims = session.claims
            services = self.context.services
            interval = services.settings.ws_session_recheck_interval
            with await services.bus.subscribe(auth.auth_channel(session.user.id)) as events:
                # A token revoked between connection_init and this subscription is caught here;
                # after it, the periodic read catches changes made directly in the database.
                await self.context.recheck()
                while True:
                    left = claims.expires_at - time.time()
                    if left <= 0:
                        raise Unauthenticated("Token has expired")
                    try:
                        _, event = await asyncio.wait_for(events.get(), min(left, interval))
                    except TimeoutError:
                        await self.context.recheck()
                        continue
                    ended = auth.session_end(event, claims)
                    if ended is not None:
                        raise ended
        except AppError as error:
            await self.end(error)
        except Exception:
            log.exception("websocket session watcher failed")
            await self.end(Unavailable("Session check failed"))

    def end_soon(self, error: AppError) -> None:
        """For an operation that saw its session end: it is cancelled by the close."""
        if self.closing is None and not self.ended:
            self.closing = asyncio.create_task(self.end(error))
            self.closing.add_done_callback(self._task_done)

    async def end(self, error: AppError) -> None:
        if self.ended:
            return
        self.ended = True
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with suppress(Exception):
            await self.websocket.close(code=close_code(error), reason=error.message)

    async def shutdown(self) -> None:
        for task in (self.watcher, self.closing):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        await super().shutdown()
