"""Per-run control groups: memory, processes and CPU limited for a run as a whole.

Each run gets its own group under `<the server's own group>/neuronest/<handle>` in every
controller (cgroup v1: one hierarchy per controller; v2: the unified one). The sandbox's first
process joins it before it executes bubblewrap, so everything the program ever forks is inside
and counted together, like a container. Groups are nested under the server's own so that the
limits of whoever runs the server still hold for its sandboxes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from neuronest.runtimes.backends.base import Limits

CONTROLLERS = ("memory", "pids", "cpu")
PARENT = "neuronest"
CPU_PERIOD_US = 100_000
# bubblewrap's monitor and the namespace's init come on top of the program's own processes.
BWRAP_PROCESSES = 2
REMOVE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class CgroupHost:
    """What this host offers: `version` v1, v2 or none; `bases` controller -> parent dir."""

    version: Literal["v1", "v2", "none"]
    bases: dict[str, Path]
    detail: str

    def describe(self) -> str:
        if not self.bases:
            return f"none ({self.detail}): per-process rlimits only"
        return f"cgroup {self.version}: {', '.join(sorted(self.bases))}"


def _mounts() -> list[tuple[Path, str, set[str]]]:
    """(mount point, fs type, super options) of every cgroup mount."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3 or extra[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((Path(fields[4]), extra[0], set(extra[2].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's group path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _make_base(directory: Path) -> bool:
    try:
        directory.mkdir(exist_ok=True)
        return os.access(directory, os.W_OK)
    except OSError:
        return False


def _detect_v1(mounts: list[tuple[Path, str, set[str]]], own: dict[str, str]) -> dict[str, Path]:
    bases = {}
    for point, kind, options in mounts:
        if kind != "cgroup":
            continue
        for name in CONTROLLERS:
            if name in options and name in own:
                base = point / own[name].lstrip("/") / PARENT
                if _make_base(base):
                    bases[name] = base
    return bases


def _detect_v2(mounts: list[tuple[Path, str, set[str]]], own: dict[str, str]) -> dict[str, Path]:
    point = next((p for p, kind, _ in mounts if kind == "cgroup2"), None)
    if point is None or "" not in own:
        return {}
    mine = point / own[""].lstrip("/")
    available = set((mine / "cgroup.controllers").read_text().split())
    wanted = [name for name in CONTROLLERS if name in available]
    base = mine / PARENT
    if not wanted or not _make_base(base):
        return {}
    enable = " ".join(f"+{name}" for name in wanted).encode()
    # Fails (EBUSY) when the server's own group holds processes and is not the root group:
    # v2 lets only leaves hold processes. Then the host does not delegate: no cgroups.
    for directory in (mine, base):
        try:
            (directory / "cgroup.subtree_control").write_bytes(enable)
        except OSError:
            return {}
    enabled = set((base / "cgroup.subtree_control").read_text().split())
    return {name: base for name in wanted if name in enabled}


@lru_cache(maxsize=1)
def detect() -> CgroupHost:
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as error:
        return CgroupHost("none", {}, f"cannot read /proc: {error}")
    if os.geteuid() != 0:
        return CgroupHost("none", {}, "the server does not run as root")
    v1 = _detect_v1(mounts, own)
    if v1:
        return CgroupHost("v1", v1, "")
    try:
        v2 = _detect_v2(mounts, own)
    except OSError as error:
        return CgroupHost("none", {}, f"cgroup v2 unusable: {error}")
    if v2:
        return CgroupHost("v2", v2, "")
    if any(kind == "cgroup2" for _, kind, _ in mounts):
        return CgroupHost("none", {}, "cgroup v2 without delegated memory/pids/cpu controllers")
    return CgroupHost("none", {}, "no writable memory, pids or cpu controller")


def _write(directory: Path, name: str, value: int | str, *, optional: bool = False) -> None:
    path = directory / name
    if optional and not path.exists():
        return
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


def create(host: CgroupHost, handle: str, limits: Limits) -> list[str]:
    """Creates the run's groups with its limits; returns the `cgroup.procs` files to join."""
    procs = []
    made: list[Path] = []
    quota = max(1000, int(limits.cpus * CPU_PERIOD_US))
    try:
        for name, base in sorted(host.bases.items()):
            directory = base / handle
            if directory not in made:
                directory.mkdir(exist_ok=True)
                made.append(directory)
            if name == "memory" and host.version == "v1":
                _write(directory, "memory.limit_in_bytes", limits.memory_bytes)
                _write(directory, "memory.memsw.limit_in_bytes", limits.memory_bytes, optional=True)
                _write(directory, "memory.swappiness", 0, optional=True)
            elif name == "memory":
                _write(directory, "memory.max", limits.memory_bytes)
                _write(directory, "memory.swap.max", 0, optional=True)
            elif name == "pids":
                _write(directory, "pids.max", limits.pids + BWRAP_PROCESSES)
            elif host.version == "v1":
                _write(directory, "cpu.cfs_period_us", CPU_PERIOD_US)
                _write(directory, "cpu.cfs_quota_us", quota)
            else:
                _write(directory, "cpu.max", f"{quota} {CPU_PERIOD_US}")
            path = str(directory / "cgroup.procs")
            if path not in procs:
                procs.append(path)
    except OSError:
        remove(host, handle, wait=0)
        raise
    return procs


def admit(procs: list[str], pids: Iterable[int]) -> None:
    """Moves the processes `pids` into the run's groups (each write moves one process)."""
    pids = tuple(pids)
    for path in procs:
        fd = os.open(path, os.O_WRONLY)
        try:
            for pid in pids:
                os.write(fd, str(pid).encode())
        finally:
            os.close(fd)


def remove(host: CgroupHost, handle: str, *, wait: float = REMOVE_WAIT_SECONDS) -> None:
    """Removes the run's groups once their processes are gone (bounded wait; idempotent)."""
    deadline = time.monotonic() + wait
    for base in dict.fromkeys(host.bases.values()):
        directory = base / handle
        while directory.exists():
            try:
                directory.rmdir()
            except OSError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.02)
            else:
                break


def usage(host: CgroupHost, handle: str) -> dict[str, int]:
    """Current figures of a run (for tests and diagnostics): memory peak, pids now."""
    figures = {}
    files = {"memory": ("memory.max_usage_in_bytes", "memory.peak"), "pids": ("pids.current",)}
    for name, candidates in files.items():
        base = host.bases.get(name)
        if base is None:
            continue
        for candidate in candidates:
            with contextlib.suppress(OSError, ValueError):
                figures[name] = int((base / handle / candidate).read_text())
                break
    return figures
