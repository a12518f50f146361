from __future__ import annotations

import asyncio
import faulthandler
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.harness import Stack, base_env, free_port, fresh_redis
from tests.harness import fresh_database as harness_fresh_database
from tests.llm.fake_llm import FakeLLM

DATABASE_URL = os.environ.get("NEURONEST_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("NEURONEST_TEST_REDIS_URL")
MODES = ["postgres", "embedded"]


# Once the suite is over, the process has this long to exit. A thread that is not a daemon (a
# database connection's worker left open by a broken test) would otherwise keep it alive with
# every result printed; instead every thread's stack is printed and the run fails.
EXIT_GRACE_SECONDS = 120


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    faulthandler.dump_traceback_later(EXIT_GRACE_SECONDS, exit=True, file=sys.__stderr__)


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
    return harness_fresh_database(DATABASE_URL)


def _postgres_stack(workdir: Path, mailbox: Mailbox, llm: FakeLLM, **overrides: str) -> Stack:
    url = fresh_database()
    backend = "docker" if os.environ.get("NEURONEST_TEST_DOCKER") == "1" else "sandbox"
    env = base_env(
        workdir,
        NEURONEST_RUNTIME_BACKEND=backend,
        # NEURONEST_TEST_DOCKER_RUNTIME=runsc runs the live runtime tests under gVisor.
        NEURONEST_DOCKER_RUNTIME=os.environ.get("NEURONEST_TEST_DOCKER_RUNTIME", "runc"),
        NEURONEST_DATABASE_URL=url,
        NEURONEST_REDIS_URL=fresh_redis(str(REDIS_URL)),
        NEURONEST_SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}",
        **_llm_env(llm),
        **overrides,
    )
    stack = Stack("postgres", workdir, env)
    stack.migrate()
    stack.start_worker()
    stack.start_api("api-a")
    stack.start_api("api-b")
    return stack


def _embedded_stack(workdir: Path, llm: FakeLLM, **overrides: str) -> Stack:
    stack = Stack("embedded", workdir, base_env(workdir, **_llm_env(llm), **overrides))
    stack.start_api("api")
    return stack


def start_stack(
    mode: str, workdir: Path, mailbox: Mailbox, llm: FakeLLM, **overrides: str
) -> Stack:
    """A deployment of `mode` ("postgres" or "embedded") with settings of its own."""
    if mode == "postgres":
        return _postgres_stack(workdir, mailbox, llm, **overrides)
    return _embedded_stack(workdir, llm, **overrides)


def stack_fixture(name: str, **settings: str) -> Any:
    """A module-scoped fixture: a deployment of each mode with `settings` of its own."""

    @pytest.fixture(scope="module", params=MODES)
    def fixture(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        mailbox: Mailbox,
        llm: FakeLLM,
    ) -> Iterator[Stack]:
        workdir = tmp_path_factory.mktemp(f"{name}-{request.param}")
        stack = start_stack(request.param, workdir, mailbox, llm, **settings)
        yield stack
        stack.stop()

    return fixture


@pytest.fixture(scope="session", params=MODES)
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
    llm: FakeLLM,
) -> Iterator[Stack]:
    started = start_stack(request.param, tmp_path_factory.mktemp(request.param), mailbox, llm)
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


def mailed_reset_tokens(stack: Stack, mailbox: Mailbox, email: str) -> list[str]:
    """Every reset token mailed to `email` so far: over SMTP, or in the server log."""
    if stack.mode == "postgres":
        texts = [m for m in mailbox.messages if f"To: {email}" in m]
    else:
        texts = [part for part in stack.logs().split("mail to ") if part.startswith(email)]
    return [t for text in texts for t in re.findall(r"Reset token: (\S+)", text)]


async def reset_tokens(
    stack: Stack, mailbox: Mailbox, email: str, count: int = 1, timeout: float = 10
) -> list[str]:
    """Waits until at least `count` reset tokens were mailed to `email`."""
    for _ in range(int(timeout * 20)):
        tokens = mailed_reset_tokens(stack, mailbox, email)
        if len(tokens) >= count:
            return tokens
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} reset mails reached {email}")


async def reset_token(stack: Stack, mailbox: Mailbox, email: str, timeout: float = 10) -> str:
    """The newest reset token mailed to `email`."""
    return (await reset_tokens(stack, mailbox, email, 1, timeout))[-1]
