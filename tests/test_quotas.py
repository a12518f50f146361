"""Quotas under concurrency, on servers with small limits: parallel requests that together
overrun a limit never store more than it allows, the overflow gets a clear 4xx, and the honest
request within the limit still works."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Account, register, stack_fixture
from tests.harness import Stack
from tests.llm.fake_llm import FakeLLM, error, slow_text

LIMITS = {
    "NEURONEST_MAX_FILE_BYTES": "1000",
    "NEURONEST_MAX_BODY_BYTES": "65536",
    "NEURONEST_MAX_PROJECT_BYTES": "5000",
    "NEURONEST_MAX_PROJECT_FILES": "8",
    "NEURONEST_MAX_PROJECTS_PER_USER": "3",
    "NEURONEST_MAX_RUNTIMES_PER_USER": "2",
    "NEURONEST_MAX_TASKS_IN_FLIGHT": "2",
    "NEURONEST_MAX_MEMORIES_PER_USER": "2",
    "NEURONEST_MAX_MEMORY_ENTRIES": "5",
}


limited = stack_fixture("limited", **LIMITS)


@pytest.fixture
async def client(limited: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited.url, timeout=60) as http:
        yield http


@pytest.fixture
async def user(client: httpx.AsyncClient) -> Account:
    return await register(client)


async def burst(n: int, make: object) -> list[httpx.Response]:
    return list(await asyncio.gather(*(make(i) for i in range(n))))  # type: ignore[operator]


async def test_parallel_uploads_never_overrun_the_project_quota(
    client: httpx.AsyncClient, user: Account
) -> None:
    project = (await client.post("/api/projects", json={"name": "p"}, headers=user.headers)).json()
    files = f"/api/projects/{project['id']}/files"

    async def upload(i: int) -> httpx.Response:
        content = base64.b64encode(bytes([i]) * 900).decode()
        body = {"content": content, "encoding": "base64"}
        return await client.put(f"{files}/f{i}.bin", json=body, headers=user.headers)

    # 20 files of 900 bytes: 18000 bytes against a quota of 5000 bytes and 8 files.
    responses = await burst(20, upload)
    codes = sorted(r.status_code for r in responses)
    assert set(codes) == {200, 422}, codes
    assert all("limit" in r.json()["detail"] for r in responses if r.status_code == 422)
    listed = (await client.get(files, headers=user.headers)).json()
    assert sum(f["size"] for f in listed) <= 5000
    assert len(listed) == codes.count(200) == 5
    # Replacing a file within the quota still works; one byte over it does not.
    again = await client.put(
        f"{files}/{listed[0]['path']}", json={"content": "small"}, headers=user.headers
    )
    assert again.status_code == 200, again.text


async def test_parallel_creates_never_overrun_per_user_limits(
    client: httpx.AsyncClient, user: Account
) -> None:
    projects = await burst(
        8, lambda i: client.post("/api/projects", json={"name": f"p{i}"}, headers=user.headers)
    )
    assert sorted(r.status_code for r in projects) == [201] * 3 + [409] * 5
    refused = next(r for r in projects if r.status_code == 409)
    assert "MAX_PROJECTS_PER_USER" in refused.json()["detail"]
    listed = (await client.get("/api/projects", headers=user.headers)).json()
    assert len(listed) == 3
    project_id = listed[0]["id"]

    runtime = {"project_id": project_id, "language": "python", "entry_point": "main.py"}
    runtimes = await burst(
        6, lambda i: client.post("/api/runtimes", json=runtime, headers=user.headers)
    )
    assert sorted(r.status_code for r in runtimes) == [201] * 2 + [409] * 4
    assert len((await client.get("/api/runtimes", headers=user.headers)).json()) == 2

    memories = await burst(
        6, lambda i: client.post("/api/memories", json={"name": f"m{i}"}, headers=user.headers)
    )
    assert sorted(r.status_code for r in memories) == [201] * 2 + [409] * 4
    memory_id = next(r.json()["id"] for r in memories if r.status_code == 201)
    entries = f"/api/memories/{memory_id}/entries"
    added = await burst(
        12,
        lambda i: client.post(
            entries, json={"role": "note", "content": f"e{i}"}, headers=user.headers
        ),
    )
    assert sorted(r.status_code for r in added) == [201] * 5 + [409] * 7
    assert len((await client.get(entries, headers=user.headers)).json()) == 5

    # Another user's limits are their own.
    other = await register(client)
    created = await client.post("/api/projects", json={"name": "mine"}, headers=other.headers)
    assert created.status_code == 201, created.text


async def test_tasks_in_flight_are_limited_per_user(
    client: httpx.AsyncClient, user: Account, fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[slow_text("x" * 200, delay=0.05) for _ in range(10)])
    task = {"task_type": "text_generation", "input_data": {"prompt": "hi"}}
    responses = await burst(
        6, lambda i: client.post("/api/orchestration/tasks", json=task, headers=user.headers)
    )
    assert sorted(r.status_code for r in responses) == [201] * 2 + [409] * 4
    assert "MAX_TASKS_IN_FLIGHT" in next(r for r in responses if r.status_code == 409).text
    # Once they finish, the user may start more.
    for started in (r.json() for r in responses if r.status_code == 201):
        await client.post(f"/api/orchestration/tasks/{started['id']}/cancel", headers=user.headers)
    again = await client.post(
        "/api/orchestration/tasks",
        json={"task_type": "calculation", "input_data": {"expression": "1+1"}},
        headers=user.headers,
    )
    assert again.status_code == 201, again.text


async def test_every_end_of_a_task_gives_its_slot_back(
    client: httpx.AsyncClient, user: Account, fake_llm: FakeLLM
) -> None:
    tasks = "/api/orchestration/tasks"

    calculation = {"task_type": "calculation", "input_data": {"expression": "1+1"}}
    generation = {"task_type": "text_generation", "input_data": {"prompt": "hi"}}

    async def create(task: dict[str, object]) -> httpx.Response:
        return await client.post(tasks, json=task, headers=user.headers)

    async def finished(task_id: str) -> str:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            status = (await client.get(f"{tasks}/{task_id}", headers=user.headers)).json()
            if status["status"] in ("completed", "failed", "cancelled"):
                return str(status["status"])
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.05)

    # Completed and failed tasks leave the user at no task in flight, many times over the limit.
    for round_ in range(3):
        fake_llm.script(error(400, "refused"))
        made = [await create(calculation), await create(generation)]
        assert [r.status_code for r in made] == [201, 201], [r.text for r in made]
        ends = [await finished(r.json()["id"]) for r in made]
        assert ends == ["completed", "failed"], (round_, ends)

    # A task deleted before it ends gives its slot back too.
    fake_llm.script(*[slow_text("x" * 200, delay=0.05) for _ in range(4)])
    held = [await create(generation) for _ in range(2)]
    assert [r.status_code for r in held] == [201, 201]
    assert (await create(calculation)).status_code == 409
    deleted = await client.delete(f"{tasks}/{held[0].json()['id']}", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    assert (await create(calculation)).status_code == 201
    await client.post(f"{tasks}/{held[1].json()['id']}/cancel", headers=user.headers)
