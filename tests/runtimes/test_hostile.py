"""Hostile runtimes end to end: refused hook variables, and a program that goes for the API."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Account, Stack, gql
from tests.orchestration.helpers import run_task
from tests.runtimes.backends.helpers import probe_program
from tests.runtimes.helpers import make_project, output, run_to_end

HOOKS = [
    "LD_PRELOAD",
    "LD_AUDIT",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONWARNINGS",
    "NODE_OPTIONS",
    "BASH_ENV",
    "ENV",
    "GLIBC_TUNABLES",
    "MALLOC_CHECK_",
    "PATH",
    "HOME",
]


@pytest.mark.parametrize("name", HOOKS)
async def test_hook_variables_are_422_over_rest(
    api: httpx.AsyncClient, account: Account, name: str
) -> None:
    project = await make_project(api, account, {"main.py": "print(1)"})
    body = {
        "project_id": project["id"],
        "language": "python",
        "entry_point": "main.py",
        "environment_vars": {name: "/workspace/evil.so"},
    }
    created = await api.post("/api/runtimes", json=body, headers=account.headers)
    assert created.status_code == 422, created.text
    assert name in created.json()["detail"]
    # The honest request next to it, with a harmless PYTHON* switch, is created...
    body["environment_vars"] = {"PYTHONUNBUFFERED": "1", "GREETING": "hi"}
    honest = await api.post("/api/runtimes", json=body, headers=account.headers)
    assert honest.status_code == 201, honest.text
    # ...and cannot be updated into the hostile one.
    runtime_id = honest.json()["id"]
    updated = await api.put(
        f"/api/runtimes/{runtime_id}",
        json={"environment_vars": {name: "x"}},
        headers=account.headers,
    )
    assert updated.status_code == 422, updated.text
    kept = (await api.get(f"/api/runtimes/{runtime_id}", headers=account.headers)).json()
    assert kept["environment_vars"] == {"PYTHONUNBUFFERED": "1", "GREETING": "hi"}


async def test_hook_variables_are_bad_user_input_over_graphql(
    api: httpx.AsyncClient, account: Account
) -> None:
    project = await make_project(api, account, {"main.py": "print(1)"})
    create = (
        "mutation($env: [EnvironmentVariableInput!]) { createRuntime(input: {projectId: "
        f'"{project["id"]}", language: "python", entryPoint: "main.py", '
        "environmentVars: $env}) { id environmentVars { name value } } }"
    )
    refused = await gql(
        api, create, {"env": [{"name": "LD_PRELOAD", "value": "/src/x.so"}]}, account.token
    )
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "LD_PRELOAD" in refused["errors"][0]["message"]
    honest = await gql(api, create, {"env": [{"name": "GREETING", "value": "hi"}]}, account.token)
    runtime_id = honest["data"]["createRuntime"]["id"]
    update = (
        "mutation($id: ID!, $env: [EnvironmentVariableInput!]) { updateRuntime(runtimeId: $id, "
        "input: {environmentVars: $env}) { id environmentVars { name value } } }"
    )
    for hook in ("NODE_OPTIONS", "PYTHONSTARTUP", "BASH_ENV"):
        refused = await gql(
            api, update, {"id": runtime_id, "env": [{"name": hook, "value": "x"}]}, account.token
        )
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused
    fine = await gql(
        api, update, {"id": runtime_id, "env": [{"name": "A", "value": "b"}]}, account.token
    )
    assert fine["data"]["updateRuntime"]["environmentVars"] == [{"name": "A", "value": "b"}]


def sandbox_api_port(stack: Stack) -> int:
    """The API's port, for tests of the sandbox's network (Docker's is tested with Docker)."""
    if stack.env.get("NEURONEST_RUNTIME_BACKEND") != "sandbox":
        pytest.skip("the sandbox backend's network; Docker networks are tested with Docker")
    port = urlsplit(stack.url).port
    assert port is not None
    return port


async def test_a_runtime_cannot_reach_the_api_or_spoof_from_loopback(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    port = sandbox_api_port(stack)
    targets: list[tuple[str, object]] = [
        ("api", ("127.0.0.1", port)),
        ("api via gateway", ("10.0.2.2", port)),
    ]
    final, lines = await run_to_end(api, account, probe_program(targets), timeout=30)
    assert final["status"] == "completed", (final, lines)
    results = json.loads(output(lines)[-1])
    assert all(outcome != "connected" for outcome in results.values()), results
    assert all(outcome != "TimeoutError" for outcome in results.values()), results
    # Another user's request is still answered.
    assert (await api.get("/healthz")).status_code == 200


async def test_readyz_says_what_limits_the_sandbox(api: httpx.AsyncClient) -> None:
    ready = (await api.get("/readyz")).json()
    assert ready["status"] == "ok", ready
    isolation = ready["sandbox"]
    assert isolation["network"] in ("none", "outbound")
    assert isolation["cgroups"].startswith(("cgroup v1", "cgroup v2", "none"))
    assert isolation["publish"] in ("slirp4netns", "unavailable (slirp4netns missing)")


async def test_honest_runtime_with_allowed_switch_still_runs(
    api: httpx.AsyncClient, account: Account
) -> None:
    code = "import os\nprint(os.environ['PYTHONUNBUFFERED'])\n"
    final, lines = await run_to_end(api, account, code, env={"PYTHONUNBUFFERED": "1"})
    assert final["status"] == "completed" and output(lines) == ["1"], (final, lines)


async def test_a_code_execution_task_is_held_the_same_way(
    api: httpx.AsyncClient, account: Account, stack: Stack
) -> None:
    port = sandbox_api_port(stack)
    code = probe_program([("api", ("127.0.0.1", port))]) + (
        "import errno\n"
        "try:\n"
        "    open('/etc/evil', 'w')\n"
        "except OSError as error:\n"
        "    print(errno.errorcode[error.errno])\n"
    )
    task = await run_task(
        api, account, task_type="code_execution", input_data={"language": "python", "code": code}
    )
    assert task["status"] == "completed", task
    first, second = task["result"]["stdout"].splitlines()
    assert json.loads(first)["api"] == "ConnectionRefusedError"
    assert second == "EROFS"
