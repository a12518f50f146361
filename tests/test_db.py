"""A database write cancelled at any point leaves no lock and no connection behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient

from neuronest.config import Settings
from neuronest.db import atomically, close_db, open_db
from tests.conftest import DATABASE_URL

# Enough loop steps to land a cancel everywhere: before BEGIN, inside it, between the
# statements, inside COMMIT and after it.
STEPS = 40


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path)
    else:
        if not DATABASE_URL:
            pytest.skip("NEURONEST_TEST_DATABASE_URL not set")
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(DATABASE_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        # A pool of two: one leaked connection would show at once.
        settings = Settings(
            data_dir=tmp_path,
            database_url=DATABASE_URL.rsplit("/", 1)[0] + f"/{name}",
            database_pool_size=2,
        )
    await open_db(settings)
    await connections.get("default").execute_script("CREATE TABLE scratch (step INTEGER)")
    try:
        yield request.param
    finally:
        await close_db()
        await Tortoise._reset_apps()


async def _count(step: int) -> int:
    query = connections.get("default").execute_query(
        f"SELECT count(*) AS n FROM scratch WHERE step = {step}"
    )
    _, rows = await asyncio.wait_for(query, 5)
    return int(rows[0]["n"])


async def test_cancel_at_any_step_of_a_transaction_leaves_the_database_usable(
    database: str,
) -> None:
    committed = 0
    for step in range(STEPS):

        async def write(connection: BaseDBAsyncClient, step: int = step) -> None:
            await connection.execute_query(f"INSERT INTO scratch VALUES ({step})")
            await connection.execute_query(f"INSERT INTO scratch VALUES ({step})")

        writer = asyncio.ensure_future(atomically(write))
        for _ in range(step):
            await asyncio.sleep(0)
        writer.cancel()
        done, _ = await asyncio.wait({writer}, timeout=10)
        assert done, f"a write cancelled after {step} loop steps never ended"
        # Whole or nothing, and the next query (on the one SQLite connection, or from a pool
        # of two) answers.
        rows = await _count(step)
        assert rows in (0, 2), f"step {step}: {rows} of 2 rows"
        committed += rows // 2
        if writer.cancelled():
            continue
        assert writer.exception() is None
    # The honest write next to it: not cancelled, stored.
    await atomically(lambda c: c.execute_query(f"INSERT INTO scratch VALUES ({STEPS})"))
    assert await _count(STEPS) == 1
    assert committed >= 1, "no cancel came after the commit: the steps did not cover the write"
