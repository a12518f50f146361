"""Hostile programs against the bubblewrap sandbox: each test is the attacker's program, then
what the host, the server and the honest run next to it still see."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from neuronest.runtimes.backends import cgroups, slirp
from neuronest.runtimes.backends.base import OutputLine
from neuronest.runtimes.backends.sandbox import SandboxBackend, SandboxError
from tests.runtimes.backends.helpers import (
    AS_ROOT,
    BWRAP,
    PYTHON,
    MiB,
    free_port,
    probe_program,
    python,
    run,
    text,
)

pytestmark = pytest.mark.skipif(not os.path.exists(BWRAP), reason="bubblewrap is not installed")
SYSTEM_PYTHON_MINOR = int(
    subprocess.run(
        [PYTHON, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, check=True
    ).stdout
)
needs_slirp = pytest.mark.skipif(not slirp.available(), reason="slirp4netns is not installed")


async def make_backend(network: str = "none") -> SandboxBackend:
    root = Path(tempfile.mkdtemp(prefix="neuronest-sandbox-", dir="/tmp"))
    os.chmod(root, 0o711)
    backend = SandboxBackend(root, network=network)  # type: ignore[arg-type]
    await backend.check()
    return backend


async def close_backend(backend: SandboxBackend) -> None:
    for handle in await backend.managed():
        await backend.remove(handle)
    shutil.rmtree(backend.root, ignore_errors=True)


@pytest.fixture
async def backend() -> AsyncIterator[SandboxBackend]:
    sandbox = await make_backend()
    yield sandbox
    await close_backend(sandbox)


@pytest.fixture(params=["none", "outbound"])
async def policed(request: pytest.FixtureRequest) -> AsyncIterator[SandboxBackend]:
    if request.param == "outbound" and not slirp.available():
        pytest.skip("slirp4netns is not installed")
    sandbox = await make_backend(request.param)
    yield sandbox
    await close_backend(sandbox)


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable")


FILLER = """
import errno, json, os
result = {}
for path in ["/fill", "/etc/fill", "/usr/fill", "/dev/fill", "/src/fill", "/proc/fill"]:
    try:
        with open(path, "wb") as file:
            file.write(b"x")
        result[path] = "written"
    except OSError as error:
        result[path] = errno.errorcode.get(error.errno, str(error.errno))
chunk = b"x" * (1 << 20)
for area in ["/workspace", "/tmp", "/dev/shm"]:
    written = 0
    try:
        with open(area + "/fill", "wb") as file:
            for _ in range(4096):
                file.write(chunk)
                file.flush()
                written += 1
        outcome = "wrote all"
    except OSError as error:
        outcome = errno.errorcode.get(error.errno, str(error.errno))
    info = os.statvfs(area)
    result[area] = [outcome, written, info.f_blocks * info.f_frsize]
print(json.dumps(result))
"""


async def test_disk_filler_everywhere_hits_enospc_or_erofs(backend: SandboxBackend) -> None:
    before = mem_available()
    spec = python(FILLER, workspace_bytes=48 * MiB, tmp_bytes=32 * MiB, file_size_bytes=4096 * MiB)
    lines, exit_code = await run(backend, spec)
    after = mem_available()
    assert exit_code == 0, lines
    result = json.loads(text(lines, "stdout")[-1])
    for path in ["/fill", "/etc/fill", "/usr/fill", "/dev/fill", "/src/fill"]:
        assert result[path] in ("EROFS", "EACCES", "ENOENT"), (path, result)
    total = 0
    for area in ["/workspace", "/tmp", "/dev/shm"]:
        outcome, written, size = result[area]
        assert outcome == "ENOSPC", (area, result)
        total += size
        assert written * MiB <= size
    # The three writable mounts add up to the run's disk limit, nothing else grows.
    assert total == (48 + 32) * MiB
    # Loosely: the host did not lose gigabytes (other tests on this machine add noise).
    assert before - after < 512 * MiB
    # The honest run next to it still works.
    lines, exit_code = await run(backend, python("print('fine')"))
    assert (text(lines, "stdout"), exit_code) == (["fine"], 0)


@pytest.mark.parametrize(
    "name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONSTARTUP", "PYTHONPATH", "BASH_ENV", "ENV"]
)
async def test_hook_variables_are_refused_by_the_backend_too(
    backend: SandboxBackend, name: str
) -> None:
    with pytest.raises(SandboxError, match=name):
        await backend.start(python("print('never')", env={name: "/workspace/evil"}))
    assert await backend.managed() == {}


BOMB = """
import os, time
print("sitecustomize first", flush=True)
children = 0
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    except OSError:
        time.sleep(0.01)
print("forked", children, flush=True)
"""


async def test_fork_bomb_run_before_main_stays_under_the_pids_cap(backend: SandboxBackend) -> None:
    # HOME is the workspace: a project usercustomize.py in the user site directory is imported
    # by python before main.py. The limits already hold.
    site = f".local/lib/python3.{SYSTEM_PYTHON_MINOR}/site-packages/usercustomize.py"
    spec = python("print('main')", files={site: BOMB.encode()}, pids=24)
    handle = await backend.start(spec)
    lines: list[OutputLine] = []
    async for line in backend.output(handle):
        lines.append(line)
        if line.data.startswith(b"forked"):
            break
    figures = cgroups.usage(backend.cgroups, handle)
    await backend.stop(handle)
    await backend.remove(handle)
    out = text(lines, "stdout")
    assert out[0] == "sitecustomize first"
    forked = int(out[-1].split()[1])
    assert 0 < forked < 24
    if "pids" in backend.cgroups.bases:
        assert figures["pids"] <= 24 + cgroups.BWRAP_PROCESSES
    lines, exit_code = await run(backend, python("print('fine')", pids=24))
    assert (text(lines, "stdout"), exit_code) == (["fine"], 0)


MEMORY_SUM = """
import os, sys, time
pids = []
for i in range(4):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (300 << 20)
        print("child", i, "holds 300 MiB", flush=True)
        time.sleep(3)
        os._exit(0)
    pids.append(pid)
killed = 0
for pid in pids:
    _, status = os.waitpid(pid, 0)
    killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
print("killed", killed, flush=True)
"""


async def test_memory_adds_up_across_processes(backend: SandboxBackend) -> None:
    if "memory" not in backend.cgroups.bases:
        pytest.skip(f"no memory cgroup here: {backend.cgroups.describe()}")
    lines, exit_code = await run(backend, python(MEMORY_SUM, memory_bytes=512 * MiB))
    out = text(lines, "stdout")
    # Each process alone is under the limit; the four together are not.
    assert out[-1].startswith("killed"), lines
    assert int(out[-1].split()[1]) >= 1, lines
    lines, exit_code = await run(backend, python("print(len(b'x' * (300 << 20)))"))
    assert (text(lines, "stdout"), exit_code) == ([str(300 << 20)], 0)


def _serving(port: int) -> str:
    return (
        "import http.server, os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'served')\n"
        f"server = http.server.ThreadingHTTPServer(('0.0.0.0', {port}), H)\n"
        "print('serving', flush=True)\n"
        "server.serve_forever()\n"
    )


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    body = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return body


@needs_slirp
async def test_network_reaches_nothing_of_the_host(policed: SandboxBackend) -> None:
    connections = 0

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    # Stand-ins for the API, Redis, PostgreSQL: on the host's loopback and on all addresses.
    loopback = await asyncio.start_server(accept, "127.0.0.1", 0)
    everywhere = await asyncio.start_server(accept, "0.0.0.0", 0)
    abstract = f"\0neuronest-test-{uuid.uuid4().hex}"
    unix = await asyncio.start_unix_server(accept, abstract)
    port = loopback.sockets[0].getsockname()[1]
    wide = everywhere.sockets[0].getsockname()[1]
    # Another tenant's runtime, serving on its published port.
    other_port = free_port()
    other = await policed.start(python(_serving(other_port), port=other_port))
    other_output = policed.output(other)
    assert (await anext(other_output)).data == b"serving"
    assert (await _get(other_port)).endswith(b"served")
    targets: list[tuple[str, object]] = [
        ("api", ("127.0.0.1", port)),
        ("other runtime", ("127.0.0.1", other_port)),
        ("abstract unix", abstract),
        ("host via gateway", (slirp.GATEWAY, port)),
        ("host via gateway, all addresses", (slirp.GATEWAY, wide)),
        ("private 10/8", ("10.1.2.3", 80)),
        ("private 172.16/12", ("172.16.0.1", 80)),
        ("private 192.168/16", ("192.168.0.1", 80)),
        ("link-local metadata", ("169.254.169.254", 80)),
    ]
    targets += [(f"host address {a}", (a, wide)) for a in slirp.host_addresses()]
    async with loopback, everywhere, unix:
        lines, exit_code = await run(policed, python(probe_program(targets)))
    assert exit_code == 0, lines
    results = json.loads(text(lines, "stdout")[-1])
    print(f"\nnetwork {policed.network}: {results}")
    assert all(outcome != "connected" for outcome in results.values()), results
    assert all(outcome != "TimeoutError" for outcome in results.values()), results
    assert connections == 0
    # The honest neighbour is still served at its url.
    assert (await _get(other_port)).endswith(b"served")
    await policed.remove(other)


async def test_without_a_port_there_is_no_network_at_all(backend: SandboxBackend) -> None:
    code = (
        "import json\n"
        "lines = open('/proc/net/dev').read().splitlines()[2:]\n"
        "print(json.dumps(sorted(line.split(':')[0].strip() for line in lines)))\n"
    )
    lines, exit_code = await run(backend, python(code))
    assert exit_code == 0, lines
    assert json.loads(text(lines, "stdout")[-1]) == ["lo"]


@needs_slirp
async def test_published_port_of_a_stopped_run_is_closed(backend: SandboxBackend) -> None:
    port = free_port()
    handle = await backend.start(python(_serving(port), port=port))
    output = backend.output(handle)
    assert (await anext(output)).data == b"serving"
    assert (await _get(port)).endswith(b"served")
    await backend.stop(handle)
    await backend.remove(handle)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    # The port can be listened on again: nothing of the run holds it (SO_REUSEADDR: the
    # test's own connection above may linger in TIME_WAIT).
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


@pytest.mark.skipif(not AS_ROOT, reason="cgroups need root")
async def test_cgroups_are_removed_after_the_run(backend: SandboxBackend) -> None:
    if not backend.cgroups.bases:
        pytest.skip(backend.cgroups.describe())
    handle = await backend.start(python("print('x')"))
    groups = [base / handle for base in backend.cgroups.bases.values()]
    assert all(group.is_dir() for group in groups)
    _ = [line async for line in backend.output(handle)]
    await backend.wait(handle)
    await backend.remove(handle)
    assert not any(group.exists() for group in groups)
