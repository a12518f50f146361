"""Verified sessions are kept in each API process; whatever ends or changes one on one process is
seen by the very next request on every other (the postgres stack runs api-a and api-b)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from neuronest.auth.models import User
from neuronest.auth.sessions import SessionCache
from neuronest.kit.security import TokenClaims
from tests.conftest import Account, gql, register
from tests.harness import Stack, set_active

ME = "{ me { email name } }"


@pytest.fixture
async def other_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The last API process of the stack (api-b; the only one of the embedded stack)."""
    async with httpx.AsyncClient(base_url=stack.urls[-1], timeout=30) as client:
        yield client


async def _verified_everywhere(stack: Stack, account: Account) -> None:
    """Each process has verified the token (REST and GraphQL), so each holds its session."""
    for url in stack.urls:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(2):
                assert (await client.get("/api/auth/me", headers=account.headers)).is_success
                assert "errors" not in await gql(client, ME, token=account.token)


async def _refused(api: httpx.AsyncClient, account: Account, status: int, code: str) -> None:
    assert (await api.get("/api/auth/me", headers=account.headers)).status_code == status
    answer = await gql(api, ME, token=account.token)
    assert answer["errors"][0]["extensions"]["code"] == code


async def test_logout_on_one_process_refuses_the_token_on_the_other(
    stack: Stack, api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    account, bystander = await register(api), await register(api)
    await _verified_everywhere(stack, account)
    await _verified_everywhere(stack, bystander)
    assert (await api.post("/api/auth/logout", headers=account.headers)).status_code == 200
    await _refused(other_api, account, 401, "UNAUTHENTICATED")
    await _refused(api, account, 401, "UNAUTHENTICATED")
    assert (await other_api.get("/api/auth/me", headers=bystander.headers)).status_code == 200


async def test_password_change_on_one_process_refuses_old_tokens_on_the_other(
    stack: Stack, api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    account = await register(api)
    await _verified_everywhere(stack, account)
    changed = await api.put(
        "/api/auth/change-password",
        json={"current_password": account.password, "new_password": "changed-pass1"},
        headers=account.headers,
    )
    assert changed.status_code == 200
    await _refused(other_api, account, 401, "UNAUTHENTICATED")


async def test_a_profile_change_on_one_process_is_read_on_the_other(
    stack: Stack, api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    account = await register(api, "Before")
    await _verified_everywhere(stack, account)
    renamed = await api.put("/api/auth/me", json={"name": "After"}, headers=account.headers)
    assert renamed.status_code == 200
    assert (await other_api.get("/api/auth/me", headers=account.headers)).json()["name"] == "After"
    answer = await gql(other_api, ME, token=account.token)
    assert answer["data"]["me"]["name"] == "After"


async def test_deactivation_by_the_cli_refuses_the_token_on_every_process(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    if stack.mode != "postgres":
        pytest.skip("the embedded bus lives in the server's memory: the CLI cannot reach it")
    account = await register(api)
    await _verified_everywhere(stack, account)
    await asyncio.to_thread(set_active, stack, account.email, "deactivate")
    for url in stack.urls:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await _refused(client, account, 403, "FORBIDDEN")


def _claims(user: User, jti: str = "jti-1", version: int = 0) -> TokenClaims:
    return TokenClaims(str(user.id), jti, version, issued_at=0, expires_at=2**40)


def _user(name: str = "Ann") -> User:
    import uuid

    return User(id=uuid.uuid4(), email=f"{name.lower()}@example.com", name=name, password_hash="x")


def test_a_read_that_began_before_an_invalidation_is_not_kept() -> None:
    cache, user = SessionCache(size=10, ttl=60, channel="test"), _user()
    generation = cache.generation
    cache.forget(user.id)  # the logout that the read may have missed
    cache.put(_claims(user), user, generation)
    assert cache.get(_claims(user)) is None
    cache.put(_claims(user), user, cache.generation)
    assert cache.get(_claims(user)) is not None


def test_sessions_are_bounded_and_each_request_gets_its_own_copy() -> None:
    cache = SessionCache(size=2, ttl=60, channel="test")
    users = [_user(name) for name in ("Ann", "Bob", "Cy")]
    for user in users:
        cache.put(_claims(user, jti=user.name), user, cache.generation)
    assert len(cache) == 2
    assert cache.get(_claims(users[0], jti="Ann")) is None
    mine = cache.get(_claims(users[2], jti="Cy"))
    assert mine is not None
    mine.name = "Changed by a request"
    again = cache.get(_claims(users[2], jti="Cy"))
    assert again is not None and again.name == "Cy"
    # Another token version (a password change) or an expired entry is not served.
    assert cache.get(_claims(users[2], jti="Cy", version=1)) is None
    stale = SessionCache(size=2, ttl=-1, channel="test")
    stale.put(_claims(users[0]), users[0], stale.generation)
    assert stale.get(_claims(users[0])) is None


def test_an_event_forgets_its_user_and_a_gap_forgets_everyone() -> None:
    cache = SessionCache(size=10, ttl=60, channel="test")
    ann, bob = _user("Ann"), _user("Bob")
    cache.put(_claims(ann, jti="a"), ann, cache.generation)
    cache.put(_claims(bob, jti="b"), bob, cache.generation)
    cache.on_event("test", {"user_id": str(ann.id)})
    assert cache.get(_claims(ann, jti="a")) is None
    assert cache.get(_claims(bob, jti="b")) is not None
    cache.clear()
    assert len(cache) == 0


def test_a_kept_token_is_known_by_its_text_until_it_expires_or_its_session_goes() -> None:
    cache, ann, bob = SessionCache(size=10, ttl=60, channel="test"), _user("Ann"), _user("Bob")
    cache.put(_claims(ann, jti="a"), ann, cache.generation, "token-a")
    cache.put(_claims(bob, jti="b"), bob, cache.generation, "token-b")
    assert cache.claims("token-a") == _claims(ann, jti="a")
    assert cache.claims("token-unknown") is None
    cache.forget(ann.id)
    assert cache.claims("token-a") is None
    assert cache.claims("token-b") == _claims(bob, jti="b")
    expired = TokenClaims(str(bob.id), "c", 0, issued_at=0, expires_at=1)
    cache.put(expired, bob, cache.generation, "token-c")
    assert cache.claims("token-c") is None  # read again, so refused as expired
    cache.clear()
    assert cache.claims("token-b") is None
