from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User


class Workflow(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    steps: list[dict[str, Any]] = fields.JSONField(default=list)
    # The latest run, as the API reference shows it on the workflow itself.
    status = fields.CharField(max_length=20, default="created")
    result: dict[str, Any] | None = fields.JSONField(null=True)
    latest_run_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "workflows"
        indexes = (("user_id", "created_at"),)


# One execution: its id is the id of its `workflow` task; it runs a snapshot of the steps.
# (A comment, not a docstring: Tortoise turns docstrings into table comments.)
class WorkflowRun(Model):
    id = fields.UUIDField(primary_key=True)
    workflow_id = fields.UUIDField(db_index=True)
    steps: list[dict[str, Any]] = fields.JSONField()
    variables: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workflow_runs"
