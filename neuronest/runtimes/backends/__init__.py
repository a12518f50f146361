"""The runtime backends of this process, created once each."""

from __future__ import annotations

from neuronest.config import Settings
from neuronest.runtimes.backends.base import Backend

_backends: dict[str, Backend] = {}


def get_backend(settings: Settings, name: str) -> Backend:
    if name not in _backends:
        if name == "docker":
            from neuronest.runtimes.backends.docker import DockerBackend

            _backends[name] = DockerBackend(
                settings.docker_url, instance=settings.resolved_instance
            )
        elif name == "sandbox":
            from neuronest.runtimes.backends.sandbox import SandboxBackend

            _backends[name] = SandboxBackend(
                settings.resolved_sandbox_dir, network=settings.sandbox_network
            )
        else:
            raise ValueError(f"unknown runtime backend {name!r}")
    return _backends[name]


async def close_backends() -> None:
    for backend in list(_backends.values()):
        close = getattr(backend, "close", None)
        if close is not None:
            await close()
    _backends.clear()
