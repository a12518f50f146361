"""Jobs as operators see them: counted by kind and outcome, logged with the request that
queued them (its id travels in the job's keyword arguments, see jobs/dispatch.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from neuronest.jobs.registry import JobFunction
from neuronest.observability import metrics
from neuronest.observability.context import JobFields, current_job, request_id

log = logging.getLogger("neuronest.jobs")

# The keyword argument that carries the request id of the code that queued a job.
REQUEST_ID_ARG = "neuronest_request_id"


def instrumented(kind: str, function: JobFunction) -> JobFunction:
    """`function` counted (started, running, finished by outcome, duration) and run with the
    request id it was queued with and its own fields in every log line."""

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        queued_by = kwargs.pop(REQUEST_ID_ARG, None)
        job = JobFields(kind, ctx.get("job_id"), int(ctx.get("job_try") or 1))
        request_token = request_id.set(queued_by if queued_by is not None else request_id.get())
        job_token = current_job.set(job)
        metrics.JOBS_STARTED.labels(kind).inc()
        running = metrics.JOBS_RUNNING.labels(kind)
        running.inc()
        started = time.perf_counter()
        outcome = "failed"
        log.debug("job started")
        try:
            result = await function(ctx, *args, **kwargs)
            outcome = "completed"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            seconds = time.perf_counter() - started
            running.dec()
            metrics.JOBS_FINISHED.labels(kind, outcome).inc()
            metrics.JOB_DURATION.labels(kind, outcome).observe(seconds)
            level = logging.WARNING if outcome == "failed" else logging.INFO
            log.log(level, "job %s %s in %.3f s", kind, outcome, seconds)
            current_job.reset(job_token)
            request_id.reset(request_token)

    return run
