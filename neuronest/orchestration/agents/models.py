from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User


class Agent(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    capabilities: list[str] = fields.JSONField(default=list)
    configuration: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "agents"
        indexes = (("user_id", "created_at"),)
