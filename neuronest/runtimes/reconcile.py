"""Repairs what a dead worker leaves behind: re-attaches followers, fails vanished runs, and
removes containers that belong to no run."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tortoise.expressions import Q

from neuronest.config import Settings
from neuronest.jobs.identity import WORKER_ID
from neuronest.kit.time import utcnow
from neuronest.runtimes.backends import get_backend
from neuronest.runtimes.execution import finish, supervise
from neuronest.runtimes.models import ACTIVE, Runtime, RuntimeStatus
from neuronest.runtimes.oneshot import SNIPPET_PREFIX, abandoned_snippet
from neuronest.runtimes.probe import docker_answers
from neuronest.services import Services

log = logging.getLogger(__name__)
_followers: set[asyncio.Task[None]] = set()


async def reconcile_once(services: Services) -> None:
    settings = services.settings
    stale = utcnow() - timedelta(seconds=settings.runtime_stale_after)
    orphaned = await Runtime.filter(status__in=ACTIVE).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at=None, updated_at__lt=stale)
    )
    for runtime in orphaned:
        try:
            await _recover(services, runtime)
        except Exception:
            log.exception("could not recover runtime %s", runtime.id)
    await _remove_strays(settings)


async def _recover(services: Services, runtime: Runtime) -> None:
    if runtime.worker_id is None and runtime.container_id is None:
        # Never picked up (the queue was lost or busy): hand it out again; the job id dedupes.
        await services.jobs.enqueue(
            "start_runtime_run",
            str(runtime.id),
            runtime.run,
            job_id=f"runtime:{runtime.id}:{runtime.run}",
        )
        return
    claimed = await Runtime.filter(
        id=runtime.id,
        run=runtime.run,
        worker_id=runtime.worker_id,
        heartbeat_at=runtime.heartbeat_at,
        status__in=ACTIVE,
    ).update(worker_id=WORKER_ID, heartbeat_at=utcnow())
    if not claimed:
        return
    if runtime.container_id is None:
        await finish(
            services,
            runtime.id,
            runtime.run,
            RuntimeStatus.FAILED,
            error="the worker starting this run stopped before it started",
        )
        return
    if runtime.backend == "sandbox":
        await finish(
            services,
            runtime.id,
            runtime.run,
            RuntimeStatus.FAILED,
            error="the worker running this sandbox stopped, and its program ended with it",
        )
        return
    backend = get_backend(services.settings, runtime.backend or "docker")
    if not await backend.exists(runtime.container_id):
        await finish(
            services, runtime.id, runtime.run, RuntimeStatus.FAILED, error="its container vanished"
        )
        return
    log.info("re-attaching runtime %s run %s", runtime.id, runtime.run)
    runtime = await Runtime.get(id=runtime.id)
    task = asyncio.create_task(
        supervise(
            services,
            runtime,
            backend,
            runtime.container_id or "",
            first_line="log follower re-attached after its worker stopped",
        )
    )
    _followers.add(task)
    task.add_done_callback(_followers.discard)


async def _remove_strays(settings: Settings) -> None:
    names = ["sandbox"]
    if settings.runtime_backend != "sandbox" and await docker_answers(settings):
        names.append("docker")
    for name in names:
        backend = get_backend(settings, name)
        held = await backend.managed()
        if not held:
            continue
        # Starting runs first: one that moves on to running between the two reads is then in
        # `live` (its container id is set by the same update), never in neither.
        runtime_ids = [r for r in set(held.values()) if not r.startswith(SNIPPET_PREFIX)]
        starting = {
            str(v)
            for v in await Runtime.filter(
                id__in=runtime_ids, status=RuntimeStatus.STARTING
            ).values_list("id", flat=True)
        }
        live = {
            str(handle)
            for handle in await Runtime.filter(
                container_id__in=list(held), status__in=ACTIVE
            ).values_list("container_id", flat=True)
        }
        for handle, runtime_id in held.items():
            if runtime_id.startswith(SNIPPET_PREFIX):  # code run by a task, not a runtime
                if abandoned_snippet(runtime_id):
                    await backend.remove(handle)
                continue
            if handle not in live and runtime_id not in starting:
                log.info("removing stray %s run %s of runtime %s", name, handle, runtime_id)
                await backend.remove(handle)
