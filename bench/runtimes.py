"""Runtimes: start-to-first-log-line latency per backend, next to the same program started
directly with aiodocker and with bwrap, and log throughput for 200,000 lines.

One stack per backend (an API process and an arq worker on PostgreSQL + Redis). A websocket
subscriber to `runtimeLogs` is in place before the start request; latency runs from the request
to the first stdout line reaching the subscriber.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker

from bench.stack import Client, Latency, Stack, log
from neuronest.runtimes.backends.base import RunSpec
from neuronest.runtimes.backends.sandbox import SandboxBackend
from neuronest.runtimes.execution import free_port

IMAGE = "neuronest/runtime-python:latest"
FIRST_LINE = "print('x', flush=True)\n"
MANY_LINES = 200_000
FLOOD = f"import sys\nfor i in range({MANY_LINES}):\n    sys.stdout.write(f'{{i}}\\n')\n"


@dataclass(frozen=True)
class Throughput:
    backend: str
    lines: int
    seconds: float
    stored: int
    rss_before_mb: float
    rss_after_mb: float


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RuntimeClient(Client):
    async def runtime(self, code: str) -> str:
        project = (await self.http.post("/api/projects", json={"name": "bench"})).json()
        await self.http.put(f"/api/projects/{project['id']}/files/main.py", json={"content": code})
        reply = await self.http.post(
            "/api/runtimes",
            json={"project_id": project["id"], "language": "python", "entry_point": "main.py"},
        )
        reply.raise_for_status()
        return str(reply.json()["id"])

    @asynccontextmanager
    async def subscribe(self, runtime_id: str) -> AsyncIterator[Any]:
        async with self.websocket() as socket:
            query = (
                f'subscription {{ runtimeLogs(runtimeId: "{runtime_id}") {{ seq type message }} }}'
            )
            await socket.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
            )
            yield socket

    async def start(self, runtime_id: str) -> None:
        (await self.http.post(f"/api/runtimes/{runtime_id}/start")).raise_for_status()


async def lines_of(socket: Any) -> AsyncIterator[dict[str, Any]]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 120))
        if message["type"] != "next":
            raise RuntimeError(f"subscription ended: {message}")
        for line in message["payload"]["data"]["runtimeLogs"]:
            yield line


async def api_latency(client: RuntimeClient, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        runtime_id = await client.runtime(FIRST_LINE)
        async with client.subscribe(runtime_id) as socket:
            began = time.perf_counter()
            await client.start(runtime_id)
            async for line in lines_of(socket):
                if line["type"] == "stdout":
                    samples.append(time.perf_counter() - began)
                    break
    return samples


async def throughput(client: RuntimeClient, backend: str) -> Throughput:
    runtime_id = await client.runtime(FLOOD)
    before = rss_mb(client.stack.api_pid)
    delivered = 0
    async with client.subscribe(runtime_id) as socket:
        began = time.perf_counter()
        await client.start(runtime_id)
        async for line in lines_of(socket):
            if line["type"] == "stdout":
                delivered += 1
                if delivered == MANY_LINES:
                    break
        seconds = time.perf_counter() - began
    after = rss_mb(client.stack.api_pid)
    stored = await client.http.get(f"/api/runtimes/{runtime_id}/logs", params={"limit": 1000})
    rows = [row for row in stored.json() if row["type"] == "stdout"]
    return Throughput(
        backend, delivered, seconds, int(rows[-1]["message"]) + 1 if rows else 0, before, after
    )


async def docker_direct(runs: int) -> list[float]:
    samples = []
    async with aiodocker.Docker() as docker:
        for _ in range(runs):
            began = time.perf_counter()
            container = await docker.containers.create(
                config={
                    "Image": IMAGE,
                    "Cmd": ["python3", "-u", "-c", FIRST_LINE],
                    "HostConfig": {"NetworkMode": "none"},
                }
            )
            await container.start()
            async for _ in container.log(stdout=True, follow=True):
                samples.append(time.perf_counter() - began)
                break
            await container.delete(force=True)
    return samples


async def bwrap_direct(runs: int) -> list[float]:
    """The floor: raw bwrap with the sandbox backend's isolation flags (own user, pid, ipc, uts
    and network namespaces, read-only root and /dev, size-limited tmpfs), no limits, no cgroups,
    no slirp4netns."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            "bwrap", "--unshare-user", "--uid", "1000", "--gid", "1000",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
            "--new-session", "--die-with-parent",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(256 << 20), "--tmpfs", "/workspace",
            "--size", str(48 << 20), "--tmpfs", "/tmp",
            "--size", str(16 << 20), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/workspace",
            "/usr/bin/python3", "-u", "-c", FIRST_LINE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        await process.stdout.readline()
        samples.append(time.perf_counter() - began)
        await process.wait()
    return samples


async def sandbox_backend_direct(runs: int, publish: bool) -> list[float]:
    """The sandbox backend in this process (no API, no worker): with a published port, the
    run also gets slirp4netns and its routes."""
    root = Path(tempfile.mkdtemp(prefix="bench-sandbox-", dir="/tmp"))
    root.chmod(0o711)
    backend = SandboxBackend(root)
    samples = []
    try:
        for _ in range(runs + 1):
            port = free_port() if publish else None
            spec = RunSpec(
                runtime_id="bench", user_id="bench", run=1, language="python", image="",
                command=["/usr/bin/python3", "-u", "-c", FIRST_LINE], files={},
                env={}, port=port, network="none",
            )  # fmt: skip
            began = time.perf_counter()
            handle = await backend.start(spec)
            output = backend.output(handle)
            await anext(output)
            samples.append(time.perf_counter() - began)
            await output.aclose()  # type: ignore[attr-defined]  # an async generator
            await backend.stop(handle)
            await backend.remove(handle)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return samples[1:]  # the first run does the preflight


async def bench_backend(backend: str, data_dir: Path, runs: int) -> tuple[Latency, Throughput]:
    stack = Stack(backend, data_dir)
    log(f"runtimes: starting a {backend} stack")
    stack.start()
    try:
        client = RuntimeClient(stack)
        await client.login()
        await api_latency(client, 2)  # warm-up: images, imports, connections
        latency = Latency(f"{backend} via the API", await api_latency(client, runs))
        log(f"runtimes: {backend} latency p50 {latency.p50:.0f} ms; flooding {MANY_LINES} lines")
        flood = await throughput(client, backend)
        await client.http.aclose()
    finally:
        stack.stop()
    return latency, flood


def table(rows: list[tuple[Latency, Latency, str]], floods: list[Throughput]) -> str:
    lines = [
        "| start to first log line | p50 ms | p95 ms | direct p50 ms | ratio | aim |",
        "|---|---:|---:|---:|---|---|",
    ]
    for api, direct, aim in rows:
        ratio = api.p50 / direct.p50 if direct.p50 else 0
        lines.append(
            f"| {api.label} | {api.p50:.0f} | {api.p95:.0f} | {direct.p50:.0f} ({direct.label}) "
            f"| {ratio:.2f}x | {aim}, ≤ 1.3x |"
        )
    lines += [
        "",
        "| log throughput | lines delivered | stored | lines/s | API RSS before → after MB | aim |",
        "|---|---:|---:|---:|---|---|",
    ]
    for flood in floods:
        lines.append(
            f"| {flood.backend}, {MANY_LINES:,} lines | {flood.lines:,} | {flood.stored:,} "
            f"| {flood.lines / flood.seconds:,.0f} | {flood.rss_before_mb:.0f} → "
            f"{flood.rss_after_mb:.0f} | ≥ 50,000 lines/s |"
        )
    return "\n".join(lines)


async def run(data_dir: Path, runs: int, docker: bool) -> str:
    rows: list[tuple[Latency, Latency, str]] = []
    floods: list[Throughput] = []
    sandbox, sandbox_flood = await bench_backend("sandbox", data_dir, runs)
    floor = Latency("bwrap, same flags", await bwrap_direct(runs))
    rows.append((sandbox, floor, "p50 < 100 ms"))
    for publish, label in ((False, "own netns"), (True, "own netns + published port")):
        direct = Latency(f"sandbox backend, {label}", await sandbox_backend_direct(runs, publish))
        rows.append((direct, floor, "p50 < 100 ms"))
    floods.append(sandbox_flood)
    if docker:
        api, flood = await bench_backend("docker", data_dir, runs)
        rows.append((api, Latency("aiodocker", await docker_direct(runs)), "p50 < 400 ms"))
        floods.append(flood)
    return table(rows, floods)
