from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from neuronest.rest.auth import MessageOut
from neuronest.rest.shim import PAGE, QueryParam, Route


class RuntimeBody(BaseModel):
    project_id: str
    language: str = Field(examples=["python"])
    entry_point: str = Field(examples=["main.py"])
    environment_vars: dict[str, Any] | None = None
    timeout: int = 300


class RuntimeUpdateBody(BaseModel):
    entry_point: str | None = None
    environment_vars: dict[str, Any] | None = None
    timeout: int | None = None


class RuntimeOut(BaseModel):
    id: str
    project_id: str
    user_id: str
    language: str
    status: str
    environment_vars: dict[str, Any]
    entry_point: str
    container_id: str | None
    port: int | None
    url: str | None
    timeout: int
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RuntimeLogOut(BaseModel):
    id: str
    runtime_id: str
    user_id: str
    type: str
    message: str
    timestamp: datetime


RUNTIME = (
    "id project_id: projectId user_id: userId language status "
    "environment_vars: environmentVars entry_point: entryPoint container_id: containerId "
    "port url timeout exit_code: exitCode error started_at: startedAt "
    "finished_at: finishedAt created_at: createdAt updated_at: updatedAt"
)
LOG = "id runtime_id: runtimeId user_id: userId type message timestamp"


def _action(name: str, path: str, summary: str) -> Route:
    return Route(
        "POST",
        f"/api/runtimes/{{runtime_id}}/{path}",
        summary,
        f"mutation($runtimeId: ID!) {{ result: {name}(runtimeId: $runtimeId) {{ message }} }}",
        MessageOut,
        errors=(404, 409),
    )


ROUTES = [
    Route(
        "POST",
        "/api/runtimes",
        "Create a runtime environment",
        "mutation($input: RuntimeInput!) "
        f"{{ result: createRuntime(input: $input) {{ {RUNTIME} }} }}",
        RuntimeOut,
        status=201,
        body=RuntimeBody,
        errors=(404, 409, 422),
    ),
    Route(
        "GET",
        "/api/runtimes",
        "List runtime environments (newest first)",
        "query($projectId: ID, $status: String, $language: String, $limit: Int, $offset: Int) "
        "{ result: runtimes(projectId: $projectId, status: $status, language: $language, "
        f"limit: $limit, offset: $offset) {{ {RUNTIME} }} }}",
        list[RuntimeOut],
        query=(
            QueryParam("project_id"),
            QueryParam("status"),
            QueryParam("language"),
            *PAGE,
        ),
    ),
    Route(
        "GET",
        "/api/runtimes/{runtime_id}",
        "Get a runtime environment",
        f"query($runtimeId: ID!) {{ result: runtime(runtimeId: $runtimeId) {{ {RUNTIME} }} }}",
        RuntimeOut,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/api/runtimes/{runtime_id}",
        "Update a runtime environment (a running one is stopped first)",
        "mutation($runtimeId: ID!, $input: RuntimeUpdateInput!) "
        f"{{ result: updateRuntime(runtimeId: $runtimeId, input: $input) {{ {RUNTIME} }} }}",
        RuntimeOut,
        body=RuntimeUpdateBody,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/api/runtimes/{runtime_id}",
        "Delete a runtime environment (stops it; removes its container and logs)",
        "mutation($runtimeId: ID!) { result: deleteRuntime(runtimeId: $runtimeId) { message } }",
        MessageOut,
        errors=(404,),
    ),
    _action("startRuntime", "start", "Start a runtime environment (answers at once)"),
    _action("stopRuntime", "stop", "Stop a runtime environment (waits for the stop)"),
    _action("restartRuntime", "restart", "Restart a runtime environment"),
    Route(
        "GET",
        "/api/runtimes/{runtime_id}/logs",
        "Get runtime logs (the most recent `limit` lines, in time order)",
        "query($runtimeId: ID!, $limit: Int) "
        f"{{ result: runtimeLogs(runtimeId: $runtimeId, limit: $limit) {{ {LOG} }} }}",
        list[RuntimeLogOut],
        query=(QueryParam("limit", int, 100),),
        errors=(404,),
    ),
]
