"""Runtimes: a project's files run as an isolated program with env vars, a timeout and logs."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from neuronest.auth.models import User
from neuronest.config import Settings
from neuronest.errors import Conflict, Invalid
from neuronest.kit.jsonvalue import small_object
from neuronest.kit.ownership import as_uuid, filter_uuid, get_owned, newest_first
from neuronest.kit.pagination import Page
from neuronest.kit.quota import within_quota
from neuronest.kit.time import utcnow
from neuronest.projects.service import check_path, get_project
from neuronest.runtimes.backends import get_backend
from neuronest.runtimes.envhooks import is_hook
from neuronest.runtimes.events import control_channel, publish_status, status_channel
from neuronest.runtimes.execution import finish
from neuronest.runtimes.models import ACTIVE, Runtime, RuntimeLog, RuntimeStatus
from neuronest.services import Services

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_ENV = {"PORT", "PATH", "HOME"}
MAX_ENV_VALUE = 32 * 1024
STOP_WAIT_SECONDS = 15.0


def check_language(settings: Settings, language: str) -> str:
    if language not in settings.runtime_images or language not in settings.runtime_commands:
        known = ", ".join(sorted(settings.runtime_images))
        raise Invalid(f"language: {language!r} is not supported (known: {known})", field="language")
    return language


def check_env(settings: Settings, env: Any) -> dict[str, str]:
    small_object(env, "environment_vars", settings)
    if not isinstance(env, dict):
        raise Invalid("environment_vars: must be an object", field="environment_vars")
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not ENV_NAME.match(name):
            raise Invalid(
                f"environment_vars: {name!r} is not a valid variable name", field="environment_vars"
            )
        if name in RESERVED_ENV:
            raise Invalid(
                f"environment_vars: {name} is set by the platform", field="environment_vars"
            )
        if is_hook(name):
            raise Invalid(
                f"environment_vars: {name} is refused: loader and interpreter hooks would run "
                "code before the program",
                field="environment_vars",
            )
        text = env_text(name, value)
        if len(text) > MAX_ENV_VALUE or "\x00" in text:
            raise Invalid(
                f"environment_vars: {name} is too long or holds a NUL", field="environment_vars"
            )
        checked[name] = text
    return checked


def env_text(name: str, value: Any) -> str:
    """A variable's value as its text: a string, or a number or boolean written as one."""
    if not isinstance(value, str | int | float | bool):
        raise Invalid(f"environment_vars: {name} must be a string", field="environment_vars")
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_timeout(settings: Settings, timeout: int) -> int:
    limit = settings.runtime_max_timeout
    if not 1 <= timeout <= limit:
        raise Invalid(f"timeout: must be between 1 and {limit} seconds", field="timeout")
    return timeout


async def create_runtime(
    services: Services,
    *,
    actor: User,
    project_id: str,
    language: str,
    entry_point: str,
    environment_vars: Any = None,
    timeout: int = 300,
) -> Runtime:
    project = await get_project(actor=actor, project_id=project_id)
    settings = services.settings
    language = check_language(settings, language)
    entry_point = check_path(entry_point, "entry_point")
    env = check_env(settings, {} if environment_vars is None else environment_vars)
    timeout = check_timeout(settings, timeout)
    limit = settings.max_runtimes_per_user
    mine = Runtime.filter(user_id=actor.id).count
    async with within_quota(User, actor.id, mine, limit, "MAX_RUNTIMES_PER_USER runtimes"):
        return await Runtime.create(
            user=actor,
            project=project,
            language=language,
            entry_point=entry_point,
            environment_vars=env,
            timeout=timeout,
        )


async def list_runtimes(
    *,
    actor: User,
    page: Page,
    project_id: str | None = None,
    status: str | None = None,
    language: str | None = None,
) -> list[Runtime]:
    query = Runtime.filter(user_id=actor.id)
    if project_id is not None:
        query = query.filter(project_id=filter_uuid(project_id, "project_id"))
    if status is not None:
        if status not in {s.value for s in RuntimeStatus}:
            raise Invalid(f"status: {status!r} is not a runtime status", field="status")
        query = query.filter(status=status)
    if language is not None:
        query = query.filter(language=language)
    return await newest_first(query, page)


async def get_runtime(*, actor: User, runtime_id: str) -> Runtime:
    return await get_owned(Runtime, runtime_id, actor, "Runtime")


async def update_runtime(
    services: Services,
    *,
    actor: User,
    runtime_id: str,
    entry_point: str | None = None,
    environment_vars: Any = None,
    timeout: int | None = None,
) -> Runtime:
    """Changes take effect on the next start; a running runtime is stopped first."""
    runtime = await get_runtime(actor=actor, runtime_id=runtime_id)
    changes: dict[str, Any] = {}
    if entry_point is not None:
        changes["entry_point"] = check_path(entry_point, "entry_point")
    if environment_vars is not None:
        changes["environment_vars"] = check_env(services.settings, environment_vars)
    if timeout is not None:
        changes["timeout"] = check_timeout(services.settings, timeout)
    if runtime.status in ACTIVE:
        runtime = await stop_runtime(services, actor=actor, runtime_id=runtime_id)
    if changes:
        await Runtime.filter(id=runtime.id).update(**changes, updated_at=utcnow())
        await runtime.refresh_from_db()
    return runtime


async def start_runtime(services: Services, *, actor: User, runtime_id: str) -> Runtime:
    """Hands the run to a worker and answers at once (status `starting`)."""
    runtime = await get_runtime(actor=actor, runtime_id=runtime_id)
    if runtime.status in ACTIVE:
        raise Conflict(f"Runtime is already {runtime.status}")
    run = runtime.run + 1
    moved = await Runtime.filter(id=runtime.id, run=runtime.run, status=runtime.status).update(
        status=RuntimeStatus.STARTING,
        run=run,
        worker_id=None,
        heartbeat_at=None,
        exit_code=None,
        error=None,
        started_at=None,
        finished_at=None,
        log_cursor=None,
        updated_at=utcnow(),
    )
    if not moved:
        raise Conflict("Runtime changed meanwhile; try again")
    await runtime.refresh_from_db()
    await publish_status(services, runtime)
    await services.jobs.enqueue(
        "start_runtime_run", str(runtime.id), run, job_id=f"runtime:{runtime.id}:{run}"
    )
    return runtime


async def stop_runtime(services: Services, *, actor: User, runtime_id: str) -> Runtime:
    """Stops the program and waits until it has stopped; a finished runtime stays as it is."""
    runtime = await get_runtime(actor=actor, runtime_id=runtime_id)
    if runtime.status not in ACTIVE:
        return runtime
    with await services.bus.subscribe(status_channel(runtime.id)) as statuses:
        unclaimed = await Runtime.filter(
            id=runtime.id, run=runtime.run, status=RuntimeStatus.STARTING, worker_id=None
        ).update(status=RuntimeStatus.STOPPED, finished_at=utcnow())
        if unclaimed:
            await runtime.refresh_from_db()
            await publish_status(services, runtime)
            return runtime
        await Runtime.filter(
            id=runtime.id,
            run=runtime.run,
            status__in=(RuntimeStatus.STARTING, RuntimeStatus.RUNNING),
        ).update(status=RuntimeStatus.STOPPING)
        await services.bus.publish(control_channel(runtime.id), {"action": "stop"})
        deadline = asyncio.get_running_loop().time() + STOP_WAIT_SECONDS
        while True:
            await runtime.refresh_from_db()
            remaining = deadline - asyncio.get_running_loop().time()
            if runtime.status not in ACTIVE or remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(statuses.get(), min(remaining, 0.5))
    if runtime.status in ACTIVE:
        await _force_stop(services, runtime)
        await runtime.refresh_from_db()
    return runtime


async def _force_stop(services: Services, runtime: Runtime) -> None:
    """No worker answered: stop what can be reached from here and record it."""
    if runtime.container_id and runtime.backend:
        backend = get_backend(services.settings, runtime.backend)
        await backend.stop(runtime.container_id)
        await backend.remove(runtime.container_id)
    await finish(
        services, runtime.id, runtime.run, RuntimeStatus.STOPPED, error="stopped without its worker"
    )


async def restart_runtime(services: Services, *, actor: User, runtime_id: str) -> Runtime:
    await stop_runtime(services, actor=actor, runtime_id=runtime_id)
    return await start_runtime(services, actor=actor, runtime_id=runtime_id)


async def delete_runtime(services: Services, *, actor: User, runtime_id: str) -> None:
    runtime = await stop_runtime(services, actor=actor, runtime_id=runtime_id)
    await RuntimeLog.filter(runtime_id=runtime.id).delete()
    await runtime.delete()


async def delete_project_runtimes(services: Services, actor: User, project_id: str) -> None:
    """A project is being deleted (projects.PROJECT_DELETING): its runtimes go first."""
    for runtime_id in await Runtime.filter(
        user_id=actor.id, project_id=as_uuid(project_id, "Project")
    ).values_list("id", flat=True):
        await delete_runtime(services, actor=actor, runtime_id=str(runtime_id))


async def list_logs(
    *, actor: User, runtime_id: str, limit: int = 100, after_seq: int | None = None
) -> list[RuntimeLog]:
    """The most recent `limit` lines in time order (or the first `limit` after `after_seq`)."""
    runtime = await get_runtime(actor=actor, runtime_id=runtime_id)
    Page(limit=limit)
    query = RuntimeLog.filter(runtime_id=runtime.id)
    if after_seq is not None:
        return await query.filter(seq__gt=after_seq).order_by("seq").limit(limit)
    rows = await query.order_by("-seq").limit(limit)
    return rows[::-1]
