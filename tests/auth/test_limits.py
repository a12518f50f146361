"""Rate limits under attack: concurrent guesses, spoofed addresses, mail and registration floods.

Each test speaks from loopback addresses of its own (all of 127.0.0.0/8 reaches the server), so
the per-address limits of one test do not spill into the next.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import websockets

from tests.conftest import (
    Mailbox,
    mailed_reset_tokens,
    register,
    reset_tokens,
    stack_fixture,
    unique_email,
)
from tests.harness import Stack

LIMITS = {
    "NEURONEST_LOGIN_MAX_FAILURES": "5",
    "NEURONEST_LOGIN_ADDRESS_LIMIT": "10/hour",
    "NEURONEST_REGISTER_ADDRESS_LIMIT": "5/hour",
    "NEURONEST_FORGOT_PASSWORD_EMAIL_LIMIT": "3/hour",
    "NEURONEST_FORGOT_PASSWORD_ADDRESS_LIMIT": "8/hour",
}
LOGIN = "/api/auth/login"
FORGOT = "/api/auth/forgot-password"
GQL_LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
_addresses = itertools.count(2)


def new_address() -> str:
    """A loopback address no earlier test used."""
    n = next(_addresses)
    return f"127.0.{n // 250 + 1}.{n % 250 + 2}"


@asynccontextmanager
async def client_from(url: str, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        yield client


@asynccontextmanager
async def clients_from(stack: Stack, address: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client per API process of `stack`, all from `address`."""
    async with AsyncExitStack() as exits:
        yield [await exits.enter_async_context(client_from(url, address)) for url in stack.urls]


limited = stack_fixture("limited", **LIMITS)
proxied = stack_fixture(
    "proxied", NEURONEST_TRUSTED_PROXIES="127.0.0.1", NEURONEST_LOGIN_ADDRESS_LIMIT="3/hour"
)


def login_body(email: str, password: str = "wrong-password") -> dict[str, str]:
    return {"email": email, "password": password}


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0
    assert "try again later" in response.json()["detail"]


async def assert_gql_limited(api: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> None:
    response = await api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retry_after"] > 0


async def test_concurrent_wrong_passwords_reach_bcrypt_only_up_to_the_limit(
    limited: Stack,
) -> None:
    async with clients_from(limited, new_address()) as apis:
        victim = await register(apis[0])
        # Spread over every API process: the count is shared, not per process.
        answers = await asyncio.gather(
            *(
                apis[i % len(apis)].post(LOGIN, json=login_body(victim.email, f"guess-{i}"))
                for i in range(30)
            )
        )
        statuses = Counter(answer.status_code for answer in answers)
        assert statuses == {401: 5, 429: 25}, statuses
        for answer in [a for a in answers if a.status_code == 429]:
            assert_limited(answer)
        await assert_gql_limited(
            apis[-1], GQL_LOGIN, {"i": login_body(victim.email, victim.password)}
        )
    async with client_from(limited.url, new_address()) as elsewhere:
        # The account is protected from every address, even with the right password...
        assert_limited(await elsewhere.post(LOGIN, json=login_body(victim.email, victim.password)))
        # ...while other accounts log in as usual.
        honest = await register(elsewhere)
        ok = await elsewhere.post(LOGIN, json=login_body(honest.email, honest.password))
        assert ok.status_code == 200, ok.text


async def test_successful_logins_do_not_use_up_the_failure_limits(limited: Stack) -> None:
    async with client_from(limited.url, new_address()) as api:
        account = await register(api)
        for _ in range(12):  # more than both the per-email and the per-address failure limit
            ok = await api.post(LOGIN, json=login_body(account.email, account.password))
            assert ok.status_code == 200, ok.text


async def test_rotating_forwarded_for_from_loopback_does_not_escape_the_address_limit(
    limited: Stack,
) -> None:
    async with client_from(limited.url, "127.0.0.1") as api:
        statuses = []
        for i in range(14):
            spoofed = {
                "X-Forwarded-For": f"198.51.100.{i + 1}",
                "X-Real-IP": f"198.51.100.{i + 1}",
                "Forwarded": f"for=198.51.100.{i + 1}",
            }
            response = await api.post(LOGIN, json=login_body(unique_email()), headers=spoofed)
            statuses.append(response.status_code)
        assert statuses == [401] * 10 + [429] * 4
        assert_limited(response)
    async with client_from(limited.url, new_address()) as honest:
        account = await register(honest)
        ok = await honest.post(LOGIN, json=login_body(account.email, account.password))
        assert ok.status_code == 200


async def test_forgot_password_flood_sends_at_most_the_limit_with_identical_answers(
    limited: Stack, mailbox: Mailbox
) -> None:
    async with client_from(limited.url, new_address()) as api:
        victim = await register(api)
        unknown = await api.post(FORGOT, json={"email": unique_email()})
    assert unknown.status_code == 200
    # From 25 addresses, so that only the per-email limit (3) stands in the way.
    answers = []
    for _ in range(25):
        async with client_from(limited.url, new_address()) as api:
            answers.append(await api.post(FORGOT, json={"email": victim.email.upper()}))
    assert {(a.status_code, a.text) for a in answers} == {(200, unknown.text)}
    pending = await limited.sql(
        "SELECT COUNT(*) FROM password_reset_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE u.email = $1",
        victim.email,
    )
    assert pending == 3
    tokens = await reset_tokens(limited, mailbox, victim.email, count=3)
    assert len(set(tokens)) == 3
    assert len(mailed_reset_tokens(limited, mailbox, victim.email)) == 3


async def test_forgot_password_per_address_limit_is_429(limited: Stack) -> None:
    async with client_from(limited.url, new_address()) as api:
        for _ in range(8):
            answer = await api.post(FORGOT, json={"email": unique_email()})
            assert answer.status_code == 200
        assert_limited(await api.post(FORGOT, json={"email": unique_email()}))
        await assert_gql_limited(
            api,
            "mutation($i: ForgotPasswordInput!) { forgotPassword(input: $i) { message } }",
            {"i": {"email": unique_email()}},
        )
    async with client_from(limited.url, new_address()) as other:
        assert (await other.post(FORGOT, json={"email": unique_email()})).status_code == 200


async def test_register_flood_from_one_address_is_429(limited: Stack) -> None:
    async with client_from(limited.url, new_address()) as api:
        for _ in range(5):
            await register(api)
        flooded = await api.post(
            "/api/auth/register",
            json={"email": unique_email(), "password": "password123", "name": "Flood"},
        )
        assert_limited(flooded)
        await assert_gql_limited(
            api,
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"email": unique_email(), "password": "password123"}},
        )
    async with client_from(limited.url, new_address()) as other:
        await register(other)


async def test_trusted_proxy_forwards_the_client_address(proxied: Stack) -> None:
    spoofed = {"X-Forwarded-For": "198.51.100.7"}
    async with client_from(proxied.url, "127.0.0.1") as proxy:
        statuses = []
        for _ in range(4):
            answer = await proxy.post(LOGIN, json=login_body(unique_email()), headers=spoofed)
            statuses.append(answer.status_code)
        assert statuses == [401, 401, 401, 429]
        # A client cannot escape by putting another address in front: the proxy appends.
        prefixed = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
        assert_limited(await proxy.post(LOGIN, json=login_body(unique_email()), headers=prefixed))
        other = {"X-Forwarded-For": "198.51.100.8"}
        answer = await proxy.post(LOGIN, json=login_body(unique_email()), headers=other)
        assert answer.status_code == 401
    async with client_from(proxied.url, new_address()) as direct:
        # Not a trusted proxy: its header is ignored and its own address counts.
        answers = [
            (await direct.post(LOGIN, json=login_body(unique_email()), headers=spoofed)).status_code
            for _ in range(4)
        ]
        assert answers == [401, 401, 401, 429]


async def test_websockets_use_the_same_client_address(proxied: Stack) -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.20"}
    async with client_from(proxied.url, "127.0.0.1") as proxy:
        account = await register(proxy)
        socket = await websockets.connect(
            proxied.ws_url, subprotocols=["graphql-transport-ws"], additional_headers=forwarded
        )
        try:
            init = {"Authorization": f"Bearer {account.token}"}
            await socket.send(json.dumps({"type": "connection_init", "payload": init}))
            ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert ack["type"] == "connection_ack"
            codes = []
            for i in range(4):
                variables = {"i": login_body(unique_email())}
                payload = {"query": GQL_LOGIN, "variables": variables}
                await socket.send(
                    json.dumps({"id": str(i), "type": "subscribe", "payload": payload})
                )
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert answer["id"] == str(i)
                codes.append(answer["payload"]["errors"][0]["extensions"]["code"])
                assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "complete"
            assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
        finally:
            await socket.close()
        # The socket's forwarded address is the one HTTP requests through the proxy have.
        limited = await proxy.post(LOGIN, json=login_body(unique_email()), headers=forwarded)
        assert_limited(limited)
        ok = await proxy.post(
            LOGIN,
            json=login_body(account.email, account.password),
            headers={"X-Forwarded-For": "198.51.100.21"},
        )
        assert ok.status_code == 200
