from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from neuronest.auth.models import User
from neuronest.projects.models import Project


class RuntimeStatus(StrEnum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"


ACTIVE = (RuntimeStatus.STARTING, RuntimeStatus.RUNNING, RuntimeStatus.STOPPING)


class Runtime(Model):
    id = fields.UUIDField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name=False, on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=40)
    entry_point = fields.CharField(max_length=1024)
    environment_vars: dict[str, str] = fields.JSONField(default=dict)
    timeout = fields.IntField(default=300)
    status = fields.CharEnumField(RuntimeStatus, default=RuntimeStatus.CREATED, max_length=20)
    container_id = fields.CharField(max_length=128, null=True)
    port = fields.IntField(null=True)
    url = fields.CharField(max_length=255, null=True)
    exit_code = fields.IntField(null=True)
    error = fields.TextField(null=True)
    backend = fields.CharField(max_length=20, null=True)
    run = fields.IntField(default=0)
    worker_id = fields.CharField(max_length=64, null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    deadline_at = fields.DatetimeField(null=True)
    log_seq = fields.BigIntField(default=0)
    log_cursor = fields.CharField(max_length=128, null=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "runtimes"
        indexes = (("user_id", "created_at"), ("status", "heartbeat_at"))


class RuntimeLog(Model):
    id = fields.UUIDField(primary_key=True)
    runtime: fields.ForeignKeyRelation[Runtime] = fields.ForeignKeyField(
        "models.Runtime", related_name=False, on_delete=fields.CASCADE
    )
    user_id = fields.UUIDField()
    seq = fields.BigIntField()
    run = fields.IntField()
    type = fields.CharField(max_length=10)
    message = fields.TextField()
    timestamp = fields.DatetimeField()

    class Meta:
        table = "runtime_logs"
        unique_together = (("runtime_id", "seq"),)
