from __future__ import annotations

from enum import StrEnum
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
    # Final steps (those no step depends on) not yet done: the run is complete at 0. Null until
    # the run's step rows exist.
    finals_left = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workflow_runs"


class StepProgress(StrEnum):
    PENDING = "pending"  # waiting for its dependencies
    STARTED = "started"  # has attempts (retries included)
    DONE = "done"  # its dependents may go on


# One step of a run as the scheduler sees it: `waiting` counts its dependencies not yet done.
# A finishing step moves only its own row and its dependents' rows, so a wave of n steps costs
# O(n) in all, not O(n) per step. Kept while the run is running.
class WorkflowStep(Model):
    id = fields.IntField(primary_key=True)
    run_id = fields.UUIDField()
    step_id = fields.CharField(max_length=100)
    state = fields.CharEnumField(StepProgress, default=StepProgress.PENDING, max_length=10)
    waiting = fields.IntField(default=0)

    class Meta:
        table = "workflow_steps"
        unique_together = (("run_id", "step_id"),)
