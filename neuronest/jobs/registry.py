"""Every background job by name; the arq worker and the in-process runner both read it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

JobFunction = Callable[..., Awaitable[Any]]

JOBS: dict[str, JobFunction] = {}


def job(function: JobFunction) -> JobFunction:
    """Register a job. Jobs take ids, load rows, call services, and are safe to run twice."""
    JOBS[function.__name__] = function
    return function


def load_all_jobs() -> dict[str, JobFunction]:
    # Importing a domain's jobs module registers its jobs.
    import neuronest.auth.jobs
    import neuronest.orchestration.tasks.jobs
    import neuronest.orchestration.workflows.jobs
    import neuronest.runtimes.jobs  # noqa: F401

    return JOBS
