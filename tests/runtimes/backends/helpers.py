"""What the sandbox backend's tests share: run specs, runs, and what a run left behind."""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path

from neuronest.runtimes.backends.base import Limits, OutputLine, RunSpec
from neuronest.runtimes.backends.sandbox import SandboxBackend

BWRAP = "/usr/bin/bwrap"
PYTHON = "/usr/bin/python3"  # the system python: the venv/pyenv one is not inside the sandbox
NODE = shutil.which("node")
AS_ROOT = os.geteuid() == 0
MiB = 1024 * 1024


def make_spec(
    command: list[str],
    files: dict[str, bytes] | None = None,
    env: dict[str, str] | None = None,
    *,
    network: str = "none",
    port: int | None = None,
    language: str = "python",
    **limits: int,
) -> RunSpec:
    return RunSpec(
        runtime_id="runtime-1",
        user_id="user-1",
        run=1,
        language=language,
        image="",
        command=command,
        files=files or {},
        env=env or {},
        port=port,
        network=network,  # type: ignore[arg-type]
        limits=replace(Limits(), **limits),
    )


def python(code: str, **kwargs: object) -> RunSpec:
    files = dict(kwargs.pop("files", None) or {})  # type: ignore[call-overload]
    files["main.py"] = code.encode()
    return make_spec([PYTHON, "-u", "main.py"], files, **kwargs)  # type: ignore[arg-type]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def processes_of(uid: int) -> list[int]:
    """Live (not zombie) processes whose real uid is `uid`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry))
    return pids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(sandbox: SandboxBackend, spec: RunSpec) -> tuple[list[OutputLine], int]:
    handle = await sandbox.start(spec)
    lines = [line async for line in sandbox.output(handle)]
    code = await sandbox.wait(handle)
    await sandbox.remove(handle)
    return lines, code


def text(lines: list[OutputLine], stream: str) -> list[str]:
    return [line.data.decode() for line in lines if line.stream == stream]


def probe_program(targets: list[tuple[str, object]]) -> str:
    """A python program that tries each (name, address) and prints how each connect ended."""
    return f"""
import json, socket
results = {{}}
for name, address in {targets!r}:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(address if isinstance(address, str) else tuple(address))
        results[name] = "connected"
    except OSError as error:
        results[name] = type(error).__name__
    finally:
        sock.close()
print(json.dumps(results))
"""
