"""One API server process on a free loopback port, plus a tiny JSON HTTP client."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
NEURONEST = Path(sys.executable).with_name("neuronest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def call(url: str, method: str = "GET", body: object = None, token: str | None = None) -> Reply:
    """One request; any HTTP status comes back as a Reply, not an exception."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return Reply(status, json.loads(raw) if raw else None)
    except ValueError:
        return Reply(status, raw.decode(errors="replace"))


class Server:
    """`neuronest migrate`, then `neuronest serve` until stop() (by pid)."""

    def __init__(self, *, database_url: str, redis_url: str, data_dir: Path, bcrypt_rounds: int):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = data_dir / "server.log"
        self.secret = secrets.token_urlsafe(48)
        self.env = {
            **os.environ,
            "NEURONEST_DATABASE_URL": database_url,
            "NEURONEST_REDIS_URL": redis_url,
            "NEURONEST_SECRET_KEY": self.secret,
            "NEURONEST_DATA_DIR": str(data_dir),
            "NEURONEST_BCRYPT_ROUNDS": str(bcrypt_rounds),
            # The login row measures bcrypt, not the per-address limit (all load is from here).
            "NEURONEST_LOGIN_ADDRESS_LIMIT": "1000000/minute",
        }
        self.command = [str(NEURONEST), "serve", "--host", HOST, "--port", str(self.port)]
        self.migrate = True
        self.process: subprocess.Popen[bytes] | None = None

    def peer(self) -> Server:
        """The FastAPI + SQLAlchemy `/users/me` peer (bench/peers/users_app.py) on the same
        database, accepting this server's tokens."""
        peer = Server(
            database_url=self.env["NEURONEST_DATABASE_URL"],
            redis_url=self.env["NEURONEST_REDIS_URL"],
            data_dir=self.log_path.parent,
            bcrypt_rounds=4,
        )
        peer.log_path = self.log_path.with_name("peer.log")
        peer.env["BENCH_PEER_DATABASE_URL"] = self.env["NEURONEST_DATABASE_URL"]
        peer.env["BENCH_PEER_SECRET"] = self.secret
        peer.command = [sys.executable, "-m", "bench.peers.users_app", HOST, str(peer.port)]
        peer.migrate = False
        return peer

    def start(self, ready_timeout: float = 60.0) -> None:
        if self.migrate:
            migrate = subprocess.run(
                [str(NEURONEST), "migrate"],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if migrate.returncode != 0:
                raise RuntimeError(f"neuronest migrate failed:\n{migrate.stdout}{migrate.stderr}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if call(self.url + "/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not healthy after {ready_timeout:g}s:\n{self.log_tail()}")

    def stop(self, grace: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux /proc)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"
