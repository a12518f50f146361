"""The worker pool stops a runaway job and keeps serving the next one."""

from __future__ import annotations

import time

import pytest

from neuronest.kit.offload import BudgetExceeded, run_bounded

POOL = {"workers": 1, "memory_bytes": 256 * 1024 * 1024}


async def test_a_job_past_its_time_is_killed_and_the_pool_goes_on() -> None:
    with pytest.raises(BudgetExceeded, match=r"took longer than 0.5 s"):
        await run_bounded(time.sleep, 30, timeout=0.5, **POOL)
    assert await run_bounded(sorted, [3, 1, 2], timeout=30, **POOL) == [1, 2, 3]


async def test_a_job_that_balloons_gets_a_memory_error_not_the_hosts_memory() -> None:
    with pytest.raises(BudgetExceeded, match=r"needed more than 256 MiB"):
        await run_bounded(bytearray, 1024 * 1024 * 1024, timeout=30, **POOL)
    assert await run_bounded(len, b"x" * 1000, timeout=30, **POOL) == 1000


async def test_an_output_over_its_cap_is_refused() -> None:
    with pytest.raises(BudgetExceeded, match=r"output too large \(2000 characters, at most 100\)"):
        await run_bounded(str.__mul__, "ab", 1000, timeout=30, max_output=100, **POOL)
    assert await run_bounded(str.__mul__, "ab", 10, timeout=30, max_output=100, **POOL) == "ab" * 10
