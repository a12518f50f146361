"""What every runtime backend offers: start a program in isolation, stream its output, stop it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

Stream = Literal["stdout", "stderr"]
Network = Literal["bridge", "host", "none"]


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 512 * 1024 * 1024
    cpus: float = 1.0
    cpu_seconds: int = 3600
    pids: int = 128
    file_size_bytes: int = 64 * 1024 * 1024
    open_files: int = 1024
    workspace_bytes: int = 256 * 1024 * 1024
    tmp_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class RunSpec:
    """One run of a runtime: everything a backend needs, nothing it must look up."""

    runtime_id: str
    user_id: str
    run: int
    language: str
    image: str
    command: list[str]
    files: dict[str, bytes]
    env: dict[str, str]
    port: int | None
    network: Network
    limits: Limits = field(default_factory=Limits)
    # This version of the project's files, "<project id>/<digest>": a backend that staged it at
    # an earlier start reuses it (then `files` may be empty); see `Backend.has_source`.
    source: str | None = None


@dataclass(frozen=True)
class OutputLine:
    """One line of output without its newline. `partial`: an over-long line continues in the
    next item of the same stream. `cursor`: where to resume after this line (backend-defined)."""

    stream: Stream
    data: bytes
    partial: bool = False
    cursor: str | None = None


@dataclass(frozen=True)
class OutputBatch:
    """Consecutive output lines of one stream, as `OutputLine`s would give them one by one:
    `lines` without their newlines, `partial` for the last of them only, `cursor` where to
    resume after the last; `cursors`, when the backend has cursors, where to resume after each
    line (the last is `cursor`)."""

    stream: Stream
    lines: list[bytes]
    partial: bool = False
    cursor: str | None = None
    cursors: list[str] | None = None


class Backend(ABC):
    name: str

    def has_source(self, source: str) -> bool:
        """Whether the files of `source` (see `RunSpec.source`) are staged here from an earlier
        start, so that a start of the same version needs no `files`."""
        return False

    @abstractmethod
    async def start(self, spec: RunSpec) -> str:
        """Starts the program and returns its handle (stored as the runtime's `container_id`)."""

    @abstractmethod
    def output(self, handle: str, after: str | None = None) -> AsyncIterator[OutputLine]:
        """Output lines in order until the program exits; `after` resumes past a cursor."""

    async def output_batches(
        self, handle: str, after: str | None = None
    ) -> AsyncIterator[OutputBatch]:
        """The lines of `output` in batches, for a reader that takes them faster so (a backend
        that reads many lines at once overrides this; here each batch is one line)."""
        async for line in self.output(handle, after):
            yield OutputBatch(line.stream, [line.data], line.partial, line.cursor)

    @abstractmethod
    async def wait(self, handle: str) -> int:
        """The exit code, once the program has exited."""

    @abstractmethod
    async def stop(self, handle: str) -> None:
        """Kills the program; nothing happens for one that has already exited or is gone."""

    @abstractmethod
    async def remove(self, handle: str) -> None:
        """Frees everything the run holds (container, workspace); idempotent."""

    @abstractmethod
    async def exists(self, handle: str) -> bool:
        """Whether the run is still known to the backend (running or exited, not removed)."""

    @abstractmethod
    async def managed(self) -> dict[str, str]:
        """Every run this backend holds here: handle -> runtime id."""
