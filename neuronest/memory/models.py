from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from neuronest.kit.models import OwnedCollection


class Memory(OwnedCollection):
    """A named store of entries that tasks read from and add their exchanges to."""

    class Meta:
        table = "memories"
        indexes = (("user_id", "created_at"),)


class MemoryEntry(Model):
    id = fields.UUIDField(primary_key=True)
    memory: fields.ForeignKeyRelation[Memory] = fields.ForeignKeyField(
        "models.Memory", related_name=False, on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=20)
    content = fields.TextField()
    metadata: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "memory_entries"
        indexes = (("memory_id", "created_at"),)
