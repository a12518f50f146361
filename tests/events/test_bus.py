from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from neuronest.events import EventBus, MemoryEventBus, RedisEventBus

REDIS_URL = os.environ.get("NEURONEST_TEST_REDIS_URL")


async def _redis_bus() -> RedisEventBus:
    assert REDIS_URL
    bus = RedisEventBus(Redis.from_url(REDIS_URL))
    await bus.start()
    return bus


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """Two buses that must see each other's messages (two processes, for Redis)."""
    if request.param == "memory":
        bus = MemoryEventBus()
        yield bus, bus
        return
    if not REDIS_URL:
        pytest.skip("NEURONEST_TEST_REDIS_URL not set (make test)")
    first, second = await _redis_bus(), await _redis_bus()
    yield first, second
    await first.close()
    await second.close()


async def _next(subscription: object) -> tuple[str, dict[str, object]]:
    return await asyncio.wait_for(subscription.get(), 5)  # type: ignore[attr-defined]


async def test_messages_reach_every_subscriber_in_order(buses: tuple[EventBus, EventBus]) -> None:
    publisher, listener = buses
    with (
        await listener.subscribe("runtime:1") as one,
        await listener.subscribe("runtime:1", "other") as two,
    ):
        for n in range(20):
            await publisher.publish("runtime:1", {"n": n})
        await publisher.publish("other", {"n": "x"})
        assert [(await _next(one))[1]["n"] for _ in range(20)] == list(range(20))
        got = [await _next(two) for _ in range(21)]
        assert [m["n"] for _, m in got[:20]] == list(range(20))
        assert got[20] == ("other", {"n": "x"})


async def test_closed_subscription_gets_nothing_and_others_still_do(
    buses: tuple[EventBus, EventBus],
) -> None:
    publisher, listener = buses
    closed = await listener.subscribe("chan")
    open_ = await listener.subscribe("chan")
    closed.close()
    await publisher.publish("chan", {"after": True})
    assert await _next(open_) == ("chan", {"after": True})
    assert closed._queue.empty()
    open_.close()
    again = await listener.subscribe("chan")
    await publisher.publish("chan", {"again": True})
    assert await _next(again) == ("chan", {"again": True})
    again.close()
