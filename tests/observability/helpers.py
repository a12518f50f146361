from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Mailbox, start_stack
from tests.harness import Stack, free_port
from tests.llm.fake_llm import FakeLLM

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def observed_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mailbox: Mailbox,
    llm: FakeLLM,
) -> Stack:
    """A deployment with JSON logs, gauges read at every scrape and, with a separate worker,
    the worker's own /metrics on a port of its own (`stack.env`'s NEURONEST_WORKER_METRICS_PORT)."""
    workdir = tmp_path_factory.mktemp(f"observed-{request.param}")
    return start_stack(
        request.param,
        workdir,
        mailbox,
        llm,
        NEURONEST_LOG_FORMAT="json",
        NEURONEST_METRICS_REFRESH_INTERVAL="0",
        NEURONEST_WORKER_METRICS_PORT=str(free_port()),
    )


def job_metrics_url(stack: Stack) -> str:
    """Where the process that runs the jobs serves its metrics."""
    if "worker" in stack.processes:
        return f"http://127.0.0.1:{stack.env['NEURONEST_WORKER_METRICS_PORT']}"
    return stack.url


async def scrape(url: str, timeout: float = 30) -> Samples:
    """Every sample of `url`/metrics; waits (with a deadline) for a worker's endpoint to open."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            try:
                response = await client.get(f"{url}/metrics")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and wanted <= set(pairs)
    )


def label_sets(samples: Samples, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {pairs for sample, pairs in samples if sample == name}


async def eventually(check: Callable[[], Awaitable[list[str]]], timeout: float = 60) -> None:
    """Polls `check` (which returns what is still wrong) until it returns nothing."""
    deadline = time.monotonic() + timeout
    while True:
        wrong = await check()
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise AssertionError("; ".join(wrong))
        await asyncio.sleep(0.1)


def json_lines(log: Path) -> list[dict[str, Any]]:
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                entries.append(json.loads(line))
    return entries
