"""CPU-bound work on user-sized data runs in worker processes, off the event loop.

A process is the only thing that can stop a runaway computation: a job that outlives its time
budget has its worker process killed (and replaced), and each worker's address space is capped so
a job that balloons gets a `MemoryError` instead of eating the host's memory. Workers run at a
lower CPU priority than the server.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import resource
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

T = TypeVar("T")

_pool: ProcessPool | None = None
_pool_key: tuple[int, int] | None = None


class BudgetExceeded(Exception):
    """The job ran out of time, memory or output size; the message says which."""


class OutputTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _prepare_worker(max_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    os.nice(10)  # on a busy host the server's own requests come first


def _call(function: Callable[..., Any], args: tuple[Any, ...], max_output: int | None) -> Any:
    result = function(*args)
    if max_output is not None and len(result) > max_output:
        raise OutputTooLarge(len(result))
    return result


def _get_pool(workers: int, memory_bytes: int) -> ProcessPool:
    global _pool, _pool_key
    if _pool is None or _pool_key != (workers, memory_bytes) or not _pool.active:
        if _pool is not None:
            _pool.stop()  # type: ignore[no-untyped-call]
        # spawn: a fork of a process with running threads (the server's) is not safe.
        _pool = ProcessPool(
            max_workers=workers,
            initializer=_prepare_worker,
            initargs=(memory_bytes,),
            context=multiprocessing.get_context("spawn"),
        )
        _pool_key = (workers, memory_bytes)
    return _pool


@atexit.register
def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.stop()  # type: ignore[no-untyped-call]
        _pool.join(timeout=5)
        _pool = None


async def run_bounded(
    function: Callable[..., T],
    *args: Any,
    timeout: float,
    workers: int,
    memory_bytes: int,
    max_output: int | None = None,
) -> T:
    """`function(*args)` in a worker process; `BudgetExceeded` when it needs more than allowed.

    `function` and its arguments must be picklable (a module-level function and plain data).
    Cancelling the caller kills the job's worker.
    """
    future = _get_pool(workers, memory_bytes).schedule(
        _call, args=(function, args, max_output), timeout=timeout
    )
    try:
        result: T = await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        future.cancel()  # type: ignore[no-untyped-call]
        raise
    except FutureTimeout:
        raise BudgetExceeded(f"took longer than {timeout:g} s") from None
    except MemoryError:
        raise BudgetExceeded(f"needed more than {memory_bytes // (1024 * 1024)} MiB") from None
    except OutputTooLarge as error:
        raise BudgetExceeded(
            f"output too large ({error.size} characters, at most {max_output})"
        ) from None
    except ProcessExpired as error:
        raise BudgetExceeded(f"worker process died ({error})") from None
    return result
