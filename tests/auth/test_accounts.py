"""Accounts under attack: old reset tokens, email spellings, production mail, private files."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
import unicodedata
import uuid
from pathlib import Path

import httpx

from tests.conftest import Account, Mailbox, register, reset_tokens
from tests.harness import STARTUP_TIMEOUT, Stack, base_env, free_port

RESET = "/api/auth/reset-password"
FORGOT = "/api/auth/forgot-password"
LOGIN = "/api/auth/login"


async def _two_reset_tokens(
    api: httpx.AsyncClient, stack: Stack, mailbox: Mailbox, account: Account
) -> list[str]:
    for _ in range(2):
        assert (await api.post(FORGOT, json={"email": account.email})).status_code == 200
    return await reset_tokens(stack, mailbox, account.email, count=2)


async def test_a_reset_voids_every_other_reset_token(
    api: httpx.AsyncClient, stack: Stack, mailbox: Mailbox, account: Account
) -> None:
    first, second = (await _two_reset_tokens(api, stack, mailbox, account))[:2]
    used = await api.post(RESET, json={"token": second, "new_password": "after-reset-1"})
    assert used.status_code == 200, used.text
    stale = await api.post(RESET, json={"token": first, "new_password": "attacker-pass"})
    assert stale.status_code == 422
    assert "token" in stale.json()["detail"]
    assert (
        await api.post(LOGIN, json={"email": account.email, "password": "attacker-pass"})
    ).status_code == 401
    ok = await api.post(LOGIN, json={"email": account.email, "password": "after-reset-1"})
    assert ok.status_code == 200


async def test_a_password_change_voids_outstanding_reset_tokens(
    api: httpx.AsyncClient, stack: Stack, mailbox: Mailbox, account: Account
) -> None:
    tokens = await _two_reset_tokens(api, stack, mailbox, account)
    changed = await api.put(
        "/api/auth/change-password",
        json={"current_password": account.password, "new_password": "changed-pass"},
        headers=account.headers,
    )
    assert changed.status_code == 200, changed.text
    for token in tokens:
        stale = await api.post(RESET, json={"token": token, "new_password": "attacker-pass"})
        assert stale.status_code == 422
    ok = await api.post(LOGIN, json={"email": account.email, "password": "changed-pass"})
    assert ok.status_code == 200


async def test_every_spelling_of_an_email_is_the_same_account(
    api: httpx.AsyncClient, stack: Stack, mailbox: Mailbox
) -> None:
    tag = uuid.uuid4().hex[:8]
    decomposed = unicodedata.normalize("NFD", f"José.{tag}@Example.COM")
    created = await api.post(
        "/api/auth/register", json={"email": decomposed, "password": "password123"}
    )
    assert created.status_code == 201, created.text
    stored = created.json()["user"]["email"]
    assert stored == f"josé.{tag}@example.com"
    for spelling in (f"  JOSÉ.{tag}@EXAMPLE.com ", unicodedata.normalize("NFD", stored)):
        login = await api.post(LOGIN, json={"email": spelling, "password": "password123"})
        assert login.status_code == 200, (spelling, login.text)
        assert login.json()["user"]["id"] == created.json()["user"]["id"]
    twin = await api.post("/api/auth/register", json={"email": stored.upper(), "password": "x" * 8})
    assert twin.status_code == 409
    other = await register(api)
    taken = await api.put(
        "/api/auth/me", json={"email": f"JOSE\u0301.{tag}@example.com"}, headers=other.headers
    )
    assert taken.status_code == 409
    # forgot-password finds the account under another spelling of an ASCII address.
    ascii_account = await register(api)
    answer = await api.post(FORGOT, json={"email": f" {ascii_account.email.upper()} "})
    assert answer.status_code == 200
    assert await reset_tokens(stack, mailbox, ascii_account.email)


async def test_an_invalid_email_on_login_is_an_ordinary_401(
    api: httpx.AsyncClient, account: Account
) -> None:
    for email in ("not-an-email", "@@", "a" * 400 + "@example.com", ""):
        answer = await api.post(LOGIN, json={"email": email, "password": "password123"})
        assert answer.status_code == 401, (email[:20], answer.text)
        assert answer.json()["detail"] == "Incorrect email or password"
    ok = await api.post(LOGIN, json={"email": account.email, "password": account.password})
    assert ok.status_code == 200


def _production_env(workdir: Path, **overrides: str) -> dict[str, str]:
    return base_env(workdir, NEURONEST_ENV="production", **overrides)


def test_production_refuses_to_start_without_smtp(tmp_path: Path) -> None:
    serve = subprocess.run(
        [sys.executable, "-m", "neuronest", "serve", "--port", str(free_port())],
        env=_production_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )
    assert serve.returncode == 2
    assert "NEURONEST_SMTP_URL must be set in production" in serve.stderr
    assert "NEURONEST_MAIL_TO_LOG" in serve.stderr


async def test_production_mail_in_the_log_keeps_the_reset_secret_out(tmp_path: Path) -> None:
    stack = Stack("embedded", tmp_path, _production_env(tmp_path, NEURONEST_MAIL_TO_LOG="true"))
    stack.start_api("api")
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
            account = await register(api)
            assert (await api.post(FORGOT, json={"email": account.email})).status_code == 200
            for _ in range(200):
                if f"mail to {account.email}" in stack.logs():
                    break
                await asyncio.sleep(0.05)
            logs = stack.logs()
            assert f"mail to {account.email}" in logs
            assert "Reset token" not in logs
            assert "reset-password?token=" not in logs
    finally:
        stack.stop()


async def test_a_fresh_data_dir_is_private(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    del env["NEURONEST_SECRET_KEY"]  # generated into the data dir
    stack = Stack("embedded", tmp_path, env)
    stack.start_api("api")
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
            await register(api)  # the database has been written (and its WAL is in use)
            data = Path(env["NEURONEST_DATA_DIR"])
            assert stat.S_IMODE(data.stat().st_mode) == 0o700
            files = ["secret_key", "neuronest.sqlite3", "neuronest.sqlite3-wal"]
            files.append("neuronest.sqlite3-shm")
            modes = {name: stat.S_IMODE((data / name).stat().st_mode) for name in files}
            assert modes == dict.fromkeys(files, 0o600)
            outsiders = [p.name for p in data.iterdir() if p.stat().st_mode & 0o077]
            assert outsiders == []
    finally:
        stack.stop()


async def test_an_existing_world_readable_data_dir_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    database = data / "neuronest.sqlite3"
    database.touch(mode=0o644)
    data.chmod(0o755)
    database.chmod(0o644)
    stack = Stack("embedded", tmp_path, base_env(tmp_path))
    stack.start_api("api")
    try:
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
            await register(api)
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    finally:
        stack.stop()
