from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User


class OwnedCollection(Model):
    """A user's named container (a project of files, a memory of entries)."""

    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True
