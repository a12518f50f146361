"""Sandbox backend: each run is a bubblewrap sandbox, a child process of the calling worker.

Isolation (see `_bwrap_args`): fresh user, pid, ipc, uts, mount, network (and cgroup when
possible) namespaces; the program runs as uid/gid 1000 inside, which is the unprivileged host uid
65534 (nobody) when the server runs as root, otherwise the server's own uid. Everything it sees is
read-only (the root, system directories, a handful of files of /etc, /dev with the minimal device
set) except three size-limited tmpfs whose sizes add up to the run's disk limit: /workspace
(filled at start from the project files), /tmp and /dev/shm. Nothing of the server (data
directory, secret key, database, environment) is mounted or passed in. Its network is its own
loopback, plus what the policy allows through slirp4netns (see `slirp.py`).

Limits are in place before the program's first instruction: bwrap starts blocked (`--block-fd`)
as uid 65534 (`setpriv`); bwrap and the sandbox's init are moved into the run's cgroups (memory,
pids, CPU for the run as a whole, see `cgroups.py`) and the network is configured; only then is
bwrap released, to run `prlimit` inside the sandbox, which sets the rlimits (address space, CPU
seconds, processes, file size, open files, cores) and executes the entry shell and the program.
No Python runs in a forked child, so starting costs the server's event loop no fork of its memory
(see `spawn.py`).

Runs live in memory (`handle -> _Run`): the program dies with its worker (`--die-with-parent`),
so there is nothing to re-attach to from another process. Per-run state (project files, minimal
/etc/passwd and /etc/group) lives in `root/<handle>/`.

Caveats:
- The state root and all its ancestors must be searchable by uid 65534 when the server runs as
  root (bwrap resolves bind sources as that uid): keep it out of a 0700 directory such as /root.
- RLIMIT_NPROC is set inside the sandbox, after bwrap created the user namespace, so that it
  counts the sandbox's own processes; the kernel counts processes per (user namespace, uid) at
  every level, and a namespace's creator limit caps the parent level, which for uid 65534 spans
  all the sandboxes: set before bwrap, a `pids` of 32 would stop a sandbox from starting while
  other sandboxes hold 32 processes. The host-level count of uid 65534 stays capped by the
  server's own RLIMIT_NPROC.
- RLIMIT_AS is address space, not resident memory: V8 (node) reserves ~730 MB at start, so
  commands of `address_space_headroom` languages get that much extra address space.
- Without cgroups (no root, or a host that does not delegate them), `cpus` is not enforced and
  `cpu_seconds`, RLIMIT_AS and RLIMIT_NPROC are per process (or per sandbox): the second line.
- tmpfs pages (/workspace, /tmp, /dev/shm) are host memory, outside the program's RLIMIT_AS but
  charged to the run's memory cgroup.
- PR_SET_PDEATHSIG follows the *thread* that started bwrap: call `start()` from the event loop
  thread of a long-lived loop (never from a short-lived worker thread).
- bwrap's namespace init outlives bwrap by a moment and is reaped by the host's pid 1: a worker
  that is itself pid 1 (a container without --init) collects these zombies.
- `spec.network` (the Docker setting) is not used: the backend's own policy applies to every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import stat
import subprocess
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from neuronest.runtimes.backends import cgroups, slirp, spawn
from neuronest.runtimes.backends.base import Backend, OutputBatch, OutputLine, RunSpec, Stream
from neuronest.runtimes.backends.slirp import SandboxNetwork
from neuronest.runtimes.envhooks import is_hook

DEFAULT_BWRAP = "/usr/bin/bwrap"
START_TIMEOUT = 10.0
SHM_SHARE = 4  # /dev/shm gets 1/SHM_SHARE of the run's tmp_bytes, /tmp the rest
SANDBOX_UID = 1000
SANDBOX_GID = 1000
NOBODY = 65534
PIECE = 16 * 1024  # longest item output() yields; longer lines come in pieces
READ_SIZE = 256 * 1024
STREAM_LIMIT = 1024 * 1024  # asyncio buffers at most ~2x this per pipe before pausing reads
GiB = 1024 * 1024 * 1024

_HANDLE = re.compile(r"sandbox-[0-9a-f]{32}")
_SOURCE = re.compile(r"([0-9a-f-]{36})/([0-9a-f]{16,64})")
STAGED_KEPT = 2  # versions of one project's files kept staged (the newest used)
_STREAMS: tuple[Stream, ...] = ("stdout", "stderr")

# /etc entries a program may need (only those present on the host are bound, read-only).
ETC_ENTRIES = (
    "alternatives",
    "ssl",
    "ca-certificates",
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    # Debian's python3 has /usr/lib/python3.X/sitecustomize.py -> /etc/python3.X/...: without
    # it every python run prints "Error in sitecustomize" on stderr.
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
)
# Top-level system directories besides /usr: symlinks on merged-/usr hosts, else bound.
SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

# Runs inside the sandbox as `sh -c ENTRYPOINT sh <command...>`, every limit already in place:
# copies the project into the size-limited workspace, then runs the command there.
ENTRYPOINT = 'cp -R /src/. /workspace/ && exec "$@"'


class SandboxError(RuntimeError):
    """The sandbox cannot run here (bubblewrap missing, user namespaces off, bad run spec)."""


@dataclass(eq=False)
class _Run:
    handle: str
    runtime_id: str
    directory: Path
    process: spawn.Child
    readers: dict[Stream, asyncio.StreamReader]  # streams not yet at EOF
    pending: dict[Stream, asyncio.Future[bytes]] = field(default_factory=dict)
    carry: dict[Stream, bytes] = field(default_factory=lambda: {"stdout": b"", "stderr": b""})
    ready: deque[OutputBatch] = field(default_factory=deque)
    reading: bool = False
    network: slirp.Network | None = None

    def take(self, stream: Stream, chunk: bytes) -> None:
        """Splits a chunk read from `stream` into lines (pieces of at most PIECE bytes): one
        batch of the whole lines when none is longer than PIECE, as it is for a flood."""
        ready = self.ready
        data = self.carry[stream] + chunk if self.carry[stream] else chunk
        *lines, rest = data.split(b"\n")
        if lines and max(map(len, lines)) <= PIECE:
            ready.append(OutputBatch(stream, lines))
        else:
            for line in lines:
                if len(line) <= PIECE:
                    ready.append(OutputBatch(stream, [line]))
                else:
                    last = (len(line) - 1) // PIECE * PIECE
                    for start in range(0, last, PIECE):
                        ready.append(OutputBatch(stream, [line[start : start + PIECE]], True))
                    ready.append(OutputBatch(stream, [line[last:]]))
        if len(rest) > PIECE:  # an unfinished long line: pass on all but the last piece
            keep = (len(rest) - 1) // PIECE * PIECE
            for start in range(0, keep, PIECE):
                ready.append(OutputBatch(stream, [rest[start : start + PIECE]], True))
            rest = rest[keep:]
        self.carry[stream] = rest

    async def read(self) -> None:
        """Waits for output on the streams not yet at EOF and queues what came."""
        for stream, reader in self.readers.items():
            if stream not in self.pending:
                self.pending[stream] = asyncio.ensure_future(reader.read(READ_SIZE))
        await asyncio.wait(self.pending.values(), return_when=asyncio.FIRST_COMPLETED)
        for stream in _STREAMS:
            future = self.pending.get(stream)
            if future is None or not future.done():
                continue
            del self.pending[stream]
            chunk = b"" if future.cancelled() else future.result()
            if chunk:
                self.take(stream, chunk)
            else:
                self.finish(stream)

    def finish(self, stream: Stream) -> None:
        """EOF on `stream`: a last line without newline still counts."""
        if self.carry[stream]:
            self.ready.append(OutputBatch(stream, [self.carry[stream]]))
            self.carry[stream] = b""
        self.readers.pop(stream, None)


def describe_isolation(
    network: SandboxNetwork, slirp4netns: str = slirp.DEFAULT_SLIRP4NETNS
) -> dict[str, str]:
    """What this host gives sandboxes (for /readyz and operators)."""
    return {
        "network": network,
        "cgroups": cgroups.detect().describe(),
        "publish": "slirp4netns"
        if slirp.available(slirp4netns)
        else "unavailable (slirp4netns missing)",
    }


async def _child_pid(info: int) -> int:
    """The host pid of the sandbox's init, from bwrap's --info-fd (EOF: bwrap failed)."""
    data = b""
    while b"}" not in data:
        chunk = await asyncio.to_thread(os.read, info, 4096)
        if not chunk:
            raise SandboxError("bubblewrap could not create the sandbox")
        data += chunk
    return int(json.loads(data[: data.index(b"}") + 1])["child-pid"])


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class SandboxBackend(Backend):
    """Runs programs in bubblewrap sandboxes; `root` holds per-run state and must be reachable
    (search permission on it and every ancestor) for uid 65534 when the server runs as root."""

    name = "sandbox"

    # Extra address space (RLIMIT_AS) by language or command name: V8 reserves ~730 MB of
    # virtual memory at start and aborts ("Failed to reserve virtual memory for CodeRange")
    # under a smaller RLIMIT_AS, although it touches far less.
    address_space_headroom: dict[str, int] = {"node": GiB, "nodejs": GiB}

    def __init__(
        self,
        root: Path,
        *,
        bwrap: str = DEFAULT_BWRAP,
        network: SandboxNetwork = "none",
        slirp4netns: str = slirp.DEFAULT_SLIRP4NETNS,
    ) -> None:
        self.root = Path(root)
        self.bwrap = bwrap
        self.network = network
        self.slirp4netns = slirp4netns
        self.cgroups = cgroups.CgroupHost("none", {}, "not checked yet")
        self._runs: dict[str, _Run] = {}
        self._checked = False
        self._check_lock = asyncio.Lock()
        self._disable_userns = False
        self._as_root = os.geteuid() == 0
        self._uid = NOBODY if self._as_root else os.getuid()
        self._gid = NOBODY if self._as_root else os.getgid()
        self._become_sandbox_user = spawn.as_user(NOBODY, NOBODY) if self._as_root else []

    # -- preflight ---------------------------------------------------------------------------

    async def check(self) -> None:
        """Raises SandboxError saying what is wrong when sandboxes cannot run here."""
        if self._checked:
            return
        async with self._check_lock:
            if self._checked:
                return
            if not (os.path.isfile(self.bwrap) and os.access(self.bwrap, os.X_OK)):
                raise SandboxError(
                    f"bubblewrap not found at {self.bwrap}: install the 'bubblewrap' package "
                    "or use the docker runtime backend"
                )
            for tool in (spawn.PRLIMIT, spawn.SETPRIV):
                if not os.access(tool, os.X_OK):
                    raise SandboxError(f"{tool} not found: install the 'util-linux' package")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                if self._as_root:
                    os.chmod(self.root, stat.S_IMODE(self.root.stat().st_mode) | 0o711)
                    self._check_reachable(self.root.resolve())
            except OSError as error:
                raise SandboxError(f"sandbox state directory {self.root}: {error}") from error
            help_text = await self._run_quietly([self.bwrap, "--help"])
            self._disable_userns = "--disable-userns" in help_text[1]
            if self.network == "outbound" and not slirp.available(self.slirp4netns):
                raise SandboxError(
                    f"the sandbox network policy 'outbound' needs slirp4netns at "
                    f"{self.slirp4netns} and iproute2's ip: install the Debian packages "
                    "'slirp4netns' and 'iproute2', or set NEURONEST_SANDBOX_NETWORK=none"
                )
            self.cgroups = await asyncio.to_thread(cgroups.detect)
            code, err = await self._run_quietly(
                [
                    self.bwrap,
                    "--unshare-user",
                    "--uid",
                    str(SANDBOX_UID),
                    "--unshare-pid",
                    "--die-with-parent",
                    *self._system_args(),
                    "--",
                    "/usr/bin/true",
                ],
                as_sandbox_user=True,
            )
            if code != 0:
                raise SandboxError(
                    f"bubblewrap cannot create a sandbox as uid {self._uid} (exit {code}: "
                    f"{err.strip()}); unprivileged user namespaces must be allowed "
                    "(sysctl user.max_user_namespaces > 0, kernel.unprivileged_userns_clone=1, "
                    "no AppArmor restriction on bwrap)"
                )
            self._checked = True

    def _check_reachable(self, path: Path) -> None:
        for directory in (path, *path.parents):
            info = directory.stat()
            if info.st_uid == self._uid:
                reachable = bool(info.st_mode & stat.S_IXUSR)
            elif info.st_gid == self._gid:
                reachable = bool(info.st_mode & stat.S_IXGRP)
            else:
                reachable = bool(info.st_mode & stat.S_IXOTH)
            if not reachable:
                raise SandboxError(
                    f"sandbox state directory {path} is not reachable by uid {self._uid}: "
                    f"{directory} lacks search permission for it (chmod o+x, or choose a "
                    "directory outside the server's private data, e.g. /var/lib/neuronest-sandbox)"
                )

    async def _run_quietly(self, argv: list[str], as_sandbox_user: bool = False) -> tuple[int, str]:
        prefix = self._become_sandbox_user if as_sandbox_user else []
        return await spawn.run([*prefix, *argv], env={"PATH": "/usr/bin:/bin"})

    # -- the interface -----------------------------------------------------------------------

    async def start(self, spec: RunSpec) -> str:
        await self.check()
        if not spec.command:
            raise SandboxError("the run has no command")
        handle = f"sandbox-{uuid.uuid4().hex}"
        directory = self.root / handle
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        child_fds = [info_w, block_r]
        process: spawn.Child | None = None
        network: slirp.Network | None = None
        try:
            src, procs = await asyncio.to_thread(self._prepare, directory, spec, handle)
            # Options go through a memfd: on the command line, env values would show in `ps`.
            # (bwrap takes only options from --args; the command stays on argv.)
            args = self._bwrap_args(spec, directory, src)
            args += ["--info-fd", str(info_w), "--block-fd", str(block_r)]
            args_fd = os.memfd_create("bwrap-args", 0)
            child_fds.append(args_fd)
            os.write(args_fd, b"\0".join(a.encode() for a in args) + b"\0")
            os.lseek(args_fd, 0, os.SEEK_SET)
            process = await spawn.spawn(
                [
                    *self._become_sandbox_user,
                    self.bwrap,
                    "--args",
                    str(args_fd),
                    "--",
                    *self._limits_command(spec),
                    "/bin/sh",
                    "-c",
                    ENTRYPOINT,
                    "sh",
                    *spec.command,
                ],
                env={},
                pass_fds=child_fds,
                new_session=True,
                limit=STREAM_LIMIT,
            )
            for fd in child_fds:
                os.close(fd)
            child_fds.clear()
            pid = await asyncio.wait_for(_child_pid(info_r), START_TIMEOUT)
            if procs:  # bwrap and the sandbox's init: nothing else runs before the release
                # A move between cgroups waits for the kernel's RCU (milliseconds): a thread's.
                await asyncio.to_thread(cgroups.admit, procs, (process.pid, pid))
            if spec.port is not None or self.network == "outbound":
                network = await self._attach_network(pid, spec, directory)
            os.write(block_w, b"1")  # the sandbox goes on: entry shell, then the program
        except BaseException as error:
            if process is not None and process.returncode is None:
                process.kill_group()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(process.wait(), 10)
            if network is not None:
                await network.close()
            await asyncio.to_thread(self._discard, handle)
            if isinstance(error, SandboxError) and process is not None and process.stderr:
                said = b""  # what bwrap said about it
                with contextlib.suppress(Exception):
                    said = await asyncio.wait_for(process.stderr.read(2048), 1)
                if said.strip():
                    detail = said.decode(errors="replace").strip()
                    raise SandboxError(f"{error}: {detail}") from error
            if process is not None:
                process.close()
            if isinstance(error, OSError | subprocess.SubprocessError | slirp.NetworkError):
                raise SandboxError(f"could not start the sandbox: {error}") from error
            if isinstance(error, TimeoutError):
                raise SandboxError(
                    "could not start the sandbox: bubblewrap did not answer"
                ) from error
            raise
        finally:
            for fd in (*child_fds, info_r, block_w):
                os.close(fd)
        assert process.stdout is not None and process.stderr is not None
        self._runs[handle] = _Run(
            handle=handle,
            runtime_id=spec.runtime_id,
            directory=directory,
            process=process,
            readers={"stdout": process.stdout, "stderr": process.stderr},
            network=network,
        )
        return handle

    async def _attach_network(
        self, pid: int, spec: RunSpec, directory: Path
    ) -> slirp.Network | None:
        if not slirp.available(self.slirp4netns):
            if self.network == "outbound":
                raise SandboxError(f"slirp4netns is missing at {self.slirp4netns}")
            return None  # port not published: documented, and /readyz says so
        return await slirp.attach(
            pid,
            policy=self.network,
            port=spec.port,
            directory=directory,
            slirp4netns=self.slirp4netns,
        )

    def _discard(self, handle: str) -> None:
        """Removes what a run leaves on the host: its directory and its cgroups."""
        cgroups.remove(self.cgroups, handle)
        directory = self.root / handle
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)

    async def output(self, handle: str, after: str | None = None) -> AsyncIterator[OutputLine]:
        async with contextlib.aclosing(self._follow(handle, one_line=True)) as batches:
            async for batch in batches:
                yield OutputLine(batch.stream, batch.lines[0], batch.partial)

    async def output_batches(
        self, handle: str, after: str | None = None
    ) -> AsyncIterator[OutputBatch]:
        async with contextlib.aclosing(self._follow(handle, one_line=False)) as batches:
            async for batch in batches:
                yield batch

    async def _follow(self, handle: str, one_line: bool) -> AsyncGenerator[OutputBatch, None]:
        # `after` is ignored: a sandbox never outlives its worker, so nothing is resumed
        # across processes; within one process a new call continues where the last one stopped.
        run = self._reader(handle)
        if run is None:
            return
        try:
            ready = run.ready
            while True:
                while ready:
                    batch = ready[0]
                    if one_line and len(batch.lines) > 1:
                        # A line leaves the queue as it is handed out: a reader that stops early
                        # leaves the rest of the batch to the next call.
                        ready[0] = OutputBatch(batch.stream, batch.lines[1:], batch.partial)
                        yield OutputBatch(batch.stream, batch.lines[:1])
                    else:
                        yield ready.popleft()
                if not run.readers:
                    return
                await run.read()
        finally:
            run.reading = False

    def _reader(self, handle: str) -> _Run | None:
        """The run whose output is now read by the caller (one reader at a time)."""
        run = self._runs.get(handle)
        if run is None:
            return None
        if run.reading:
            raise SandboxError(f"the output of {handle} is already being read")
        run.reading = True
        return run

    async def wait(self, handle: str) -> int:
        run = self._runs.get(handle)
        if run is None:
            raise SandboxError(f"unknown sandbox run {handle}")
        return _exit_code(await run.process.wait())

    async def stop(self, handle: str) -> None:
        run = self._runs.get(handle)
        if run is None:
            return
        # bwrap leads its own process group; when it dies, its pid-namespace init gets
        # SIGKILL (--die-with-parent) and the kernel kills everything in the namespace.
        run.process.kill_group()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run.process.wait(), timeout=10)

    async def remove(self, handle: str) -> None:
        if not _HANDLE.fullmatch(handle):
            return
        await self.stop(handle)
        run = self._runs.pop(handle, None)
        if run is not None:
            for future in run.pending.values():
                future.cancel()
            run.process.close()  # closes the pipes even when nobody read them to EOF
            if run.network is not None:
                await run.network.close()
        # Also removes what a run of another (dead) worker left.
        await asyncio.to_thread(self._discard, handle)

    async def exists(self, handle: str) -> bool:
        return handle in self._runs

    async def managed(self) -> dict[str, str]:
        return {handle: run.runtime_id for handle, run in self._runs.items()}

    # -- building a run ----------------------------------------------------------------------

    def _prepare(self, directory: Path, spec: RunSpec, handle: str) -> tuple[Path, list[str]]:
        """Writes the run directory (passwd, group, and src/ with the project files unless they
        are staged) and creates the run's cgroups: the directory of the project files and the
        `cgroup.procs` files to join."""
        for key, value in spec.env.items():
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise SandboxError(f"invalid environment variable {key!r}")
            if is_hook(key):
                raise SandboxError(f"environment variable {key} is a loader or interpreter hook")
        directory.mkdir(mode=0o700)
        made = [directory]
        if spec.source is None:
            src = directory / "src"
            made += self._write_tree(src, spec.files)
        else:
            src = self._staged(spec.source, spec.files)
        (directory / "passwd").write_text(
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"sandbox:x:{SANDBOX_UID}:{SANDBOX_GID}:sandbox:/workspace:/bin/sh\n"
            f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n"
        )
        (directory / "group").write_text(
            f"root:x:0:\nsandbox:x:{SANDBOX_GID}:\nnogroup:x:{NOBODY}:\n"
        )
        made += [directory / "passwd", directory / "group"]
        self._own(made)
        procs = cgroups.create(self.cgroups, handle, spec.limits) if self.cgroups.bases else []
        return src, procs

    def _own(self, paths: list[Path]) -> None:
        if self._as_root:
            for path in paths:
                os.chown(path, self._uid, self._gid, follow_symlinks=False)

    @staticmethod
    def _write_tree(src: Path, files: dict[str, bytes]) -> list[Path]:
        """`files` written under the new directory `src`; what was made."""
        src.mkdir(mode=0o755)
        made = [src]
        for name, content in files.items():
            parts = PurePosixPath(name).parts
            if not parts or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise SandboxError(f"invalid file path {name!r}")
            parent = src
            for part in parts[:-1]:
                parent = parent / part
                if not parent.is_dir():
                    parent.mkdir(mode=0o755)
                    made.append(parent)
            target = parent / parts[-1]
            mode = 0o755 if content.startswith(b"#!") else 0o644
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            except OSError as error:
                raise SandboxError(f"cannot write file {name!r}: {error}") from error
            with os.fdopen(fd, "wb") as file:
                file.write(content)
            made.append(target)
        return made

    # -- staged project files ----------------------------------------------------------------

    def _source_dir(self, source: str) -> Path:
        found = _SOURCE.fullmatch(source)
        if found is None:
            raise SandboxError(f"invalid source {source!r}")
        return self.root / "staged" / found[1] / found[2]

    def has_source(self, source: str) -> bool:
        return self._source_dir(source).is_dir()

    def _staged(self, source: str, files: dict[str, bytes]) -> Path:
        """The staged directory of `source`, written from `files` the first time (into a new
        directory renamed into place, so a concurrent start never sees half of it); the older
        versions of the project beyond the newest STAGED_KEPT are removed."""
        target = self._source_dir(source)
        if target.is_dir():
            os.utime(target)
            return target
        if not files:
            raise SandboxError(f"the files of {source} are no longer staged; start again")
        project = target.parent
        for directory in (project.parent, project):
            directory.mkdir(mode=0o711, exist_ok=True)
        fresh = project / f".{target.name}.{uuid.uuid4().hex}"
        self._own(self._write_tree(fresh, files))
        try:
            fresh.rename(target)
        except OSError:  # staged meanwhile by another start
            shutil.rmtree(fresh, ignore_errors=True)
        versions = sorted(
            (entry for entry in project.iterdir() if not entry.name.startswith(".")),
            key=lambda entry: entry.stat().st_mtime,
            reverse=True,
        )
        for old in versions[STAGED_KEPT:]:
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        return target

    def _system_args(self) -> list[str]:
        args = ["--ro-bind", "/usr", "/usr"]
        for name in SYSTEM_DIRS:
            host = f"/{name}"
            if os.path.islink(host):
                args += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                args += ["--ro-bind", host, host]
        return args

    def _bwrap_args(self, spec: RunSpec, directory: Path, src: Path) -> list[str]:
        limits = spec.limits
        args = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
        if self._disable_userns:
            args.append("--disable-userns")
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--unshare-net", "--new-session", "--die-with-parent", "--hostname", "sandbox"]
        args += self._system_args()
        args += ["--proc", "/proc", "--dev", "/dev"]
        for name in ETC_ENTRIES:
            host = f"/etc/{name}"
            if os.path.exists(host):
                args += ["--ro-bind", host, host]
        args += ["--ro-bind", str(directory / "passwd"), "/etc/passwd"]
        args += ["--ro-bind", str(directory / "group"), "/etc/group"]
        args += ["--ro-bind", str(src), "/src"]
        # The only writable places; their sizes add up to workspace_bytes + tmp_bytes.
        shm = max(1024 * 1024, limits.tmp_bytes // SHM_SHARE)
        args += ["--size", str(limits.workspace_bytes), "--tmpfs", "/workspace"]
        args += ["--size", str(max(1024 * 1024, limits.tmp_bytes - shm)), "--tmpfs", "/tmp"]
        args += ["--size", str(shm), "--tmpfs", "/dev/shm"]
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]
        args += ["--chdir", "/workspace", "--clearenv"]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/workspace", "LANG": "C.UTF-8"}
        env.update(spec.env)
        for key, value in env.items():
            args += ["--setenv", key, value]
        return args

    def _limits_command(self, spec: RunSpec) -> list[str]:
        """`prlimit` with the run's rlimits, run inside the sandbox before the entry shell."""
        options = {
            resource.RLIMIT_AS: "as",
            resource.RLIMIT_CPU: "cpu",
            resource.RLIMIT_NPROC: "nproc",
            resource.RLIMIT_FSIZE: "fsize",
            resource.RLIMIT_NOFILE: "nofile",
            resource.RLIMIT_CORE: "core",
        }

        def value(limit: int) -> str:
            return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)

        command = [spawn.PRLIMIT]
        for which, soft, hard in self._rlimits(spec):
            command.append(f"--{options[which]}={value(soft)}:{value(hard)}")
        return [*command, "--"]

    def _rlimits(self, spec: RunSpec) -> list[tuple[int, int, int]]:
        limits = spec.limits
        names = {spec.language, os.path.basename(spec.command[0])}
        headroom = max(self.address_space_headroom.get(name, 0) for name in names)
        address_space = limits.memory_bytes + headroom
        wanted = [
            (resource.RLIMIT_AS, address_space, address_space),
            (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
            (resource.RLIMIT_NPROC, limits.pids, limits.pids),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
            (resource.RLIMIT_CORE, 0, 0),
        ]
        result = []
        for which, soft, hard in wanted:
            # The child cannot raise a hard limit (it has no privilege left): stay below ours.
            _, ceiling = resource.getrlimit(which)
            if ceiling != resource.RLIM_INFINITY:
                hard = min(hard, ceiling)
                soft = min(soft, hard)
            result.append((which, soft, hard))
        return result
