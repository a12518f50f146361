"""Runs a snippet of code once, isolated, and returns its output: for tasks and the `code` tool."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.runtimes.backends import get_backend
from neuronest.runtimes.backends.base import Limits, RunSpec
from neuronest.runtimes.execution import choose_backend

SNIPPET_PREFIX = "snippet-"
ENTRY_POINTS = {"python": "main.py", "node": "main.js", "bash": "main.sh"}
OUTPUT_LIMIT = 64 * 1024
MAX_TIMEOUT = 300


def abandoned_snippet(runtime_id: str) -> bool:
    """A snippet run outlives its deadline only when its worker died: it is safe to remove."""
    if not runtime_id.startswith(SNIPPET_PREFIX):
        return False
    started = runtime_id.removeprefix(SNIPPET_PREFIX).split("-", 1)[0]
    return not started.isdigit() or time.time() - int(started) > MAX_TIMEOUT + 120


@dataclass(frozen=True)
class CodeResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    backend: str
    truncated: bool
    timeout: float = 0.0

    def outcome(self) -> dict[str, Any]:
        """The output and how the program ended, as callers report it."""
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
        }

    @property
    def failure(self) -> str | None:
        """Why the program failed, or None when it exited 0."""
        if self.timed_out:
            return f"the program timed out after {self.timeout:g} s"
        if self.exit_code != 0:
            return f"the program exited with code {self.exit_code}"
        return None


def check_code(language: object, code: object, timeout: object = None) -> None:
    if language not in ENTRY_POINTS:
        raise Invalid(f"language: must be one of {', '.join(ENTRY_POINTS)}", field="language")
    if not isinstance(code, str) or not code.strip():
        raise Invalid("code: must be non-empty text", field="code")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise Invalid(f"timeout: must be between 1 and {MAX_TIMEOUT} seconds", field="timeout")


async def run_code(
    settings: Settings, *, language: str, code: str, timeout: float, owner: str
) -> CodeResult:
    check_code(language, code, timeout)
    backend_name = await choose_backend(settings, language)
    backend = get_backend(settings, backend_name)
    entry_point = ENTRY_POINTS[language]
    command = [
        part.replace("{entry_point}", entry_point) for part in settings.runtime_commands[language]
    ]
    spec = RunSpec(
        runtime_id=f"{SNIPPET_PREFIX}{int(time.time())}-{uuid.uuid4().hex}",
        user_id=owner,
        run=1,
        language=language,
        image=settings.runtime_images[language],
        command=command,
        files={entry_point: code.encode()},
        env={},
        port=None,
        network="none",
        limits=Limits(
            memory_bytes=settings.runtime_memory_bytes,
            pids=settings.runtime_pids,
            cpu_seconds=int(timeout) + 5,
        ),
    )
    handle = await backend.start(spec)
    streams: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    sizes = {"stdout": 0, "stderr": 0}
    truncated = False

    async def collect() -> int:
        nonlocal truncated
        async for line in backend.output(handle):
            if sizes[line.stream] >= OUTPUT_LIMIT:
                truncated = True
                continue
            piece = line.data if line.partial else line.data + b"\n"
            streams[line.stream].append(piece)
            sizes[line.stream] += len(piece)
        return await backend.wait(handle)

    timed_out = False
    exit_code: int | None = None
    try:
        exit_code = await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        timed_out = True
    finally:
        with contextlib.suppress(Exception):
            await backend.stop(handle)
        await backend.remove(handle)
    return CodeResult(
        stdout=b"".join(streams["stdout"]).decode(errors="replace")[:OUTPUT_LIMIT],
        stderr=b"".join(streams["stderr"]).decode(errors="replace")[:OUTPUT_LIMIT],
        exit_code=exit_code,
        timed_out=timed_out,
        backend=backend_name,
        truncated=truncated,
        timeout=timeout,
    )
