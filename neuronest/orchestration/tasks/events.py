from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from neuronest.events.bus import Message
from neuronest.kit.hooks import Hook
from neuronest.orchestration.tasks.models import Task
from neuronest.services import Services

# Cancels and snapshot requests for running tasks, `{"task_id": ..., "action": ...}`: every
# process that runs tasks listens once (not once per task) and acts on the tasks it runs.
CONTROL_CHANNEL = "tasks:control"

# A task ended (its row as it now is): what follows elsewhere (a workflow step's end moves its
# run on) is connected here by neuronest.wiring.
TASK_FINISHED: Hook[[Services, Task]] = Hook("task finished")


def updates_channel(task_id: object) -> str:
    return f"task:{task_id}:updates"


def status_event(task: Task) -> tuple[str, Message]:
    return updates_channel(task.id), {"type": "status", "status": str(task.status)}


def step_event(run_id: object, step_id: str, status: str) -> tuple[str, Message]:
    """A step of a workflow run changed status (on the run's channel)."""
    return updates_channel(run_id), {"type": "step", "step_id": step_id, "status": status}


def control_event(task_id: object, action: str) -> tuple[str, Message]:
    return CONTROL_CHANNEL, {"task_id": str(task_id), "action": action}


def status_events(task: Task) -> list[tuple[str, Message]]:
    """The task's status as it now is; a workflow step's also on its run's channel (a run's
    subscribers see each step start running, not only created and ended)."""
    events = [status_event(task)]
    if task.parent_id is not None and task.step_id is not None:
        events.append(step_event(task.parent_id, str(task.step_id), str(task.status)))
    return events


async def publish_status(services: Services, task: Task) -> None:
    await services.bus.publish_many(status_events(task))


async def publish(services: Services, task_id: object, event: dict[str, Any]) -> None:
    await services.bus.publish(updates_channel(task_id), event)


async def task_finished(
    services: Services, task: Task, also: Sequence[tuple[str, Message]] = ()
) -> None:
    """Called whenever any task ends, with its row as it now is. Its status event goes out in
    one round trip with `also` and, for a step, its run's step event; then TASK_FINISHED runs
    (a step's end moves its workflow on)."""
    await tasks_finished(services, [task], also)


async def tasks_finished(
    services: Services, tasks: Sequence[Task], also: Sequence[tuple[str, Message]] = ()
) -> None:
    """`task_finished` for many tasks: all their events in one round trip."""
    await services.bus.publish_many([*also, *(e for task in tasks for e in status_events(task))])
    await asyncio.gather(*(services.hooks.run(TASK_FINISHED, services, task) for task in tasks))


class StreamCatchUp:
    """Streamed text for a subscriber, each character exactly once: one that joined a running
    task waits for the worker's snapshot, then takes only the pieces that follow it."""

    def __init__(self, joined_running: bool) -> None:
        self.joined_running = joined_running
        self.known: int | None = None if joined_running else 0
        self.early: list[dict[str, object]] = []

    def accept(self, event: dict[str, object]) -> list[str]:
        if event.get("type") == "snapshot":
            if self.known is not None:
                return []
            snapshot = str(event.get("text", ""))
            self.known = len(snapshot)
            early, self.early = self.early, []
            pieces = [snapshot, *[piece for e in early for piece in self._piece(e)]]
            return [piece for piece in pieces if piece]
        if self.known is None:
            if event.get("offset") == 0:  # the stream began after we subscribed: nothing missed
                self.known = 0
                early, self.early = self.early, []
                return [piece for e in [*early, event] for piece in self._piece(e)]
            self.early.append(event)
            return []
        return self._piece(event)

    @property
    def waiting(self) -> bool:
        return self.known is None

    def _piece(self, event: dict[str, object]) -> list[str]:
        assert self.known is not None
        text = str(event.get("text", ""))
        offset = int(event.get("offset", self.known))  # type: ignore[call-overload]
        if offset + len(text) <= self.known:
            return []
        fresh = text[max(self.known - offset, 0) :]
        self.known = offset + len(text)
        return [fresh]
