from __future__ import annotations

from neuronest.events.bus import EventBus, Message


class MemoryEventBus(EventBus):
    """The embedded default: one process, so delivery is a local fan-out."""

    async def publish(self, channel: str, message: Message) -> None:
        self._dispatch(channel, message)
