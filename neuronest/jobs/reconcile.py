"""The periodic repair pass of every worker (and of the embedded process)."""

from __future__ import annotations

import asyncio
import logging

from neuronest.db import to_the_end
from neuronest.orchestration.tasks import reconcile as tasks
from neuronest.runtimes import reconcile as runtimes
from neuronest.services import Services

log = logging.getLogger(__name__)


async def reconcile_forever(services: Services) -> None:
    interval = services.settings.reconcile_interval
    while True:
        for name, reconcile_once in (
            ("runtimes", runtimes.reconcile_once),
            ("tasks", tasks.reconcile_once),
        ):
            try:
                # A cancel (shutdown) waits for the pass to end rather than cutting a write.
                await to_the_end(reconcile_once(services))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling %s failed", name)
        await asyncio.sleep(interval)
