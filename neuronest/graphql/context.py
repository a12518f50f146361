"""Who is asking: the user behind the `Authorization` header or the websocket `connection_init`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, NoReturn, TypeVar, cast

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from neuronest.auth import service as auth
from neuronest.auth.models import User
from neuronest.errors import AppError, Unauthenticated
from neuronest.events.bus import Message, Subscription
from neuronest.kit.security import TokenClaims
from neuronest.services import Services

K = TypeVar("K")
T = TypeVar("T")


def bearer_token(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Context(BaseContext):
    """`services`: the app's (resolvers pass them on to the services they call)."""

    def __init__(self, services: Services, connection: HTTPConnection | None = None) -> None:
        super().__init__()
        self.services = services
        self.connection = connection
        self.connection_params: dict[str, Any] | None = None
        self._session: auth.Session | None = None
        self.client = connection.client.host if connection and connection.client else "unknown"
        # Set by a websocket connection: closes it when its session ends.
        self.end_connection: Callable[[AppError], None] | None = None
        self._loaders: dict[object, DataLoader[Any, Any]] = {}

    def loader(
        self, load: Callable[[Context, list[K]], Awaitable[Sequence[T | BaseException]]]
    ) -> DataLoader[K, T]:
        """This context's batching loader of `load`: the keys of the fields resolved in the
        same turn of the event loop (one list's items) reach one call of `load`, which reads
        them for `await context.user()` as each field alone would. Nothing is cached: a
        websocket's context serves many operations, and a mutation may change what an earlier
        field of the same document read."""
        found = self._loaders.get(load)
        if found is None:
            found = self._loaders[load] = DataLoader(partial(load, self), cache=False)
        return cast(DataLoader[K, T], found)

    def _token(self) -> str | None:
        if self.connection_params is not None:
            params = self.connection_params
            return bearer_token(params.get("Authorization") or params.get("authorization"))
        if self.connection is not None:
            return bearer_token(self.connection.headers.get("authorization"))
        return None

    async def session(self) -> auth.Session:
        """The session of this request (or websocket), verified once: by the process's cache of
        verified sessions when it holds the token."""
        if self._session is None:
            self._session = await self._authenticate(fresh=False)
        return self._session

    async def recheck(self) -> auth.Session:
        """The session read afresh from the database: a websocket serves many operations with
        one token, and each must see even a change that no event announced."""
        self._session = None
        self._session = await self._authenticate(fresh=True)
        return self._session

    async def _authenticate(self, fresh: bool) -> auth.Session:
        token = self._token()
        if token is None:
            raise Unauthenticated("Authentication required")
        return await auth.authenticate(self.services, token, fresh=fresh)

    async def user(self) -> User:
        return (await self.session()).user

    async def session_ended(self, error: AppError) -> NoReturn:
        """Over a websocket the connection closes, cancelling this operation before it sends
        anything more; elsewhere the error ends the operation."""
        if self.end_connection is not None:
            self.end_connection(error)
            await asyncio.Event().wait()
        raise error

    async def live(self, *channels: str) -> Live:
        """Events of `channels` from now on, until the session's token is revoked or expires."""
        session = await self.session()
        revocations = auth.auth_channel(session.user.id)
        subscription = await self.services.bus.subscribe(revocations, *channels)
        try:
            # A token revoked between authentication and subscribing is caught here.
            await auth.authenticate(self.services, self._token() or "", fresh=True)
        except BaseException:
            subscription.close()
            raise
        return Live(self, subscription, session.claims, revocations)


class Live:
    """A subscription whose session is checked before each event it hands out."""

    def __init__(
        self, context: Context, subscription: Subscription, claims: TokenClaims, revocations: str
    ) -> None:
        self._context = context
        self._subscription = subscription
        self._claims = claims
        self._revocations = revocations

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *_: object) -> None:
        self._subscription.close()

    def __aiter__(self) -> Live:
        return self

    async def __anext__(self) -> tuple[str, Message]:
        while True:
            channel, message = await self._subscription.get()
            if time.time() >= self._claims.expires_at:
                await self._context.session_ended(Unauthenticated("Token has expired"))
            if channel != self._revocations:
                return channel, message
            ended = auth.session_end(message, self._claims)
            if ended is not None:
                await self._context.session_ended(ended)
