"""Every operation of the server's own OpenAPI schema that takes a JSON body, and GraphQL, fed
bodies near every input limit: never a 5xx, always a documented status (413 just over the body
limit, 422 just over the nesting or number limits), and the server keeps serving."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import unique_email
from tests.harness import Stack

BODY_LIMIT = 4 * 1024 * 1024  # defaults of NEURONEST_MAX_BODY_BYTES and MAX_JSON_DEPTH
DEPTH = 32
SAFE = 2**53 - 1


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def padded(total: int) -> bytes:
    """A JSON object of exactly `total` bytes."""
    head = b'{"pad": "'
    return head + b"x" * (total - len(head) - 2) + b'"}'


BODIES: dict[str, tuple[bytes, set[int]]] = {
    "at-the-body-limit": (padded(BODY_LIMIT), set()),
    "one-byte-over": (padded(BODY_LIMIT + 1), {413}),
    "depth-at-limit": (json.dumps({"x": nested(DEPTH)}).encode(), set()),
    "depth-over-limit": (json.dumps({"x": nested(DEPTH + 10)}).encode(), {422}),
    "largest-safe-integer": (json.dumps({"x": SAFE, "y": -SAFE}).encode(), set()),
    "first-unsafe-integer": (json.dumps({"x": SAFE + 1}).encode(), {422}),
    "largest-float": (b'{"x": 1.7976931348623157e308}', set()),
    "overflowing-float": (b'{"x": 1.8e308}', {422}),
}


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        email = unique_email()
        registered = http.post(
            "/api/auth/register", json={"email": email, "password": "password123", "name": "L"}
        )
        assert registered.status_code == 201, registered.text
        http.headers["Authorization"] = f"Bearer {registered.json()['access_token']}"
        yield http


def _operations(client: httpx.Client) -> list[tuple[str, str, set[int]]]:
    schema = client.get("/openapi.json").json()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if "requestBody" not in operation:
                continue
            concrete = path.replace("{path}", "f.txt")
            for name in (
                "project_id",
                "runtime_id",
                "task_id",
                "agent_id",
                "workflow_id",
                "memory_id",
            ):
                concrete = concrete.replace(f"{{{name}}}", str(uuid.uuid4()))
            documented = {int(code) for code in operation["responses"]}
            found.append((method.upper(), concrete, documented))
    assert found
    return found


@pytest.mark.parametrize("case", list(BODIES))
def test_rest_bodies_near_every_limit(client: httpx.Client, case: str) -> None:
    body, expected = BODIES[case]
    for method, path, documented in _operations(client):
        response = client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code < 500, (method, path, response.text[:500])
        assert response.status_code in documented, (method, path, response.status_code)
        if expected:
            assert response.status_code in expected, (method, path, response.text[:500])
    assert client.get("/api/orchestration/tasks").status_code == 200


GRAPHQL_VARIABLES: dict[str, tuple[Any, bool]] = {
    "depth-at-limit": (nested(DEPTH), True),
    "depth-over-limit": (nested(DEPTH + 1), False),
    "largest-safe-integer": ({"expression": "1", "n": SAFE}, True),
    "first-unsafe-integer": ({"expression": "1", "n": SAFE + 1}, False),
}


@pytest.mark.parametrize("case", list(GRAPHQL_VARIABLES))
def test_graphql_json_arguments_near_the_limits(client: httpx.Client, case: str) -> None:
    value, accepted = GRAPHQL_VARIABLES[case]
    query = 'mutation($c: JSON) { createAgent(input: {name: "a", configuration: $c}) { id } }'
    if isinstance(value, dict) and "expression" in value:
        query = (
            'mutation($c: JSON!) { createTask(input: {taskType: "calculation", '
            "inputData: $c}) { id } }"
        )
    response = client.post("/graphql", json={"query": query, "variables": {"c": value}})
    if not accepted and response.status_code == 422:  # refused with the body, naming where
        assert response.json()["detail"].startswith("body.variables.c"), response.text
        return
    assert response.status_code == 200, response.text
    errors = response.json().get("errors") or []
    codes = [e.get("extensions", {}).get("code") for e in errors]
    assert "INTERNAL_SERVER_ERROR" not in codes, errors
    if accepted and "expression" in str(value):
        assert not errors, errors
    if not accepted:
        assert errors, response.text


def test_graphql_bodies_near_the_body_limit(client: httpx.Client) -> None:
    query = b'{"query": "{ me { id } }", "pad": "'
    for size, status in ((BODY_LIMIT, 200), (BODY_LIMIT + 1, 413)):
        body = query + b"x" * (size - len(query) - 2) + b'"}'
        response = client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == status, response.text[:300]
