from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from neuronest.kit.models import OwnedCollection


class Project(OwnedCollection):
    class Meta:
        table = "projects"
        indexes = (("user_id", "created_at"),)


class ProjectFile(Model):
    id = fields.UUIDField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name=False, on_delete=fields.CASCADE
    )
    path = fields.CharField(max_length=1024)
    content = fields.BinaryField()
    size = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "project_files"
        unique_together = (("project_id", "path"),)
