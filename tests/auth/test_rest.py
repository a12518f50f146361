"""Every /api/auth route with the shapes of the API reference, on both deployments."""

from __future__ import annotations

import re

import httpx

from tests.conftest import Account, Mailbox, register, reset_token, unique_email
from tests.harness import Stack

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_register_returns_token_and_user(api: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await api.post(
        "/api/auth/register", json={"email": email, "password": "password123", "name": "John Doe"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert body["access_token"].count(".") == 2
    assert set(body["user"]) >= {"id", "email", "name", "is_active"}
    assert UUID.match(body["user"]["id"])
    assert body["user"]["email"] == email
    assert body["user"]["name"] == "John Doe"
    assert body["user"]["is_active"] is True


async def test_register_duplicate_email_is_409_case_insensitively(
    api: httpx.AsyncClient, account: Account
) -> None:
    response = await api.post(
        "/api/auth/register",
        json={"email": account.email.upper(), "password": "password123", "name": "Twin"},
    )
    assert response.status_code == 409
    assert "exists" in response.json()["detail"]


async def test_register_validation_errors_are_422(api: httpx.AsyncClient) -> None:
    cases = [
        ({"email": "not-an-email", "password": "password123", "name": "x"}, "email"),
        ({"email": unique_email(), "password": "short", "name": "x"}, "password"),
        ({"email": unique_email(), "password": "p" * 73, "name": "x"}, "72 bytes"),
        ({"email": unique_email(), "password": "é" * 37, "name": "x"}, "72 bytes"),
    ]
    for payload, expected in cases:
        response = await api.post("/api/auth/register", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert expected in response.json()["detail"]
    missing = await api.post("/api/auth/register", json={"email": unique_email()})
    assert missing.status_code == 422
    assert any(e["loc"][-1] == "password" for e in missing.json()["detail"])


async def test_login_returns_a_working_token(api: httpx.AsyncClient, account: Account) -> None:
    response = await api.post(
        "/api/auth/login", json={"email": account.email.upper(), "password": account.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["id"] == account.user["id"]
    me = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == account.email


async def test_login_wrong_password_and_unknown_email_are_401(
    api: httpx.AsyncClient, account: Account
) -> None:
    wrong = await api.post("/api/auth/login", json={"email": account.email, "password": "nope1234"})
    unknown = await api.post(
        "/api/auth/login", json={"email": unique_email(), "password": "password123"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_repeated_failed_logins_get_429_with_retry_after(
    api: httpx.AsyncClient, account: Account
) -> None:
    for _ in range(3):  # NEURONEST_LOGIN_MAX_FAILURES=3 in the test servers
        response = await api.post(
            "/api/auth/login", json={"email": account.email, "password": "wrong-pass"}
        )
        assert response.status_code == 401
    blocked = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    other = await register(api)
    assert (
        await api.post("/api/auth/login", json={"email": other.email, "password": other.password})
    ).status_code == 200


async def test_me_shape_and_auth_required(api: httpx.AsyncClient, account: Account) -> None:
    response = await api.get("/api/auth/me", headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"id", "email", "name", "is_active", "created_at"}
    assert ISO_MS.match(body["created_at"])
    assert body["id"] == account.user["id"]
    for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": "Basic abc"}):
        denied = await api.get("/api/auth/me", headers=headers)
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert "detail" in denied.json()


async def test_update_me(api: httpx.AsyncClient, account: Account) -> None:
    new_email = unique_email()
    response = await api.put(
        "/api/auth/me", json={"name": "John Smith", "email": new_email}, headers=account.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "John Smith"
    assert body["email"] == new_email
    assert ISO_MS.match(body["created_at"])
    me = (await api.get("/api/auth/me", headers=account.headers)).json()
    assert me["email"] == new_email and me["name"] == "John Smith"
    login = await api.post("/api/auth/login", json={"email": new_email, "password": "password123"})
    assert login.status_code == 200


async def test_update_me_to_taken_email_is_409(api: httpx.AsyncClient, account: Account) -> None:
    other = await register(api)
    response = await api.put(
        "/api/auth/me", json={"email": other.email.upper()}, headers=account.headers
    )
    assert response.status_code == 409
    assert (await api.get("/api/auth/me", headers=account.headers)).json()["email"] == account.email
    bad = await api.put("/api/auth/me", json={"email": "nope"}, headers=account.headers)
    assert bad.status_code == 422


async def test_change_password_revokes_earlier_tokens(
    api: httpx.AsyncClient, account: Account
) -> None:
    second = (
        await api.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
    ).json()["access_token"]
    wrong = await api.put(
        "/api/auth/change-password",
        json={"current_password": "not-my-password", "new_password": "newpassword123"},
        headers=account.headers,
    )
    assert wrong.status_code == 422
    assert "current_password" in wrong.json()["detail"]
    response = await api.put(
        "/api/auth/change-password",
        json={"current_password": account.password, "new_password": "newpassword123"},
        headers=account.headers,
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Password changed successfully"}
    for token in (account.token, second):
        me = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    old = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert old.status_code == 401
    new = await api.post(
        "/api/auth/login", json={"email": account.email, "password": "newpassword123"}
    )
    assert new.status_code == 200


async def test_logout_revokes_only_that_token(api: httpx.AsyncClient, account: Account) -> None:
    other_session = (
        await api.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
    ).json()["access_token"]
    response = await api.post("/api/auth/logout", headers=account.headers)
    assert response.status_code == 200
    assert response.json() == {"message": "Successfully logged out"}
    assert (await api.get("/api/auth/me", headers=account.headers)).status_code == 401
    assert (await api.post("/api/auth/logout", headers=account.headers)).status_code == 401
    still = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {other_session}"})
    assert still.status_code == 200


async def test_forgot_password_answers_the_same_for_unknown_emails(
    api: httpx.AsyncClient, account: Account
) -> None:
    known = await api.post("/api/auth/forgot-password", json={"email": account.email})
    unknown = await api.post("/api/auth/forgot-password", json={"email": unique_email()})
    assert known.status_code == unknown.status_code == 200
    assert (
        known.json()
        == unknown.json()
        == {"message": "If the email exists, a password reset link will be sent."}
    )


async def test_reset_password_flow(
    api: httpx.AsyncClient, account: Account, stack: Stack, mailbox: Mailbox
) -> None:
    await api.post("/api/auth/forgot-password", json={"email": account.email})
    token = await reset_token(stack, mailbox, account.email)
    response = await api.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "resetpass123"}
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Password reset successfully"}
    assert (await api.get("/api/auth/me", headers=account.headers)).status_code == 401
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": "resetpass123"}
    )
    assert login.status_code == 200
    again = await api.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "another-pass1"}
    )
    assert again.status_code == 422
    assert "token" in again.json()["detail"]
    still = await api.post(
        "/api/auth/login", json={"email": account.email, "password": "resetpass123"}
    )
    assert still.status_code == 200


async def test_expired_or_forged_reset_token_is_refused(
    api: httpx.AsyncClient, account: Account, stack: Stack, mailbox: Mailbox
) -> None:
    await api.post("/api/auth/forgot-password", json={"email": account.email})
    token = await reset_token(stack, mailbox, account.email)
    await stack.sql(
        "UPDATE password_reset_tokens SET expires_at = $1 WHERE user_id = $2",
        *_past_and_user(stack, account),
    )
    expired = await api.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "resetpass123"}
    )
    assert expired.status_code == 422
    forged = await api.post(
        "/api/auth/reset-password", json={"token": "x" * 43, "new_password": "resetpass123"}
    )
    assert forged.status_code == 422
    short = await api.post("/api/auth/reset-password", json={"token": token, "new_password": "x"})
    assert short.status_code == 422
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 200


def _past_and_user(stack: Stack, account: Account) -> tuple[object, object]:
    import datetime
    import uuid

    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    if stack.mode == "postgres":
        return past, uuid.UUID(account.user["id"])
    return past.isoformat(), account.user["id"]


async def test_inactive_user_gets_403(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    active_false: object = False if stack.mode == "postgres" else 0
    user_id = _past_and_user(stack, account)[1]
    await stack.sql("UPDATE users SET is_active = $1 WHERE id = $2", active_false, user_id)
    login = await api.post(
        "/api/auth/login", json={"email": account.email, "password": account.password}
    )
    assert login.status_code == 403
    assert (await api.get("/api/auth/me", headers=account.headers)).status_code == 403


async def test_tokens_never_reach_another_users_data(api: httpx.AsyncClient) -> None:
    alice, bob = await register(api, "Alice"), await register(api, "Bob")
    assert (await api.get("/api/auth/me", headers=alice.headers)).json()["name"] == "Alice"
    await api.put("/api/auth/me", json={"name": "Bobby"}, headers=bob.headers)
    assert (await api.get("/api/auth/me", headers=alice.headers)).json()["name"] == "Alice"
    assert (await api.get("/api/auth/me", headers=bob.headers)).json()["name"] == "Bobby"
