"""Child processes started without stalling the event loop.

asyncio's and uvloop's subprocesses fork the whole server (with a `preexec_fn`, CPython does
too): the page tables of a few hundred MB take 10-15 ms to copy, during which the event loop
answers nobody, once per sandbox start. CPython's `subprocess.Popen` uses vfork when no Python
code has to run in the child (no `preexec_fn`, no uid change), which costs under a millisecond at
any size; so the backends start their helpers with it, change user and limits with small
programs (`setpriv`, `prlimit`) on the command line instead, and attach the pipes and the exit to
the running loop (the exit through a pidfd).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"


def as_user(uid: int, gid: int) -> list[str]:
    """The command prefix that runs a program as `uid`/`gid` with no supplementary groups (and,
    leaving root, no capabilities)."""
    return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]


class Child:
    """A started process: its pipes as stream readers, its exit as an awaitable."""

    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._loop = loop
        self._exited: asyncio.Future[int] = loop.create_future()
        self._pidfd = -1
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except OSError:  # a kernel before 5.3: a thread waits instead
            loop.run_in_executor(None, self._wait_blocking)
        else:
            loop.add_reader(self._pidfd, self._reap)

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def _reap(self) -> None:
        if self.popen.poll() is None:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        if not self._exited.done():
            self._exited.set_result(self.popen.returncode or 0)

    def _wait_blocking(self) -> None:
        code = self.popen.wait()
        self._loop.call_soon_threadsafe(self._settle, code)

    def _settle(self, code: int) -> None:
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int:
        """The exit status: the exit code, or minus the signal that ended it."""
        return await asyncio.shield(self._exited)

    def kill_group(self) -> None:
        """SIGKILL to the process group the child leads (see `spawn(new_session=True)`)."""
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def kill(self) -> None:
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Closes the pipes, read to their end or not (the process goes on if it runs)."""
        for transport in self._transports:
            transport.close()
        self._transports.clear()


async def _attach(
    child: Child, pipe: object, limit: int, loop: asyncio.AbstractEventLoop
) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe
    )
    child._transports.append(transport)
    return reader


async def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    stdin: bytes = b"",
    output: bool = True,
    pass_fds: Sequence[int] = (),
    new_session: bool = False,
    limit: int = 2**16,
) -> Child:
    """Starts `argv` reading `stdin` (at most a pipe's buffer, 64 KiB), with stdout and stderr
    as pipes when `output`, else discarded.

    Call it from the thread of the event loop that owns the child: PR_SET_PDEATHSIG (bwrap's
    --die-with-parent) follows the thread that started the process."""
    loop = asyncio.get_running_loop()
    pipe = subprocess.PIPE if output else subprocess.DEVNULL
    source: int = subprocess.DEVNULL
    if stdin:
        source, writer = os.pipe()
        try:
            os.write(writer, stdin)
        finally:
            os.close(writer)
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=source,
            stdout=pipe,
            stderr=pipe,
            env=env,
            pass_fds=tuple(pass_fds),
            start_new_session=new_session,
        )
    finally:
        if stdin:
            os.close(source)
    child = Child(popen, loop)
    if output:
        assert popen.stdout is not None and popen.stderr is not None
        child.stdout = await _attach(child, popen.stdout, limit, loop)
        child.stderr = await _attach(child, popen.stderr, limit, loop)
    return child


async def run(
    argv: Sequence[str], *, env: dict[str, str], stdin: bytes = b"", pass_fds: Sequence[int] = ()
) -> tuple[int, str]:
    """Runs `argv` to its end: its exit status and what it printed (stdout and stderr)."""
    child = await spawn(argv, env=env, stdin=stdin, pass_fds=pass_fds)
    assert child.stdout is not None and child.stderr is not None
    try:
        out, err, code = await asyncio.gather(
            child.stdout.read(), child.stderr.read(), child.wait()
        )
    finally:
        child.close()
    return code, (out + err).decode(errors="replace")
