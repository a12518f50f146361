from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User


class TaskStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = (TaskStatus.CREATED, TaskStatus.RUNNING)
FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class Task(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    task_type = fields.CharField(max_length=40)
    input_data: dict[str, Any] = fields.JSONField(default=dict)
    context: dict[str, Any] = fields.JSONField(default=dict)
    tools: list[str] | None = fields.JSONField(null=True)
    memory_id = fields.UUIDField(null=True)
    agent_id = fields.UUIDField(null=True)
    status = fields.CharEnumField(TaskStatus, default=TaskStatus.CREATED, max_length=20)
    result: dict[str, Any] | None = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    parent_id = fields.UUIDField(null=True, db_index=True)
    step_id = fields.CharField(max_length=100, null=True)
    step_attempt = fields.IntField(null=True)
    timeout = fields.FloatField(null=True)
    attempts = fields.IntField(default=0)
    worker_id = fields.CharField(max_length=64, null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "tasks"
        indexes = (("user_id", "created_at"), ("status", "heartbeat_at"))
        # A workflow step's attempt exists once, however many schedulers race to create it.
        unique_together = (("parent_id", "step_id", "step_attempt"),)
