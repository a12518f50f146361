"""The OpenAPI document explains the REST API: bearer auth where a token is needed, readable
operation ids, `date-time` timestamps, the API reference's examples; and the real responses of a
running server fit the document's schemas."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.conftest import Account
from tests.runtimes.helpers import FINAL, wait_status

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "api-reference.md"
# The operations anyone may call (the API reference shows no Authorization header for them).
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/forgot-password"),
    ("post", "/api/auth/reset-password"),
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def document(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_protected_operations_declare_bearer_auth_and_public_ones_do_not(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": schemes["bearerAuth"]["description"],
        }
    }
    seen = set()
    for method, path, operation in operations(document):
        seen.add((method, path))
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
        else:
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
    assert seen >= PUBLIC


def test_the_public_operations_are_those_of_the_api_reference_without_a_token() -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"no API reference at {REFERENCE}")
    for title, method, path, section in reference_sections():
        needs_token = "Authorization: Bearer" in section
        assert needs_token != ((method.lower(), path) in PUBLIC), title


async def test_operation_ids_are_unique_readable_camel_case(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", operation_id), operation_id
    by_route = {(m, p): o["operationId"] for m, p, o in operations(document)}
    assert by_route[("post", "/api/runtimes")] == "createRuntime"
    assert by_route[("get", "/api/projects")] == "listProjects"
    assert by_route[("get", "/api/auth/me")] == "getMe"
    assert by_route[("get", "/api/runtimes/{runtime_id}/logs")] == "listRuntimeLogs"
    assert by_route[("post", "/api/runtimes/{runtime_id}/start")] == "startRuntime"
    assert by_route[("get", "/api/memories/{memory_id}/search")] == "searchMemory"


def properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(schema.get("properties", {}))


def accepts(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A property's schema, or the alternatives of a nullable one."""
    return list(schema.get("anyOf", [schema]))


async def test_timestamps_are_date_times(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for field, spec in properties(schema).items():
            if field.endswith("_at") or field == "timestamp":
                formats = [alt.get("format") for alt in accepts(spec) if alt.get("type") != "null"]
                assert formats == ["date-time"], (name, field, spec)
                checked += 1
    assert checked >= 20


def reference_sections() -> list[tuple[str, str, str, str]]:
    sections = []
    for section in re.split(r"^### ", REFERENCE.read_text(), flags=re.M)[1:]:
        title = section.partition("\n")[0]
        found = re.search(r"```\n(GET|POST|PUT|DELETE|PATCH) (\S+)\n```", section)
        assert found, title
        sections.append((title, found.group(1), found.group(2), section))
    return sections


def reference_json(section: str, label: str) -> Any:
    found = re.search(re.escape(label) + r"\n```json\n(.*?)\n```", section, re.S)
    return json.loads(found.group(1)) if found else None


async def test_the_examples_are_those_of_the_api_reference(document: dict[str, Any]) -> None:
    if not REFERENCE.is_file():
        pytest.skip(f"no API reference at {REFERENCE}")
    sections = reference_sections()
    assert len(sections) >= 30
    for title, method, path, section in sections:
        operation = document["paths"][path][method.lower()]
        request = reference_json(section, "Request body:")
        if request is not None:
            examples = operation["requestBody"]["content"]["application/json"]["examples"]
            assert [e["value"] for e in examples.values()] == [request], title
        response = reference_json(section, "Response:")
        assert response is not None, title
        success = next(code for code in operation["responses"] if code.startswith("2"))
        content = operation["responses"][success]["content"]["application/json"]
        assert content["example"] == response, title


class Checker:
    """Validates responses against the document's schema for their operation and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[str] = set()

    def __call__(self, response: httpx.Response, method: str, path: str) -> Any:
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status, response.text)
        content = operation["responses"][status]["content"]
        assert response.headers["content-type"] in content, response.headers["content-type"]
        schema = content["application/json"]["schema"]
        validator = jsonschema_rs.validator_for(
            {**schema, "components": self.document["components"]}, validate_formats=True
        )
        body = response.json()
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, (method, path, errors, body)
        self.no_undocumented_fields(schema, body)
        self.checked.add(operation["operationId"])
        return body

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def no_undocumented_fields(self, schema: dict[str, Any], body: Any) -> None:
        schema = self.resolve(schema)
        if isinstance(body, list) and "items" in schema:
            for item in body:
                self.no_undocumented_fields(schema["items"], item)
        elif isinstance(body, dict) and "properties" in schema:
            assert set(body) <= set(schema["properties"]), (set(body), schema["properties"])
            for key, value in body.items():
                for alternative in accepts(schema["properties"][key]):
                    if alternative.get("type") != "null" and value is not None:
                        self.no_undocumented_fields(alternative, value)


def timestamps(body: Any) -> list[str]:
    if isinstance(body, list):
        return [t for item in body for t in timestamps(item)]
    if isinstance(body, dict):
        found = [v for k, v in body.items() if (k.endswith("_at") or k == "timestamp") and v]
        return found + [t for v in body.values() for t in timestamps(v)]
    return []


async def test_real_responses_fit_the_document(
    api: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    check = Checker(document)
    registered = await api.post(
        "/api/auth/register",
        json={"email": f"openapi-{datetime.now().timestamp()}@example.com", "password": "pw123456"},
    )
    token = check(registered, "post", "/api/auth/register")
    account = Account("", "pw123456", token["access_token"], token["user"])
    me = check(await api.get("/api/auth/me", headers=account.headers), "get", "/api/auth/me")

    project = check(
        await api.post("/api/projects", json={"name": "docs"}, headers=account.headers),
        "post",
        "/api/projects",
    )
    check(
        await api.put(
            f"/api/projects/{project['id']}/files/main.py",
            json={"content": "print('hello')\n"},
            headers=account.headers,
        ),
        "put",
        "/api/projects/{project_id}/files/{path}",
    )
    created = check(
        await api.post(
            "/api/runtimes",
            json={"project_id": project["id"], "language": "python", "entry_point": "main.py"},
            headers=account.headers,
        ),
        "post",
        "/api/runtimes",
    )
    runtime_id = created["id"]
    check(
        await api.post(f"/api/runtimes/{runtime_id}/start", headers=account.headers),
        "post",
        "/api/runtimes/{runtime_id}/start",
    )
    await wait_status(api, account, runtime_id, FINAL, timeout=120)
    runtime = check(
        await api.get(f"/api/runtimes/{runtime_id}", headers=account.headers),
        "get",
        "/api/runtimes/{runtime_id}",
    )
    listed = check(await api.get("/api/runtimes", headers=account.headers), "get", "/api/runtimes")
    logs = check(
        await api.get(f"/api/runtimes/{runtime_id}/logs", headers=account.headers),
        "get",
        "/api/runtimes/{runtime_id}/logs",
    )
    assert any(line["message"] == "hello" for line in logs)
    missing = check(
        await api.get(f"/api/runtimes/{uuid.UUID(int=0)}", headers=account.headers),
        "get",
        "/api/runtimes/{runtime_id}",
    )
    assert missing == {"detail": missing["detail"]}
    check(await api.get("/api/auth/me"), "get", "/api/auth/me")  # 401, ErrorBody

    shown = timestamps([me, runtime, listed, logs])
    assert len(shown) >= 8
    for text in shown:
        assert TIMESTAMP.match(text), text
        datetime.fromisoformat(text)
    assert len(check.checked) == 9, check.checked
