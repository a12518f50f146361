"""Output the database cannot store as it is, a batch it refuses, and many short runs under
load: no run is wedged, no line is silently lost, the server keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from neuronest.runtimes.logs import original, printable
from tests.conftest import Account, register
from tests.harness import Stack
from tests.runtimes.helpers import (
    FINAL,
    collect_logs,
    logs,
    make_runtime,
    output,
    run_watched,
    start,
    subscribe_logs,
    wait_status,
)

HOSTILE = (
    "import sys\n"
    "out = sys.stdout.buffer\n"
    'out.write(b"a\\x00b\\xff\\n")\n'
    'out.write(b"\\xed\\xa0\\x80 lone surrogate\\n")\n'
    'out.write(b"literal \\\\x00 and C:\\\\dir\\n")\n'
    'out.write("caf\\u00e9 \\u2603\\n".encode())\n'
    "out.flush()\n"
    'sys.stderr.buffer.write(b"err\\x00\\xc3\\n")\n'
    "sys.stderr.flush()\n"
    "for i in range(3):\n"
    "    print(f'after {i}', flush=True)\n"
)
HOSTILE_STDOUT = [
    b"a\x00b\xff",
    b"\xed\xa0\x80 lone surrogate",
    b"literal \\x00 and C:\\dir",
    "café ☃".encode(),
    b"after 0",
    b"after 1",
    b"after 2",
]


def reaching_us(stack: Stack, data: bytes) -> bytes:
    """The bytes the backend hands over. Docker's json-file log driver (the one the Docker
    backend uses) stores lines as JSON strings and puts U+FFFD for invalid UTF-8 itself."""
    if stack.backend == "docker":
        return data.decode("utf-8", errors="replace").encode()
    return data


def test_escaped_form_is_lossless_and_storable() -> None:
    samples = [*HOSTILE_STDOUT, b"\\x5c", b"\\\\xff\\", b"\xc3", b"\x00" * 3, bytes(range(256))]
    for data in samples:
        text = printable(data)
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate: every database and JSON client takes it
        assert original(text) == data
    assert printable(b"a\x00b\xff") == "a\\x00b\\xff"
    assert printable(b"plain C:\\dir \\n") == "plain C:\\dir \\n"  # untouched without `\x`


async def test_nul_and_invalid_utf8_are_stored_and_streamed_escaped(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    live, final, stored = await run_watched(api, account, stack, HOSTILE)
    assert final["status"] == "completed", final
    sent = [reaching_us(stack, line) for line in HOSTILE_STDOUT]
    assert output(stored) == [printable(line) for line in sent]
    assert [original(m) for m in output(stored)] == sent
    assert output(stored, "stderr") == [printable(reaching_us(stack, b"err\x00\xc3"))]
    assert [(m["type"], m["message"]) for m in live] == [(m["type"], m["message"]) for m in stored]
    assert not any("could not be stored" in m for m in output(stored, "system"))
    # The honest run next to it.
    plain = await make_runtime(api, account, "print('hello')")
    await start(api, account, plain["id"])
    assert (await wait_status(api, account, plain["id"], FINAL))["status"] == "completed"
    assert output(await logs(api, account, plain["id"])) == ["hello"]


MIXED_STDOUT = [
    *(f"plain {i}".encode() for i in range(50)),
    b"tab\there\tand\tthere",
    b"carriage\rreturn",
    b"back\\slash \\\\ and \\n and \\t",
    b"literal \\x41",
    b"nul\x00 and \xff",
    "caf\u00e9 \u2603".encode(),
    b"",
    *(f"more {i}".encode() for i in range(50)),
    b"x" * 10_000,  # longer than a stored line: cut
    b"end",
]
# One write: every line reaches the worker in a single read.
MIXED_DATA = b"".join(line + b"\n" for line in MIXED_STDOUT)
MIXED = f"import sys\nsys.stdout.buffer.write({MIXED_DATA!r})\n"


async def test_one_read_of_mixed_lines_is_stored_and_streamed_line_by_line(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    live, final, stored = await run_watched(api, account, stack, MIXED)
    assert final["status"] == "completed", final
    expected = [printable(reaching_us(stack, line)) for line in MIXED_STDOUT]
    expected[-2] = expected[-2][:8192]
    assert output(stored) == expected
    assert "stdout line truncated: 1808 more characters dropped" in output(stored, "system")
    assert [(m["type"], m["message"]) for m in live] == [(m["type"], m["message"]) for m in stored]
    assert [m["seq"] for m in live] == list(range(live[0]["seq"], live[-1]["seq"] + 1))
    assert len({m["id"] for m in stored}) == len(stored)
    assert all(m["timestamp"].endswith("Z") for m in live + stored)


async def test_refused_batch_is_dropped_with_a_system_line_and_the_run_ends_true(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    """A row already holding the sequence number of the run's second output line (as a stale
    second writer would leave) makes every batch with that line break the unique constraint."""
    code = "import time\nfor i in range(6):\n    print(f'line {i}', flush=True)\n"
    runtime = await make_runtime(api, account, code)
    planted_seq = 3  # 1: the start line, 2: 'line 0', 3: 'line 1'
    values: list[Any] = [uuid.uuid4(), uuid.UUID(runtime["id"]), uuid.UUID(account.user["id"])]
    at: Any = datetime.now(UTC)
    if stack.mode != "postgres":
        values, at = [str(v) for v in values], str(at)
    await stack.sql(
        "INSERT INTO runtime_logs (id, runtime_id, user_id, seq, run, type, message, timestamp)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        *values,
        planted_seq,
        1,
        "system",
        "planted",
        at,
    )
    await start(api, account, runtime["id"])
    final = await wait_status(api, account, runtime["id"], FINAL)
    assert final["status"] == "completed", final
    assert final["error"] is None
    stored = await logs(api, account, runtime["id"])
    assert output(stored) == [f"line {i}" for i in range(6) if i != 1]
    system = output(stored, "system")
    assert "planted" in system
    assert any("1 log line(s) could not be stored and were dropped" in m for m in system), system
    assert "exited with code 0" in system


BURN = "import os, sys, time\nos.nice(10)\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"  # noqa: E501
RUNS = {"sandbox": 16, "docker": 8}  # a container start costs far more CPU than a sandbox
# Every other user's request is answered within a second (a wedged database never answers).
PROBE_BUDGET = 1.0


class Prober:
    """Another user asking for database-backed answers (who am I, a new project) all along."""

    def __init__(self, url: str, account: Account) -> None:
        self.url = url
        self.account = account
        self.answered = 0
        self.slow: list[str] = []
        self.stopping = asyncio.Event()

    async def once(self, client: httpx.AsyncClient) -> None:
        begun = time.monotonic()
        try:
            me = await client.get("/api/auth/me", headers=self.account.headers)
            made = await client.post(
                "/api/projects", json={"name": "probe"}, headers=self.account.headers
            )
            assert made.status_code == 201, made.text
            gone = await client.delete(
                f"/api/projects/{made.json()['id']}", headers=self.account.headers
            )
        except httpx.HTTPError as error:
            self.slow.append(f"{type(error).__name__} after {time.monotonic() - begun:.2f} s")
            return
        assert me.status_code == 200, me.text
        assert gone.status_code == 200, gone.text
        self.answered += 1

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=PROBE_BUDGET) as client:
            while not self.stopping.is_set():
                await self.once(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.2)
            for _ in range(5):  # and afterwards
                await self.once(client)


async def test_many_short_runs_under_cpu_load_leave_the_server_answering(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    prober = Prober(stack.url, await register(api, "Bystander"))
    runs = RUNS[stack.backend]
    runtimes = [await make_runtime(api, account, "print('done')") for _ in range(runs)]
    burners = [subprocess.Popen([sys.executable, "-c", BURN, "240"]) for _ in range(2)]
    probing = asyncio.create_task(prober.run())
    clients = []
    try:
        for runtime in runtimes:
            clients.append(await subscribe_logs(stack, account, runtime["id"], stack.urls[-1]))
        await asyncio.gather(*(start(api, account, r["id"]) for r in runtimes))
        seen = await asyncio.gather(*(collect_logs(c, "exited with code", 300) for c in clients))
        finals = [await wait_status(api, account, r["id"], FINAL, 120) for r in runtimes]
    finally:
        prober.stopping.set()
        for burner in burners:
            burner.kill()
            burner.wait()
        for client in clients:
            await client.close()
        await probing
    assert [f["status"] for f in finals] == ["completed"] * runs
    assert all(output(lines) == ["done"] for lines in seen)
    assert prober.slow == [], f"{len(prober.slow)} of {prober.answered} probes: {prober.slow}"
    assert prober.answered > 5  # some while the runs went on, and the five after them
