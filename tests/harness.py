"""Real servers for the tests: uvicorn and arq worker processes on loopback, by pid."""

from __future__ import annotations

import itertools
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STARTUP_TIMEOUT = 60.0


def fresh_database(server_url: str) -> str:
    """A new, empty PostgreSQL database on the server of `server_url`; its URL."""
    import asyncio

    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(server_url)
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()

    asyncio.run(create())
    return server_url.rsplit("/", 1)[0] + f"/{name}"


_redis_databases: dict[str, itertools.count[int]] = {}


def fresh_redis(server_url: str) -> str:
    """The URL of an empty Redis database of its own on the server of `server_url`.

    Each deployment gets one, so the arq queue of one stack's worker never holds another's jobs
    The databases after the one of `server_url` are used in turn; that one stays for the tests
    that use Redis directly, so sessions side by side can start from databases far apart."""
    from redis import Redis

    server, _, database = server_url.rpartition("/")
    numbers = _redis_databases.setdefault(server_url, itertools.count(int(database or 0) + 1))
    url = f"{server}/{next(numbers)}"
    with Redis.from_url(url) as client:
        client.flushdb()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_process(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Process:
    log = workdir / f"{name}.log"
    handle = log.open("ab")
    popen = subprocess.Popen(
        [sys.executable, "-m", "neuronest", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    handle.close()
    return Process(name, popen, log)


def wait_healthy(url: str, process: Process) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.output()[-4000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not become healthy:\n{process.output()[-4000:]}")


@dataclass
class Stack:
    """One deployment under test: API processes, maybe a worker, and their database."""

    mode: str
    workdir: Path
    env: dict[str, str]
    urls: list[str] = field(default_factory=list)
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    def start_api(self, name: str) -> str:
        port = free_port()
        process = start_process(name, ["serve", "--port", str(port)], self.env, self.workdir)
        self.processes[name] = process
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        self.urls.append(url)
        return url

    @property
    def backend(self) -> str:
        return self.env["NEURONEST_RUNTIME_BACKEND"]

    def start_worker(self, name: str = "worker") -> Process:
        process = start_process(name, ["worker"], self.env, self.workdir)
        self.processes[name] = process
        return process

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "neuronest", "migrate"],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.output() for p in self.processes.values())

    async def sql(self, statement: str, *args: Any) -> Any:
        """Runs one statement on the stack's database (placeholders: $1, $2 ...); the first
        value of its first row, if it returns rows."""
        url = self.env.get("NEURONEST_DATABASE_URL")
        if url:
            import asyncpg

            connection = await asyncpg.connect(url)
            try:
                return await connection.fetchval(statement, *args)
            finally:
                await connection.close()
        path = Path(self.env["NEURONEST_DATA_DIR"]) / "neuronest.sqlite3"
        with sqlite3.connect(path) as connection:
            row = connection.execute(re.sub(r"\$\d+", "?", statement), args).fetchone()
        return row[0] if row else None


def base_env(workdir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURONEST_")}
    env.update(
        {
            "NEURONEST_DATA_DIR": str(workdir / "data"),
            "NEURONEST_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
            "NEURONEST_BCRYPT_ROUNDS": "4",
            "NEURONEST_LOGIN_MAX_FAILURES": "3",
            # The whole suite comes from one address; the tests of these limits set them low.
            "NEURONEST_LOGIN_ADDRESS_LIMIT": "100000/hour",
            "NEURONEST_REGISTER_ADDRESS_LIMIT": "100000/hour",
            "NEURONEST_FORGOT_PASSWORD_ADDRESS_LIMIT": "100000/hour",
            "NEURONEST_RUNTIME_BACKEND": "sandbox",
            "NEURONEST_DOCKER_NETWORK": "host",
            "NEURONEST_RUNTIME_HEARTBEAT": "0.5",
            "NEURONEST_RUNTIME_STALE_AFTER": "3",
            "NEURONEST_RECONCILE_INTERVAL": "1",
            "NEURONEST_TASK_HEARTBEAT": "0.5",
            "NEURONEST_TASK_STALE_AFTER": "3",
        }
    )
    env.update(overrides)
    return env


def set_active(stack: Stack, email: str, action: str) -> None:
    """`neuronest user activate|deactivate EMAIL` against the stack's database."""
    subprocess.run(
        [sys.executable, "-m", "neuronest", "user", action, email],
        env=stack.env,
        cwd=stack.workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )
