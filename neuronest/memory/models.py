from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User


class Memory(Model):
    """A named store of entries that tasks read from and add their exchanges to."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

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
