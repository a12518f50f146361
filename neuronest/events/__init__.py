"""Event bus: publish JSON messages on named channels; subscribers get them live."""

from neuronest.events.bus import EventBus, Subscription
from neuronest.events.memory import MemoryEventBus
from neuronest.events.redis import RedisEventBus

__all__ = ["EventBus", "MemoryEventBus", "RedisEventBus", "Subscription"]
