from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.harness import Stack, base_env, free_port
from tests.llm.fake_llm import FakeLLM

DATABASE_URL = os.environ.get("NEURONEST_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("NEURONEST_TEST_REDIS_URL")
MODES = ["postgres", "embedded"]


class Mailbox:
    """An SMTP server on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode(errors="replace"))
        return "250 OK"


@pytest.fixture(scope="session")
def llm() -> Iterator[FakeLLM]:
    """The OpenAI-compatible server every test stack's tasks talk to."""
    with FakeLLM(api_key="test-llm-key") as server:
        yield server


@pytest.fixture
def fake_llm(llm: FakeLLM) -> FakeLLM:
    llm.reset()
    return llm


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


def _llm_env(llm: FakeLLM) -> dict[str, str]:
    return {
        "NEURONEST_LLM_BASE_URL": llm.base_url,
        "NEURONEST_LLM_API_KEY": "test-llm-key",
        "NEURONEST_LLM_DEFAULT_MODEL": "fake-default",
        "NEURONEST_LLM_MAX_RETRIES": "2",
    }


def fresh_database() -> str:
    """The URL of a new, empty PostgreSQL database (skips without `make test`'s services)."""
    if not DATABASE_URL or not REDIS_URL:
        pytest.skip("NEURONEST_TEST_DATABASE_URL / NEURONEST_TEST_REDIS_URL not set (make test)")
    database = f"t_{uuid.uuid4().hex[:12]}"
    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(DATABASE_URL)
        await connection.execute(f'CREATE DATABASE "{database}"')
        await connection.close()

    asyncio.run(create())
    return DATABASE_URL.rsplit("/", 1)[0] + f"/{database}"


def _postgres_stack(workdir: Path, mailbox: Mailbox, llm: FakeLLM) -> Stack:
    url = fresh_database()
    backend = "docker" if os.environ.get("NEURONEST_TEST_DOCKER") == "1" else "sandbox"
    env = base_env(
        workdir,
        NEURONEST_RUNTIME_BACKEND=backend,
        NEURONEST_DATABASE_URL=url,
        NEURONEST_REDIS_URL=REDIS_URL,
        NEURONEST_SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}",
        **_llm_env(llm),
    )
    stack = Stack("postgres", workdir, env)
    stack.migrate()
    stack.start_worker()
    stack.start_api("api-a")
    stack.start_api("api-b")
    return stack


def _embedded_stack(workdir: Path, llm: FakeLLM) -> Stack:
    stack = Stack("embedded", workdir, base_env(workdir, **_llm_env(llm)))
    stack.start_api("api")
    return stack


@pytest.fixture(scope="session", params=MODES)
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
    llm: FakeLLM,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp(request.param)
    started = (
        _postgres_stack(workdir, mailbox, llm)
        if request.param == "postgres"
        else _embedded_stack(workdir, llm)
    )
    yield started
    started.stop()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        yield client


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


class Account:
    def __init__(self, email: str, password: str, token: str, user: dict[str, Any]) -> None:
        self.email = email
        self.password = password
        self.token = token
        self.user = user

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(api: httpx.AsyncClient, name: str = "Test User") -> Account:
    email = unique_email()
    response = await api.post(
        "/api/auth/register", json={"email": email, "password": "password123", "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(email, "password123", body["access_token"], body["user"])


@pytest.fixture
async def account(api: httpx.AsyncClient) -> Account:
    return await register(api)


async def gql(
    api: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def reset_token(stack: Stack, mailbox: Mailbox, email: str, timeout: float = 10) -> str:
    """The newest reset token mailed to `email`: over SMTP, or from the server log."""
    pattern = re.compile(r"Reset token: (\S+)")
    for _ in range(int(timeout * 20)):
        if stack.mode == "postgres":
            texts = [m for m in mailbox.messages if f"To: {email}" in m]
        else:
            texts = [part for part in stack.logs().split("mail to ") if part.startswith(email)]
        tokens = [t for text in texts for t in pattern.findall(text)]
        if tokens:
            return tokens[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reset mail reached {email}")
