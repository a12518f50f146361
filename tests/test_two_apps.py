"""Each app takes its limits and services from the settings it is built with, none from the
process: two apps of one process, built with different settings, answer differently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from neuronest.app import create_app
from neuronest.config import Settings

TWO_ROOTS = "{ me { email } projects { id } }"  # two root fields


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan: migrations, services) and a client talking to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            yield client


async def ask(client: httpx.AsyncClient, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_two_apps_in_one_process_keep_their_own_settings(tmp_path: Path) -> None:
    data = tmp_path / "data"  # one database (Tortoise's is the process's), two apps
    strict = create_app(Settings(data_dir=data, graphql_max_root_fields=1, bcrypt_rounds=4))
    lenient = create_app(Settings(data_dir=data, graphql_max_root_fields=20, bcrypt_rounds=4))
    async with serving(strict) as to_strict:
        async with serving(lenient) as to_lenient:
            registered = await to_lenient.post(
                "/api/auth/register",
                json={"email": "two-apps@example.com", "password": "password123", "name": "Two"},
            )
            assert registered.status_code == 201, registered.text
            token = registered.json()["access_token"]

            refused = await ask(to_strict, TWO_ROOTS, token)
            assert refused["data"] is None
            assert refused["errors"][0]["extensions"]["code"] == "TOO_MANY_FIELDS"

            answered = await ask(to_lenient, TWO_ROOTS, token)
            assert answered == {"data": {"me": {"email": "two-apps@example.com"}, "projects": []}}

        # The other app stopped; this one still reads and writes the process's database.
        created = await ask(
            to_strict, 'mutation { createProject(input: {name: "kept"}) { name } }', token
        )
        assert created == {"data": {"createProject": {"name": "kept"}}}, created
        shallow = "{ projects { name } }"
        assert await ask(to_strict, shallow, token) == {"data": {"projects": [{"name": "kept"}]}}
