"""The Celery peer: a trivial task on the same Redis (broker and result backend), one worker.

The worker is `celery worker --pool=prefork --concurrency=1`: one process runs tasks, as one
`neuronest worker` process does (its parent, Celery's consumer, does the Redis I/O; its CPU is
counted too). Celery's default for this machine (concurrency = 2 cores) would give the peer two
task processes against our one, on cores the API, PostgreSQL and Redis share.
Gossip, mingle and heartbeat are off, as usual for a single worker.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from celery.result import AsyncResult

from bench.stack import cpu_seconds

BROKER = os.environ.get("BENCH_CELERY_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT_S = 30.0

app = Celery("bench_peer", broker=BROKER, backend=BROKER)
app.conf.update(task_default_queue="bench-celery", worker_hijack_root_logger=False)


# Every AsyncResult stays referenced until the process exits: its __del__ unsubscribes from the
# result channel under redis-py's pubsub lock, and a collection that happens while the same
# thread holds that lock (inside a later `.get()`) deadlocks.
_kept: list[AsyncResult] = []


@app.task(name="bench.add")
def add(x: int, y: int) -> int:
    return x + y


@dataclass
class CeleryWorker:
    redis_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "BENCH_CELERY_REDIS_URL": self.redis_url}
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "bench.peers.celery_app", "worker",
                    "--pool=prefork", "--concurrency=1", "--loglevel=WARNING",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-Q", "bench-celery",
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        configure(self.redis_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                probe = add.delay(1, 1)
                _kept.append(probe)
                probe.get(timeout=2)
                return
            except Exception:  # the worker is not consuming yet
                continue
        raise RuntimeError(f"celery worker not ready:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """The worker's parent and its pool children."""
        assert self.process is not None
        pids = [self.process.pid, *children(self.process.pid)]
        return sum(cpu_seconds(pid) for pid in pids)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except OSError:
        return []


def configure(redis_url: str) -> None:
    app.conf.update(broker_url=redis_url, result_backend=redis_url)


def release() -> None:
    """Let the kept results go while Redis still answers (not at interpreter exit)."""
    _kept.clear()
    gc.collect()


def dispatch_once() -> float:
    """`.delay().get()` of a trivial task, in seconds."""
    began = time.perf_counter()
    result = add.delay(2, 2)
    _kept.append(result)
    if result.get(timeout=WAIT_S) != 4:
        raise RuntimeError("celery task returned a wrong result")
    return time.perf_counter() - began


def throughput(count: int) -> tuple[float, float]:
    """`count` `.delay()` then every `.get()`: (seconds from the first delay to the last result,
    seconds of the delays alone)."""
    began = time.perf_counter()
    results = [add.delay(i, 1) for i in range(count)]
    sent = time.perf_counter() - began
    _kept.extend(results)
    for i, result in enumerate(results):
        if result.get(timeout=WAIT_S) != i + 1:
            raise RuntimeError("celery task returned a wrong result")
    return time.perf_counter() - began, sent
