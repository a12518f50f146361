"""Background jobs register here by name (`@job`); `neuronest.wiring` imports every domain's
jobs module and hands the table to the arq worker and the in-process runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

JobFunction = Callable[..., Awaitable[Any]]

JOBS: dict[str, JobFunction] = {}


def job(function: JobFunction) -> JobFunction:
    """Register a job. Jobs take ids, load rows, call services, and are safe to run twice."""
    JOBS[function.__name__] = function
    return function
