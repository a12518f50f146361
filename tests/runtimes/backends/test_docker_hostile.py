"""Hostile programs in Docker containers, under runc and under gVisor (runsc).

Each test is the program an attacker would upload, run through the backend directly (so nothing
here relies on the API refusing it first), then what a user would notice: where the program was
stopped, that the host and the test process are untouched, and that the honest run next to it
still works. Network traffic stays on loopback: `none` is tested by what it refuses.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from neuronest.runtimes.backends.base import Limits
from neuronest.runtimes.backends.docker import tmpfs_sizes
from tests.harness import free_port
from tests.runtimes.backends import docker_support
from tests.runtimes.backends.docker_support import Runs, collect, socket_listening, text

runs = docker_support.runs

MIB = 1024 * 1024

FILLER = """
import errno, json, os
def fill(path, limit_mb):
    written = 0
    try:
        with open(path, 'wb') as out:
            for _ in range(limit_mb):
                out.write(b'x' * (1024 * 1024))
                out.flush()
                written += 1
        return [written, 'no error']
    except OSError as exc:
        return [written, errno.errorcode[exc.errno]]
report = {}
for name, path in [('root', '/var/tmp/fill'), ('tmp', '/tmp/fill'), ('shm', '/dev/shm/fill'),
                   ('workspace', '/workspace/fill')]:
    report[name] = fill(path, 200)  # all four kept: the bound holds for the sum
os.unlink('/tmp/fill')
with open('/tmp/small.txt', 'w') as out:
    out.write('honest work')
report['after'] = open('/tmp/small.txt').read()
print(json.dumps(report), flush=True)
"""


async def test_disk_fillers_end_at_their_bounds(runs: Runs) -> None:
    limits = Limits(memory_bytes=256 * MIB, pids=32, workspace_bytes=24 * MIB, tmp_bytes=16 * MIB)
    _, lines, exit_code = await runs.run(FILLER, limits=limits)
    assert exit_code == 0, text(lines)
    report = json.loads(lines[-1].data)
    tmp_bytes, shm_bytes = tmpfs_sizes(limits)
    assert report["root"] == [0, "EROFS"]  # the root filesystem is read-only
    assert report["tmp"][1] == "ENOSPC" and report["tmp"][0] <= tmp_bytes // MIB
    assert report["shm"][1] == "ENOSPC" and report["shm"][0] <= shm_bytes // MIB
    assert report["workspace"][1] == "ENOSPC" and report["workspace"][0] <= 24
    written = sum(report[name][0] for name in ("tmp", "shm", "workspace"))
    assert written <= (limits.workspace_bytes + limits.tmp_bytes) // MIB
    assert report["after"] == "honest work"  # space freed is usable again


MEMORY = """
import os, signal, sys, time
size = int(sys.argv[1]) * 1024 * 1024
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(size)
        for i in range(0, size, 4096):
            block[i] = 1  # touch every page
        time.sleep(2)  # hold it while the others allocate
        os._exit(0)
    children.append(pid)
statuses = []
for pid in children:
    _, status = os.waitpid(pid, 0)
    statuses.append(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
print('statuses', statuses, flush=True)
if statuses == [0, 0, 0, 0]:
    print('all held', flush=True)
"""


async def test_memory_of_several_processes_adds_up(runs: Runs) -> None:
    limits = Limits(memory_bytes=200 * MIB, pids=32)
    command = ["python3", "-u", "main.py"]
    # Four processes of 80 MiB each: every one is under the limit, their sum is not.
    _, lines, exit_code = await runs.run(MEMORY, limits=limits, command=[*command, "80"])
    assert ("stdout", "all held") not in text(lines)
    if runs.runtime == "runc":
        # The cgroup's OOM killer takes one of the children; the parent sees it.
        assert exit_code == 137 or any("-9" in line.data.decode() for line in lines), text(lines)
    else:
        # gVisor: the sandbox as a whole is over its cgroup limit and ends.
        assert exit_code != 0, text(lines)
    # The honest version, four processes of 20 MiB, runs to its end.
    _, lines, exit_code = await runs.run(MEMORY, limits=limits, command=[*command, "20"])
    assert exit_code == 0 and ("stdout", "all held") in text(lines), text(lines)


PROBE = """
import json, socket, sys
def attempt(family, address):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(address)
        return 'connected'
    except OSError as exc:
        return type(exc).__name__
api, other, abstract = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(json.dumps({
    'api': attempt(socket.AF_INET, ('127.0.0.1', api)),
    'other_runtime': attempt(socket.AF_INET, ('127.0.0.1', other)),
    'abstract': attempt(socket.AF_UNIX, '\\0' + abstract),
    'own_loopback': 'ok',
}), flush=True)
"""

SERVER = """
import http.server, os
port = int(os.environ['PORT'])
print('serving on', port, flush=True)
http.server.ThreadingHTTPServer(
    ('127.0.0.1', port), http.server.SimpleHTTPRequestHandler
).serve_forever()
"""


async def _get_when_up(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 20
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def test_network_none_reaches_nothing_of_the_host(runs: Runs) -> None:
    # Another tenant's runtime serving on the host network, reachable at its url (honest).
    other_port = free_port()
    server = runs.spec(
        SERVER,
        files={"index.html": b"tenant b\n"},
        env={"PORT": str(other_port)},
        network="host",
        port=other_port,
    )
    other = await runs.start(server)
    first = await asyncio.wait_for(collect(runs.backend.output(other), limit=1), 60)
    assert text(first) == [("stdout", f"serving on {other_port}")]
    response = await _get_when_up(f"http://127.0.0.1:{other_port}/index.html")
    assert response.status_code == 200 and response.text == "tenant b\n"

    api_port = free_port()  # stands for the API's own port on the host's loopback
    abstract = f"neuronest-test-{uuid.uuid4().hex}"
    with (
        socket_listening(api_port) as api,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
    ):
        unix.bind("\0" + abstract)
        unix.listen()
        command = ["python3", "-u", "main.py", str(api_port), str(other_port), abstract]
        _, lines, exit_code = await runs.run(PROBE, network="none", command=command)
        assert exit_code == 0, text(lines)
        report = json.loads(lines[-1].data)
        assert report["api"] == "ConnectionRefusedError"
        assert report["other_runtime"] == "ConnectionRefusedError"
        assert report["abstract"] == "ConnectionRefusedError"
        # Nothing reached either listener: after the program ended, no connection is queued.
        for listener in (api, unix):
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()
    # The other tenant still serves.
    response = await _get_when_up(f"http://127.0.0.1:{other_port}/index.html")
    assert response.status_code == 200
    await runs.backend.stop(other)


BOMB_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void bomb(void) {
    if (getenv("BOMB_DONE") || access("/workspace/main.py", R_OK) != 0) return;
    setenv("BOMB_DONE", "1", 1);
    int forked = 0, refused = 0;
    for (int i = 0; i < 300; i++) {
        pid_t pid = fork();
        if (pid == 0) { sleep(3); _exit(0); }
        if (pid < 0) refused++; else forked++;
    }
    fprintf(stderr, "preload forked %d refused %d\n", forked, refused);
}
"""


@pytest.fixture(scope="module")
def bomb_library(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the preloaded library (gcc)")
    directory: Path = tmp_path_factory.mktemp("preload")
    (directory / "bomb.c").write_text(BOMB_C)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", "bomb.so", "bomb.c"],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return (directory / "bomb.so").read_bytes()


async def test_preloaded_process_bomb_stays_under_the_run_pids(
    runs: Runs, bomb_library: bytes
) -> None:
    limits = Limits(memory_bytes=256 * MIB, pids=32)
    _, lines, exit_code = await runs.run(
        "print('main ran', flush=True)\n",
        files={"bomb.so": bomb_library},
        env={"LD_PRELOAD": "/workspace/bomb.so"},
        limits=limits,
    )
    reports = [line.data.decode() for line in lines if line.data.startswith(b"preload forked")]
    assert len(reports) == 1, text(lines)  # the library did run before the program
    _, forked, _, refused = reports[0].split()[1:]
    assert int(forked) < limits.pids and int(refused) > 0
    assert ("stdout", "main ran") in text(lines) and exit_code == 0
    # The host is fine: the test process can still fork.
    process = await asyncio.create_subprocess_exec("true")
    assert await asyncio.wait_for(process.wait(), 10) == 0
