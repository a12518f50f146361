"""Tasks: dispatch latency of a `calculation` task next to the floor of a bare arq job, and the
throughput of many `calculation` tasks.

Dispatch: one stack (API process + `neuronest worker` on PostgreSQL + Redis); per sample, the
clock starts just before `POST /api/orchestration/tasks`, a `taskUpdates` subscription on one
shared graphql-transport-ws connection starts as soon as the POST answers, and every message is
stamped when it arrives. A subscriber that joins after the task started gets a later status
first: that arrival counts for the statuses it skipped.

Floor: an arq worker in a process of its own, with the project worker's queue settings (poll
delay, max jobs, read limit: read from `neuronest.jobs.worker.build_worker`), runs a job that does
nothing, on a queue of its own on the same Redis; from just before `enqueue_job` to the job
function starting, and to arq having finished the job (`after_job_end`).

Both wait a random fraction of the worker's poll delay before each sample, so that samples do not
lock onto the worker's polling phase (the next request would otherwise always come just after a
poll, and wait for nearly a whole poll delay).

Throughput: a fresh user creates N tasks with C concurrent POSTs; the bench then watches the rows
in PostgreSQL (not the API, to add no load) until all have finished. tasks/s counts from just
before the first POST to the last `finished_at`.

`python -m bench.tasks [--samples N --tasks N --concurrency C]` runs only this part (with
NEURONEST_TEST_DATABASE_URL and NEURONEST_TEST_REDIS_URL set, as scripts/services.sh gives them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool

from bench import summary
from bench.peers import celery_app
from bench.server import HOST
from bench.stack import FLOOR_POLL_S, Client, Latency, Stack, cpu_seconds, log

TASKS = "/api/orchestration/tasks"
CALCULATION = {"task_type": "calculation", "input_data": {"expression": "2+2"}}
UPDATES = (
    "subscription($taskId: ID!) { taskUpdates(taskId: $taskId) { type text task { status } } }"
)
WAIT_S = 30.0  # for any one message, job or reply
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class QueueSettings:
    poll_delay_s: float
    max_jobs: int
    queue_read_limit: int


@dataclass(frozen=True)
class Floor:
    started: Latency
    completed: Latency
    settings: QueueSettings


@dataclass(frozen=True)
class Dispatch:
    answered: Latency  # the POST's reply
    running: Latency
    completed: Latency
    late: int  # samples whose subscriber joined after the task had started


@dataclass(frozen=True)
class Throughput:
    count: int
    concurrency: int
    completed: int
    failed: int
    listed: int  # completed tasks the list endpoint returns afterwards
    create_s: float  # first POST to last reply
    total_s: float  # first POST to the last finished_at
    seen_s: float  # first POST to the bench seeing all finished
    api_cpu_s: float
    worker_cpu_s: float


# --- floor: a bare arq job ----------------------------------------------------------------------


def done_key(queue: str) -> str:
    return f"{queue}:done"


def floor_worker(queue: str) -> None:
    """`python -m bench.tasks floor-worker QUEUE`: prints the queue settings (one JSON line), then
    runs a do-nothing job until SIGTERM; each job pushes [started, finished] (perf_counter, which
    is system-wide on Linux) onto `QUEUE:done`."""
    from arq.typing import WorkerCoroutine
    from arq.worker import Worker, func

    from neuronest.config import Settings
    from neuronest.jobs.worker import build_worker

    settings = Settings()
    assert settings.redis_url
    project = build_worker(settings)  # only read: never run

    async def mark(ctx: dict[str, Any]) -> None:
        ctx["started"] = time.perf_counter()

    async def report(ctx: dict[str, Any]) -> None:
        finished = time.perf_counter()
        await ctx["redis"].rpush(done_key(queue), json.dumps([ctx["started"], finished]))

    job: WorkerCoroutine = mark
    worker = Worker(
        functions=[func(job, name="mark", keep_result=0, max_tries=1)],
        queue_name=queue,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        after_job_end=report,
        poll_delay=FLOOR_POLL_S,
        max_jobs=project.max_jobs,
        queue_read_limit=project.queue_read_limit,
        keep_result=0,
        handle_signals=True,
    )
    queue_settings = QueueSettings(FLOOR_POLL_S, project.max_jobs, project.queue_read_limit)
    print(json.dumps(queue_settings.__dict__), flush=True)
    worker.run()


class FloorWorker:
    """The floor worker process and a pool to enqueue on its queue."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.queue = f"bench:floor:{secrets.token_hex(4)}"
        self.process: asyncio.subprocess.Process | None = None
        self.pool: ArqRedis | None = None
        self.settings = QueueSettings(FLOOR_POLL_S, 0, 0)

    async def start(self) -> None:
        self.pool = await create_pool(RedisSettings.from_dsn(self.env["NEURONEST_REDIS_URL"]))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.tasks", "floor-worker", self.queue,
            env=self.env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        if not line:
            raise RuntimeError(f"floor worker exited ({await self.process.wait()})")
        self.settings = QueueSettings(**json.loads(line))

    async def sample(self) -> tuple[float, float]:
        """Enqueue → job started, enqueue → job finished (seconds)."""
        assert self.pool is not None
        began = time.perf_counter()
        await self.pool.enqueue_job("mark", _queue_name=self.queue)
        reply = await self.pool.blpop([done_key(self.queue)], timeout=int(WAIT_S))
        if reply is None:
            raise RuntimeError(f"floor job not done after {WAIT_S:g} s")
        job_started, job_finished = json.loads(reply[1])
        return job_started - began, job_finished - began

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self.pool is not None:
            await self.pool.delete(self.queue, done_key(self.queue), f"{self.queue}:health-check")
            await self.pool.aclose()


# --- dispatch ----------------------------------------------------------------------------------


class Updates:
    """`taskUpdates` subscriptions on one connection, one operation id each; every message is
    stamped with time.perf_counter() as soon as it is read."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.queues: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                arrived = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.socket.send(json.dumps({"type": "pong"}))
                    continue
                queue = self.queues.get(str(message.get("id")))
                if queue is not None:
                    queue.put_nowait((arrived, message))
        finally:
            for queue in self.queues.values():
                queue.put_nowait((time.perf_counter(), {"type": "connection closed"}))

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader

    async def follow(self, task_id: str) -> tuple[dict[str, float], str]:
        """When each status was first seen, and the first status seen; returns on `complete`."""
        operation = str(next(self.ids))
        queue: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.queues[operation] = queue
        seen: dict[str, float] = {}
        first = ""
        try:
            await self.socket.send(
                json.dumps(
                    {
                        "id": operation,
                        "type": "subscribe",
                        "payload": {"query": UPDATES, "variables": {"taskId": task_id}},
                    }
                )
            )
            while True:
                try:
                    arrived, message = await asyncio.wait_for(queue.get(), WAIT_S)
                except TimeoutError:
                    raise TimeoutError(f"statuses seen before: {sorted(seen)}") from None
                if message["type"] == "complete":
                    return seen, first
                if message["type"] != "next" or message["payload"].get("errors"):
                    raise RuntimeError(f"taskUpdates({task_id}): {message}")
                status = message["payload"]["data"]["taskUpdates"]["task"]["status"]
                first = first or status
                seen.setdefault(status, arrived)
        finally:
            del self.queues[operation]


async def dispatch_once(client: Client, updates: Updates) -> tuple[float, float, float, bool]:
    began = time.perf_counter()
    reply = await client.http.post(TASKS, json=CALCULATION)
    answered = time.perf_counter()
    if reply.status_code != 201:
        raise RuntimeError(f"create task: HTTP {reply.status_code} {reply.text}")
    task_id = str(reply.json()["id"])
    try:
        seen, first = await updates.follow(task_id)
    except TimeoutError as error:
        now = (await client.http.get(f"{TASKS}/{task_id}")).json()
        raise RuntimeError(
            f"taskUpdates({task_id}): nothing for {WAIT_S:g} s ({error}); the task now: {now}\n"
            f"stack log:\n{client.stack.logs.read_text(errors='replace')[-4000:]}"
        ) from None
    if "completed" not in seen:
        raise RuntimeError(f"task {task_id} did not complete: {sorted(seen)}")
    running = min(at for status, at in seen.items() if status in ("running", "completed"))
    return answered - began, running - began, seen["completed"] - began, first != "created"


async def measure_dispatch(
    client: Client, floor_worker: FloorWorker, samples: int, warmup: int
) -> tuple[Dispatch, Floor, Latency]:
    """Ours, Celery's and bare arq's samples in turn (the order rotating), so that load drift on
    a shared machine hits all three alike; each after a random pause of up to the floor's poll
    delay, so that the floor's samples do not lock onto its polling phase."""
    answered: list[float] = []
    running: list[float] = []
    completed: list[float] = []
    celery: list[float] = []
    started: list[float] = []
    finished: list[float] = []
    late = 0
    async with client.websocket() as socket:
        updates = Updates(socket)

        async def ours(keep: bool) -> None:
            nonlocal late
            sample = await dispatch_once(client, updates)
            if keep:
                answered.append(sample[0])
                running.append(sample[1])
                completed.append(sample[2])
                late += sample[3]

        async def peer(keep: bool) -> None:
            # Celery's client is synchronous: called on the loop, nothing else runs meanwhile.
            seconds = celery_app.dispatch_once()
            if keep:
                celery.append(seconds)

        async def floor(keep: bool) -> None:
            sample = await floor_worker.sample()
            if keep:
                started.append(sample[0])
                finished.append(sample[1])

        kinds = [ours, peer, floor]
        try:
            for index in range(warmup + samples):
                shift = index % len(kinds)
                for kind in kinds[shift:] + kinds[:shift]:
                    await asyncio.sleep(random.uniform(0, FLOOR_POLL_S))
                    await kind(index >= warmup)
        finally:
            await updates.close()
    dispatch = Dispatch(
        Latency("POST answered (201, status created)", answered),
        Latency("POST → subscriber sees `running`", running),
        Latency("POST → subscriber sees `completed`", completed),
        late,
    )
    floor_result = Floor(
        Latency("bare arq job: enqueue → job started", started),
        Latency("bare arq job: enqueue → job finished", finished),
        floor_worker.settings,
    )
    return dispatch, floor_result, Latency("Celery `.delay().get()`", celery)


# --- throughput --------------------------------------------------------------------------------


class Poster:
    """POSTs one fixed JSON body over a keep-alive HTTP/1.1 connection, with a fraction of an
    HTTP library's CPU: on a small machine the load generator competes with the stack it loads."""

    def __init__(self, stack: Stack, path: str, body: object, token: str) -> None:
        self.stack = stack
        payload = json.dumps(body).encode()
        self.request = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{stack.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.stack.port)
        reader, writer = self.streams
        writer.write(self.request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        if length is None:
            raise RuntimeError(f"reply without Content-Length: {head!r}")
        body = await reader.readexactly(int(length[1]))
        if re.search(rb"(?im)^connection: *close", head):
            await self.close()
        return int(head[9:12]), body

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            with contextlib.suppress(OSError):
                await self.streams[1].wait_closed()
            self.streams = None


FINISHED_QUERY = """
SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status IN ('failed', 'cancelled')) AS failed,
       max(finished_at) AS last
FROM tasks WHERE id = ANY($1::uuid[])
"""


async def throughput(stack: Stack, count: int, concurrency: int) -> Throughput:
    client = Client(stack)
    await client.login()
    database = await asyncpg.connect(stack.env["NEURONEST_DATABASE_URL"])
    posters = [Poster(stack, TASKS, CALCULATION, client.token) for _ in range(concurrency)]
    ids: list[str] = []
    todo = iter(range(count))

    async def create(poster: Poster) -> None:
        for _ in todo:
            status, body = await poster.post()
            if status != 201:
                raise RuntimeError(f"create task: HTTP {status} {body[:500]!r}")
            ids.append(str(json.loads(body)["id"]))

    try:
        cpu_before = cpu_seconds(stack.api_pid), cpu_seconds(stack.worker_pid)
        began_wall, began = time.time(), time.perf_counter()
        await asyncio.gather(*(create(poster) for poster in posters))
        create_s = time.perf_counter() - began
        deadline = time.monotonic() + max(60.0, count / 10)
        while True:
            row = await database.fetchrow(FINISHED_QUERY, ids)
            if row["completed"] + row["failed"] >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        seen_s = time.perf_counter() - began
        api_cpu = cpu_seconds(stack.api_pid) - cpu_before[0]
        worker_cpu = cpu_seconds(stack.worker_pid) - cpu_before[1]
        listed = await client.http.get(TASKS, params={"status": "completed", "limit": 1000})
        listed.raise_for_status()
    finally:
        for poster in posters:
            await poster.close()
        await client.http.aclose()
        await database.close()
    last = row["last"].timestamp() if row["last"] is not None else time.time()
    return Throughput(
        count=count,
        concurrency=concurrency,
        completed=row["completed"],
        failed=row["failed"],
        listed=len(listed.json()),
        create_s=create_s,
        total_s=last - began_wall,
        seen_s=seen_s,
        api_cpu_s=api_cpu,
        worker_cpu_s=worker_cpu,
    )


# --- report ------------------------------------------------------------------------------------

DISPATCH_AIM_MS = 15.0
DISPATCH_AIM_RATIO = 3.0
THROUGHPUT_AIM = 300.0


def table(floor: Floor, dispatch: Dispatch, celery: Latency, flood: Throughput) -> str:
    running_ratio = dispatch.running.p50 / floor.started.p50 if floor.started.p50 else 0.0
    completed_ratio = dispatch.completed.p50 / floor.completed.p50 if floor.completed.p50 else 0.0
    ok = dispatch.running.p50 <= DISPATCH_AIM_MS and running_ratio <= DISPATCH_AIM_RATIO
    rate = flood.completed / flood.total_s if flood.total_s > 0 else 0.0
    all_done = flood.completed == flood.count
    rate_ok = all_done and rate >= THROUGHPUT_AIM
    lines = [
        "| task dispatch | p50 ms | p95 ms | floor p50 ms | ratio | aim |",
        "|---|---:|---:|---:|---|---|",
        f"| {dispatch.running.label} | {dispatch.running.p50:.1f} | {dispatch.running.p95:.1f} "
        f"| {floor.started.p50:.1f} (job started) | {running_ratio:.2f}x "
        f"| p50 ≤ {DISPATCH_AIM_MS:g} ms, ≤ {DISPATCH_AIM_RATIO:g}x "
        f"({'ok' if ok else 'MISSED'}) |",
        f"| {dispatch.completed.label} | {dispatch.completed.p50:.1f} "
        f"| {dispatch.completed.p95:.1f} | {floor.completed.p50:.1f} (job finished) "
        f"| {completed_ratio:.2f}x | |",
        f"| {celery.label} (peer) | {celery.p50:.1f} | {celery.p95:.1f} | | "
        f"| ours (`completed`) ≤ Celery |",
        f"| {dispatch.answered.label} | {dispatch.answered.p50:.1f} "
        f"| {dispatch.answered.p95:.1f} | | | |",
        f"| {floor.started.label} | {floor.started.p50:.1f} | {floor.started.p95:.1f} "
        "| | | floor |",
        f"| {floor.completed.label} | {floor.completed.p50:.1f} | {floor.completed.p95:.1f} "
        "| | | floor |",
        "",
        "| task throughput | completed | created/s | tasks/s | aim |",
        "|---|---:|---:|---:|---|",
        f"| {flood.count:,} `calculation` tasks, {flood.concurrency} concurrent POSTs "
        f"| {flood.completed:,}{'' if all_done else ' (INCOMPLETE)'} "
        f"| {flood.count / flood.create_s:,.0f} | {rate:,.0f} "
        f"| ≥ {THROUGHPUT_AIM:g} tasks/s ({'ok' if rate_ok else 'MISSED'}) |",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class PeerRound:
    ours: Throughput
    celery_s: float  # first `.delay()` to the last `.get()`
    celery_sent_s: float
    celery_cpu_s: float


def rate(flood: Throughput) -> float:
    return flood.completed / flood.total_s if flood.total_s > 0 else 0.0


def peer_table(rounds: list[PeerRound]) -> str:
    lines = [
        "| round | ours: tasks/s | ours: CPU ms/task (API + worker) "
        "| Celery: tasks/s | Celery: CPU ms/task (worker) |",
        "|---|---:|---:|---:|---:|",
    ]
    for index, r in enumerate(rounds, 1):
        count = r.ours.count
        lines.append(
            f"| {index} | {rate(r.ours):,.0f}"
            f"{'' if r.ours.completed == count else ' (INCOMPLETE)'} "
            f"| {(r.ours.api_cpu_s + r.ours.worker_cpu_s) * 1000 / count:.2f} "
            f"| {count / r.celery_s:,.0f} | {r.celery_cpu_s * 1000 / count:.2f} |"
        )
    return "\n".join(lines)


def summary_lines(
    dispatch: Dispatch, floor: Floor, celery: Latency, rounds: list[PeerRound]
) -> list[summary.Line]:
    ours = dispatch.completed
    count = rounds[0].ours.count
    our_rate = statistics.median([rate(r.ours) for r in rounds])
    celery_rate = statistics.median([count / r.celery_s for r in rounds])
    all_done = all(r.ours.completed == count for r in rounds)
    return [
        summary.Line("task dispatch p50 (REST → completed)", ours.p50, "Celery `.delay().get()`",
                     celery.p50, "ms", "≤ Celery's", ours.p50 <= celery.p50),
        summary.Line("task dispatch p95 (REST → completed)", ours.p95, "Celery `.delay().get()`",
                     celery.p95, "ms", ""),
        summary.Line("task dispatch p50 (REST → completed)", ours.p50,
                     "bare arq job (enqueue → finished)", floor.completed.p50, "ms", ""),
        summary.Line("task dispatch p95 (REST → completed)", ours.p95,
                     "bare arq job (enqueue → finished)", floor.completed.p95, "ms", ""),
        summary.Line(f"tasks/s, {count} tasks (median of {len(rounds)})", our_rate,
                     f"Celery, {count} `.delay()` then `.get()`", celery_rate, "tasks/s",
                     "≥ Celery's", all_done and our_rate >= celery_rate),
    ]  # fmt: skip


def notes(
    floor: Floor, dispatch: Dispatch, flood: Throughput, samples: int, load: tuple[float, float]
) -> str:
    settings = floor.settings
    listable = min(flood.count, 1000)  # the list endpoint's largest page
    warn = "" if flood.completed == flood.count and flood.listed == listable else "WARNING: "
    return "\n".join(
        [
            "",
            f"Dispatch, Celery and floor: {samples} samples each, interleaved (ours, Celery's, "
            "bare arq's in turn, the order rotating), one at a time after a warm-up, each after "
            "a random pause of up to the floor's poll delay. The floor's queue settings: poll "
            f"delay {settings.poll_delay_s * 1000:g} ms (NeuroNest's worker is woken at each "
            f"enqueue instead), max jobs {settings.max_jobs}, read limit "
            f"{settings.queue_read_limit} (the project worker's).",
            f"The subscriber joins once the POST has answered; in {dispatch.late} of {samples} "
            "samples the task had already started by then, and its first message's arrival "
            "counts for `running` too.",
            f"{warn}Throughput: {flood.completed:,} completed, {flood.failed} failed, "
            f"{flood.listed:,} listed by GET {TASKS}?status=completed; last POST answered after "
            f"{flood.create_s:.2f} s, last task finished after {flood.total_s:.2f} s (its "
            f"finished_at), seen finished after {flood.seen_s:.2f} s. CPU per task: API "
            f"{flood.api_cpu_s * 1000 / flood.count:.2f} ms, worker "
            f"{flood.worker_cpu_s * 1000 / flood.count:.2f} ms.",
            f"One API process and one `neuronest worker`, PostgreSQL and Redis on 127.0.0.1; "
            f"{os.cpu_count()} CPU cores shared with the bench. 1-min load average before/after: "
            f"{load[0]:.2f} / {load[1]:.2f}.",
        ]
    )


@dataclass(frozen=True)
class Options:
    samples: int  # dispatch samples each: ours, Celery's, bare arq's
    count: int  # tasks of the throughput row
    concurrency: int  # concurrent POSTs
    peer_count: int  # tasks per round against Celery
    peer_rounds: int


async def peer_rounds(
    stack: Stack, worker: celery_app.CeleryWorker, options: Options
) -> list[PeerRound]:
    rounds = []
    for index in range(options.peer_rounds):
        log(f"tasks: round {index + 1}: {options.peer_count} tasks, ours then Celery's")
        ours = await throughput(stack, options.peer_count, options.concurrency)
        cpu_before = worker.cpu_seconds()
        celery_s, sent_s = celery_app.throughput(options.peer_count)
        rounds.append(PeerRound(ours, celery_s, sent_s, worker.cpu_seconds() - cpu_before))
    return rounds


async def run(data_dir: Path, options: Options) -> tuple[str, list[summary.Line]]:
    load_before = os.getloadavg()[0]
    stack = Stack("sandbox", data_dir, name="tasks")
    floor_worker = FloorWorker(stack.env)
    celery_worker = celery_app.CeleryWorker(
        stack.env["NEURONEST_REDIS_URL"], data_dir / "celery.log"
    )
    log("tasks: starting a stack, a bare arq worker and a Celery worker")
    try:
        stack.start()
        await floor_worker.start()
        celery_worker.start()
        client = Client(stack)
        await client.login()
        log(f"tasks: dispatch, {options.samples} samples each of ours, Celery's, bare arq's")
        dispatch, floor, celery = await measure_dispatch(
            client, floor_worker, options.samples, warmup=10
        )
        await client.http.aclose()
        log(
            f"tasks: dispatch p50 completed {dispatch.completed.p50:.1f} ms, Celery "
            f"{celery.p50:.1f} ms, bare arq {floor.completed.p50:.1f} ms; {options.count} tasks"
        )
        flood = await throughput(stack, options.count, options.concurrency)
        rounds = await peer_rounds(stack, celery_worker, options)
    finally:
        celery_app.release()
        celery_worker.stop()
        await floor_worker.stop()
        stack.stop()
    log(f"tasks: {flood.completed} completed in {flood.total_s:.2f} s")
    text = "\n".join(
        [
            table(floor, dispatch, celery, flood),
            notes(floor, dispatch, flood, options.samples, (load_before, os.getloadavg()[0])),
            "",
            f"Throughput against Celery: {options.peer_count} tasks per round, ours (REST, "
            f"{options.concurrency} concurrent POSTs, until every row is finished) then Celery's "
            "(`.delay()` each from one client, then `.get()` each), one worker each "
            "(Celery: prefork, concurrency 1; CPU of its parent and child).",
            "",
            peer_table(rounds),
        ]
    )
    return text, summary_lines(dispatch, floor, celery, rounds)


def main() -> None:
    if sys.argv[1:2] == ["floor-worker"]:
        floor_worker(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200, help="dispatch and floor samples")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks for the throughput row")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent POSTs")
    parser.add_argument("--peer-tasks", type=int, default=500, help="tasks per round vs Celery")
    parser.add_argument("--peer-rounds", type=int, default=3, help="rounds against Celery")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options = Options(args.samples, args.tasks, args.concurrency, args.peer_tasks, args.peer_rounds)
    with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
        print(asyncio.run(run(Path(tmp), options))[0])


if __name__ == "__main__":
    main()
