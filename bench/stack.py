"""What the stack benchmarks share: an API process and an arq worker on PostgreSQL + Redis
(`Stack`), a registered user with an HTTP client and graphql-transport-ws sockets (`Client`), and
latency percentiles."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.server import HOST, NEURONEST, free_port

# Bare arq's poll delay in the floors: tuned for latency (arq's own default is 0.5 s; NeuroNest's
# workers are woken at each enqueue and poll only as a fallback).
FLOOR_POLL_S = 0.02


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


@dataclass(frozen=True)
class Latency:
    label: str
    samples: list[float]  # seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95) * 1000


class Stack:
    """API and worker processes (`neuronest serve`, `neuronest worker`) of one backend."""

    def __init__(self, backend: str, data_dir: Path, name: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = {
            **os.environ,
            "NEURONEST_DATABASE_URL": os.environ["NEURONEST_TEST_DATABASE_URL"],
            "NEURONEST_REDIS_URL": os.environ["NEURONEST_TEST_REDIS_URL"],
            "NEURONEST_SECRET_KEY": secrets.token_urlsafe(48),
            "NEURONEST_DATA_DIR": str(data_dir),
            "NEURONEST_BCRYPT_ROUNDS": "4",
            "NEURONEST_RUNTIME_BACKEND": backend,
            "NEURONEST_DOCKER_NETWORK": "none",
            # The throughput rows queue a thousand tasks of one user at once, as Celery's do;
            # on a loaded machine the default quota of unfinished tasks would refuse some.
            "NEURONEST_MAX_TASKS_IN_FLIGHT": "100000",
        }
        self.logs = data_dir / f"{name or backend}.log"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        subprocess.run([str(NEURONEST), "migrate"], env=self.env, check=True, capture_output=True)
        with self.logs.open("ab") as out:
            for command in (
                ["serve", "--host", HOST, "--port", str(self.port)],
                ["worker"],
            ):
                self.processes.append(
                    subprocess.Popen(
                        [str(NEURONEST), *command],
                        env=self.env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"server not healthy:\n{self.logs.read_text()[-3000:]}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def api_pid(self) -> int:
        return self.processes[0].pid

    @property
    def worker_pid(self) -> int:
        return self.processes[1].pid


class Client:
    """A freshly registered user of a stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.AsyncClient(base_url=stack.url, timeout=120)
        self.token = ""

    async def login(self) -> None:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        reply = await self.http.post(
            "/api/auth/register", json={"email": email, "password": "bench-pass-1", "name": "b"}
        )
        reply.raise_for_status()
        self.token = reply.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    @asynccontextmanager
    async def websocket(self) -> AsyncIterator[Any]:
        """A graphql-transport-ws connection, acknowledged, authenticated as this user."""
        url = self.stack.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:
            await socket.send(
                json.dumps(
                    {
                        "type": "connection_init",
                        "payload": {"Authorization": f"Bearer {self.token}"},
                    }
                )
            )
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            yield socket


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
