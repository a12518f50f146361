"""An open websocket re-checks its session on every operation and event, and is closed the
moment the session ends: 4401 (logged out, password changed or reset, expired), 4403 (inactive)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from tests.conftest import Account, Mailbox, register, reset_token, stack_fixture
from tests.harness import Stack, set_active
from tests.ws import Subscriber, bearer, expect_revoked

OPERATIONS = {
    "query": "{ me { email name } }",
    "mutation": 'mutation { updateMe(input: {name: "Hijacked"}) { name } }',
    "subscribe": "subscription { meUpdates { name } }",
}


async def connect(stack: Stack, token: str, url: str | None = None) -> Subscriber:
    client = Subscriber((url or stack.url).replace("http://", "ws://") + "/graphql")
    assert (await client.connect(bearer(token)))["type"] == "connection_ack"
    return client


async def ask_me(client: Subscriber, op_id: str) -> str:
    """One `me` query over the socket: the email it answers."""
    await client.subscribe("{ me { email } }", op_id)
    answer = await client.next()
    assert answer["type"] == "next" and answer["id"] == op_id, answer
    assert (await client.next())["type"] == "complete"
    return str(answer["payload"]["data"]["me"]["email"])


async def refused(client: Subscriber, document: str, code: int = 4401) -> None:
    """Whether the socket closed already or closes on this operation: no answer, that code."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.subscribe(document, "after")
        message = await client.next()
        raise AssertionError(f"got {message} instead of a close")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def watch_me(client: Subscriber, op_id: str = "watch") -> None:
    await client.subscribe("subscription { meUpdates { name } }", op_id)
    assert (await client.next())["type"] == "next"


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_after_logout_the_socket_answers_nothing(
    stack: Stack, api: httpx.AsyncClient, operation: str
) -> None:
    victim, bystander = await register(api, "Victim"), await register(api, "Bystander")
    # Watch on the last API process, log out on the first.
    socket = await connect(stack, victim.token, stack.urls[-1])
    other = await connect(stack, bystander.token, stack.urls[-1])
    assert await ask_me(socket, "before") == victim.email
    assert (await api.post("/api/auth/logout", headers=victim.headers)).status_code == 200
    await refused(socket, OPERATIONS[operation])
    assert await ask_me(other, "still") == bystander.email
    await other.close()
    fresh = (
        await api.post("/api/auth/login", json={"email": victim.email, "password": victim.password})
    ).json()["access_token"]
    me = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.json()["name"] == "Victim"  # the mutation never ran


async def test_a_running_subscription_is_closed_on_logout(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    victim, bystander = await register(api), await register(api)
    socket = await connect(stack, victim.token, stack.urls[-1])
    other = await connect(stack, bystander.token, stack.urls[-1])
    await watch_me(socket)
    await watch_me(other)
    await api.post("/api/auth/logout", headers=victim.headers)
    await expect_revoked(socket)
    await api.put("/api/auth/me", json={"name": "Renamed"}, headers=bystander.headers)
    update = await other.next()
    assert update["payload"]["data"]["meUpdates"]["name"] == "Renamed"
    await other.close()


async def test_password_change_and_reset_close_every_socket(
    stack: Stack, api: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await register(api)
    running = await connect(stack, account.token, stack.urls[-1])
    idle = await connect(stack, account.token, stack.urls[0])
    await watch_me(running)
    changed = await api.put(
        "/api/auth/change-password",
        json={"current_password": account.password, "new_password": "changed-pass1"},
        headers=account.headers,
    )
    assert changed.status_code == 200
    await expect_revoked(running)
    await refused(idle, OPERATIONS["query"])

    token = (
        await api.post(
            "/api/auth/login", json={"email": account.email, "password": "changed-pass1"}
        )
    ).json()["access_token"]
    running = await connect(stack, token, stack.urls[-1])
    idle = await connect(stack, token, stack.urls[0])
    await watch_me(running)
    await api.post("/api/auth/forgot-password", json={"email": account.email})
    secret = await reset_token(stack, mailbox, account.email)
    reset = await api.post(
        "/api/auth/reset-password", json={"token": secret, "new_password": "after-reset1"}
    )
    assert reset.status_code == 200
    await expect_revoked(running)
    await refused(idle, OPERATIONS["mutation"])
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": "after-reset1"}
    )
    assert login.status_code == 200


async def test_deactivation_closes_with_4403(stack: Stack, api: httpx.AsyncClient) -> None:
    account, bystander = await register(api), await register(api)
    socket = await connect(stack, account.token, stack.urls[-1])
    other = await connect(stack, bystander.token, stack.urls[-1])
    await asyncio.to_thread(set_active, stack, account.email, "deactivate")
    await refused(socket, OPERATIONS["query"], 4403)
    assert await ask_me(other, "still") == bystander.email
    await other.close()
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 403
    await asyncio.to_thread(set_active, stack, account.email, "activate")
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 200
    # Deactivation revoked the old token for good.
    assert (await api.get("/api/auth/me", headers=account.headers)).status_code == 401


async def test_each_operation_reads_the_session_afresh(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    """Set inactive straight in the database: no event, and the periodic re-read is a minute
    away, so only the check before the operation can refuse it."""
    account, bystander = await register(api), await register(api)
    socket = await connect(stack, account.token)
    other = await connect(stack, bystander.token)
    assert await ask_me(socket, "before") == account.email
    await stack.sql("UPDATE users SET is_active = $1 WHERE id = $2", *_inactive(stack, account))
    await refused(socket, OPERATIONS["mutation"], 4403)
    assert await ask_me(other, "still") == bystander.email
    await other.close()


def _inactive(stack: Stack, account: Account) -> tuple[object, object]:
    if stack.mode == "postgres":
        return False, uuid.UUID(account.user["id"])
    return 0, account.user["id"]


TOKEN_TTL = 6


# Tokens that live seconds, and sessions re-read from the database every 0.3 s.
short_stack = stack_fixture(
    "short",
    NEURONEST_ACCESS_TOKEN_TTL=str(TOKEN_TTL),
    NEURONEST_WS_SESSION_RECHECK_INTERVAL="0.3",
)


@pytest.fixture
async def short_api(short_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=short_stack.url, timeout=30) as client:
        yield client


async def test_an_expired_token_closes_its_socket(
    short_stack: Stack, short_api: httpx.AsyncClient
) -> None:
    account = await register(short_api)
    socket = await connect(short_stack, account.token)
    await watch_me(socket)
    # Closed when the token expires, with no event to trigger it.
    with pytest.raises(websockets.ConnectionClosed) as closed:
        message = await socket.next(timeout=TOKEN_TTL + 10)
        raise AssertionError(f"got {message} instead of a close")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    again = Subscriber(short_stack.ws_url)
    with pytest.raises(websockets.ConnectionClosed) as rejected:
        await again.connect(bearer(account.token))
        await again.next()
    assert rejected.value.rcvd is not None and rejected.value.rcvd.code == 4403


async def test_deactivation_in_the_database_reaches_a_running_subscription(
    short_stack: Stack, short_api: httpx.AsyncClient
) -> None:
    account: Account = await register(short_api)
    bystander = await register(short_api)
    socket = await connect(short_stack, account.token)
    other = await connect(short_stack, bystander.token)
    await watch_me(socket)
    # Straight into the database: no event is published, the periodic re-read finds it.
    await short_stack.sql(
        "UPDATE users SET is_active = $1 WHERE id = $2", *_inactive(short_stack, account)
    )
    await expect_revoked(socket, 4403)
    assert await ask_me(other, "still") == bystander.email
    await other.close()
