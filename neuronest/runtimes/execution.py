"""Running a runtime: start it on a backend, follow its output, enforce its deadline, finish it.

The worker that starts a run owns it and proves it with a heartbeat. Every change of status is a
compare-and-set on (id, run, status), so a duplicate job, a late stop or a second worker cannot
move a run backwards or finish it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import timedelta
from typing import Any

import aiodocker

from neuronest.config import Settings
from neuronest.db import to_the_end
from neuronest.jobs.identity import WORKER_ID
from neuronest.kit.time import utcnow
from neuronest.projects.service import files_version, load_files
from neuronest.runtimes.backends import get_backend
from neuronest.runtimes.backends.base import Backend, Limits, RunSpec
from neuronest.runtimes.events import control_channel, publish_status
from neuronest.runtimes.logs import LogWriter
from neuronest.runtimes.models import ACTIVE, Runtime, RuntimeStatus
from neuronest.runtimes.probe import docker_answers, sandbox_available
from neuronest.services import Services

log = logging.getLogger(__name__)


class StartError(Exception):
    pass


async def docker_has_image(settings: Settings, image: str) -> bool:
    try:
        async with aiodocker.Docker(url=settings.docker_url) as docker:
            await docker.images.inspect(image)
        return True
    except Exception:
        return False


async def choose_backend(settings: Settings, language: str) -> str:
    image = settings.runtime_images[language]
    if settings.runtime_backend in ("auto", "docker"):
        if await docker_answers(settings) and await docker_has_image(settings, image):
            return "docker"
        if settings.runtime_backend == "docker":
            raise StartError(f"Docker is not reachable or has no image {image}")
    if not sandbox_available():
        raise StartError("no runtime backend: Docker is unusable and bubblewrap is missing")
    return "sandbox"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_spec(
    settings: Settings, runtime: Runtime, files: dict[str, bytes], source: str | None = None
) -> RunSpec:
    network = settings.docker_network
    port = None if network == "none" else free_port()
    env = dict(runtime.environment_vars)
    if port is not None:
        env["PORT"] = str(port)
    command = [
        part.replace("{entry_point}", runtime.entry_point)
        for part in settings.runtime_commands[runtime.language]
    ]
    return RunSpec(
        runtime_id=str(runtime.id),
        user_id=str(runtime.user_id),  # type: ignore[attr-defined]
        run=runtime.run,
        language=runtime.language,
        image=settings.runtime_images[runtime.language],
        command=command,
        files=files,
        source=source,
        env=env,
        port=port,
        network=network,
        limits=Limits(
            memory_bytes=settings.runtime_memory_bytes,
            cpus=settings.runtime_cpus,
            pids=settings.runtime_pids,
            cpu_seconds=runtime.timeout + 5,
        ),
    )


async def finish(
    services: Services,
    runtime_id: Any,
    run: int,
    status: RuntimeStatus,
    *,
    exit_code: int | None = None,
    error: str | None = None,
) -> bool:
    """Moves an active run to its final status, once; False if it had already finished."""
    finished = await Runtime.filter(id=runtime_id, run=run, status__in=ACTIVE).update(
        status=status,
        exit_code=exit_code,
        error=error,
        finished_at=utcnow(),
        container_id=None,
        port=None,
        url=None,
        worker_id=None,
        deadline_at=None,
    )
    if finished:
        runtime = await Runtime.get_or_none(id=runtime_id)
        if runtime is not None:
            await publish_status(services, runtime)
    return bool(finished)


async def start_run(services: Services, runtime_id: str, run: int) -> None:
    """The start job: claims the run, starts it on a backend, then follows it to the end."""
    now = utcnow()
    claimed = await Runtime.filter(
        id=runtime_id, run=run, status=RuntimeStatus.STARTING, worker_id=None
    ).update(worker_id=WORKER_ID, heartbeat_at=now)
    if not claimed:
        return
    runtime = await Runtime.get(id=runtime_id)
    settings = services.settings
    try:
        backend_name = await choose_backend(settings, runtime.language)
        backend = get_backend(settings, backend_name)
        project_id = runtime.project_id  # type: ignore[attr-defined]
        version, paths = await files_version(project_id)
        if runtime.entry_point not in paths:
            raise StartError(f"entry point {runtime.entry_point!r} is not a file of the project")
        source = f"{project_id}/{version}"
        files = {} if backend.has_source(source) else await load_files(project_id)
        spec = build_spec(settings, runtime, files, source)
        handle = await backend.start(spec)
    except Exception as error:
        log.warning("runtime %s could not start: %s", runtime_id, error)
        await _system_line(services, runtime, f"could not start: {error}")
        await finish(
            services, runtime_id, run, RuntimeStatus.FAILED, error=f"could not start: {error}"
        )
        return
    now = utcnow()
    url = f"http://{settings.runtime_url_host}:{spec.port}" if spec.port else None
    running = await Runtime.filter(
        id=runtime_id, run=run, status=RuntimeStatus.STARTING, worker_id=WORKER_ID
    ).update(
        status=RuntimeStatus.RUNNING,
        container_id=handle,
        backend=backend_name,
        port=spec.port,
        url=url,
        started_at=now,
        heartbeat_at=now,
        deadline_at=now + timedelta(seconds=runtime.timeout),
    )
    if not running:  # stopped (or deleted) while it was starting
        await backend.stop(handle)
        await backend.remove(handle)
        await finish(services, runtime_id, run, RuntimeStatus.STOPPED)
        return
    runtime = await Runtime.get(id=runtime_id)
    await publish_status(services, runtime)
    where = f", serving on port {spec.port}" if spec.port else ""
    detail = f"image {spec.image}" if backend_name == "docker" else "bubblewrap"
    await supervise(
        services,
        runtime,
        backend,
        handle,
        first_line=f"run {run} started on the {backend_name} backend ({detail}){where}",
    )


async def _system_line(services: Services, runtime: Runtime, message: str) -> None:
    async with LogWriter(services.bus, runtime) as writer:
        writer.system(message)


OUTPUT_GRACE = 10.0  # seconds an exited program's output may take to end


async def supervise(
    services: Services, runtime: Runtime, backend: Backend, handle: str, first_line: str
) -> None:
    """Follows a running program to its end: stores its output, stops it on request or at its
    deadline, keeps the heartbeat, and records how it ended."""
    settings = services.settings
    run = runtime.run
    stop_reason: list[str] = []

    async def kill(reason: str) -> None:
        if not stop_reason:
            stop_reason.append(reason)
            await backend.stop(handle)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(settings.runtime_heartbeat)
            mine = await to_the_end(
                Runtime.filter(id=runtime.id, run=run, worker_id=WORKER_ID).update(
                    heartbeat_at=utcnow()
                )
            )
            if not mine:
                await kill("gone")

    async def watch() -> None:
        deadline = runtime.deadline_at or utcnow() + timedelta(seconds=runtime.timeout)
        with await services.bus.subscribe(control_channel(runtime.id)) as control:
            current = await Runtime.get_or_none(id=runtime.id)
            if current is None or current.status == RuntimeStatus.STOPPING:
                await kill("stop")
                return
            while True:
                remaining = (deadline - utcnow()).total_seconds()
                if remaining <= 0:
                    await kill("timeout")
                    return
                try:
                    _, message = await asyncio.wait_for(control.get(), remaining)
                except TimeoutError:
                    continue
                if message.get("action") == "stop":
                    await kill("stop")
                    return

    async with LogWriter(services.bus, runtime) as writer:
        writer.system(first_line)

        async def follow() -> None:
            async for batch in backend.output_batches(handle, after=runtime.log_cursor):
                await writer.take(
                    batch.stream, batch.lines, batch.partial, batch.cursor, batch.cursors
                )

        following = asyncio.create_task(follow())
        exiting = asyncio.create_task(backend.wait(handle))
        helpers = [asyncio.create_task(heartbeat()), asyncio.create_task(watch())]
        try:
            await asyncio.wait({following, exiting}, return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                following.result()  # a failed stream fails the run as before
                exit_code = await exiting
            else:
                # Exited, and its output has not ended: a stream that never ends (Docker's log
                # follow, seen once under load) must not hold the run, nor this worker, forever.
                exit_code = exiting.result()
                try:
                    await asyncio.wait_for(asyncio.shield(following), OUTPUT_GRACE)
                except TimeoutError:
                    log.warning("runtime %s: output did not end after the exit", runtime.id)
                    writer.system(
                        f"the output did not end within {OUTPUT_GRACE:g} s of the exit; "
                        "what came later is not kept"
                    )
        finally:
            for task in (following, exiting, *helpers):
                task.cancel()
            for task in (following, exiting, *helpers):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        reason = stop_reason[0] if stop_reason else None
        if reason == "timeout":
            writer.system(f"timeout: stopped after {runtime.timeout} s")
        elif reason in ("stop", "gone"):
            writer.system("stopped")
        else:
            writer.system(f"exited with code {exit_code}")
    await backend.remove(handle)
    if reason == "timeout":
        await finish(services, runtime.id, run, RuntimeStatus.TIMEOUT, exit_code=exit_code)
    elif reason in ("stop", "gone"):
        await finish(services, runtime.id, run, RuntimeStatus.STOPPED, exit_code=exit_code)
    elif exit_code == 0:
        await finish(services, runtime.id, run, RuntimeStatus.COMPLETED, exit_code=0)
    else:
        await finish(
            services,
            runtime.id,
            run,
            RuntimeStatus.FAILED,
            exit_code=exit_code,
            error=f"exited with code {exit_code}",
        )
