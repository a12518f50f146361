"""What the input and budget checks cost one GraphQL request, next to the server's CPU per `me`
request from the same run. The same schema runs one small document with a variable with the checks
(well-formed input, token limit, budget pass before the cached validation) and without them
(parser and validation caches only); the difference is what the checks add to each request."""

from __future__ import annotations

import time
from collections.abc import Callable

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from bench import summary

AIM = 0.05  # the checks add at most 5% to a request's CPU
DOCUMENT = "query Probe($t: String!) { __typename __type(name: $t) { name } }"


def _cpu_ms_per_call(call: Callable[[], object], calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) * 1000 / calls


def lines(request_cpu_ms: float, calls: int = 5_000) -> list[summary.Line]:
    from neuronest.config import Settings
    from neuronest.graphql import schema as built

    checked_schema = built.Schema(Settings())
    plain = strawberry.Schema(
        query=built.Query,
        mutation=built.Mutation,
        subscription=built.Subscription,
        config=checked_schema.config,
        extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)],
    )
    variables = {"t": "Query"}

    def run(schema: strawberry.Schema) -> Callable[[], object]:
        def execute() -> object:
            result = schema.execute_sync(DOCUMENT, variable_values=variables)
            assert result.errors is None, result.errors
            return result

        return execute

    _cpu_ms_per_call(run(checked_schema), 200)  # warm both caches
    _cpu_ms_per_call(run(plain), 200)
    checked = min(_cpu_ms_per_call(run(checked_schema), calls) for _ in range(3))
    unchecked = min(_cpu_ms_per_call(run(plain), calls) for _ in range(3))
    added = max(checked - unchecked, 0.0)
    return [
        summary.Line(
            "input and budget checks per GraphQL request",
            added,
            "GraphQL `me` server CPU per request",
            request_cpu_ms,
            "ms",
            f"≤ {AIM:.0%} of a request",
            added <= AIM * request_cpu_ms,
        )
    ]
