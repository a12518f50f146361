from __future__ import annotations

import asyncio
import os
import uuid
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


async def test_sync_returns_once_everything_published_before_was_dispatched(
    buses: tuple[EventBus, EventBus],
) -> None:
    publisher, listener = buses
    channel = f"sessions-{uuid.uuid4().hex}"
    seen: list[object] = []
    with await listener.follow(lambda _, message: seen.append(message["n"]), channel):
        for n in range(50):
            await publisher.publish(channel, {"n": n})
        assert await listener.sync()
        # Followed messages are handled as they are dispatched, before sync() returns.
        assert seen == list(range(50))
        together = await asyncio.gather(*(listener.sync() for _ in range(20)))
        assert all(together)


async def test_a_lost_redis_connection_is_reported_as_a_gap() -> None:
    if not REDIS_URL:
        pytest.skip("NEURONEST_TEST_REDIS_URL not set (make test)")
    name = f"bus-{uuid.uuid4().hex[:12]}"
    listener = RedisEventBus(Redis.from_url(REDIS_URL, client_name=name))
    await listener.start()
    publisher = await _redis_bus()
    gaps: list[bool] = []
    listener.on_gap(lambda: gaps.append(True))
    channel = f"after-gap-{uuid.uuid4().hex}"
    try:
        with await listener.subscribe(channel) as subscription:
            async with Redis.from_url(REDIS_URL) as admin:
                clients = await admin.client_list()
                for client in clients:
                    if client["name"] == name:
                        await admin.client_kill_filter(_id=client["id"])
            # Reconnected and subscribed again: a message published now arrives.
            deadline = asyncio.get_running_loop().time() + 10
            while subscription._queue.empty():
                assert asyncio.get_running_loop().time() < deadline, "never reconnected"
                await publisher.publish(channel, {"after": True})
                await asyncio.sleep(0.1)
            assert await _next(subscription) == (channel, {"after": True})
        assert gaps
        assert await listener.sync()
    finally:
        await listener.close()
        await publisher.close()
