"""Stores a run's output in batches, capped, and publishes each batch to live subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient

from neuronest.db import atomically, to_the_end
from neuronest.events.bus import EventBus
from neuronest.kit.time import iso, utcnow
from neuronest.observability.metrics import LOG_LINES_STORED
from neuronest.runtimes.models import Runtime, RuntimeLog

log = logging.getLogger(__name__)
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")
_ESCAPED = re.compile(r"\\x[0-9a-f]{2}")


def printable(data: bytes) -> str:
    """Output bytes as text every database stores and every client reads, losslessly: a byte
    that is not valid UTF-8 (a lone surrogate's encoding too) and NUL become `\\xNN` (two
    lowercase hex digits), and a backslash that the output itself has before an `x` becomes
    `\\x5c`, so an escape in the text always stands for one byte. `original` undoes it."""
    text = data.decode("utf-8", errors="surrogateescape")
    if "\x00" not in text and "\\x" not in text and text.isascii():
        return text
    text = text.replace("\\x", "\\x5cx").replace("\x00", "\\x00")
    return _UNDECODABLE.sub(lambda found: f"\\x{ord(found[0]) - 0xDC00:02x}", text)


def storable(text: str) -> str:
    """A message of ours (which may quote the program or the system) in the same form."""
    return printable(text.encode("utf-8", errors="surrogatepass"))


def original(message: str) -> bytes:
    """The bytes a stored output line stands for (the inverse of `printable`)."""
    return _ESCAPE.sub(lambda found: bytes([int(found[1], 16)]), message.encode("utf-8"))


def _cut(text: str, size: int) -> str:
    """The first `size` characters, without splitting an escape."""
    head = text[:size]
    start = head.rfind("\\", max(len(head) - 3, 0))
    if start >= 0 and _ESCAPED.match(text, start):
        return head[:start]
    return head


def logs_channel(runtime_id: object) -> str:
    return f"runtime:{runtime_id}:logs"


@dataclass(frozen=True)
class LogLimits:
    line_chars: int = 8192
    run_lines: int = 1_000_000
    run_bytes: int = 32 * 1024 * 1024
    batch_lines: int = 2000
    flush_seconds: float = 0.05
    store_attempts: int = 3


class Line(NamedTuple):
    id: str  # a version 7 UUID
    seq: int
    type: str
    message: str
    timestamp: datetime
    shown: str  # the timestamp as the API gives it


_VARIANT = "89ab89ab89ab89ab"


def new_ids(count: int) -> list[str]:
    """`count` time-ordered (version 7) UUIDs as text: the Unix time in milliseconds, then 74
    random bits from one read of the system's random source. A flood has one per line:
    `str(uuid4())` would cost more than the rest of the line, and random ids would go to
    random places of the primary key's index (of every line ever stored) where these go to
    its end."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    digits = os.urandom(10 * count).hex()
    ids = []
    for start in range(0, 20 * count, 20):
        h = digits[start : start + 20]
        ids.append(f"{head}{h[:3]}-{_VARIANT[int(h[3], 16)]}{h[4:7]}-{h[8:20]}")
    return ids


class Clock:
    """Lines of one millisecond share one timestamp, and its text: timestamps are served to the
    millisecond, and formatting one costs more than a short line."""

    def __init__(self) -> None:
        self._millisecond = -1
        self._now = utcnow()
        self._shown = ""

    def now(self) -> tuple[datetime, str]:
        millisecond = time.time_ns() // 1_000_000
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            self._now = datetime.fromtimestamp(millisecond / 1000, UTC)
            self._shown = iso(self._now) or ""
        return self._now, self._shown


COLUMNS = ("id", "runtime_id", "user_id", "seq", "run", "type", "message", "timestamp")
SQLITE_INSERT = (
    f"INSERT INTO runtime_logs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)


def log_event(line: Line | RuntimeLog) -> dict[str, Any]:
    """A line as subscribers get it, whether just written or read back."""
    if isinstance(line, Line):
        return {
            "id": line.id,
            "seq": line.seq,
            "type": line.type,
            "message": line.message,
            "timestamp": line.shown,
        }
    return {
        "id": str(line.id),
        "seq": line.seq,
        "type": line.type,
        "message": line.message,
        "timestamp": iso(line.timestamp),
    }


def _columns(events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [event[name] for event in events] for name in LogBatch._fields}


class LogBatch(NamedTuple):
    """Lines as columns, the form in which a batch travels from its writer to subscribers: a
    JSON list per field costs far less to build, send and read than an object per line."""

    id: list[str]
    seq: list[int]  # ascending
    type: list[str]
    message: list[str]
    timestamp: list[str]  # as the API gives it

    @classmethod
    def of(cls, lines: Sequence[Line]) -> LogBatch:
        if not lines:
            return cls([], [], [], [], [])
        ids, seqs, types, messages, _, shown = zip(*lines, strict=True)
        return cls(list(ids), list(seqs), list(types), list(messages), list(shown))

    @classmethod
    def of_rows(cls, rows: Sequence[RuntimeLog]) -> LogBatch:
        return cls.of_event({"columns": _columns([log_event(row) for row in rows])})

    @classmethod
    def of_event(cls, message: Mapping[str, Any]) -> LogBatch:
        """The batch of a `logs` event (empty for anything else)."""
        columns = message.get("columns")
        if not isinstance(columns, Mapping):
            return cls([], [], [], [], [])
        return cls(
            list(columns["id"]),
            list(columns["seq"]),
            list(columns["type"]),
            list(columns["message"]),
            list(columns["timestamp"]),
        )

    def event(self) -> dict[str, Any]:
        return {"type": "logs", "columns": self._asdict()}

    def after(self, seq: int) -> LogBatch:
        """The lines past `seq`."""
        start = bisect_right(self.seq, seq)
        return self if start == 0 else LogBatch._make(column[start:] for column in self)

    def lines(self) -> list[dict[str, Any]]:
        """Each line as `log_event` gives it."""
        names = self._fields
        return [dict(zip(names, row, strict=True)) for row in zip(*self, strict=True)]


async def store_lines(runtime: Runtime, lines: list[Line], cursor: str | None) -> None:
    """Inserts a batch and moves the runtime's log position, in one transaction that a cancel
    cannot cut. Floods make this the hot path: PostgreSQL gets a COPY, SQLite one prepared
    statement; no ORM objects."""

    async def write(connection: BaseDBAsyncClient) -> None:
        await _insert(connection, runtime, lines)
        await (
            Runtime.filter(id=runtime.id)
            .using_db(connection)
            .update(log_seq=lines[-1].seq, log_cursor=cursor)
        )

    await atomically(write)
    for kind, count in Counter(line.type for line in lines).items():
        LOG_LINES_STORED.labels(kind).inc(count)


async def _insert(connection: BaseDBAsyncClient, runtime: Runtime, lines: list[Line]) -> None:
    user_id = runtime.user_id  # type: ignore[attr-defined]
    raw = getattr(connection, "_connection", None)
    if isinstance(raw, asyncpg.Connection):
        text = memoryview(_copy_text(runtime, user_id, lines))  # bytes would be a path
        await raw.copy_to_table("runtime_logs", source=text, columns=COPY_COLUMNS)
    else:
        rows = [
            (line.id, str(runtime.id), str(user_id), line.seq, runtime.run, line.type,
             line.message, str(line.timestamp))
            for line in lines
        ]  # fmt: skip
        await connection.execute_many(SQLITE_INSERT, rows)  # type: ignore[arg-type]


# COPY's text format: the columns in this order, each row one line of tab-separated fields.
COPY_COLUMNS = ("runtime_id", "user_id", "run", "id", "seq", "type", "message", "timestamp")
_COPY_SPECIAL = ("\\", "\t", "\n", "\r")


def _copy_field(text: str) -> str:
    """A text field of COPY's text format: backslash, tab, newline and CR escaped."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text(runtime: Runtime, user_id: object, lines: list[Line]) -> bytes:
    """The batch as COPY text: built with a format per line and bulk string operations, which
    costs a fraction of encoding each line as a record (uuid, timestamp) on this side."""
    ids, seqs, types, messages, _, shown = zip(*lines, strict=True)
    joined = "".join(messages)
    if any(special in joined for special in _COPY_SPECIAL):
        messages = tuple(map(_copy_field, messages))
    head = f"{runtime.id}\t{user_id}\t{runtime.run}\t"
    return "".join(
        [
            f"{head}{id_}\t{seq}\t{kind}\t{message}\t{at}\n"
            for id_, seq, kind, message, at in zip(ids, seqs, types, messages, shown, strict=True)
        ]
    ).encode()


class LogWriter:
    """The one writer of a run's log lines: gives them sequence numbers, caps, batches.

    A batch the database refuses is tried again at the next flushes, `store_attempts` times in
    all; then its lines are stored one by one, the ones still refused are dropped and a `system`
    line says how many. Neither the run nor later output waits on a batch that cannot be stored.
    """

    def __init__(self, bus: EventBus, runtime: Runtime, limits: LogLimits | None = None) -> None:
        self.bus = bus
        self.runtime = runtime
        self.limits = limits or LogLimits()
        self.seq = runtime.log_seq
        self.cursor = runtime.log_cursor
        self._buffer: list[Line] = []
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failures = 0  # failed tries of the batch at the head of the buffer
        self._lines = 0
        self._bytes = 0
        self._dropped_lines = 0
        self._dropped_bytes = 0
        self._open_line: dict[str, int] = {}  # stream -> bytes cut from its current long line
        self._last_flush = 0.0
        self._clock = Clock()
        self._ids: list[str] = []

    async def __aenter__(self) -> LogWriter:
        self._flusher = asyncio.create_task(self._flush_periodically())
        return self

    async def __aexit__(self, *_: object) -> None:
        await to_the_end(self._end())

    async def _end(self) -> None:
        # The flusher is told to stop, not cancelled: a flush it is in finishes first.
        self._closing.set()
        if self._flusher is not None:
            await asyncio.wait({self._flusher})
        await self.close()

    async def close(self) -> None:
        if self._dropped_lines or self._dropped_bytes:
            self.system(
                f"output limit reached: dropped {self._dropped_lines} lines "
                f"({self._dropped_bytes} bytes) beyond {self.limits.run_lines} lines or "
                f"{self.limits.run_bytes} bytes per run"
            )
            self._dropped_lines = self._dropped_bytes = 0
        # Each try either stores the head batch or counts a failure towards dropping it, and a
        # drop adds at most one system line, so this ends.
        for _ in range(2 * self.limits.store_attempts + 1):
            if not self._buffer:
                return
            if self._failures:
                await asyncio.sleep(self._backoff())
            await self.flush()
        if self._buffer:
            log.error(
                "dropping %s log lines of runtime %s: the database refuses them",
                len(self._buffer),
                self.runtime.id,
            )

    def system(self, message: str) -> None:
        self._append("system", storable(message))

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
            self._drop(1, size)
            return
        self._lines += 1
        self._bytes += size
        text = printable(data)
        if len(text) > self.limits.line_chars or partial:
            kept = _cut(text, self.limits.line_chars)
            self._append(stream, kept)
            self._open_line[stream] = len(text) - len(kept)
            if not partial:
                self._note_cut(stream)
            return
        self._append(stream, text)

    def output_lines(
        self, stream: str, lines: list[bytes], partial: bool = False, cursor: str | None = None
    ) -> None:
        """`output` of each of `lines` in turn (only the last may be `partial`; `cursor` is
        where to resume after the last). A run of short, plain lines within the limits, as a
        flood is, takes one decode, one check and one split for all of them."""
        whole = lines[:-1] if partial else lines
        count = len(whole)
        if count and stream not in self._open_line:
            size = sum(map(len, whole))
            limits = self.limits
            if self._lines >= limits.run_lines or self._bytes + min(map(len, whole)) > (
                limits.run_bytes
            ):  # past a limit: every one of them is dropped
                self._drop(count, size)
                whole = []
            elif (
                self._lines + count <= limits.run_lines
                and self._bytes + size <= limits.run_bytes
                and max(map(len, whole)) <= limits.line_chars  # bytes: at least the characters
            ):
                text = b"\n".join(whole).decode("utf-8", errors="surrogateescape")
                messages = text.split("\n")
                # As `printable` would give each: nothing to escape in any of them.
                if (
                    len(messages) == count
                    and "\x00" not in text
                    and "\\x" not in text
                    and (text.isascii() or not _UNDECODABLE.search(text))
                ):
                    self._lines += count
                    self._bytes += size
                    self._append_many(stream, messages)
                    whole = []
        for data in whole:
            self.output(stream, data, False, None)
        if partial:
            self.output(stream, lines[-1], True, None)
        if cursor is not None:
            self.cursor = cursor

    async def take(
        self,
        stream: str,
        lines: list[bytes],
        partial: bool = False,
        cursor: str | None = None,
        cursors: list[str] | None = None,
    ) -> None:
        """`output_lines`, then a flush when due, as a follower of the output does; a long
        list goes in slices that fill the buffer up to a batch, so batches keep their size.
        `cursors` (where to resume after each line) give each slice its own; without them a
        flush between slices stores the cursor from before `lines`."""
        start, count = 0, len(lines)
        while True:
            end = min(start + max(self.limits.batch_lines - len(self._buffer), 1), count)
            last = end == count
            after = cursor if last else cursors[end - 1] if cursors else None
            self.output_lines(stream, lines[start:end], partial and last, after)
            if self.due():
                await self.flush()
            if last:
                return
            start = end

    def _append_many(self, kind: str, messages: list[str]) -> None:
        """`_append` of each message: one timestamp for all (they were read at once)."""
        count = len(messages)
        first = self.seq + 1
        self.seq += count
        while len(self._ids) < count:
            self._ids += new_ids(max(256, count - len(self._ids)))
        ids = self._ids[-count:]
        del self._ids[-count:]
        at, shown = self._clock.now()
        self._buffer.extend(
            map(
                Line,
                ids,
                range(first, first + count),
                repeat(kind, count),
                messages,
                repeat(at, count),
                repeat(shown, count),
            )
        )

    def _drop(self, lines: int, size: int) -> None:
        if not self._dropped_lines and not self._dropped_bytes:
            self.system("output limit reached: further output of this run is dropped")
        self._dropped_lines += lines
        self._dropped_bytes += size

    def _note_cut(self, stream: str) -> None:
        cut = self._open_line.pop(stream, 0)
        if cut:
            self.system(f"{stream} line truncated: {cut} more characters dropped")

    def _append(self, kind: str, message: str) -> None:
        self.seq += 1
        if not self._ids:
            self._ids = new_ids(256)
        at, shown = self._clock.now()
        self._buffer.append(Line(self._ids.pop(), self.seq, kind, message, at, shown))

    def _backoff(self) -> float:
        return float(self.limits.flush_seconds * 2**self._failures)

    def due(self) -> bool:
        """Whether to flush now: a full batch, or the first lines after a quiet spell (so the
        first line of a run reaches subscribers at once, and floods still go in batches); a
        refused batch waits longer before each new try."""
        if not self._buffer:
            return False
        waited = time.monotonic() - self._last_flush
        if self._failures:
            return waited >= self._backoff()
        return len(self._buffer) >= self.limits.batch_lines or waited >= self.limits.flush_seconds

    async def flush(self) -> None:
        """Stores the buffered lines (or counts a failed try) and publishes what was stored.
        A cancel during a flush lets it finish, so the buffer always matches the database."""
        await to_the_end(self._flush())

    async def _flush(self) -> None:
        async with self._lock:
            if not self._buffer:
                return
            self._last_flush = time.monotonic()
            batch = list(self._buffer)
            try:
                await store_lines(self.runtime, batch, self.cursor)
                stored = batch
            except Exception as error:
                self._failures += 1
                if self._failures < self.limits.store_attempts:
                    log.warning(
                        "storing %s log lines of runtime %s failed (try %s of %s): %r",
                        len(batch),
                        self.runtime.id,
                        self._failures,
                        self.limits.store_attempts,
                        error,
                    )
                    return
                stored = await self._store_each(batch, error)
            self._failures = 0
            self._buffer = self._buffer[len(batch) :]
            if stored:
                await self.bus.publish(logs_channel(self.runtime.id), LogBatch.of(stored).event())

    async def _store_each(self, batch: list[Line], error: Exception) -> list[Line]:
        """The last try of a refused batch: line by line, so one bad line costs only itself."""
        stored: list[Line] = []
        reason = error
        for line in batch:
            try:
                await store_lines(self.runtime, [line], self.cursor)
                stored.append(line)
            except Exception as refused:
                reason = refused
        lost = len(batch) - len(stored)
        if lost:
            log.error(
                "dropped %s log lines of runtime %s that the database refused: %r",
                lost,
                self.runtime.id,
                reason,
            )
            self.system(
                f"{lost} log line(s) could not be stored and were dropped "
                f"(seq {batch[0].seq}..{batch[-1].seq}): {type(reason).__name__}"
            )
        return stored

    async def _flush_periodically(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.limits.flush_seconds)
            if self._closing.is_set() or not self.due():
                continue
            try:
                await self.flush()
            except Exception:
                log.exception("storing log lines of runtime %s failed", self.runtime.id)
