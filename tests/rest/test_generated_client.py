"""A client generated from the server's own `/openapi.json` by openapi-python-client works as a
user of it would expect: readable module names from the operation ids (`api.auth.get_me`), typed
bearer auth (the protected operations take an `AuthenticatedClient`, the public ones any client),
and real responses parsed into the generated models, with no field the document does not know."""

from __future__ import annotations

import importlib
import subprocess
import sys
import typing
import uuid
from collections.abc import Iterator
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import Stack

PASSWORD = "password123"
# No post-generation hooks: the generator would otherwise look for ruff on PATH to format the code.
CONFIG = "post_hooks: []\n"


@pytest.fixture(scope="module")
def generated(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The client package generated from the running server's document, imported."""
    workdir = tmp_path_factory.mktemp(f"client-{stack.mode}")
    response = httpx.get(f"{stack.url}/openapi.json", timeout=30)
    assert response.status_code == 200
    (workdir / "openapi.json").write_bytes(response.content)
    # A package name of its own for each deployment: both can be imported in one test run.
    package = f"neuronest_client_{stack.mode}"
    (workdir / "config.yaml").write_text(CONFIG + f"package_name_override: {package}\n")
    out = workdir / "out"
    result = subprocess.run(
        [
            Path(sys.executable).parent / "openapi-python-client",
            "generate",
            "--path",
            workdir / "openapi.json",
            "--output-path",
            out,
            "--meta",
            "none",
            "--config",
            workdir / "config.yaml",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every operation and schema of the document was generated: nothing skipped with a warning.
    assert "Warning" not in output, output
    sys.path.insert(0, str(workdir))
    # `--meta none` writes the package's contents into `out`: give it its name.
    out.rename(workdir / package)
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def module(generated: Any, name: str) -> Any:
    return importlib.import_module(f"{generated.__name__}.{name}")


def test_the_methods_have_readable_names_and_bearer_auth_is_in_their_types(
    generated: Any,
) -> None:
    client = module(generated, "client")
    names = {
        "auth": ["register", "login", "get_me", "update_me", "logout"],
        "projects": ["create_project", "list_projects", "get_project", "put_project_file"],
        "runtimes": ["create_runtime", "start_runtime", "list_runtime_logs"],
        "memory": ["create_memory", "search_memory"],
        "orchestration": ["create_task", "execute_workflow"],
    }
    for tag, operations in names.items():
        for operation in operations:
            api = module(generated, f"api.{tag}.{operation}")
            for call in (api.sync_detailed, api.asyncio_detailed, api.sync, api.asyncio):
                accepted = typing.get_type_hints(call)["client"]
                if operation in ("register", "login"):
                    assert accepted == client.AuthenticatedClient | client.Client, operation
                else:
                    assert accepted is client.AuthenticatedClient, operation


async def test_register_log_in_and_work_with_projects(stack: Stack, generated: Any) -> None:
    client = module(generated, "client")
    models = module(generated, "models")
    register = module(generated, "api.auth.register")
    login = module(generated, "api.auth.login")
    get_me = module(generated, "api.auth.get_me")
    create_project = module(generated, "api.projects.create_project")
    list_projects = module(generated, "api.projects.list_projects")
    email = f"client-{uuid.uuid4().hex[:10]}@example.com"

    async with client.Client(base_url=stack.url, raise_on_unexpected_status=True) as anonymous:
        registered = await register.asyncio_detailed(
            client=anonymous,
            body=models.RegisterInput(email=email, password=PASSWORD, name="Generated Client"),
        )
        assert registered.status_code == HTTPStatus.CREATED
        assert isinstance(registered.parsed, models.Token)
        assert registered.parsed.token_type == "bearer"
        assert isinstance(registered.parsed.user, models.UserSummary)
        assert registered.parsed.user.email == email

        wrong = await login.asyncio_detailed(
            client=anonymous, body=models.LoginInput(email=email, password="not-the-password")
        )
        assert wrong.status_code == HTTPStatus.UNAUTHORIZED
        assert isinstance(wrong.parsed, models.ErrorBody)
        assert isinstance(wrong.parsed.detail, str) and wrong.parsed.detail

        logged_in = await login.asyncio_detailed(
            client=anonymous, body=models.LoginInput(email=email, password=PASSWORD)
        )
        assert logged_in.status_code == HTTPStatus.OK
        assert isinstance(logged_in.parsed, models.Token)
        token = logged_in.parsed.access_token

    async with client.AuthenticatedClient(
        base_url=stack.url, token="not-a-token", raise_on_unexpected_status=True
    ) as stranger:
        refused = await get_me.asyncio_detailed(client=stranger)
        assert refused.status_code == HTTPStatus.UNAUTHORIZED
        assert isinstance(refused.parsed, models.ErrorBody)

    async with client.AuthenticatedClient(
        base_url=stack.url, token=token, raise_on_unexpected_status=True
    ) as user:
        me = await get_me.asyncio_detailed(client=user)
        assert me.status_code == HTTPStatus.OK
        assert isinstance(me.parsed, models.User)
        assert me.parsed.email == email
        assert me.parsed.name == "Generated Client"
        assert me.parsed.is_active is True
        assert isinstance(me.parsed.created_at, datetime)
        assert me.parsed.created_at.utcoffset() is not None
        assert me.parsed.additional_properties == {}

        created = await create_project.asyncio_detailed(
            client=user, body=models.ProjectInput(name="From the generated client")
        )
        assert created.status_code == HTTPStatus.CREATED
        project = created.parsed
        assert isinstance(project, models.Project)
        assert project.name == "From the generated client"
        assert project.description == ""
        assert project.user_id == me.parsed.id
        assert isinstance(project.updated_at, datetime)
        assert project.additional_properties == {}

        listed = await list_projects.asyncio_detailed(client=user, limit=10)
        assert listed.status_code == HTTPStatus.OK
        assert isinstance(listed.parsed, list)
        assert all(isinstance(p, models.Project) for p in listed.parsed)
        assert [(p.id, p.name, p.created_at) for p in listed.parsed] == [
            (project.id, project.name, project.created_at)
        ]
        # The plain call gives the parsed body alone.
        projects = await list_projects.asyncio(client=user)
        assert [p.id for p in projects] == [project.id]
