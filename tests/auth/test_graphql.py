"""The GraphQL twins of the auth routes, their error codes, and live profile subscriptions."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.conftest import Account, Mailbox, gql, register, reset_token, unique_email
from tests.harness import Stack
from tests.ws import Subscriber, bearer, expect_revoked

AUTH_FIELDS = "accessToken tokenType expiresIn user { id email name isActive createdAt }"


async def test_register_login_me_update(api: httpx.AsyncClient) -> None:
    email = unique_email()
    registered = await gql(
        api,
        f"mutation($i: RegisterInput!) {{ register(input: $i) {{ {AUTH_FIELDS} }} }}",
        {"i": {"email": email, "password": "password123", "name": "Gql"}},
    )
    payload = registered["data"]["register"]
    assert payload["tokenType"] == "bearer" and payload["expiresIn"] == 86400
    assert payload["user"]["email"] == email and payload["user"]["isActive"] is True
    login = await gql(
        api,
        f"mutation($i: LoginInput!) {{ login(input: $i) {{ {AUTH_FIELDS} }} }}",
        {"i": {"email": email, "password": "password123"}},
    )
    token = login["data"]["login"]["accessToken"]
    me = await gql(api, "{ me { id email name createdAt } }", token=token)
    assert me["data"]["me"]["id"] == payload["user"]["id"]
    updated = await gql(
        api,
        'mutation { updateMe(input: {name: "Renamed"}) { name email } }',
        token=token,
    )
    assert updated["data"]["updateMe"] == {"name": "Renamed", "email": email}


async def test_errors_carry_codes(api: httpx.AsyncClient, account: Account) -> None:
    anonymous = await gql(api, "{ me { id } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    duplicate = await gql(
        api,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"email": account.email, "password": "password123"}},
    )
    assert duplicate["errors"][0]["extensions"]["code"] == "CONFLICT"
    too_long = await gql(
        api,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        {"i": {"email": unique_email(), "password": "x" * 100}},
    )
    error = too_long["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "password"}
    for _ in range(3):
        await gql(
            api,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            {"i": {"email": account.email, "password": "wrong-password"}},
        )
    limited = await gql(
        api,
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"email": account.email, "password": account.password}},
    )
    assert limited["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert limited["errors"][0]["extensions"]["retry_after"] > 0


async def test_query_depth_is_limited(api: httpx.AsyncClient) -> None:
    deep = "{ me { id } }"
    for _ in range(14):
        deep = "{ __schema { types { fields { type { ofType " + deep[1:-1] + " } } } } }"
    result = await gql(api, deep)
    assert "depth" in result["errors"][0]["message"]


async def test_logout_change_and_reset_password(
    api: httpx.AsyncClient, stack: Stack, mailbox: Mailbox
) -> None:
    account = await register(api)
    out = await gql(api, "mutation { logout { message } }", token=account.token)
    assert out["data"]["logout"]["message"] == "Successfully logged out"
    revoked = await gql(api, "{ me { id } }", token=account.token)
    assert revoked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    token = (
        await gql(
            api,
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            {"i": {"email": account.email, "password": account.password}},
        )
    )["data"]["login"]["accessToken"]
    changed = await gql(
        api,
        "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { message } }",
        {"i": {"currentPassword": account.password, "newPassword": "changed-pass1"}},
        token=token,
    )
    assert changed["data"]["changePassword"]["message"] == "Password changed successfully"
    assert "errors" in await gql(api, "{ me { id } }", token=token)

    forgot = await gql(
        api,
        "mutation($i: ForgotPasswordInput!) { forgotPassword(input: $i) { message } }",
        {"i": {"email": account.email}},
    )
    assert forgot["data"]["forgotPassword"]["message"].startswith("If the email exists")
    secret = await reset_token(stack, mailbox, account.email)
    reset = await gql(
        api,
        "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { message } }",
        {"i": {"token": secret, "newPassword": "after-reset1"}},
    )
    assert reset["data"]["resetPassword"]["message"] == "Password reset successfully"
    reused = await gql(
        api,
        "mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { message } }",
        {"i": {"token": secret, "newPassword": "after-reset2"}},
    )
    assert reused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_websocket_without_valid_token_is_refused(stack: Stack, account: Account) -> None:
    for payload in ({}, bearer("forged.token.value"), {"Authorization": account.token}):
        client = Subscriber(stack.ws_url)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.connect(payload)
            await client.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def _watch_profile(stack: Stack, token: str, url: str | None = None) -> Subscriber:
    client = Subscriber((url or stack.url).replace("http://", "ws://") + "/graphql")
    ack = await client.connect(bearer(token))
    assert ack["type"] == "connection_ack"
    await client.subscribe("subscription { meUpdates { name email } }")
    first = await client.next()
    assert first["type"] == "next"
    return client


async def test_profile_subscription_sees_changes_then_ends_on_logout(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    account = await register(api, "Before")
    # With several API processes, watch on the last one and act on the first.
    client = await _watch_profile(stack, account.token, stack.urls[-1])
    await api.put("/api/auth/me", json={"name": "After"}, headers=account.headers)
    update = await client.next()
    assert update["payload"]["data"]["meUpdates"]["name"] == "After"
    await api.post("/api/auth/logout", headers=account.headers)
    await expect_revoked(client)
    await client.close()


async def test_password_change_ends_every_subscription_of_old_tokens(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    account = await register(api)
    other = await register(api)
    watchers = [await _watch_profile(stack, account.token, url) for url in stack.urls]
    bystander = await _watch_profile(stack, other.token, stack.urls[-1])
    await api.put(
        "/api/auth/change-password",
        json={"current_password": account.password, "new_password": "rotated-pass1"},
        headers=account.headers,
    )
    for watcher in watchers:
        await expect_revoked(watcher)
        await watcher.close()
    await api.put("/api/auth/me", json={"name": "Still here"}, headers=other.headers)
    update = await bystander.next()
    assert update["payload"]["data"]["meUpdates"]["name"] == "Still here"
    await bystander.close()
