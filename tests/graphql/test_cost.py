"""A GraphQL document has a budget: password mutations, fields, aliases, depth and cost."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from graphql import parse

from neuronest.config import Settings
from neuronest.graphql.cost import check_document
from neuronest.graphql.schema import Schema
from neuronest.kit.pagination import MAX_LIMIT
from neuronest.rest import auth, memory, orchestration, projects, runtimes
from tests.conftest import Account, Mailbox, gql
from tests.harness import Stack
from tests.ws import Subscriber, bearer

# The schema and budget the test stacks run with (their settings are the defaults).
schema = Schema(Settings())
BUDGET = schema.budget
LOGIN = "login(input: $i) { accessToken }"
TASK_FIELDS = (
    "id userId taskType inputData context tools memoryId agentId status result error parentId "
    "stepId attempts startedAt finishedAt createdAt updatedAt"
)


def code_of(result: dict[str, Any]) -> str:
    assert result.get("data") is None, result
    return str(result["errors"][0]["extensions"]["code"])


async def login_works(api: httpx.AsyncClient, account: Account) -> None:
    """The honest login next to an attack: had any refused login run with the wrong password,
    the failure limit (3 in tests) would answer 429 here."""
    result = await gql(
        api,
        f"mutation($i: LoginInput!) {{ {LOGIN} }}",
        {"i": {"email": account.email, "password": account.password}},
    )
    assert result["data"]["login"]["accessToken"], result


async def test_aliased_repeated_and_fragment_logins_are_refused_unrun(
    api: httpx.AsyncClient, account: Account
) -> None:
    wrong = {"i": {"email": account.email, "password": "wrong-password"}}
    attacks = [
        "mutation($i: LoginInput!) { " + " ".join(f"a{n}: {LOGIN}" for n in range(40)) + " }",
        f"mutation($i: LoginInput!) {{ {LOGIN} {LOGIN} }}",
        "mutation($i: LoginInput!) { ...A ...B ... on Mutation { c: " + LOGIN + " } }"
        f" fragment A on Mutation {{ {LOGIN} }} fragment B on Mutation {{ b: {LOGIN} }}",
        f"mutation A($i: LoginInput!) {{ {LOGIN} }} mutation B($i: LoginInput!) {{ {LOGIN} }}",
        "mutation($i: LoginInput!, $r: RegisterInput!) { "
        + LOGIN
        + " register(input: $r) { accessToken } }",
    ]
    for document in attacks:
        variables = {**wrong, "r": {"email": account.email, "password": "password123"}}
        result = await gql(api, document, variables)
        assert code_of(result) == "QUERY_TOO_COSTLY", document
        assert "At most one of" in result["errors"][0]["message"]
    await login_works(api, account)


async def test_aliased_forgot_password_sends_no_mail(
    api: httpx.AsyncClient, account: Account, stack: Stack, mailbox: Mailbox
) -> None:
    forgot = "forgotPassword(input: {email: $e}) { message }"
    batch = "mutation($e: String!) { " + " ".join(f"f{n}: {forgot}" for n in range(25)) + " }"
    assert code_of(await gql(api, batch, {"e": account.email})) == "QUERY_TOO_COSTLY"
    honest = await gql(api, f"mutation($e: String!) {{ {forgot} }}", {"e": account.email})
    assert honest["data"]["forgotPassword"]["message"].startswith("If the email exists")
    tokens = await _reset_tokens(stack, mailbox, account.email)
    assert len(tokens) == 1, tokens


async def _reset_tokens(stack: Stack, mailbox: Mailbox, email: str) -> list[str]:
    """The reset tokens mailed to `email` once the first one has arrived (and a moment later,
    after the job queue has drained the mail the honest request sent)."""
    pattern = re.compile(r"Reset token: (\S+)")

    def found() -> list[str]:
        if stack.mode == "postgres":
            texts = [m for m in mailbox.messages if f"To: {email}" in m]
        else:
            texts = [part for part in stack.logs().split("mail to ") if part.startswith(email)]
        return [t for text in texts for t in pattern.findall(text)]

    for _ in range(200):
        if found():
            return found()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reset mail reached {email}")


async def test_many_root_fields_and_aliases_get_too_many_fields(
    api: httpx.AsyncClient, account: Account
) -> None:
    roots = "{ " + " ".join(f"a{n}: __typename" for n in range(500)) + " }"
    assert code_of(await gql(api, roots, token=account.token)) == "TOO_MANY_FIELDS"
    huge = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(1000)) + " }"
    result = await gql(api, huge, token=account.token)
    assert "tokens" in result["errors"][0]["message"] and result["data"] is None
    nested = "{ me { " + " ".join(f"a{n}: id" for n in range(500)) + " } }"
    assert code_of(await gql(api, nested, token=account.token)) == "TOO_MANY_FIELDS"
    repeated = "{ " + " ".join("tasks(limit: 5) { id }" for _ in range(300)) + " }"
    assert code_of(await gql(api, repeated, token=account.token)) == "TOO_MANY_FIELDS"
    doubling = "".join(f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }} " for n in range(30))
    bomb = "{ me { ...F0 } } " + doubling + "fragment F30 on User { id }"
    assert code_of(await gql(api, bomb, token=account.token)) == "TOO_MANY_FIELDS"
    honest = "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(20)) + " }"
    result = await gql(api, honest, token=account.token)
    assert result["data"]["a19"]["id"] == account.user["id"]


async def test_deep_and_huge_queries_are_too_costly(
    api: httpx.AsyncClient, account: Account
) -> None:
    deep = "{" + "me {" * 20 + "id" + "}" * 20 + "}"
    result = await gql(api, deep, token=account.token)
    assert code_of(result) == "QUERY_TOO_COSTLY" and "depth" in result["errors"][0]["message"]
    huge = "{ projects(limit: 1000) { id files { path size } } }"
    result = await gql(api, huge, token=account.token)
    assert code_of(result) == "QUERY_TOO_COSTLY"
    assert result["errors"][0]["extensions"]["max_cost"] == BUDGET.max_cost
    by_variable = "query($n: Int) { projects(limit: $n) { id files { path size } } }"
    result = await gql(api, by_variable, {"n": 1000}, token=account.token)
    assert code_of(result) == "QUERY_TOO_COSTLY"
    by_default = "query($n: Int = 1000) { projects(limit: $n) { id files { path size } } }"
    assert code_of(await gql(api, by_default, token=account.token)) == "QUERY_TOO_COSTLY"
    # The largest honest pages still work.
    await api.post("/api/projects", json={"name": "p"}, headers=account.headers)
    small = await gql(api, by_variable, {"n": 10}, token=account.token)
    assert small["data"]["projects"][0]["files"] == []
    full = await gql(
        api,
        f"query($n: Int) {{ tasks(limit: $n) {{ {TASK_FIELDS} }} }}",
        {"n": 1000},
        account.token,
    )
    assert full["data"] == {"tasks": []}
    listed = await api.get("/api/orchestration/tasks?limit=1000", headers=account.headers)
    assert listed.status_code == 200 and listed.json() == []
    introspection = await gql(api, "{ __schema { types { name fields { name } } } }")
    assert introspection["data"]["__schema"]["types"]


async def test_a_batched_body_cannot_multiply_the_budget(
    api: httpx.AsyncClient, account: Account
) -> None:
    one = {
        "query": f"mutation($i: LoginInput!) {{ {LOGIN} }}",
        "variables": {"i": {"email": account.email, "password": "wrong-password"}},
    }
    response = await api.post("/graphql", json=[one] * 10)
    assert 400 <= response.status_code < 500
    assert "accessToken" not in response.text
    await login_works(api, account)


async def test_a_websocket_operation_has_the_same_budget(stack: Stack, account: Account) -> None:
    client = Subscriber(stack.ws_url)
    assert (await client.connect(bearer(account.token)))["type"] == "connection_ack"
    logins = (
        "mutation { "
        + " ".join(
            f'a{n}: login(input: {{email: "{account.email}", password: "wrong-pass"}}) '
            "{ accessToken }"
            for n in range(40)
        )
        + " }"
    )
    await client.subscribe(logins, "attack")
    refused = await client.next()
    assert refused["type"] == "error" and refused["id"] == "attack"
    assert refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    await client.subscribe("{ me { email } }", "honest")
    answer = await client.next()
    assert answer["payload"]["data"]["me"]["email"] == account.email
    await client.close()


def test_every_rest_document_is_within_budget() -> None:
    """Each REST route runs one fixed document; with the largest page, none is refused."""
    routes = [
        route
        for module in (auth, projects, runtimes, orchestration, memory)
        for route in module.ROUTES
    ]
    assert len(routes) > 40
    for route in routes:
        variables = {"limit": MAX_LIMIT} if any(q.name == "limit" for q in route.query) else {}
        error = check_document(schema._schema, parse(route.operation), variables, BUDGET)
        assert error is None, (route.method, route.path, error and error.message)
