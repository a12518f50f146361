"""Runs programs in Docker containers through aiodocker.

Each run is one container: the image of its language, the project files copied as an archive
(never a host bind mount, so the daemon may be on another host) into an anonymous volume at `/src`
that the program cannot write, then copied at start into `/workspace`, a size-limited tmpfs, so a
disk filler meets the tmpfs limit rather than the host's disk; a non-root user, a read-only root
filesystem, no capabilities and the run's limits. The writable places are `/workspace`, `/tmp`
and `/dev/shm`, each a tmpfs of bounded size whose pages count against the container's memory.

The OCI runtime is `runc` (namespaces and cgroups) or `runsc` (gVisor: the program talks to a
kernel in user space). The daemon registers runsc once per network mode, because runsc's own
`--network` flag has to match the container's network (`runsc` for none, `runsc-host` for host).

Output comes from the container's log (json-file driver, size-capped) read through the raw logs API
with timestamps, so stdout and stderr stay apart and a reader can resume past a cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import struct
import tarfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError

from neuronest.runtimes.backends.base import (
    Backend,
    Limits,
    Network,
    OutputBatch,
    OutputLine,
    RunSpec,
    Stream,
)

RUN_UID = 10001
RUN_GID = 10001
WORKSPACE = "/workspace"
SOURCE = "/src"
# The program starts once its files are in the tmpfs workspace. The shell enters the workspace
# itself: runsc sometimes refuses a tmpfs as the initial working directory (EACCES at start).
PREPARE = f'cd {WORKSPACE} && cp -R {SOURCE}/app/. {WORKSPACE}/ && exec "$@"'

LABEL_RUNTIME = "neuronest.runtime"
LABEL_USER = "neuronest.user"
LABEL_RUN = "neuronest.run"
# Which installation a container belongs to: managed() only lists its own instance, so that
# several installations (or test stacks) sharing one Docker host never sweep each other's runs.
LABEL_INSTANCE = "neuronest.instance"
DEFAULT_INSTANCE = "default"

# The json-file log of one run stays below LOG_MAX_SIZE * LOG_MAX_FILES on the Docker host.
LOG_MAX_SIZE = "256m"
LOG_MAX_FILES = "1"
STOP_GRACE_SECONDS = 2
# Docker cuts lines longer than this into several log entries that share one timestamp.
PARTIAL_CHUNK = 16 * 1024
# On resume the log is read again from this long before the cursor: lines of stdout and stderr
# can reach the log slightly out of timestamp order (two copier goroutines), see _Cursor.
RESUME_WINDOW_NS = 1_000_000_000
READ_CHUNK = 1 << 20
REFOLLOW_DELAY = 0.1

RUNC = "runc"
RUNSC = "runsc"
# The daemon.json runtime names for runsc per container network (see scripts/services.sh).
RUNSC_RUNTIMES: dict[Network, str] = {"bridge": "runsc", "host": "runsc-host", "none": "runsc"}

# Under gVisor the host's pids cgroup counts the sandbox kernel's own threads (about 55 when idle)
# and, on the ptrace platform, host threads per program process: 5 at rest, up to about 25 in a
# fork storm (measured). The run's process limit is RLIMIT_NPROC inside the sandbox, which
# gVisor counts per sandbox; the cgroup bound sits above it only to cap the host's side (reaching
# it ends the whole sandbox).
RUNSC_HOST_PIDS_BASE = 256
RUNSC_HOST_PIDS_PER_PROCESS = 32

_HEADER = struct.Struct(">BxxxL")
_STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}


ARCHIVES_BYTES = 64 * 1024 * 1024  # workspace archives kept for the next start of a version


class DockerBackendError(RuntimeError):
    """The Docker host could not do what was asked; the message says why in plain words."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DockerBackend(Backend):
    name = "docker"

    def __init__(
        self,
        url: str | None = None,
        *,
        instance: str | None = None,
        runtime: str = RUNC,
        runsc_runtimes: Mapping[Network, str] | None = None,
    ) -> None:
        if runtime not in (RUNC, RUNSC):
            raise ValueError(f"unknown Docker runtime {runtime!r}: runc or runsc")
        self.url = url
        self.instance = instance or DEFAULT_INSTANCE
        self.runtime = runtime
        self.runsc_runtimes = {**RUNSC_RUNTIMES, **(runsc_runtimes or {})}
        self._docker: aiodocker.Docker | None = None
        self._api_version: str | None = None
        self._streams: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Workspace archives of recent project versions (RunSpec.source), newest last.
        self._archives: OrderedDict[str, bytes] = OrderedDict()

    # -- client ---------------------------------------------------------------------------

    def _client(self) -> aiodocker.Docker:
        loop = asyncio.get_running_loop()
        if self._docker is None or self._loop is not loop:
            try:
                self._docker = aiodocker.Docker(url=self.url)
            except Exception as exc:
                raise DockerBackendError(f"Docker daemon is not reachable: {exc}") from exc
            # Long streams (logs) are asked as HTTP/1.0 over the same connector: Docker then
            # sends the raw stream, not one HTTP chunk per log line, which aiohttp would hand
            # over one at a time (about three times slower for short lines).
            self._streams = aiohttp.ClientSession(
                connector=self._docker.connector,
                connector_owner=False,
                version=aiohttp.HttpVersion10,
                timeout=aiohttp.ClientTimeout(),
            )
            self._loop = loop
            self._api_version = None
        return self._docker

    def _container(self, handle: str) -> DockerContainer:
        return self._client().containers.container(handle)

    def runtime_name(self, network: Network) -> str:
        """The daemon's name of the OCI runtime for a container on `network`."""
        if self.runtime == RUNC:
            return RUNC
        return self.runsc_runtimes[network]

    async def close(self) -> None:
        docker, streams = self._docker, self._streams
        self._docker, self._streams, self._loop = None, None, None
        if streams is not None:
            await streams.close()
        if docker is not None:
            await docker.close()

    def _where(self) -> str:
        return self.url or "the default Docker socket"

    def _error(self, exc: DockerError, doing: str) -> DockerBackendError:
        if exc.status == 900:
            return DockerBackendError(
                f"Docker daemon is not reachable at {self._where()} ({doing})", status=900
            )
        return DockerBackendError(f"Docker could not {doing}: {exc.message}", status=exc.status)

    # -- start ----------------------------------------------------------------------------

    def has_source(self, source: str) -> bool:
        return source in self._archives

    async def _archive(self, spec: RunSpec) -> bytes:
        """The workspace archive of the run's files: built once per version of them."""
        if spec.source is not None and spec.source in self._archives:
            self._archives.move_to_end(spec.source)
            return self._archives[spec.source]
        if spec.source is not None and not spec.files:
            raise DockerBackendError(f"the files of {spec.source} are no longer staged")
        if sum(len(content) for content in spec.files.values()) > 1024 * 1024:
            archive = await asyncio.to_thread(workspace_archive, spec.files)
        else:
            archive = workspace_archive(spec.files)
        if spec.source is not None and len(archive) <= ARCHIVES_BYTES:
            self._archives[spec.source] = archive
            while sum(len(kept) for kept in self._archives.values()) > ARCHIVES_BYTES:
                self._archives.popitem(last=False)
        return archive

    async def start(self, spec: RunSpec) -> str:
        docker = self._client()
        runtime = self.runtime_name(spec.network)
        config = container_config(spec, instance=self.instance, runtime=runtime)
        archive = await self._archive(spec)
        try:
            container = await docker.containers.create(config)
        except DockerError as exc:
            if exc.status == 404 and "image" in exc.message.lower():
                raise DockerBackendError(
                    f"image {spec.image} is not available on the Docker host", status=404
                ) from exc
            if "runtime" in exc.message.lower():
                raise DockerBackendError(
                    f"the Docker host has no OCI runtime named {runtime!r} "
                    f"(NEURONEST_DOCKER_RUNTIME={self.runtime}; register it in the daemon's "
                    f"daemon.json `runtimes`): {exc.message}",
                    status=exc.status,
                ) from exc
            raise self._error(exc, f"create a container from {spec.image}") from exc
        handle: str = container.id
        try:
            await container.put_archive(SOURCE, archive)  # type: ignore[no-untyped-call]
            await container.start()
        except BaseException as exc:
            await asyncio.shield(self._discard(handle))
            if isinstance(exc, DockerError):
                raise self._error(
                    exc, f"start the container for runtime {spec.runtime_id}"
                ) from exc
            raise
        return handle

    async def _discard(self, handle: str) -> None:
        with contextlib.suppress(Exception):
            await self.remove(handle)

    # -- output ---------------------------------------------------------------------------

    async def output(self, handle: str, after: str | None = None) -> AsyncIterator[OutputLine]:
        async for batch in self.output_batches(handle, after):
            for line in _lines_of(batch):
                yield line

    async def output_batches(
        self, handle: str, after: str | None = None
    ) -> AsyncIterator[OutputBatch]:
        parser = _LogParser(_Cursor.parse(after) if after else None)
        while True:
            async for batch in self._log_batches(handle, parser, follow=True):
                yield batch
            if not await self._running(handle):
                break
            # The stream ended while the program runs (daemon hiccup): follow on from here.
            parser = _LogParser(parser.position() or parser.skip)
            await asyncio.sleep(REFOLLOW_DELAY)
        # Docker 20.10's json-file follower can end without the lines written after the last
        # rotation of a log beyond LOG_MAX_SIZE (they are still in the file): read them now.
        catch_up = _LogParser(parser.position() or parser.skip)
        try:
            async for batch in self._log_batches(handle, catch_up, follow=False):
                yield batch
        except DockerBackendError:
            pass  # removed meanwhile: nothing more to read

    async def _running(self, handle: str) -> bool:
        try:
            info = await self._container(handle).show()
        except (DockerError, DockerBackendError):
            return False
        return bool(info.get("State", {}).get("Running"))

    async def _log_batches(
        self, handle: str, parser: _LogParser, *, follow: bool
    ) -> AsyncIterator[OutputBatch]:
        params: dict[str, Any] = {"stdout": "1", "stderr": "1", "timestamps": "1"}
        if follow:
            params["follow"] = "1"
        if parser.skip is not None:
            params["since"] = parser.skip.since()
        response = await self._open_stream(f"containers/{handle}/logs", params)
        try:
            async for batch in parser.batches(response.content):
                yield batch
        finally:
            response.close()

    async def _open_stream(self, path: str, params: dict[str, Any]) -> aiohttp.ClientResponse:
        """A GET whose answer is a long stream, through the HTTP/1.0 session."""
        docker = self._client()
        assert self._streams is not None
        doing = f"read the output of {path.split('/')[1][:12]}"
        try:
            if self._api_version is None:
                self._api_version = "v" + str((await docker.version())["ApiVersion"])
            url = f"{docker.docker_host}/{self._api_version}/{path}"
            response = await self._streams.get(url, params=params)
        except DockerError as exc:
            raise self._error(exc, doing) from exc
        except aiohttp.ClientConnectionError as exc:
            raise DockerBackendError(
                f"Docker daemon is not reachable at {self._where()} ({doing}): {exc}", status=900
            ) from exc
        if response.status >= 400:
            body = await response.read()
            response.close()
            try:
                message = json.loads(body)["message"]
            except (ValueError, KeyError, TypeError):
                message = body.decode(errors="replace")
            raise self._error(DockerError(response.status, message), doing)
        return response

    # -- lifecycle --------------------------------------------------------------------------

    async def wait(self, handle: str) -> int:
        try:
            result = await self._container(handle).wait(timeout=None)
        except DockerError as exc:
            raise self._error(exc, f"wait for container {handle[:12]}") from exc
        return int(result["StatusCode"])

    async def stop(self, handle: str) -> None:
        try:
            await self._container(handle).stop(t=STOP_GRACE_SECONDS, timeout=None)
        except DockerError as exc:
            if exc.status in (304, 404, 409):
                return
            raise self._error(exc, f"stop container {handle[:12]}") from exc

    async def remove(self, handle: str) -> None:
        try:
            await self._container(handle).delete(force=True, v=True, timeout=None)
        except DockerError as exc:
            if exc.status == 404:
                return
            if exc.status == 409 and "in progress" in exc.message:
                return
            raise self._error(exc, f"remove container {handle[:12]}") from exc

    async def exists(self, handle: str) -> bool:
        try:
            await self._container(handle).show()
        except DockerError as exc:
            if exc.status == 404:
                return False
            raise self._error(exc, f"inspect container {handle[:12]}") from exc
        return True

    async def managed(self) -> dict[str, str]:
        try:
            containers = await self._client().containers.list(
                all="1",
                filters=json.dumps({"label": [LABEL_RUNTIME, f"{LABEL_INSTANCE}={self.instance}"]}),
            )
        except DockerError as exc:
            raise self._error(exc, "list containers") from exc
        return {c.id: (c["Labels"] or {}).get(LABEL_RUNTIME, "") for c in containers}


# -- container configuration ------------------------------------------------------------------


def tmpfs_sizes(limits: Limits) -> tuple[int, int]:
    """`/tmp` and `/dev/shm` share the run's scratch allowance: together they hold at most
    `tmp_bytes`, so the writable areas add up to workspace_bytes + tmp_bytes."""
    shm = max(limits.tmp_bytes // 4, 1024 * 1024)
    return max(limits.tmp_bytes - shm, 1024 * 1024), shm


def container_config(
    spec: RunSpec, *, instance: str = DEFAULT_INSTANCE, runtime: str = RUNC
) -> dict[str, Any]:
    """The body of `POST /containers/create` for one run; any `runtime` but runc is a runsc."""
    limits = spec.limits
    gvisor = runtime != RUNC
    tmp_bytes, shm_bytes = tmpfs_sizes(limits)
    env = dict(spec.env)
    if spec.port is not None:
        env.setdefault("PORT", str(spec.port))
    # No passwd entry for the run user: without this HOME would be `/`, which is read-only.
    env.setdefault("HOME", "/tmp")
    host: dict[str, Any] = {
        "ReadonlyRootfs": True,
        "Tmpfs": {
            "/tmp": f"rw,nosuid,nodev,size={tmp_bytes}",
            WORKSPACE: (
                f"rw,nosuid,nodev,exec,size={limits.workspace_bytes},"
                f"uid={RUN_UID},gid={RUN_GID},mode=0755"
            ),
        },
        "ShmSize": shm_bytes,
        "Mounts": [{"Type": "volume", "Target": SOURCE}],
        "Runtime": runtime,
        "CapDrop": ["ALL"],
        "SecurityOpt": ["no-new-privileges"],
        "Memory": limits.memory_bytes,
        "MemorySwap": limits.memory_bytes,
        "NanoCpus": int(limits.cpus * 1_000_000_000),
        "PidsLimit": (
            RUNSC_HOST_PIDS_BASE + RUNSC_HOST_PIDS_PER_PROCESS * limits.pids
            if gvisor
            else limits.pids
        ),
        "Ulimits": [
            {"Name": "nofile", "Soft": limits.open_files, "Hard": limits.open_files},
            {"Name": "fsize", "Soft": limits.file_size_bytes, "Hard": limits.file_size_bytes},
            {"Name": "cpu", "Soft": limits.cpu_seconds, "Hard": limits.cpu_seconds},
            # Under runc RLIMIT_NPROC would count every container of the shared run uid.
            *([{"Name": "nproc", "Soft": limits.pids, "Hard": limits.pids}] if gvisor else []),
        ],
        "LogConfig": {
            "Type": "json-file",
            "Config": {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILES},
        },
        "NetworkMode": spec.network,
        "Init": True,
        "RestartPolicy": {"Name": "no"},
    }
    config: dict[str, Any] = {
        "Image": spec.image,
        "Cmd": ["/bin/sh", "-c", PREPARE, "sh", *spec.command],
        "Env": [f"{key}={value}" for key, value in env.items()],
        "User": f"{RUN_UID}:{RUN_GID}",
        "WorkingDir": "/",
        "Labels": {
            LABEL_RUNTIME: spec.runtime_id,
            LABEL_USER: spec.user_id,
            LABEL_RUN: str(spec.run),
            LABEL_INSTANCE: instance,
        },
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "HostConfig": host,
    }
    if spec.network == "bridge" and spec.port is not None:
        port = f"{spec.port}/tcp"
        config["ExposedPorts"] = {port: {}}
        host["PortBindings"] = {port: [{"HostIp": "127.0.0.1", "HostPort": str(spec.port)}]}
    return config


def workspace_archive(files: dict[str, bytes]) -> bytes:
    """A tar for `/src` holding `app/` and the files under it, owned by root so that the program
    (which copies them into its workspace) cannot write there."""
    now = int(time.time())
    buffer = io.BytesIO()
    directories: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_directory(name: str) -> None:
            if name in directories:
                return
            directories.add(name)
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.uid, info.gid, info.mtime = 0, 0, now
            tar.addfile(info)

        add_directory("app")
        for raw_path, content in sorted(files.items()):
            parts = _safe_parts(raw_path)
            for depth in range(1, len(parts)):
                add_directory("/".join(("app", *parts[:depth])))
            info = tarfile.TarInfo("/".join(("app", *parts)))
            info.size = len(content)
            info.mode = 0o755 if content.startswith(b"#!") else 0o644
            info.uid, info.gid, info.mtime = 0, 0, now
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _safe_parts(path: str) -> tuple[str, ...]:
    """The parts of a normalized relative path; anything else is refused."""
    parts = PurePosixPath(path).parts
    if (
        not parts
        or str(PurePosixPath(path)) != path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"not a relative file path: {path!r}")
    return parts


# -- log stream ---------------------------------------------------------------------------------


class _Cursor:
    """Where a reader stands in a container's log: `<mark>#<count>`.

    `mark` is the highest timestamp seen so far (RFC 3339 with 9 fraction digits in UTC, so text
    order is time order) and `count` how many lines have carried that same high-water mark. The
    high-water mark never goes back, even when a stderr line reaches the log a few microseconds
    out of order against stdout, and several lines can share a timestamp; together they name one
    position in log order. Resuming reads from RESUME_WINDOW_NS before `mark`, recomputes the
    marks and skips every line up to that position.
    """

    __slots__ = ("count", "mark")

    def __init__(self, mark: str, count: int) -> None:
        self.mark = mark
        self.count = count

    @classmethod
    def parse(cls, text: str) -> _Cursor:
        mark, sep, count = text.rpartition("#")
        if not sep or not mark.endswith("Z") or not count.isdigit():
            raise ValueError(f"not a Docker log cursor: {text!r}")
        return cls(mark, int(count))

    def since(self) -> str:
        """The `since` parameter of the logs API: unix seconds.nanoseconds, a window before."""
        seconds, _, rest = self.mark.partition(".")
        fraction = rest.rstrip("Z").ljust(9, "0")[:9] if rest else "0"
        moment = datetime.strptime(seconds.rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        nanos = int(moment.timestamp()) * 1_000_000_000 + int(fraction) - RESUME_WINDOW_NS
        nanos = max(nanos, 0)
        return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


class _LogParser:
    """Demultiplexes Docker's log frames: an 8-byte header (stream, 3 pad bytes, big-endian
    size) then `<timestamp> <line>`; frames may be split anywhere between reads. Skips the lines
    up to `skip`, and remembers the position of the last line read."""

    def __init__(self, skip: _Cursor | None) -> None:
        self.skip = skip
        self.mark = ""
        self.count = 0

    def position(self) -> _Cursor | None:
        return _Cursor(self.mark, self.count) if self.mark else None

    async def lines(self, content: aiohttp.StreamReader) -> AsyncIterator[OutputLine]:
        async for batch in self.batches(content):
            for line in _lines_of(batch):
                yield line

    async def batches(self, content: aiohttp.StreamReader) -> AsyncIterator[OutputBatch]:
        """The lines of each read, consecutive ones of one stream in one batch."""
        unpack = _HEADER.unpack_from
        streams = _STREAMS
        mark, count = self.mark, self.count
        skipping = self.skip is not None
        skip_mark = self.skip.mark if self.skip else ""
        skip_count = self.skip.count if self.skip else 0
        pending = b""
        while True:
            chunk = await content.read(READ_CHUNK)
            if not chunk:
                break
            buffer = pending + chunk if pending else chunk
            size = len(buffer)
            position = 0
            ready: list[OutputBatch] = []
            current: Stream = "stdout"
            lines: list[bytes] = []
            cursors: list[str] = []
            while size - position >= 8:
                kind, length = unpack(buffer, position)
                end = position + 8 + length
                if end > size:
                    break
                payload = buffer[position + 8 : end]
                position = end
                space = payload.find(b" ")
                stamp = payload[:space].decode("ascii") if space > 0 else mark
                if stamp > mark:
                    mark, count = stamp, 1
                else:
                    count += 1
                self.mark, self.count = mark, count
                if skipping:
                    if mark < skip_mark or (mark == skip_mark and count <= skip_count):
                        continue
                    skipping = False
                stream = streams.get(kind)
                if stream is None:
                    continue
                data = payload[space + 1 :]
                cursor = f"{mark}#{count}"
                if data.endswith(b"\n"):
                    data, partial = data[:-1], False
                else:
                    # A line Docker had to cut (16 KiB pieces), or a last line without newline.
                    partial = len(data) >= PARTIAL_CHUNK
                if stream != current and lines:
                    ready.append(OutputBatch(current, lines, False, cursors[-1], cursors))
                    lines, cursors = [], []
                current = stream
                lines.append(data)
                cursors.append(cursor)
                if partial:  # only the last line of a batch may be partial
                    ready.append(OutputBatch(stream, lines, True, cursor, cursors))
                    lines, cursors = [], []
            if lines:
                ready.append(OutputBatch(current, lines, False, cursors[-1], cursors))
            pending = buffer[position:]
            for item in ready:
                yield item


def _lines_of(batch: OutputBatch) -> Iterator[OutputLine]:
    last = len(batch.lines) - 1
    cursors = batch.cursors or [None] * last + [batch.cursor]
    for index, data in enumerate(batch.lines):
        yield OutputLine(batch.stream, data, batch.partial and index == last, cursors[index])


async def _parse_log_stream(
    content: aiohttp.StreamReader, cursor: _Cursor | None
) -> AsyncIterator[OutputLine]:
    async for line in _LogParser(cursor).lines(content):
        yield line
