"""The composition root: builds the `Services` of a process and connects the domains.

The app, the worker and the CLI start here; below, every domain takes what it needs as an
argument. Where a lower domain's change concerns a higher one, the higher one's handler is
connected to the lower one's hook here (docs/architecture.md)."""

from __future__ import annotations

import asyncio

# Importing a domain's jobs module registers its jobs (`@job`).
from neuronest.auth import jobs as auth_jobs
from neuronest.config import Settings
from neuronest.jobs.reconcile import reconcile_forever
from neuronest.jobs.registry import JOBS, JobFunction
from neuronest.llm.client import close_clients, preload
from neuronest.orchestration.tasks import jobs as task_jobs
from neuronest.orchestration.tasks.events import TASK_FINISHED
from neuronest.orchestration.tasks.execution import RUN_CLAIMED, listen_for_control
from neuronest.orchestration.workflows import engine
from neuronest.orchestration.workflows import jobs as workflow_jobs
from neuronest.projects.service import PROJECT_DELETING
from neuronest.runtimes import jobs as runtime_jobs
from neuronest.runtimes import service as runtimes
from neuronest.runtimes.backends import close_backends
from neuronest.services import Services

_JOB_MODULES = (auth_jobs, task_jobs, workflow_jobs, runtime_jobs)


def all_jobs() -> dict[str, JobFunction]:
    """Every background job by name (the arq worker's functions, the in-process runner's)."""
    return dict(JOBS)


def build_services(settings: Settings) -> Services:
    """A process's services (not started yet), the domains connected."""
    services = Services(settings, all_jobs())
    services.hooks.connect(PROJECT_DELETING, runtimes.delete_project_runtimes)
    services.hooks.connect(TASK_FINISHED, engine.on_task_finished)
    services.hooks.connect(RUN_CLAIMED, engine.start_run)
    services.on_close(close_backends)
    services.on_close(close_clients)
    return services


async def prepare_workers(services: Services) -> None:
    """What runs jobs here (workers, the embedded process) loads the model layer up front: its
    first import would otherwise stall the event loop for seconds mid-request. It listens for
    the control of the tasks it runs, and runs the reconciler."""
    await asyncio.to_thread(preload, services.settings)
    services.keep(await listen_for_control(services.bus))
    services.runs_jobs = True
    services.keep(asyncio.create_task(reconcile_forever(services), name="reconciler"))
