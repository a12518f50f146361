"""The REST table's fixed documents are parsed and validated when the router is built."""

from __future__ import annotations

import pytest

from neuronest.app import REST, create_app
from neuronest.config import Settings
from neuronest.graphql.prepared import DocumentError
from neuronest.graphql.schema import Schema
from neuronest.rest.shim import Route, build_router


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("{ result: me { id nickname } }", "nickname"),
        ("mutation($input: NoSuchInput!) { result: logout { message } }", "NoSuchInput"),
        ("{ result: me { id ", "Syntax Error"),
    ],
)
def test_a_route_that_drifted_from_the_schema_fails_to_build(document: str, named: str) -> None:
    route = Route("GET", "/api/drifted", "Drifted", document, dict)
    with pytest.raises(DocumentError, match=named):
        build_router([route], "drifted", Schema(Settings()))


def test_every_route_of_the_api_runs_a_prepared_document() -> None:
    app = create_app(Settings())
    schema = app.state.schema
    for routes, _ in REST:
        for route in routes:
            assert schema.prepared.get(route.operation) is not None, route.path


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ('{ result: task(taskId: "1") { id } }', "only variables"),
        (
            "query($a: ID!, $b: ID!) "
            "{ result: task(taskId: $a) { id } b: task(taskId: $b) { id } }",
            "one root field",
        ),
        (
            "query($taskId: ID!) { result: task(taskId: $taskId) { ... on Task { id } } }",
            "plain fields",
        ),
        ("query($limit: Int) { result: tasks(limit: $limit) { id } }", "budget"),
    ],
)
def test_a_direct_route_whose_document_needs_execution_fails_to_build(
    document: str, named: str
) -> None:
    route = Route("GET", "/api/direct/{task_id}", "Direct", document, dict, direct=True)
    with pytest.raises(DocumentError, match=named):
        build_router([route], "direct", Schema(Settings()))
