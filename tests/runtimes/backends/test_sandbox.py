"""The bubblewrap sandbox backend on the real bwrap of this machine (skipped without it)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from neuronest.runtimes.backends.base import OutputLine, RunSpec
from neuronest.runtimes.backends.sandbox import PIECE, SandboxBackend, SandboxError
from tests.runtimes.backends.helpers import (
    AS_ROOT,
    BWRAP,
    NODE,
    PYTHON,
    MiB,
    free_port,
    make_spec,
    processes_of,
    python,
    rss_kib,
    run,
    text,
)

pytestmark = pytest.mark.skipif(not os.path.exists(BWRAP), reason="bubblewrap is not installed")


@pytest.fixture
async def backend() -> AsyncIterator[SandboxBackend]:
    # Under /tmp, searchable: bwrap runs as uid 65534 and must reach the run directories.
    root = Path(tempfile.mkdtemp(prefix="neuronest-sandbox-", dir="/tmp"))
    os.chmod(root, 0o711)
    sandbox = SandboxBackend(root)
    yield sandbox
    for handle in await sandbox.managed():
        await sandbox.remove(handle)
    shutil.rmtree(root, ignore_errors=True)


async def test_stdout_and_stderr_in_order_and_exit_code(backend: SandboxBackend) -> None:
    code = (
        "import sys\n"
        "for i in range(5):\n"
        "    print(f'out {i}')\n"
        "    print(f'err {i}', file=sys.stderr)\n"
        "sys.stdout.write('no newline at the end')\n"
        "exit(3)\n"
    )
    lines, exit_code = await run(backend, python(code))
    assert text(lines, "stdout") == [f"out {i}" for i in range(5)] + ["no newline at the end"]
    assert text(lines, "stderr") == [f"err {i}" for i in range(5)]
    assert not any(line.partial for line in lines)
    assert exit_code == 3


async def test_exit_by_signal_is_128_plus_signal(backend: SandboxBackend) -> None:
    _, exit_code = await run(backend, make_spec(["bash", "-c", "kill -9 $$"]))
    assert exit_code == 137


async def test_long_lines_come_in_pieces(backend: SandboxBackend) -> None:
    code = "import sys\nsys.stdout.write('a' * 40000 + '\\n' + 'b' * PIECE + '\\nshort\\n')\n"
    lines, exit_code = await run(backend, python(code.replace("PIECE", str(PIECE))))
    assert exit_code == 0
    assert [(len(line.data), line.partial) for line in lines] == [
        (PIECE, True),
        (PIECE, True),
        (40000 - 2 * PIECE, False),
        (PIECE, False),
        (5, False),
    ]
    assert b"".join(line.data for line in lines[:3]) == b"a" * 40000


async def test_isolation(
    backend: SandboxBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEURONEST_SANDBOX_MARKER", "must-not-leak")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    secret.chmod(0o644)  # readable by anyone who can reach it: the sandbox must not reach it
    code = """
import json, os, socket
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return type(error).__name__
def write(path):
    with open(path, "w") as file:
        file.write("x")
print(json.dumps({
    "uid": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
    "env": dict(os.environ),
    "secret": attempt(lambda: open(os.environ["SECRET"]).read()),
    "state": os.path.exists(os.environ["STATE"]),
    "root": attempt(lambda: os.listdir("/root")),
    "shadow": attempt(lambda: open("/etc/shadow").read()),
    "passwd": open("/etc/passwd").read(),
    "usr": attempt(lambda: write("/usr/evil")),
    "src": attempt(lambda: write("/src/evil")),
    "workspace": attempt(lambda: write("/workspace/fine")),
    "tmp": attempt(lambda: write("/tmp/fine")),
    "hostname": socket.gethostname(),
    "cwd": os.getcwd(),
    "pid": os.getpid(),
    "visible_pids": [p for p in os.listdir("/proc") if p.isdigit()],
}))
"""
    env = {
        "SECRET": str(secret),
        "STATE": str(backend.root),
        "GREETING": "hello world",
        "PORT": "8",
    }
    lines, exit_code = await run(backend, python(code, env=env))
    assert exit_code == 0, lines
    result = json.loads(text(lines, "stdout")[0])
    assert result["uid"] == [1000, 1000, 1000, 1000]
    assert result["env"]["GREETING"] == "hello world"
    assert result["env"]["PORT"] == "8"
    assert result["env"]["HOME"] == "/workspace"
    assert result["env"]["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert "NEURONEST_SANDBOX_MARKER" not in result["env"]
    assert set(result["env"]) <= {*env, "HOME", "PATH", "LANG", "PWD"}
    assert result["secret"] == "FileNotFoundError"  # the path does not exist in there
    assert result["state"] is False
    assert result["root"] == "FileNotFoundError"
    assert result["shadow"] == "FileNotFoundError"
    assert "sandbox:x:1000:1000" in result["passwd"]
    assert result["usr"] in ("OSError", "PermissionError")  # EROFS
    assert result["src"] in ("OSError", "PermissionError")
    assert result["workspace"] == "ok"
    assert result["tmp"] == "ok"
    assert result["hostname"] == "sandbox"
    assert result["cwd"] == "/workspace"
    assert len(result["visible_pids"]) <= 3  # its own pid namespace: init, itself


async def test_files_in_subdirectories_arrive(backend: SandboxBackend) -> None:
    files = {
        "pkg/__init__.py": b"",
        "pkg/mod.py": b"VALUE = 'from a module'\n",
        "data/deep/er/x.txt": "ünïcode\n".encode(),
        "run.sh": b"#!/bin/sh\necho script says hi\n",
    }
    code = (
        "import pkg.mod, subprocess\n"
        "print(pkg.mod.VALUE)\n"
        "print(open('data/deep/er/x.txt', encoding='utf-8').read().strip())\n"
        "subprocess.run(['./run.sh'], check=True)\n"
    )
    lines, exit_code = await run(backend, python(code, files=files))
    assert exit_code == 0, lines
    assert text(lines, "stdout") == ["from a module", "ünïcode", "script says hi"]


async def test_bash(backend: SandboxBackend) -> None:
    spec = make_spec(["bash", "main.sh"], {"main.sh": b'echo "$GREETING from $(whoami)"\n'})
    spec = replace(spec, env={"GREETING": "hello"}, language="bash")
    lines, exit_code = await run(backend, spec)
    assert (text(lines, "stdout"), exit_code) == (["hello from sandbox"], 0)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_node_runs_under_the_memory_limit(backend: SandboxBackend) -> None:
    spec = make_spec(
        ["node", "main.js"],
        {"main.js": b"console.log('node', process.version, process.env.GREETING)\n"},
        {"GREETING": "hi"},
        language="node",
        memory_bytes=256 * MiB,
    )
    lines, exit_code = await run(backend, spec)
    assert exit_code == 0, lines
    assert text(lines, "stdout")[0].startswith("node v")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_node_memory_hog_fails(backend: SandboxBackend) -> None:
    code = b"const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));\n"
    spec = make_spec(
        ["node", "main.js"], {"main.js": code}, language="node", memory_bytes=256 * MiB
    )
    lines, exit_code = await run(backend, spec)
    print(f"\nnode memory hog: exit {exit_code}, last stderr: {text(lines, 'stderr')[-1:]}")
    assert exit_code != 0


async def test_rlimits_are_set(backend: SandboxBackend) -> None:
    spec = make_spec(
        ["cat", "/proc/self/limits"],
        memory_bytes=300 * MiB,
        cpu_seconds=77,
        pids=55,
        file_size_bytes=5 * MiB,
        open_files=99,
    )
    lines, exit_code = await run(backend, spec)
    assert exit_code == 0
    limits = {
        line[:26].strip(): line[26:].split()[:2] for line in text(lines, "stdout")[1:] if line
    }
    assert limits["Max address space"] == [str(300 * MiB)] * 2
    assert limits["Max cpu time"] == ["77", "78"]
    assert limits["Max processes"] == ["55", "55"]
    assert limits["Max file size"] == [str(5 * MiB)] * 2
    assert limits["Max open files"] == ["99", "99"]
    assert limits["Max core file size"] == ["0", "0"]


async def test_cpu_limit_kills(backend: SandboxBackend) -> None:
    started = time.monotonic()
    _, exit_code = await run(backend, python("while True:\n    pass\n", cpu_seconds=1))
    assert exit_code in (128 + 9, 128 + 24)  # SIGKILL or SIGXCPU
    assert time.monotonic() - started < 30


async def test_fork_bomb_is_contained_and_stopped(backend: SandboxBackend) -> None:
    before = processes_of(65534) if AS_ROOT else []
    # The first shell stays (else the sandbox ends with it): the bomb goes on in the background.
    spec = make_spec(["bash", "-c", ":(){ :|:& };:; sleep 1000"], pids=32)
    handle = await backend.start(spec)
    counts = {"stdout": 0, "stderr": 0}

    async def drain() -> None:
        async for line in backend.output(handle):
            counts[line.stream] += 1

    drainer = asyncio.create_task(drain())
    peak = 0
    seen: set[int] = set()
    for _ in range(20):  # two seconds of bombing
        await asyncio.sleep(0.1)
        if AS_ROOT:
            ours = set(processes_of(65534)) - set(before)
            seen |= ours
            peak = max(peak, len(ours))
    # The test process stays healthy: its loop answers and it can still start processes.
    loop_started = time.monotonic()
    await asyncio.sleep(0)
    assert time.monotonic() - loop_started < 0.5
    child = await asyncio.create_subprocess_exec("true")
    assert await child.wait() == 0
    stopped = time.monotonic()
    await backend.stop(handle)
    assert await backend.wait(handle) == 137
    await asyncio.wait_for(drainer, 10)
    print(
        f"\nfork bomb: peak {peak} processes of uid 65534 (limit 32), "
        f"{counts['stderr']} stderr lines, stopped in {time.monotonic() - stopped:.2f}s"
    )
    if AS_ROOT:
        # 32 in the sandbox (its namespace init included) plus bwrap's monitor outside; other
        # sandboxes of uid 65534 running meanwhile (other tests) could add to this count.
        assert 16 <= peak <= 32 + 1
        for _ in range(50):
            if not seen & set(processes_of(65534)):
                break
            await asyncio.sleep(0.1)
        assert not seen & set(processes_of(65534))
    await backend.remove(handle)


async def test_process_budget_is_per_sandbox(backend: SandboxBackend) -> None:
    # RLIMIT_NPROC is per (user namespace, uid): a sandbox holding processes must not stop
    # another one (same host uid 65534) with a small `pids` limit from starting or forking.
    busy = make_spec(["bash", "-c", "for i in $(seq 12); do sleep 100 & done; echo ready; wait"])
    holder = await backend.start(busy)
    assert (await anext(backend.output(holder))).data == b"ready"
    small = make_spec(["bash", "-c", "sleep 0.1 & wait; echo forked"], pids=6)
    lines, exit_code = await run(backend, small)
    await backend.remove(holder)
    assert (text(lines, "stdout"), exit_code) == (["forked"], 0), lines


async def test_memory_hog_fails(backend: SandboxBackend) -> None:
    code = "data = bytearray(2 * 1024 ** 3)\nprint('allocated', len(data))\n"
    lines, exit_code = await run(backend, python(code, memory_bytes=256 * MiB))
    assert exit_code == 1
    assert "allocated" not in " ".join(text(lines, "stdout"))
    assert "MemoryError" in text(lines, "stderr")[-1]


@pytest.mark.parametrize(
    ("workspace_bytes", "file_size_bytes", "error"),
    [(64 * MiB, 2048 * MiB, "ENOSPC"), (2048 * MiB, 16 * MiB, "EFBIG")],
)
async def test_disk_filler_fails_and_host_disk_is_untouched(
    backend: SandboxBackend, workspace_bytes: int, file_size_bytes: int, error: str
) -> None:
    code = """
import errno, sys
chunk = b"x" * (1 << 20)
written = 0
try:
    with open("/workspace/fill", "wb") as file:
        for _ in range(1024):
            file.write(chunk)
            written += 1
except OSError as exc:
    print(errno.errorcode[exc.errno], written)
    sys.exit(1)
print("wrote all", written)
"""
    free_before = shutil.disk_usage("/").free
    spec = python(code, workspace_bytes=workspace_bytes, file_size_bytes=file_size_bytes)
    lines, exit_code = await run(backend, spec)
    free_after = shutil.disk_usage("/").free
    assert exit_code == 1
    name, written = text(lines, "stdout")[-1].split()
    assert name == error
    assert int(written) <= 64
    # Nothing was written to the host disk (a 1 GB write would show; allow for others' noise).
    assert free_before - free_after < 512 * MiB


async def test_one_gigabyte_without_newlines_streams_in_bounded_memory(
    backend: SandboxBackend,
) -> None:
    code = (
        "import sys\n"
        "block = b'x' * (1 << 20)\n"
        "write = sys.stdout.buffer.write\n"
        "for _ in range(1024):\n"
        "    write(block)\n"
    )
    rss_before = rss_kib()
    peak = rss_before
    handle = await backend.start(python(code, memory_bytes=256 * MiB))
    started = time.monotonic()
    pieces = total = partial = largest = 0
    async for line in backend.output(handle):
        pieces += 1
        total += len(line.data)
        partial += line.partial
        largest = max(largest, len(line.data))
        if pieces % 4096 == 0:
            peak = max(peak, rss_kib())
    elapsed = time.monotonic() - started
    assert await backend.wait(handle) == 0
    await backend.remove(handle)
    rss_after = rss_kib()
    print(
        f"\n1 GiB without newlines: {pieces} pieces in {elapsed:.1f}s "
        f"({total / MiB / elapsed:.0f} MiB/s); test RSS before {rss_before // 1024} MiB, "
        f"peak {peak // 1024} MiB, after {rss_after // 1024} MiB"
    )
    assert total == 1 << 30
    assert largest == PIECE
    assert pieces == (1 << 30) // PIECE
    assert partial == pieces - 1
    assert peak - rss_before < 64 * 1024


async def test_http_server_answers_on_its_published_port(backend: SandboxBackend) -> None:
    # Its own network namespace: the program listens on all its interfaces, and the port is
    # published on the host's 127.0.0.1 by slirp4netns.
    port = free_port()
    code = (
        "import http.server, os\n"
        "server = http.server.ThreadingHTTPServer(('0.0.0.0', int(os.environ['PORT'])),"
        " http.server.SimpleHTTPRequestHandler)\n"
        "print('serving', flush=True)\n"
        "server.serve_forever()\n"
    )
    spec = python(
        code,
        files={"index.html": b"hello from the sandbox"},
        env={"PORT": str(port)},
        port=port,
    )
    handle = await backend.start(spec)
    lines: list[OutputLine] = []

    async def drain() -> None:
        async for line in backend.output(handle):
            lines.append(line)

    drainer = asyncio.create_task(drain())
    body = b""
    for _ in range(100):
        # slirp4netns accepts at once, then closes or resets while nothing listens inside yet.
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")
            body = await reader.read()
            writer.close()
        except OSError:
            body = b""
        if body:
            break
        await asyncio.sleep(0.1)
    await backend.stop(handle)
    await asyncio.wait_for(drainer, 10)
    await backend.remove(handle)
    assert body.startswith(b"HTTP/1.0 200")
    assert body.endswith(b"hello from the sandbox")
    assert text(lines, "stdout") == ["serving"]


async def test_stop_ends_an_endless_loop_and_remove_cleans_up(backend: SandboxBackend) -> None:
    code = (
        "import subprocess\n"
        "subprocess.Popen(['sleep', '1000'])\n"
        "print('looping')\n"
        "while True:\n"
        "    pass\n"
    )
    handle = await backend.start(python(code))
    directory = backend.root / handle
    assert directory.is_dir()
    assert await backend.exists(handle)
    assert await backend.managed() == {handle: "runtime-1"}
    output = backend.output(handle)
    first = await anext(output)
    assert first.data == b"looping"
    started = time.monotonic()
    await backend.stop(handle)
    exit_code = await backend.wait(handle)
    assert time.monotonic() - started < 1
    assert exit_code == 137
    assert [line async for line in output] == []  # ends: the background sleep died as well
    await backend.stop(handle)  # again: nothing happens
    await backend.remove(handle)
    assert not directory.exists()
    assert not await backend.exists(handle)
    assert await backend.managed() == {}
    await backend.remove(handle)  # idempotent


async def test_remove_without_reading_output(backend: SandboxBackend) -> None:
    handle = await backend.start(python("print('x' * 100000)\nimport time\ntime.sleep(60)\n"))
    await asyncio.sleep(0.3)
    await backend.remove(handle)
    assert not await backend.exists(handle)
    assert not (backend.root / handle).exists()


async def test_bad_specs_are_refused(backend: SandboxBackend) -> None:
    for files in ({"../escape.py": b""}, {"/abs.py": b""}, {"a/../../b": b""}):
        with pytest.raises(SandboxError):
            await backend.start(make_spec(["true"], files))
    with pytest.raises(SandboxError):
        await backend.start(make_spec(["true"], env={"A=B": "x"}))
    with pytest.raises(SandboxError):
        await backend.start(make_spec(["true"], env={"A": "nul\0byte"}))
    assert list(backend.root.iterdir()) == []


async def test_missing_bubblewrap_is_a_readable_error(tmp_path: Path) -> None:
    sandbox = SandboxBackend(tmp_path, bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxError, match="bubblewrap not found"):
        await sandbox.start(make_spec(["true"]))


@pytest.mark.skipif(not AS_ROOT, reason="only a root server switches to uid 65534")
async def test_unreachable_state_directory_is_a_readable_error(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert not stat.S_IMODE(private.stat().st_mode) & 0o001
    sandbox = SandboxBackend(private / "sandboxes")
    with pytest.raises(SandboxError, match="not reachable by uid 65534"):
        await sandbox.start(make_spec(["true"]))


async def test_throughput_of_short_lines(backend: SandboxBackend) -> None:
    count = 200_000
    code = f"import sys\nsys.stdout.write(''.join(f'line {{i}}\\n' for i in range({count})))\n"
    started = time.monotonic()
    handle = await backend.start(python(code))
    received = 0
    last = b""
    async for line in backend.output(handle):
        received += 1
        last = line.data
    elapsed = time.monotonic() - started
    assert await backend.wait(handle) == 0
    await backend.remove(handle)
    print(f"\n{received} lines in {elapsed:.2f}s: {received / elapsed:,.0f} lines/s (with start)")
    assert received == count
    assert last == f"line {count - 1}".encode()


async def test_startup_latency(backend: SandboxBackend) -> None:
    async def first_line(spec: RunSpec) -> float:
        started = time.perf_counter()
        handle = await backend.start(spec)
        output = backend.output(handle)
        line = await anext(output)
        elapsed = time.perf_counter() - started
        assert line.data == b"x"
        await output.aclose()  # type: ignore[attr-defined]  # an async generator
        await backend.wait(handle)
        await backend.remove(handle)
        return elapsed * 1000

    async def direct() -> float:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            PYTHON, "-c", "print('x')", stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        assert await process.stdout.readline() == b"x\n"
        elapsed = time.perf_counter() - started
        await process.wait()
        return elapsed * 1000

    spec = make_spec([PYTHON, "-c", "print('x')"], {"main.py": b"print('x')\n"})
    await first_line(spec)  # warm up (preflight)
    sandboxed = [await first_line(spec) for _ in range(20)]
    plain = [await direct() for _ in range(20)]
    p50, plain_p50 = statistics.median(sandboxed), statistics.median(plain)
    p95 = statistics.quantiles(sandboxed, n=20)[-1]
    print(
        f"\nstart -> first line of print('x'): sandbox p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"python3 without sandbox p50 {plain_p50:.1f} ms (overhead {p50 - plain_p50:.1f} ms)"
    )
