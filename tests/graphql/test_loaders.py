"""No N+1: a list with its nested fields costs the same few SQL statements for 10 objects as for
100. The app runs in this process (over httpx's ASGI transport) so that every statement its
Tortoise connections issue for one request is counted, from the `tortoise.db_client` log."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuronest.app import create_app
from neuronest.config import Settings
from neuronest.db import migrate
from tests.conftest import MODES, REDIS_URL, fresh_database, unique_email
from tests.harness import base_env, fresh_redis

# A request's statements may not grow with the objects it lists: at most this many, and as
# many for 100 objects as for 10.
MAX_STATEMENTS = 6

_statements: ContextVar[list[str] | None] = ContextVar("statements", default=None)


class _StatementLog(logging.Handler):
    """Every statement logged while a request of `counted` runs (in its task or in the tasks
    it starts, which inherit the context)."""

    def emit(self, record: logging.LogRecord) -> None:
        statements = _statements.get()
        if statements is not None:
            statements.append(record.getMessage())


@pytest.fixture(scope="module")
def statement_log() -> Iterator[None]:
    logger = logging.getLogger("tortoise.db_client")
    handler = _StatementLog(logging.DEBUG)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield
    logger.removeHandler(handler)
    logger.setLevel(level)


def _settings(mode: str, workdir: Path) -> Settings:
    overrides = {
        "NEURONEST_MAX_TASKS_IN_FLIGHT": "1000",
        "NEURONEST_MAX_RUNTIMES_PER_USER": "1000",
        "NEURONEST_MAX_PROJECTS_PER_USER": "1000",
        "NEURONEST_MAX_MEMORIES_PER_USER": "1000",
    }
    if mode == "postgres":
        overrides["NEURONEST_DATABASE_URL"] = fresh_database()
        overrides["NEURONEST_REDIS_URL"] = fresh_redis(str(REDIS_URL))
    env = base_env(workdir, **overrides)
    values = {k.removeprefix("NEURONEST_").lower(): v for k, v in env.items()}
    return Settings(**{k: v for k, v in values.items() if k in Settings.model_fields})


@pytest.fixture(scope="module", params=MODES)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _settings(request.param, tmp_path_factory.mktemp(f"loaders-{request.param}"))


@pytest.fixture(scope="module")
async def client(settings: Settings, statement_log: None) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app of one deployment mode, in this process (its worker runs elsewhere, or,
    embedded, in here)."""
    if not settings.is_embedded:
        await migrate(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://neuronest.test", timeout=30
        ) as http:
            yield http


@dataclass
class User:
    http: httpx.AsyncClient
    token: str

    async def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    async def counted(self, query: str, **variables: Any) -> tuple[dict[str, Any], list[str]]:
        """The answer to `query` and the statements its request issued."""
        statements: list[str] = []
        token = _statements.set(statements)
        try:
            data = await self.gql(query, **variables)
        finally:
            _statements.reset(token)
        return data, list(statements)


async def _user(http: httpx.AsyncClient) -> User:
    response = await http.post(
        "/api/auth/register", json={"email": unique_email(), "password": "password123"}
    )
    assert response.status_code == 201, response.text
    user = User(http, response.json()["access_token"])
    await user.gql("{ me { id } }")  # its session is verified and cached from here on
    return user


async def _projects(user: User, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        data = await user.gql(
            "mutation($name: String!) { createProject(input: {name: $name}) { id } }",
            name=f"p{len(ids)}",
        )
        ids.append(data["createProject"]["id"])
    return ids


async def _grown(
    user: User, seed: Callable[[User, int], Awaitable[None]], query: str
) -> tuple[list[str], list[str], dict[str, Any]]:
    """The statements of `query` with 10 objects, then with 100, and its last answer."""
    await seed(user, 10)
    _, few = await user.counted(query)
    await seed(user, 90)
    data, many = await user.counted(query)
    return few, many, data


def _hold(few: list[str], many: list[str]) -> None:
    assert len(many) == len(few), f"10 objects: {few}\n100 objects: {many}"
    assert len(many) <= MAX_STATEMENTS, many


async def test_projects_with_files(client: httpx.AsyncClient) -> None:
    user = await _user(client)
    files: dict[str, list[str]] = {}

    async def seed(user: User, count: int) -> None:
        for project_id in await _projects(user, count):
            paths = [f"src/{project_id[:8]}.py", "main.py"]
            for path in paths:
                await user.gql(
                    "mutation($id: ID!, $path: String!) { putProjectFile(projectId: $id, "
                    'path: $path, input: {content: "print(1)"}) { path } }',
                    id=project_id,
                    path=path,
                )
            files[project_id] = sorted(paths)

    few, many, data = await _grown(
        user,
        seed,
        "{ projects(limit: 100) { id name files { path size updatedAt } } }",
    )
    _hold(few, many)
    listed = {p["id"]: [f["path"] for f in p["files"]] for p in data["projects"]}
    assert listed == files
    assert all(f["size"] == 8 for p in data["projects"] for f in p["files"])


async def test_project_files_stay_their_owners(client: httpx.AsyncClient) -> None:
    """One list batches only the asker's own projects: another user's project is not found,
    as it was when each project's files were read alone."""
    owner, other = await _user(client), await _user(client)
    [project_id] = await _projects(owner, 1)
    await owner.gql(
        'mutation($id: ID!) { putProjectFile(projectId: $id, path: "a.py", '
        'input: {content: "x"}) { path } }',
        id=project_id,
    )
    response = await client.post(
        "/graphql",
        json={
            "query": "query($id: ID!) { project(projectId: $id) { files { path } } "
            "projectFiles(projectId: $id) { path } }",
            "variables": {"id": project_id},
        },
        headers={"Authorization": f"Bearer {other.token}"},
    )
    body = response.json()
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"NOT_FOUND"}
    assert (await owner.gql("{ projects { files { path } } }"))["projects"] == [
        {"files": [{"path": "a.py"}]}
    ]


TASK_FIELDS = (
    "id userId taskType inputData context tools memoryId agentId status result error "
    "parentId stepId attempts startedAt finishedAt createdAt updatedAt"
)
RUNTIME_FIELDS = (
    "id projectId userId language status environmentVars { name value } entryPoint containerId "
    "port url timeout exitCode error backend startedAt finishedAt createdAt updatedAt"
)
# Of each list: what creates one object (given `$project` when it uses it), and all it shows.
LISTS = {
    "agents": (
        'mutation { createAgent(input: {name: "a", capabilities: ["x"], '
        "configuration: {temperature: 0.5}}) { id } }",
        "id userId name description capabilities "
        "configuration { model temperature maxTokens systemPrompt } createdAt updatedAt",
    ),
    "tasks": (
        'mutation { createTask(input: {taskType: "text_formatting", '
        'inputData: {text: "x", format: "markdown"}}) { id } }',
        TASK_FIELDS,
    ),
    "workflows": (
        'mutation { createWorkflow(input: {name: "w", steps: [{id: "s", '
        'taskType: "text_formatting", inputData: {text: "x"}}]}) { id } }',
        "id userId name description steps { id name taskType inputData dependsOn retries "
        "timeout continueOnError context tools agentId memoryId } status result createdAt "
        "updatedAt",
    ),
    "memories": (
        'mutation { createMemory(input: {name: "m"}) { id } }',
        "id userId name description createdAt updatedAt",
    ),
    "runtimes": (
        "mutation($project: ID!) { createRuntime(input: {projectId: $project, language: "
        '"python", entryPoint: "main.py", environmentVars: [{name: "A", value: "1"}]}) { id } }',
        RUNTIME_FIELDS,
    ),
}


@pytest.mark.parametrize("name", list(LISTS))
async def test_lists_with_every_field(client: httpx.AsyncClient, name: str) -> None:
    mutation, fields = LISTS[name]
    user = await _user(client)
    [project_id] = await _projects(user, 1)
    variables = {"project": project_id} if "$project" in mutation else {}

    async def seed(user: User, count: int) -> None:
        for _ in range(count):
            await user.gql(mutation, **variables)

    few, many, data = await _grown(user, seed, f"{{ list: {name}(limit: 100) {{ {fields} }} }}")
    _hold(few, many)
    assert len(data["list"]) == 100


async def test_workflow_run_steps(client: httpx.AsyncClient) -> None:
    user = await _user(client)
    counts = []
    for size in (10, 100):
        steps = [
            {"id": f"s{n}", "taskType": "text_formatting", "inputData": {"text": "x"}}
            for n in range(size)
        ]
        workflow = await user.gql(
            "mutation($steps: [WorkflowStepDefinitionInput!]!) "
            '{ createWorkflow(input: {name: "w", steps: $steps}) { id } }',
            steps=steps,
        )
        run = await user.gql(
            "mutation($id: ID!) { executeWorkflow(workflowId: $id, variables: {}) { id } }",
            id=workflow["createWorkflow"]["id"],
        )
        data, statements = await user.counted(
            "query($id: ID!) { workflowSteps(taskId: $id) { id name taskType dependsOn status "
            "attempts taskId startedAt finishedAt result error } }",
            id=run["executeWorkflow"]["id"],
        )
        assert [step["id"] for step in data["workflowSteps"]] == [s["id"] for s in steps]
        counts.append(statements)
    _hold(*counts)
