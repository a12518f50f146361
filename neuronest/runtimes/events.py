from __future__ import annotations

from neuronest.runtimes.models import Runtime
from neuronest.services import Services


def status_channel(runtime_id: object) -> str:
    return f"runtime:{runtime_id}:status"


def control_channel(runtime_id: object) -> str:
    return f"runtime:{runtime_id}:control"


async def publish_status(services: Services, runtime: Runtime) -> None:
    await services.bus.publish(
        status_channel(runtime.id), {"type": "status", "status": str(runtime.status)}
    )
