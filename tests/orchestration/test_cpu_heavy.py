"""Work that grows with user data runs off the event loop: the server keeps answering others."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.conftest import Account, register
from tests.harness import Stack
from tests.orchestration.helpers import create_task, wait_task
from tests.orchestration.tasks.helpers import assert_safe_html

NESTED_LINKS = "[" * 40_000 + "x" + "](https://n.example/)" * 2_000  # 84 KB
NESTED_PRE = "<pre>" * 20_000 + "deep"
NESTED_BLOCKS = "> " * 20_000 + "quoted\n\n" + "- " * 20_000 + "listed"
STANZA = "A line of honest prose, with *some* words in it.\n" * 4 + "\n"
BIG = STANZA * 5_000  # 985 KB
SLOWEST_ALLOWED = 1.0
MEDIAN_ALLOWED = 0.1


@asynccontextmanager
async def probing(api: httpx.AsyncClient, other: Account) -> AsyncIterator[list[float]]:
    """Times `/healthz` and another user's `/api/auth/me`, one after the other, until the block
    ends (and at least ten times); every answer must be a 200."""
    timings: list[float] = []
    done = asyncio.Event()

    async def loop() -> None:
        while (not done.is_set() or len(timings) < 10) and len(timings) < 5_000:
            for path, headers in (("/healthz", {}), ("/api/auth/me", other.headers)):
                started = time.perf_counter()
                response = await api.get(path, headers=headers)
                timings.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            await asyncio.sleep(0.01)

    prober = asyncio.create_task(loop())
    try:
        yield timings
    finally:
        done.set()
        await prober


def assert_responsive(timings: list[float]) -> None:
    assert max(timings) < SLOWEST_ALLOWED, sorted(timings)[-5:]
    assert statistics.median(timings) < MEDIAN_ALLOWED, statistics.median(timings)


async def format_task(api: httpx.AsyncClient, account: Account, text: str, fmt: str) -> str:
    task = await create_task(
        api, account, task_type="text_formatting", input_data={"text": text, "format": fmt}
    )
    finished = await wait_task(api, account, task["id"], timeout=120)
    assert finished["status"] == "completed", (fmt, len(text), finished["error"])
    return str(finished["result"]["text"])


async def test_worst_formatting_inputs_leave_the_server_responsive(
    api: httpx.AsyncClient, account: Account
) -> None:
    other = await register(api, "Bystander")
    async with probing(api, other) as timings:
        links_html = await format_task(api, account, NESTED_LINKS, "html")
        links_plain = await format_task(api, account, NESTED_LINKS, "plain")
        pre_html = await format_task(api, account, NESTED_PRE, "html")
        pre_plain = await format_task(api, account, NESTED_PRE, "plain")
        blocks_markdown = await format_task(api, account, NESTED_BLOCKS, "markdown")
        big_html = await format_task(api, account, BIG, "html")
        big_plain = await format_task(api, account, BIG, "plain")
    assert_responsive(timings)

    assert_safe_html(links_html)
    assert links_html.count('<a href="https://n.example/">') >= 1
    assert "(https://n.example/)" in links_plain or "https://n.example/" in links_plain
    assert pre_html.count("&lt;pre&gt;") == 20_000  # HTML in the input is text, all of it
    assert "<" not in pre_plain.replace("<pre>", "")
    assert blocks_markdown.startswith(">")
    assert_safe_html(big_html)
    assert big_html.count("<p>") == 5_000 and big_html.count("<em>some</em>") == 20_000
    assert big_plain == (STANZA.replace("*", "") * 5_000).rstrip("\n") + "\n"
    # The honest request next to them is answered as before.
    assert await format_task(api, account, "*hi* there", "html") == "<p><em>hi</em> there</p>\n"


async def test_text_over_the_input_limit_fails_with_a_clear_error(
    api: httpx.AsyncClient, account: Account
) -> None:
    task = await create_task(
        api,
        account,
        task_type="text_formatting",
        input_data={"text": "x" * 1_000_001, "format": "plain"},
    )
    finished = await wait_task(api, account, task["id"], timeout=60)
    assert finished["status"] == "failed"
    assert "text: too long (1000001 characters, at most 1000000)" in finished["error"]


async def fill_memory(stack: Stack, seed_id: str, rows: int, words: int) -> None:
    """`rows` entries of about 13 * `words` characters, as old as the seed entry."""
    columns = "INSERT INTO memory_entries (id, memory_id, role, content, metadata, created_at) "
    if stack.mode == "postgres":
        statement = (
            columns + "SELECT gen_random_uuid(), e.memory_id, 'note', "
            "repeat('filler words ', $2) || i, '{}', e.created_at "
            "FROM memory_entries e, generate_series(1, $3) AS i WHERE e.id = $1::uuid"
        )
    else:
        statement = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) "
            + columns
            + "SELECT lower(hex(randomblob(16))), e.memory_id, 'note', "
            "replace(hex(zeroblob($2)), '00', 'filler words ') || i, '{}', e.created_at "
            "FROM memory_entries e, n WHERE e.id = $1"
        )
    await stack.sql(statement, seed_id, words, rows)


async def test_search_of_a_huge_memory_store_leaves_the_server_responsive(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    memory = (
        await api.post("/api/memories", json={"name": "huge"}, headers=account.headers)
    ).json()
    entries = f"/api/memories/{memory['id']}/entries"

    async def add(content: str) -> dict[str, Any]:
        response = await api.post(
            entries, json={"role": "note", "content": content}, headers=account.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    seed = await add("seed entry")
    await fill_memory(stack, seed["id"], rows=3_000, words=1_500)  # about 60 MB of text
    await asyncio.sleep(0.01)  # the needle is newer than the filler
    needle = await add("the filler hides one needle about zebras")

    other = await register(api, "Bystander")
    search = f"/api/memories/{memory['id']}/search"
    async with probing(api, other) as timings:
        queries = ["zebras", "filler words", "zebras needle"]
        answers = await asyncio.gather(
            *(api.get(search, params={"q": q}, headers=account.headers) for q in queries)
        )
    for query, found in zip(queries, answers, strict=True):
        assert found.status_code == 200, found.text
        if query.startswith("zebras"):
            assert found.json()[0]["id"] == needle["id"]
        else:
            assert 0 < len(found.json()) <= 5
    assert_responsive(timings)


async def test_a_small_document_that_expands_past_the_output_budget_fails_clearly(
    api: httpx.AsyncClient, account: Account
) -> None:
    # One reference definition with a 2 KB URL, used 10 000 times: 40 KB in, 20 MB out.
    bomb = "[r]: https://x.example/" + "a" * 2_000 + "\n\n" + "[r] " * 10_000
    other = await register(api, "Bystander")
    async with probing(api, other) as timings:
        task = await create_task(
            api, account, task_type="text_formatting", input_data={"text": bomb, "format": "html"}
        )
        finished = await wait_task(api, account, task["id"], timeout=120)
    assert_responsive(timings)
    assert finished["status"] == "failed"
    assert finished["error"].startswith(
        "text: formatting exceeded its budget: output too large ("
    ), finished["error"]
    assert finished["error"].endswith("characters, at most 8000000)")
    # A few uses of the same reference are an honest document.
    honest = bomb.split("\n\n")[0] + "\n\n" + "[r] " * 3
    assert (await format_task(api, account, honest, "html")).count("<a href=") == 3
