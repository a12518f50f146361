"""Which runtime backend can run programs here, for `/readyz` and backend selection."""

from __future__ import annotations

import asyncio
import shutil

import aiodocker

from neuronest.config import Settings
from neuronest.errors import Unavailable

DOCKER_PING_TIMEOUT = 2.0


async def docker_answers(settings: Settings) -> bool:
    try:
        async with aiodocker.Docker(url=settings.docker_url) as docker:
            await asyncio.wait_for(docker.version(), DOCKER_PING_TIMEOUT)
        return True
    except Exception:
        return False


def sandbox_available() -> bool:
    return shutil.which("bwrap") is not None


async def active_backend(settings: Settings) -> str:
    """The backend new runs use; Unavailable when the configured one cannot run anything."""
    if settings.runtime_backend in ("auto", "docker") and await docker_answers(settings):
        return "docker"
    if settings.runtime_backend == "docker":
        raise Unavailable("Docker daemon is not reachable")
    if sandbox_available():
        return "sandbox"
    raise Unavailable("no runtime backend: Docker is not reachable and bubblewrap is missing")
