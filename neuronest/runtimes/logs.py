"""Stores a run's output in batches, capped, and publishes each batch to live subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from tortoise.transactions import in_transaction

from neuronest.kit.time import iso, utcnow
from neuronest.runtimes.models import Runtime, RuntimeLog
from neuronest.services import services

log = logging.getLogger(__name__)


def logs_channel(runtime_id: object) -> str:
    return f"runtime:{runtime_id}:logs"


@dataclass(frozen=True)
class LogLimits:
    line_chars: int = 8192
    run_lines: int = 1_000_000
    run_bytes: int = 32 * 1024 * 1024
    batch_lines: int = 2000
    flush_seconds: float = 0.05


class Line(NamedTuple):
    id: uuid.UUID
    seq: int
    type: str
    message: str
    timestamp: datetime


COLUMNS = ("id", "runtime_id", "user_id", "seq", "run", "type", "message", "timestamp")
SQLITE_INSERT = (
    f"INSERT INTO runtime_logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


def log_event(line: Line | RuntimeLog) -> dict[str, Any]:
    """A line as subscribers get it, whether just written or read back."""
    return {
        "id": str(line.id),
        "seq": line.seq,
        "type": line.type,
        "message": line.message,
        "timestamp": iso(line.timestamp),
    }


async def store_lines(runtime: Runtime, lines: list[Line], cursor: str | None) -> None:
    """Inserts a batch and moves the runtime's log position, in one transaction. Floods make
    this the hot path: PostgreSQL gets a COPY, SQLite one prepared statement; no ORM objects."""
    user_id = runtime.user_id  # type: ignore[attr-defined]
    async with in_transaction() as connection:
        raw = getattr(connection, "_connection", None)
        if isinstance(raw, asyncpg.Connection):
            records = [
                (line.id, runtime.id, user_id, line.seq, runtime.run, line.type, line.message,
                 line.timestamp)
                for line in lines
            ]  # fmt: skip
            await raw.copy_records_to_table("runtime_logs", records=records, columns=COLUMNS)
        else:
            rows = [
                (str(line.id), str(runtime.id), str(user_id), line.seq, runtime.run, line.type,
                 line.message, str(line.timestamp))
                for line in lines
            ]  # fmt: skip
            await connection.execute_many(SQLITE_INSERT, rows)  # type: ignore[arg-type]
        await (
            Runtime.filter(id=runtime.id)
            .using_db(connection)
            .update(log_seq=lines[-1].seq, log_cursor=cursor)
        )


class LogWriter:
    """The one writer of a run's log lines: gives them sequence numbers, caps, batches."""

    def __init__(self, runtime: Runtime, limits: LogLimits | None = None) -> None:
        self.runtime = runtime
        self.limits = limits or LogLimits()
        self.seq = runtime.log_seq
        self.cursor = runtime.log_cursor
        self._buffer: list[Line] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._lines = 0
        self._bytes = 0
        self._dropped_lines = 0
        self._dropped_bytes = 0
        self._open_line: dict[str, int] = {}
        self._last_flush = 0.0  # stream -> bytes cut from its current long line

    async def __aenter__(self) -> LogWriter:
        self._flusher = asyncio.create_task(self._flush_periodically())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.close()

    async def close(self) -> None:
        if self._dropped_lines or self._dropped_bytes:
            self.system(
                f"output limit reached: dropped {self._dropped_lines} lines "
                f"({self._dropped_bytes} bytes) beyond {self.limits.run_lines} lines or "
                f"{self.limits.run_bytes} bytes per run"
            )
            self._dropped_lines = self._dropped_bytes = 0
        await self.flush()

    def system(self, message: str) -> None:
        self._append("system", message)

    def output(self, stream: str, data: bytes, partial: bool, cursor: str | None) -> None:
        if cursor is not None:
            self.cursor = cursor
        cut = self._open_line.get(stream)
        if cut is not None:
            # A continuation of an over-long line that was already cut: count, do not store.
            self._open_line[stream] = cut + len(data)
            if not partial:
                self._note_cut(stream)
            return
        size = len(data)
        if self._lines >= self.limits.run_lines or self._bytes + size > self.limits.run_bytes:
            if not self._dropped_lines and not self._dropped_bytes:
                self.system("output limit reached: further output of this run is dropped")
            self._dropped_lines += 1
            self._dropped_bytes += size
            return
        self._lines += 1
        self._bytes += size
        text = data.decode("utf-8", errors="replace")
        if len(text) > self.limits.line_chars or partial:
            extra = max(len(text) - self.limits.line_chars, 0)
            self._append(stream, text[: self.limits.line_chars])
            self._open_line[stream] = extra
            if not partial:
                self._note_cut(stream)
            return
        self._append(stream, text)

    def _note_cut(self, stream: str) -> None:
        cut = self._open_line.pop(stream, 0)
        if cut:
            self.system(f"{stream} line truncated: {cut} more characters dropped")

    def _append(self, kind: str, message: str, at: datetime | None = None) -> None:
        self.seq += 1
        self._buffer.append(Line(uuid.uuid4(), self.seq, kind, message, at or utcnow()))

    def due(self) -> bool:
        """Whether to flush now: a full batch, or the first lines after a quiet spell (so the
        first line of a run reaches subscribers at once, and floods still go in batches)."""
        if not self._buffer:
            return False
        waited = time.monotonic() - self._last_flush
        return len(self._buffer) >= self.limits.batch_lines or waited >= self.limits.flush_seconds

    async def flush(self) -> None:
        async with self._lock:
            if not self._buffer:
                return
            self._last_flush = time.monotonic()
            batch = list(self._buffer)
            await store_lines(self.runtime, batch, self.cursor)
            # Only once stored: a failed batch stays at the head of the buffer for the next try.
            self._buffer = self._buffer[len(batch) :]
            await services().bus.publish(
                logs_channel(self.runtime.id),
                {"type": "logs", "lines": [log_event(row) for row in batch]},
            )

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.limits.flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("storing log lines of runtime %s failed; retrying", self.runtime.id)
