"""The network of a sandbox: its own namespace, and slirp4netns when it needs more than loopback.

Every sandbox has a network namespace of its own (bwrap `--unshare-net`): only its own loopback.
A user-mode stack (slirp4netns, running outside on the host, with `--disable-host-loopback`)
is attached only when the run serves a port or the policy is `outbound`. Its interface is
configured by us, from outside, before the program starts (the program itself never holds
CAP_NET_ADMIN in that namespace and cannot change it):

- the sandbox's address is 10.0.2.100/32 and only the host routes it needs exist: the gateway
  10.0.2.2 (which answers inbound connections; slirp4netns refuses every connection to it
  because the host's loopback is disabled) and, for `outbound`, the DNS forwarder 10.0.2.3 and
  a default route;
- for `outbound`, the private, link-local, shared, multicast and reserved ranges, and every
  address of the host itself, are `unreachable` routes: a connect fails at once inside the
  namespace and no packet reaches slirp4netns. (slirp4netns has no access list of its own.)

Serving: the program's PORT is published on the host's 127.0.0.1 by slirp4netns
(`add_hostfwd` on its API socket) and reaches the program at 10.0.2.100: the program must
listen on all interfaces (0.0.0.0), as in a container.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuronest.runtimes.backends import spawn

SandboxNetwork = Literal["none", "outbound"]

DEFAULT_SLIRP4NETNS = "/usr/bin/slirp4netns"
NSENTER = "/usr/bin/nsenter"
IP = "ip"
NS_GET_PARENT = 0xB702  # ioctl: the parent of a user namespace
MTU = 65520
GUEST = "10.0.2.100"
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
READY_TIMEOUT = 10.0
# Destinations refused under `outbound` (besides the host's own addresses).
REFUSED_RANGES = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


class NetworkError(RuntimeError):
    pass


def host_addresses() -> list[str]:
    """Every IPv4 address of this host's interfaces (from the kernel's local routing table)."""
    addresses: list[str] = []
    previous = ""
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return addresses
    for line in lines:
        text = line.strip()
        if text.startswith("/32 host LOCAL") and previous and previous not in addresses:
            addresses.append(previous)
        elif text.startswith(("|--", "+--")):
            previous = text.split()[1]
    return [address for address in addresses if not address.startswith("127.")]


def routes(policy: SandboxNetwork) -> str:
    """The `ip -batch` commands that configure the sandbox's side."""
    commands = [
        f"link set tap0 mtu {MTU} up",
        f"addr add {GUEST}/32 dev tap0",
        f"route add {GATEWAY}/32 dev tap0",
    ]
    if policy == "outbound":
        commands += [f"route add {DNS}/32 dev tap0", f"route add default via {GATEWAY} dev tap0"]
        refused = [*REFUSED_RANGES, *(f"{address}/32" for address in host_addresses())]
        commands += [f"route add unreachable {destination}" for destination in refused]
    return "\n".join(commands) + "\n"


@dataclass(eq=False)
class Network:
    """A running slirp4netns for one sandbox; `close()` ends it."""

    process: spawn.Child
    exit_fd: int

    async def close(self) -> None:
        if self.exit_fd >= 0:
            os.close(self.exit_fd)  # slirp4netns exits when this closes
            self.exit_fd = -1
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def available(slirp4netns: str = DEFAULT_SLIRP4NETNS) -> bool:
    return os.access(slirp4netns, os.X_OK) and shutil.which(IP) is not None


async def _read_ready(fd: int) -> bytes:
    try:
        return await asyncio.wait_for(asyncio.to_thread(os.read, fd, 1), READY_TIMEOUT)
    finally:
        os.close(fd)


async def _run(argv: list[str], stdin: bytes, pass_fds: tuple[int, ...]) -> None:
    code, said = await spawn.run(
        argv, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, stdin=stdin, pass_fds=pass_fds
    )
    if code:
        raise NetworkError(f"{argv[0]} failed: {said.strip()}")


async def _publish(api: Path, port: int) -> None:
    reader, writer = await asyncio.open_unix_connection(str(api))
    try:
        request = {
            "execute": "add_hostfwd",
            "arguments": {
                "proto": "tcp",
                "host_addr": "127.0.0.1",
                "host_port": port,
                "guest_port": port,
            },
        }
        writer.write(json.dumps(request).encode())
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.read(4096), READY_TIMEOUT) or b"{}")
    finally:
        writer.close()
    if "return" not in reply:
        raise NetworkError(f"cannot publish port {port}: {reply.get('error', reply)}")


async def attach(
    pid: int,
    *,
    policy: SandboxNetwork,
    port: int | None,
    directory: Path,
    slirp4netns: str = DEFAULT_SLIRP4NETNS,
) -> Network:
    """Connects the network namespace of the sandbox process `pid` as `policy` wants, publishing
    `port` on the host's 127.0.0.1; the sandbox must still be blocked before its program."""
    # bwrap nests a second user namespace inside the one that owns the network namespace:
    # slirp4netns and nsenter must join the outer one (the parent) to configure it.
    with open(f"/proc/{pid}/ns/user", "rb") as inner:
        userns = fcntl.ioctl(inner.fileno(), NS_GET_PARENT)
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    api = directory / "slirp.sock"
    argv = [slirp4netns, f"--mtu={MTU}", "--disable-host-loopback", f"--api-socket={api}"]
    argv += [
        f"--ready-fd={ready_w}",
        f"--exit-fd={exit_r}",
        f"--userns-path=/proc/self/fd/{userns}",
    ]
    argv += ["--enable-sandbox", "--enable-seccomp"]
    if policy == "none":
        argv.append("--disable-dns")
    try:
        process = await spawn.spawn(
            [*argv, str(pid), "tap0"],
            env={},
            output=False,
            pass_fds=(ready_w, exit_r, userns),
            new_session=True,
        )
    except OSError as error:
        for fd in (ready_r, ready_w, exit_r, exit_w, userns):
            os.close(fd)
        raise NetworkError(f"cannot start slirp4netns: {error}") from error
    os.close(ready_w)
    os.close(exit_r)
    network = Network(process, exit_w)
    try:
        if await _read_ready(ready_r) != b"1":
            raise NetworkError("slirp4netns could not attach to the sandbox")
        # Root of the namespace owning it (the host's root may enter directly).
        nsenter = [NSENTER, f"--net=/proc/{pid}/ns/net"]
        if os.geteuid() != 0:
            nsenter.insert(1, f"--user=/proc/self/fd/{userns}")
        await _run([*nsenter, IP, "-batch", "-"], routes(policy).encode(), (userns,))
        if port is not None:
            await _publish(api, port)
    except BaseException:
        await network.close()
        raise
    finally:
        os.close(userns)
    return network
