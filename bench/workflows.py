"""Workflows: a 100-step chain (overhead per step) and a 500-step fan-out/fan-in (steps/s), next to
the floor of the same shapes built from bare arq jobs on the same Redis.

Steps are `calculation` tasks, so the figures measure scheduling, not work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func

from bench import summary
from bench.stack import FLOOR_POLL_S, Client, Stack, cpu_seconds, log

CHAIN = 100
FAN = 500
POLL = 0.02
CHAIN_AIM_MS = 5.0
FAN_AIM = 1000


def chain_steps(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"s{i}",
            "task_type": "calculation",
            "input_data": {"expression": "1+1"},
            **({"depends_on": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(n)
    ]


def fan_steps(n: int) -> list[dict[str, Any]]:
    calc = {"task_type": "calculation", "input_data": {"expression": "1+1"}}
    return [
        {"id": "root", **calc},
        *({"id": f"b{i}", **calc, "depends_on": ["root"]} for i in range(n)),
        {"id": "join", **calc, "depends_on": [f"b{i}" for i in range(n)]},
    ]


async def run_workflow(client: Client, steps: list[dict[str, Any]], timeout: float) -> float:
    reply = await client.http.post(
        "/api/orchestration/workflows", json={"name": "bench", "steps": steps}
    )
    reply.raise_for_status()
    workflow_id = reply.json()["id"]
    began = time.perf_counter()
    reply = await client.http.post(f"/api/orchestration/workflows/{workflow_id}/execute", json={})
    reply.raise_for_status()
    task_id = reply.json()["id"]
    deadline = began + timeout
    while time.perf_counter() < deadline:
        task = (await client.http.get(f"/api/orchestration/tasks/{task_id}")).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            if task["status"] != "completed":
                raise RuntimeError(f"workflow ended {task['status']}: {task['error']}")
            return time.perf_counter() - began
        await asyncio.sleep(POLL)
    raise RuntimeError(f"workflow of {len(steps)} steps not done within {timeout:g} s")


# The floor: the same shapes as bare arq jobs, each job enqueuing what it unblocks.
async def _chain_job(ctx: dict[str, Any], left: int) -> None:
    if left > 1:
        await ctx["redis"].enqueue_job("chain_job", left - 1, _queue_name=ctx["queue"])
    else:
        ctx["done"].set()


async def _root_job(ctx: dict[str, Any], n: int) -> None:
    for _ in range(n):
        await ctx["redis"].enqueue_job("branch_job", n, _queue_name=ctx["queue"])


async def _branch_job(ctx: dict[str, Any], n: int) -> None:
    if await ctx["redis"].incr(ctx["counter"]) == n:
        await ctx["redis"].enqueue_job("join_job", _queue_name=ctx["queue"])


async def _join_job(ctx: dict[str, Any]) -> None:
    ctx["done"].set()


async def arq_floor(redis_url: str, shape: str, n: int) -> float:
    settings = RedisSettings.from_dsn(redis_url)
    pool: ArqRedis = await create_pool(settings)
    queue = f"bench-floor-{uuid.uuid4().hex}"
    done = asyncio.Event()
    counter = f"{queue}:count"

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(queue=queue, done=done, counter=counter)

    worker = Worker(
        functions=[
            func(_chain_job, name="chain_job"),
            func(_root_job, name="root_job"),
            func(_branch_job, name="branch_job"),
            func(_join_job, name="join_job"),
        ],
        redis_pool=pool,
        queue_name=queue,
        on_startup=startup,
        handle_signals=False,
        poll_delay=FLOOR_POLL_S,
        max_jobs=100,
        keep_result=0,
        burst=True,  # returns once the queue is empty: each job enqueues its successors first
    )
    began = time.perf_counter()
    if shape == "chain":
        await pool.enqueue_job("chain_job", n, _queue_name=queue)
    else:
        await pool.enqueue_job("root_job", n, _queue_name=queue)
    await asyncio.wait_for(worker.main(), 300)
    elapsed = time.perf_counter() - began
    assert done.is_set()
    await worker.close()
    await pool.delete(counter)
    return elapsed


@dataclass(frozen=True)
class Shape:
    label: str
    steps: int
    seconds: float
    floor_seconds: float
    cpu_s: float  # the API's and the worker's CPU time during the run (steadier than seconds)


def table(chain: Shape, fan: Shape) -> str:
    per_step = chain.seconds / chain.steps * 1000
    floor_step = chain.floor_seconds / chain.steps * 1000
    rate = fan.steps / fan.seconds
    floor_rate = fan.steps / fan.floor_seconds
    return "\n".join(
        [
            "| workflow shape | time s | per step ms | steps/s | CPU ms per step (API + worker) "
            "| floor (bare arq) | ratio | aim |",
            "|---|---:|---:|---:|---:|---|---|---|",
            f"| {chain.label} | {chain.seconds:.2f} | {per_step:.1f} | "
            f"{chain.steps / chain.seconds:,.0f} | {chain.cpu_s / chain.steps * 1000:.1f} | "
            f"{floor_step:.1f} ms per step | "
            f"{per_step / floor_step:.1f}x | ≤ {CHAIN_AIM_MS:g} ms per step |",
            f"| {fan.label} | {fan.seconds:.2f} | {fan.seconds / fan.steps * 1000:.1f} | "
            f"{rate:,.0f} | {fan.cpu_s / fan.steps * 1000:.1f} | "
            f"{floor_rate:,.0f} steps/s | {floor_rate / rate:.1f}x | "
            f"≥ {FAN_AIM:,} steps/s |",
        ]
    )


def summary_lines(chain: Shape, fan: Shape) -> list[summary.Line]:
    per_step = chain.seconds / chain.steps * 1000
    rate = fan.steps / fan.seconds
    return [
        summary.Line(f"workflow chain ({chain.steps} steps), per step", per_step,
                     "bare arq jobs, same shape", chain.floor_seconds / chain.steps * 1000, "ms",
                     f"≤ {CHAIN_AIM_MS:g} ms", per_step <= CHAIN_AIM_MS),
        summary.Line(f"workflow fan-out ({fan.steps} steps)", rate, "bare arq jobs, same shape",
                     fan.steps / fan.floor_seconds, "steps/s", f"≥ {FAN_AIM:,} steps/s",
                     rate >= FAN_AIM),
    ]  # fmt: skip


async def run(
    data_dir: Path, chain_n: int = CHAIN, fan_n: int = FAN
) -> tuple[str, list[summary.Line]]:
    """Each of our shapes, then the same shape as bare arq jobs, while the stack idles."""
    stack = Stack("sandbox", data_dir, name="workflows")
    redis_url = os.environ["NEURONEST_TEST_REDIS_URL"]
    log("workflows: starting a stack")
    stack.start()
    try:
        client = Client(stack)
        await client.login()
        await run_workflow(client, chain_steps(3), 60)  # warm-up

        def cpu() -> float:
            return cpu_seconds(stack.api_pid) + cpu_seconds(stack.worker_pid)

        log(f"workflows: a {chain_n}-step chain, then as bare arq jobs")
        before = cpu()
        chain = await run_workflow(client, chain_steps(chain_n), 600)
        chain_cpu = cpu() - before
        chain_floor = await arq_floor(redis_url, "chain", chain_n)
        log(f"workflows: a {fan_n}-step fan-out/fan-in, then as bare arq jobs")
        before = cpu()
        fan = await run_workflow(client, fan_steps(fan_n), 900)
        fan_cpu = cpu() - before
        fan_floor = await arq_floor(redis_url, "fan", fan_n)
        await client.http.aclose()
    finally:
        stack.stop()
    shapes = (
        Shape(f"{chain_n}-step chain", chain_n, chain, chain_floor, chain_cpu),
        Shape(
            f"{fan_n}-step fan-out + fan-in ({fan_n + 2} steps)",
            fan_n + 2,
            fan,
            fan_floor,
            fan_cpu,
        ),
    )
    return table(*shapes), summary_lines(*shapes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chain", type=int, default=CHAIN, help="steps of the chain")
    parser.add_argument("--fan", type=int, default=FAN, help="parallel steps of the fan-out")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="neuronest-bench-") as tmp:
        print(asyncio.run(run(Path(tmp), args.chain, args.fan))[0])


if __name__ == "__main__":
    main()
