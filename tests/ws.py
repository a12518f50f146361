"""A graphql-transport-ws client for the tests, and what they check of its sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets


class Subscriber:
    """A graphql-transport-ws client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.socket: Any = None

    async def connect(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.socket = await websockets.connect(self.url, subprotocols=["graphql-transport-ws"])
        await self.socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        return dict(json.loads(await asyncio.wait_for(self.socket.recv(), 10)))

    async def subscribe(self, query: str, op_id: str = "1") -> None:
        await self.socket.send(
            json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}})
        )

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.socket.recv(), timeout)))

    async def close(self) -> None:
        await self.socket.close()


async def expect_revoked(client: Subscriber, code: int = 4401) -> None:
    """The connection closes with `code` without sending anything more."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        message = await client.next()
        raise AssertionError(f"got {message} instead of a close")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
