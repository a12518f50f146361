from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer

from neuronest.graphql.shapes import Reshaped, many, selection, variant
from neuronest.rest.auth import MessageOut
from neuronest.rest.shim import PAGE, QueryParam, Route
from neuronest.runtimes.graphql import Runtime, RuntimeInput, RuntimeLog, RuntimeUpdateInput
from neuronest.runtimes.service import env_text

# REST shows a runtime's variables as one object, {"NAME": "value"}, where GraphQL has a list of
# {name, value}: a body's object is sent as that list, and the list answered comes back as one.
EnvironmentIn = Annotated[
    dict[str, Any],
    AfterValidator(lambda env: {name: env_text(name, value) for name, value in env.items()}),
    PlainSerializer(lambda env: [{"name": name, "value": value} for name, value in env.items()]),
]
EnvironmentOut = Annotated[
    dict[str, Any], Reshaped(lambda env: {item["name"]: item["value"] for item in env})
]

RuntimeBody = variant(
    RuntimeInput, "RuntimeBody", retyped={"environment_vars": EnvironmentIn | None}
)
RuntimeUpdateBody = variant(
    RuntimeUpdateInput, "RuntimeUpdateBody", retyped={"environment_vars": EnvironmentIn | None}
)
RuntimeOut = variant(
    Runtime, "RuntimeOut", without={"backend"}, retyped={"environment_vars": EnvironmentOut}
)
RuntimeLogOut = variant(RuntimeLog, "RuntimeLogOut", without={"seq"})

RUNTIME = selection(RuntimeOut, of=Runtime)
LOG = selection(RuntimeLogOut)


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
        many(RuntimeOut),
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
        many(RuntimeLogOut),
        query=(QueryParam("limit", int, 100),),
        errors=(404,),
    ),
]
