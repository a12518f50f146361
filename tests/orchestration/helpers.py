from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import Account

FINISHED = {"completed", "failed", "cancelled"}


async def create_task(api: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    response = await api.post("/api/orchestration/tasks", json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def wait_task(
    api: httpx.AsyncClient,
    account: Account,
    task_id: str,
    statuses: set[str] = FINISHED,
    timeout: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await api.get(f"/api/orchestration/tasks/{task_id}", headers=account.headers)
        assert response.status_code == 200, response.text
        task = dict(response.json())
        if task["status"] in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task stayed {task['status']}: {task}")
        await asyncio.sleep(0.05)


async def run_task(api: httpx.AsyncClient, account: Account, **body: Any) -> dict[str, Any]:
    task = await create_task(api, account, **body)
    return await wait_task(api, account, task["id"])


async def make_agent(
    api: httpx.AsyncClient, account: Account, configuration: dict[str, Any]
) -> dict[str, Any]:
    response = await api.post(
        "/api/orchestration/agents",
        json={
            "name": "Poetry Agent",
            "description": "An agent that specializes in writing poetry",
            "capabilities": ["text_generation", "poetry", "creative_writing"],
            "configuration": configuration,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
