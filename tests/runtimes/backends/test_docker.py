"""The Docker backend against a real Docker daemon and the offline-built python runtime image,
under both OCI runtimes (runc and gVisor's runsc).

Containers use network `none` or `host` only (no bridge here); every container a test starts is
force-removed with its volume when the test ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import struct
import subprocess
import time
import uuid
from dataclasses import replace

import pytest

from neuronest.runtimes.backends.base import Limits, OutputLine, RunSpec
from neuronest.runtimes.backends.docker import (
    LABEL_RUNTIME,
    PARTIAL_CHUNK,
    DockerBackend,
    DockerBackendError,
    _Cursor,
    _parse_log_stream,
    container_config,
    tmpfs_sizes,
    workspace_archive,
)
from tests.harness import free_port
from tests.runtimes.backends import docker_support
from tests.runtimes.backends.docker_support import (
    IMAGE,
    Runs,
    collect,
    socket_listening,
    text,
)

runs = docker_support.runs


async def test_streams_order_and_exit_code(runs: Runs) -> None:
    code = (
        "import sys, time\n"
        "for i in range(3):\n"
        "    print(f'out {i}', flush=True); time.sleep(0.02)\n"
        "    print(f'err {i}', file=sys.stderr, flush=True); time.sleep(0.02)\n"
        "print()\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.exit(3)\n"
    )
    _, lines, exit_code = await runs.run(code)
    assert text(lines) == [
        ("stdout", "out 0"),
        ("stderr", "err 0"),
        ("stdout", "out 1"),
        ("stderr", "err 1"),
        ("stdout", "out 2"),
        ("stderr", "err 2"),
        ("stdout", ""),
        ("stdout", "no newline at the end"),
    ]
    assert not any(line.partial for line in lines)
    cursors = [line.cursor for line in lines]
    assert None not in cursors and len(set(cursors)) == len(cursors)
    assert exit_code == 3


async def test_environment_user_and_filesystem(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"server-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("NEURONEST_TEST_SERVER_MARKER", marker)
    port = free_port()
    code = (
        "import json, os, socket\n"
        "def attempt(action):\n"
        "    try:\n"
        "        action()\n"
        "        return 'ok'\n"
        "    except OSError as exc:\n"
        "        return exc.strerror\n"
        "def write(path):\n"
        "    return lambda: open(path, 'w').write('x')\n"
        "def connect():\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "print(json.dumps({\n"
        "    'env': dict(os.environ), 'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(),\n"
        "    'etc': attempt(write('/etc/x')), 'root': attempt(write('/x')),\n"
        "    'var_tmp': attempt(write('/var/tmp/x')),\n"
        "    'app': attempt(write('/workspace/new.txt')), 'tmp': attempt(write('/tmp/x')),\n"
        "    'src': attempt(write('/src/app/new.txt')),\n"
        "    'network': attempt(connect),\n"
        "}))\n"
    )
    with socket_listening(port):
        _, lines, exit_code = await runs.run(code, env={"GREETING": "hello", "EMPTY": ""})
    assert exit_code == 0, text(lines)
    report = json.loads(lines[0].data)
    env = report["env"]
    assert env["GREETING"] == "hello" and env["EMPTY"] == ""
    assert "NEURONEST_TEST_SERVER_MARKER" not in env
    assert marker not in lines[0].data.decode()
    assert (report["uid"], report["gid"]) == (10001, 10001)
    assert report["cwd"] == "/workspace"
    # gVisor checks the permission before the read-only flag: the run user gets EACCES there.
    refused = {"runc": {"Read-only file system"}}.get(
        runs.runtime, {"Read-only file system", "Permission denied"}
    )
    assert report["etc"] in refused and report["root"] in refused
    assert report["var_tmp"] == "Read-only file system"  # world-writable, on the read-only root
    assert report["app"] == "ok" and report["tmp"] == "ok"
    assert report["src"] == "Permission denied"  # the pristine copy of the files stays as is
    assert report["network"] != "ok"  # network none: the host's loopback is out of reach


async def test_files_in_subdirectories(runs: Runs) -> None:
    blob = bytes(range(256)) * 64
    files = {
        "pkg/__init__.py": b"",
        "pkg/sub/values.py": b"VALUE = 42\n",
        "a/b/c/data.txt": "d\u00e9j\u00e0 vu\n".encode(),
        "bin/blob.dat": blob,
    }
    code = (
        "import hashlib, os\n"
        "from pkg.sub.values import VALUE\n"
        "print(VALUE)\n"
        "print(open('a/b/c/data.txt', encoding='utf-8').read(), end='')\n"
        "print(hashlib.sha256(open('bin/blob.dat', 'rb').read()).hexdigest())\n"
        "st = os.stat('a/b/c'); print(st.st_uid, oct(st.st_mode & 0o777))\n"
    )
    _, lines, exit_code = await runs.run(code, files=files)
    assert exit_code == 0, text(lines)
    assert [line.data.decode() for line in lines] == [
        "42",
        "d\u00e9j\u00e0 vu",
        hashlib.sha256(blob).hexdigest(),
        "10001 0o755",
    ]


RESUME_PROGRAM = (
    "import sys, time\n"
    "for i in range(1000):\n"
    "    stream = sys.stderr if i % 7 == 0 else sys.stdout\n"
    "    if i % 100 == 50:\n"
    "        stream.write(f'long {i} ' + 'x' * 40000 + '\\n')  # Docker splits it: one timestamp\n"
    "    else:\n"
    "        stream.write(f'line {i}\\n')\n"
    "    if i % 250 == 0:\n"
    "        stream.flush(); time.sleep(0.2)\n"
)


async def test_resume_after_cursor(runs: Runs) -> None:
    backend = runs.backend
    handle = await runs.start(runs.spec(RESUME_PROGRAM, command=["python3", "main.py"]))
    # Live: read part of the output while the program still runs, then resume from the cursor.
    head = await asyncio.wait_for(collect(backend.output(handle), limit=300), 60)
    assert head[-1].cursor is not None
    tail = await asyncio.wait_for(collect(backend.output(handle, after=head[-1].cursor)), 60)
    assert await backend.wait(handle) == 0

    everything = await asyncio.wait_for(collect(backend.output(handle)), 60)
    assert len(everything) == 1000 + 10 * 2  # ten 40 kB lines arrive in three pieces each
    assert head + tail == everything
    numbers = [int(line.data.split()[1]) for line in everything if line.data[:1] == b"l"]
    assert sorted(numbers) == list(range(1000))
    pieces = [line for line in everything if line.partial]
    assert len(pieces) == 20
    cursors = [line.cursor for line in everything]
    assert len(set(cursors)) == len(cursors)
    assert any(not cursor.endswith("#1") for cursor in cursors if cursor)  # shared timestamps

    # After the exit: resume from many places, including inside a split line.
    cuts = [1, 2, 51, 52, 53, 250, 251, 499, 777, len(everything) - 1, len(everything)]
    for cut in cuts:
        cursor = everything[cut - 1].cursor
        rest = await asyncio.wait_for(collect(backend.output(handle, after=cursor)), 60)
        assert rest == everything[cut:], f"resume after line {cut}"


async def test_memory_hog_is_killed(runs: Runs) -> None:
    code = (
        "chunks = []\n"
        "for i in range(200):\n"
        "    chunks.append(bytearray(b'x' * (10 * 1024 * 1024)))  # 2 GB in the end\n"
        "print('allocated 2 GB')\n"
    )
    limits = Limits(memory_bytes=128 * 1024 * 1024, pids=32)
    _, lines, exit_code = await runs.run(code, limits=limits)
    assert exit_code == 137
    assert ("stdout", "allocated 2 GB") not in text(lines)


async def test_fork_bomb_is_contained(runs: Runs) -> None:
    code = (
        "import os, time\n"
        "parent = os.getpid()\n"
        "deadline = time.time() + 3\n"
        "failures = 0\n"
        "while time.time() < deadline:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        failures += 1\n"
        "        time.sleep(0.01)\n"
        "if os.getpid() == parent:\n"
        "    print('failed forks', failures > 0, flush=True)\n"
        "    time.sleep(1)\n"
        "os._exit(0)\n"
    )
    limits = Limits(memory_bytes=256 * 1024 * 1024, pids=32, cpus=0.5)
    handle = await runs.start(runs.spec(code, limits=limits))
    reader = asyncio.ensure_future(collect(runs.backend.output(handle)))
    try:
        await asyncio.wait_for(runs.backend.wait(handle), 30)
    except TimeoutError:
        await runs.backend.stop(handle)
    lines = await asyncio.wait_for(reader, 30)
    assert ("stdout", "failed forks True") in text(lines)
    # The test process (and the host) stay healthy: forking and the event loop still work.
    process = await asyncio.create_subprocess_exec("true")
    assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_stop_ends_an_endless_loop(runs: Runs) -> None:
    handle = await runs.start(runs.spec("print('looping', flush=True)\nwhile True: pass\n"))
    first = await asyncio.wait_for(collect(runs.backend.output(handle), limit=1), 30)
    assert text(first) == [("stdout", "looping")]
    began = time.monotonic()
    await runs.backend.stop(handle)
    stopped_after = time.monotonic() - began
    exit_code = await asyncio.wait_for(runs.backend.wait(handle), 10)
    assert stopped_after < 5
    assert exit_code in (137, 143)
    await runs.backend.stop(handle)  # stopping an exited run is a no-op
    assert await runs.backend.exists(handle)


async def test_remove_managed_and_exists(runs: Runs) -> None:
    backend = runs.backend
    spec = runs.spec("import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    handle = await runs.start(spec)
    assert await backend.exists(handle)
    managed = await backend.managed()
    assert managed.get(handle) == spec.runtime_id
    other = DockerBackend(instance="another-installation")
    try:
        assert handle not in await other.managed()
    finally:
        await other.close()
    volumes = _volumes_of(handle)
    assert len(volumes) == 1 and _volume_exists(volumes[0])

    await backend.remove(handle)
    assert not await backend.exists(handle)
    assert handle not in await backend.managed()
    assert not _volume_exists(volumes[0])
    # Idempotent, and harmless on an unknown handle.
    await backend.remove(handle)
    await backend.stop(handle)
    assert not await backend.exists("0" * 64)


def _volumes_of(handle: str) -> list[str]:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .Mounts}}", handle],
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    return [mount["Name"] for mount in json.loads(out) if mount["Type"] == "volume"]


def _volume_exists(name: str) -> bool:
    result = subprocess.run(["docker", "volume", "inspect", name], capture_output=True, timeout=20)
    return result.returncode == 0


async def test_throughput_200k_lines(runs: Runs) -> None:
    count = 200_000
    code = f"import sys\nw = sys.stdout.write\nfor i in range({count}):\n    w(f'line {{i}}\\n')\n"
    handle = await runs.start(runs.spec(code, command=["python3", "main.py"]))
    received = 0
    expected = 0
    first_at = None
    async for line in runs.backend.output(handle):
        if first_at is None:
            first_at = time.perf_counter()
        assert line.data == b"line %d" % expected
        expected += 1
        received += 1
    elapsed = time.perf_counter() - (first_at or time.perf_counter())
    assert received == count
    assert await runs.backend.wait(handle) == 0
    print(
        f"\ndocker backend log throughput: {received} lines in {elapsed:.2f}s = "
        f"{received / max(elapsed, 1e-9):,.0f} lines/s"
    )


async def test_missing_image_and_unreachable_daemon(runs: Runs) -> None:
    spec = replace(runs.spec("print(1)"), image="neuronest/no-such-image:latest")
    with pytest.raises(DockerBackendError, match="is not available on the Docker host"):
        await runs.backend.start(spec)
    down = DockerBackend(url=f"unix:///tmp/neuronest-no-docker-{uuid.uuid4().hex}.sock")
    try:
        with pytest.raises(DockerBackendError, match="not reachable"):
            await down.start(runs.spec("print(1)"))
        with pytest.raises(DockerBackendError, match="not reachable"):
            await down.managed()
    finally:
        await down.close()


def test_container_config_and_archive() -> None:
    spec = RunSpec(
        runtime_id="r",
        user_id="u",
        run=2,
        language="python",
        image=IMAGE,
        command=["python3", "main.py"],
        files={},
        env={"A": "1"},
        port=8123,
        network="bridge",
        limits=Limits(memory_bytes=64 * 1024 * 1024, cpus=0.5, pids=16),
    )
    config = container_config(spec)
    host = config["HostConfig"]
    assert config["Labels"] == {
        LABEL_RUNTIME: "r",
        "neuronest.user": "u",
        "neuronest.run": "2",
        "neuronest.instance": "default",
    }
    assert (
        config["User"] == "10001:10001" and "A=1" in config["Env"] and "PORT=8123" in config["Env"]
    )
    assert not any(item.startswith("NEURONEST_") for item in config["Env"])
    assert host["PortBindings"] == {"8123/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8123"}]}
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
    assert host["Memory"] == host["MemorySwap"] == 64 * 1024 * 1024
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 16
    assert container_config(replace(spec, network="host"))["HostConfig"].get("PortBindings") is None
    # The writable areas add up to the run's workspace and tmp allowances, no more.
    tmp, shm = tmpfs_sizes(spec.limits)
    assert host["ShmSize"] == shm and f"size={tmp}" in host["Tmpfs"]["/tmp"]
    assert tmp + shm == spec.limits.tmp_bytes
    assert host["Runtime"] == "runc"
    gvisor = DockerBackend(runtime="runsc", runsc_runtimes={"bridge": "gvisor-bridge"})
    assert [gvisor.runtime_name(net) for net in ("none", "host", "bridge")] == [
        "runsc",
        "runsc-host",
        "gvisor-bridge",
    ]
    assert DockerBackend().runtime_name("host") == "runc"
    with pytest.raises(ValueError, match="runc or runsc"):
        DockerBackend(runtime="kata")
    for bad in ("../x", "/etc/passwd", "a/../../x", "", "a//b/./c"):
        with pytest.raises(ValueError):
            workspace_archive({bad: b""})


class _Chunks:
    """Stands in for aiohttp's StreamReader: hands out the bytes in the given piece sizes."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data = data
        self.sizes = sizes or [len(data) or 1]
        self.position = 0
        self.reads = 0

    async def read(self, n: int) -> bytes:
        size = min(n, self.sizes[self.reads % len(self.sizes)])
        self.reads += 1
        piece = self.data[self.position : self.position + size]
        self.position += len(piece)
        return piece


def _stamp(nanos: int) -> str:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def _frame(kind: int, nanos: int, payload: bytes) -> bytes:
    body = _stamp(nanos).encode() + b" " + payload
    return struct.pack(">BxxxL", kind, len(body)) + body


async def test_log_frames_split_anywhere_and_cursor_resume() -> None:
    base = 1_795_000_000 * 1_000_000_000
    entries = [  # (stream, nanoseconds, payload) in log order, as Docker may write them
        (1, base + 10, b"first\n"),
        (1, base + 20, b"same stamp a\n"),
        (1, base + 20, b"same stamp b\n"),
        (2, base + 15, b"stderr written late\n"),  # out of timestamp order across streams
        (1, base + 30, b"y" * PARTIAL_CHUNK),  # an over-long line cut by Docker
        (1, base + 30, b"y" * PARTIAL_CHUNK),
        (1, base + 30, b"end of long line\n"),
        (2, base + 25, b"another late one\n"),
        (1, base + 30, b"\n"),
        (1, base + 2_500_000_000, b"later\n"),
        (2, base + 2_500_000_000, b"no newline"),
    ]
    data = b"".join(_frame(kind, nanos, payload) for kind, nanos, payload in entries)

    async def parse(raw: bytes, sizes: list[int], after: str | None = None) -> list[OutputLine]:
        cursor = _Cursor.parse(after) if after else None
        return [line async for line in _parse_log_stream(_Chunks(raw, sizes), cursor)]  # type: ignore[arg-type]

    whole = await parse(data, [])
    assert [(line.stream, line.data[:20], line.partial) for line in whole] == [
        ("stdout", b"first", False),
        ("stdout", b"same stamp a", False),
        ("stdout", b"same stamp b", False),
        ("stderr", b"stderr written late", False),
        ("stdout", b"y" * 20, True),
        ("stdout", b"y" * 20, True),
        ("stdout", b"end of long line", False),
        ("stderr", b"another late one", False),
        ("stdout", b"", False),
        ("stdout", b"later", False),
        ("stderr", b"no newline", False),
    ]
    cursors = [line.cursor for line in whole]
    assert len(set(cursors)) == len(cursors)
    rng = random.Random(7)
    for sizes in ([1], [3], [7, 1, 30], [rng.randint(1, 40_000) for _ in range(50)]):
        assert await parse(data, sizes) == whole

    # Resume: Docker answers `since` with the entries at or after it, in log order.
    for cut in range(len(whole) + 1):
        if cut == 0:
            assert await parse(data, []) == whole
            continue
        after = whole[cut - 1].cursor
        assert after is not None
        seconds, nanos = _Cursor.parse(after).since().split(".")
        since = int(seconds) * 1_000_000_000 + int(nanos)
        served = b"".join(_frame(k, n, p) for k, n, p in entries if n >= since)
        assert await parse(served, [5], after) == whole[cut:], f"resume after line {cut}"
    with pytest.raises(ValueError):
        _Cursor.parse("not a cursor")
