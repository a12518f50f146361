"""Property-based contract tests: schemathesis against the live servers of every stack mode.

REST: for every operation of the server's own `/openapi.json`, the examples the schema gives, then
`MAX_EXAMPLES` generated requests that fit the schema and `MAX_EXAMPLES` that do not (negative
mode). Every response must
- not be a 5xx (`not_a_server_error`),
- have a documented status code (`status_code_conformance`),
- have the documented content type (`content_type_conformance`),
- match the documented body schema (`response_schema_conformance`).

GraphQL: every root field of the schema introspected at `/graphql` gets `MAX_EXAMPLES` generated
queries or mutations that are valid and as many that are not. No response may be a 5xx, carry an
error whose `extensions.code` is `INTERNAL_SERVER_ERROR` (an unexpected exception that the server
masked), or break the GraphQL response format (`response_schema_conformance`, which also catches a
null in a non-null field). schemathesis's GraphQL `not_a_server_error` is not used: it counts every
resolver error that is not a client error as a server error, while NOT_FOUND, UNAUTHENTICATED,
RATE_LIMITED, CONFLICT ... are expected answers here.

Authentication: requests carry a valid bearer token. One account per stack serves every operation
that cannot revoke its token; operations that revoke tokens (logout, change-password,
reset-password) get a freshly registered account per generated case. Should the shared token be
refused anyway, the test fails instead of silently testing the unauthenticated path.

API: `schemathesis.openapi.from_url` / `schemathesis.graphql.from_url` load the schemas from the
running server; each operation's `as_strategy(generation_mode=...)` (and, for REST,
`get_strategies_from_examples()`) feeds a Hypothesis `@given` test whose cases run
`case.call_and_validate(headers=..., checks=[...])`. Each operation is a pytest subtest, so one
failing operation does not hide the others. (`schemathesis.pytest.from_fixture` would be the
natural fit for servers made by a fixture, but schemathesis 4.32 uses `request.node._nodeid`, which
pytest 9.2 nodes no longer have: it fails with AttributeError before running anything.)

Reproducible and bounded: a fixed seed per operation and mode, no example database, no deadline.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.harness import Stack


def _json_nodes() -> st.SearchStrategy[Any]:
    """Values for the JSON scalar (task input, agent configuration, environment variables)."""
    from schemathesis.graphql import nodes

    leaves = st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers(-1000, 1000).map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    )

    def object_of(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        fields = st.dictionaries(
            st.from_regex(r"[a-z_]{1,10}", fullmatch=True), children, max_size=4
        )
        return fields.map(
            lambda d: nodes.Object(
                fields=[
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                    for k, v in d.items()
                ]
            )
        )

    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(lambda v: nodes.List(values=v)), object_of(children)
        ),
        max_leaves=8,
    )


schemathesis.graphql.scalar("JSON", _json_nodes())

SEED = 20240917
MAX_EXAMPLES = 25
PASSWORD = "password123"
TIMEOUT = 30

# Operations whose success revokes the calling token, or every token of the account.
REVOKING_REST = {
    "POST /api/auth/logout",
    "PUT /api/auth/change-password",
    "POST /api/auth/reset-password",
}
REVOKING_GRAPHQL = {"Mutation.logout", "Mutation.changePassword", "Mutation.resetPassword"}

HYPOTHESIS_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,  # The explicit @seed below decides; the `ci` profile must not override it.
    print_blob=False,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)

Check = Callable[[CheckContext, Response, Case], "bool | None"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Tokens:
    """Bearer tokens on one stack: a shared account, and fresh accounts on demand."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=TIMEOUT)
        self.shared = self.fresh()

    def fresh(self) -> str:
        email = f"contract-{uuid.uuid4().hex[:12]}@example.com"
        response = self.client.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Contract Test"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["access_token"])

    def ensure_shared_valid(self) -> None:
        """Called after the shared token was refused: that is only fine if it still works."""
        response = self.client.get("/api/auth/me", headers=bearer(self.shared))
        assert response.status_code == 200, (
            "the shared account's token stopped working during the run: an operation that "
            "revokes tokens must be listed in REVOKING_REST / REVOKING_GRAPHQL "
            f"(GET /api/auth/me: {response.status_code} {response.text})"
        )

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def tokens(stack: Stack) -> Iterator[Tokens]:
    holder = Tokens(stack.url)
    yield holder
    holder.close()


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {"seed": SEED, "generation": {"max-examples": MAX_EXAMPLES, "database": "none"}}
    )


def _operations(schema: BaseSchema) -> list[APIOperation]:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema has no operations"
    return operations


def _may_have_invalid_input(operation: APIOperation) -> bool:
    """False for REST operations whose only inputs (if any) are plain string path parameters.

    Every value is valid for those, so no negative case exists, and Hypothesis would spend a
    second or more per operation finding that out (`Unsatisfiable` below covers other such cases).
    GraphQL operations always have invalid input: a query can always be broken.
    """
    raw = operation.definition.raw
    if not isinstance(raw, dict) or raw.get("requestBody"):
        return True
    for parameter in raw.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path" or schema.get("type") != "string":
            return True
        if set(schema) - {"type", "title", "description"}:
            return True
    return False


def _run_operation(
    operation: APIOperation, execute: Callable[[Case], None], *, with_examples: bool
) -> None:
    """The schema's examples, then up to `MAX_EXAMPLES` positive and as many negative cases."""
    strategies: list[tuple[str, st.SearchStrategy[Case]]] = []
    if with_examples:
        examples = operation.get_strategies_from_examples()
        if examples:
            strategies.append(("examples", st.one_of(examples)))
    strategies.append(("positive", operation.as_strategy(generation_mode=GenerationMode.POSITIVE)))
    if _may_have_invalid_input(operation):
        strategies.append(
            ("negative", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        )

    for name, strategy in strategies:

        @seed(SEED ^ zlib.crc32(f"{operation.label}:{name}".encode()))
        @HYPOTHESIS_SETTINGS
        @given(case=strategy)
        def run(case: Case) -> None:
            execute(case)

        try:
            run()
        except Unsatisfiable:
            # Hypothesis found no invalid input at all: there is nothing to test in this mode.
            if name != "negative":
                raise


# --- REST --------------------------------------------------------------------------------------

REST_CHECKS: list[Check] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="session")
def rest_schema(stack: Stack) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{stack.url}/openapi.json", config=_config())
    schema.config.update(base_url=stack.url)
    return schema


def _rest_executor(operation: APIOperation, tokens: Tokens) -> Callable[[Case], None]:
    # Routes that take a token document 401 (so does login, which ignores the header).
    needs_token = "401" in operation.definition.raw.get("responses", {})
    revoking = operation.label in REVOKING_REST
    watch_shared = needs_token and not revoking and operation.path != "/api/auth/login"

    def execute(case: Case) -> None:
        headers: dict[str, str] = {}
        if needs_token:
            headers = bearer(tokens.fresh() if revoking else tokens.shared)
        response = case.call_and_validate(headers=headers, checks=REST_CHECKS, timeout=TIMEOUT)
        if watch_shared and response.status_code == 401:
            tokens.ensure_shared_valid()

    return execute


def test_rest_contract(rest_schema: BaseSchema, tokens: Tokens, subtests: pytest.Subtests) -> None:
    for operation in _operations(rest_schema):
        with subtests.test(msg=operation.label):
            _run_operation(operation, _rest_executor(operation, tokens), with_examples=True)


# --- GraphQL -----------------------------------------------------------------------------------


def _error_codes(response: Response) -> list[Any]:
    try:
        payload: Any = response.json()
    except ValueError:
        return []  # Not JSON: `response_schema_conformance` reports it.
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [
        error["extensions"].get("code")
        for error in errors or []
        if isinstance(error, dict) and isinstance(error.get("extensions"), dict)
    ]


def no_5xx(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """An HTTP 5xx from /graphql: the server failed outside the resolvers' error mapping."""
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:2000]}"
    return None


def no_internal_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`extensions.code` INTERNAL_SERVER_ERROR: an unexpected exception the server masked."""
    codes = _error_codes(response)
    assert "INTERNAL_SERVER_ERROR" not in codes, f"masked server error: {response.text[:2000]}"
    return None


GRAPHQL_CHECKS: list[Check] = [no_5xx, no_internal_server_error, response_schema_conformance]


@pytest.fixture(scope="session")
def graphql_schema(stack: Stack) -> BaseSchema:
    return schemathesis.graphql.from_url(f"{stack.url}/graphql", config=_config())


def _graphql_executor(operation: APIOperation, tokens: Tokens) -> Callable[[Case], None]:
    revoking = operation.label in REVOKING_GRAPHQL

    def execute(case: Case) -> None:
        token = tokens.fresh() if revoking else tokens.shared
        response = case.call_and_validate(
            headers=bearer(token), checks=GRAPHQL_CHECKS, timeout=TIMEOUT
        )
        if not revoking and "UNAUTHENTICATED" in _error_codes(response):
            tokens.ensure_shared_valid()

    return execute


def test_graphql_contract(
    graphql_schema: BaseSchema, tokens: Tokens, subtests: pytest.Subtests
) -> None:
    for operation in _operations(graphql_schema):
        with subtests.test(msg=operation.label):
            _run_operation(operation, _graphql_executor(operation, tokens), with_examples=False)
