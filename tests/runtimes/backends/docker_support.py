"""What the Docker backend tests share: the skip reasons, the `runs` fixture (parametrised over
the OCI runtimes runc and runsc) and small helpers to run a program and read its output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from neuronest.runtimes.backends.base import Limits, Network, OutputLine, RunSpec
from neuronest.runtimes.backends.docker import RUNSC_RUNTIMES, DockerBackend

IMAGE = "neuronest/runtime-python:latest"
RUNTIMES = ["runc", "runsc"]


def _docker(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], capture_output=True, timeout=20)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = _docker("info")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker info` failed: {exc}"
    if info.returncode != 0:
        return f"no Docker daemon answers `docker info`: {info.stderr.decode()[-300:]}"
    if _docker("image", "inspect", IMAGE).returncode != 0:
        return f"image {IMAGE} is missing (it is built offline by `make test`)"
    return None


def _runsc_problem() -> str | None:
    """Why the runsc half of the suite cannot run here, or None."""
    out = _docker("info", "--format", "{{json .Runtimes}}")
    registered = set(json.loads(out.stdout or b"{}")) if out.returncode == 0 else set()
    missing = sorted(set(RUNSC_RUNTIMES.values()) - registered)
    if missing:
        return (
            f"the Docker daemon has no runtime {', '.join(missing)} registered (gVisor): "
            "scripts/services.sh registers them when it starts dockerd; a daemon it did not "
            "start needs them in its daemon.json `runtimes`"
        )
    return None


DOCKER_PROBLEM = _docker_problem()
RUNSC_PROBLEM = None if DOCKER_PROBLEM else _runsc_problem()


class Runs:
    """Starts runs through the backend and remembers them, so that all are removed at the end."""

    def __init__(self, backend: DockerBackend) -> None:
        self.backend = backend
        self.handles: list[str] = []

    @property
    def runtime(self) -> str:
        return self.backend.runtime

    def spec(
        self,
        code: str,
        *,
        files: dict[str, bytes] | None = None,
        env: dict[str, str] | None = None,
        network: Network = "none",
        port: int | None = None,
        limits: Limits | None = None,
        command: list[str] | None = None,
    ) -> RunSpec:
        return RunSpec(
            runtime_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()),
            run=1,
            language="python",
            image=IMAGE,
            command=command or ["python3", "-u", "main.py"],
            files={"main.py": code.encode(), **(files or {})},
            env=env or {},
            port=port,
            network=network,
            limits=limits or Limits(memory_bytes=256 * 1024 * 1024, pids=64),
        )

    async def start(self, spec: RunSpec) -> str:
        handle = await self.backend.start(spec)
        self.handles.append(handle)
        return handle

    async def run(self, code: str, **kwargs: object) -> tuple[str, list[OutputLine], int]:
        """Runs a program to its end: handle, output lines, exit code."""
        handle = await self.start(self.spec(code, **kwargs))  # type: ignore[arg-type]
        lines = await asyncio.wait_for(collect(self.backend.output(handle)), 90)
        code_ = await asyncio.wait_for(self.backend.wait(handle), 60)
        return handle, lines, code_


async def collect(lines: AsyncIterator[OutputLine], limit: int | None = None) -> list[OutputLine]:
    out: list[OutputLine] = []
    async for line in lines:
        out.append(line)
        if limit is not None and len(out) >= limit:
            break
    return out


def text(lines: list[OutputLine]) -> list[tuple[str, str]]:
    return [(line.stream, line.data.decode()) for line in lines]


@contextlib.contextmanager
def socket_listening(port: int) -> Iterator[socket.socket]:
    """A TCP listener on the host's loopback (to show that network `none` cannot reach it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock


@pytest.fixture(params=RUNTIMES)
async def runs(request: pytest.FixtureRequest) -> AsyncIterator[Runs]:
    if DOCKER_PROBLEM is not None:
        pytest.skip(f"Docker backend: {DOCKER_PROBLEM}")
    if request.param == "runsc" and RUNSC_PROBLEM is not None:
        pytest.skip(RUNSC_PROBLEM)
    # An instance of its own: the reconcilers of NeuroNest servers that other tests run against
    # the same Docker host sweep only their own instance's containers, never these.
    backend = DockerBackend(instance=f"test-{uuid.uuid4().hex[:12]}", runtime=request.param)
    tracker = Runs(backend)
    try:
        yield tracker
    finally:
        try:
            for handle in tracker.handles:
                await backend.remove(handle)
        finally:
            await backend.close()
