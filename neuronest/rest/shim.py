"""The legacy REST API as a table: each route runs one GraphQL operation in-process.

Aliases in the operation give the snake_case shapes of the API reference, so REST and GraphQL run
the same resolvers and services and cannot drift apart.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast, get_origin

from fastapi import APIRouter, Body, HTTPException, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from pydantic import BaseModel, RootModel

from neuronest.errors import CODE_TO_ERROR, INTERNAL_CODE
from neuronest.graphql.context import Context
from neuronest.graphql.errors import VALIDATION_CODE
from neuronest.graphql.schema import Schema
from neuronest.graphql.shapes import camel, graphql_input, rest_form
from neuronest.kit import jsonvalue
from neuronest.rest.direct import direct_call


class ErrorBody(BaseModel):
    detail: Any


@dataclass(frozen=True)
class QueryParam:
    name: str
    type: Any = str
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    operation: str
    response: Any
    status: int = 200
    body: type[BaseModel] | None = None
    query: Sequence[QueryParam] = ()
    public: bool = False
    errors: Sequence[int] = field(default=(422,))
    body_variable: str = "input"
    # The OpenAPI operation id when the one made from the operation's root field (see
    # `operation_id`) does not fit.
    operation_id: str | None = None
    # Answered by calling the root field's resolver rather than executing the document (see
    # neuronest.rest.direct), for hot routes: the same answers, errors and metrics, at less cost.
    direct: bool = False


PAGE = (
    QueryParam("limit", int, 100, "at most 1000"),
    QueryParam("offset", int, 0),
)


# Declares bearer auth in the OpenAPI document (Swagger UI's "Authorize", generated clients). It
# refuses nothing itself (auto_error=False): the resolvers authenticate, as they do for GraphQL.
BEARER = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="The `access_token` that register and login return: "
    "`Authorization: Bearer <token>`",
    auto_error=False,
)


def operation_id(route: Route) -> str:
    """camelCase, from the GraphQL root field: mutations by their name (`createRuntime`),
    queries as `get...` or, when they answer a list, `list...` (`getMe`, `listProjects`)."""
    if route.operation_id is not None:
        return route.operation_id
    definition = parse(route.operation).definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    root_field = definition.selection_set.selections[0]
    assert isinstance(root_field, FieldNode)
    name = root_field.name.value
    if definition.operation is not OperationType.QUERY:
        return name
    verb = "list" if get_origin(route.response) is list else "get"
    return verb + name[0].upper() + name[1:]


def _status_of(error: GraphQLError) -> tuple[int, dict[str, str]]:
    extensions = error.extensions or {}
    code = extensions.get("code", INTERNAL_CODE)
    if code == VALIDATION_CODE:
        return 422, {}
    error_class = CODE_TO_ERROR.get(code)
    if error_class is None:
        return 500, {}
    headers: dict[str, str] = {}
    if code == "UNAUTHENTICATED":
        headers["WWW-Authenticate"] = "Bearer"
    if "retry_after" in extensions:
        headers["Retry-After"] = str(extensions["retry_after"])
    return error_class.status, headers


def _error_response(error: GraphQLError) -> JSONResponse:
    status, headers = _status_of(error)
    return JSONResponse({"detail": error.message}, status_code=status, headers=headers)


def _endpoint(route: Route, schema: Schema) -> Callable[..., Awaitable[JSONResponse]]:
    # Parsed and validated once, here: a route that drifted from the schema fails at start-up;
    # each call then runs this document (the schema's extensions know it by its text).
    schema.prepare(route.operation)
    # The one place where a route's GraphQL result becomes its REST body, as its response model
    # declares (None: they are the same).
    to_rest = rest_form(route.response)
    call = direct_call(schema, route.operation) if route.direct else None
    path_params = re.findall(r"{(\w+)(?::\w+)?}", route.path)

    async def run(request: Request, params: Mapping[str, Any]) -> JSONResponse:
        variables: dict[str, Any] = {}
        for name in path_params:
            variables[camel(name)] = params[name]
        for query_param in route.query:
            if params.get(query_param.name) is not None:
                variables[camel(query_param.name)] = params[query_param.name]
        body = params.get("body")
        values: dict[str, Any] = {}  # what the resolver takes as REST validated it
        if isinstance(body, RootModel):  # a free-form object, passed on as it is
            variables[route.body_variable] = body.root
        elif isinstance(body, BaseModel):
            variables[route.body_variable] = graphql_input(body)
            values[route.body_variable] = body
        context = Context(request.app.state.services, request)
        if call is not None:
            try:
                data = await call(context, variables, values)
            except GraphQLError as error:
                return _error_response(error)
        else:
            result = await schema.execute(
                route.operation, variable_values=variables, context_value=context
            )
            if result.errors:
                return _error_response(result.errors[0])
            assert result.data is not None
            data = result.data["result"]
        if to_rest is not None:
            data = to_rest(data)
        return JSONResponse(data, status_code=route.status)

    async def endpoint(request: Request, **params: Any) -> JSONResponse:
        return await run(request, params)

    if route.body is None and not route.query:
        # Nothing FastAPI could refuse (path parameters are text; the bearer scheme only documents
        # the header, the resolvers authenticate): the route's handler runs this directly, without
        # solving the endpoint's parameters (see StrictJSONRoute).
        async def bare(request: Request) -> JSONResponse:
            return await run(request, request.path_params)

        endpoint.bare_handler = bare  # type: ignore[attr-defined]

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
        for name in path_params
    ]
    parameters += [
        inspect.Parameter(
            q.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=q.type | None,
            default=Query(q.default, description=q.description),
        )
        for q in route.query
    ]
    if route.body is not None:
        parameters.append(
            inspect.Parameter(
                "body", inspect.Parameter.KEYWORD_ONLY, annotation=route.body, default=Body(...)
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return endpoint


ERROR_DESCRIPTIONS = {
    401: "Missing, invalid, expired or revoked token",
    403: "The account is inactive",
    404: "No such object (or it belongs to someone else)",
    409: "Conflicts with the current state",
    422: "Invalid input; `detail` says which field and why",
    413: "The request body is over the size limit",
    429: "Too many attempts; see Retry-After",
}


class StrictJSONRequest(Request):
    """Bodies are parsed strictly: a malformed one is a 422 naming where, before any model."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                depth = self.app.state.settings.body_json_depth
                self._json = jsonvalue.loads(await self.body(), max_depth=depth)
            except jsonvalue.Malformed as error:
                where = ["body", *error.parts]
                detail = [{"loc": where, "msg": error.reason, "type": "value_error"}]
                raise HTTPException(422, detail=detail) from None
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        bare = getattr(self.endpoint, "bare_handler", None)
        if bare is not None:
            return cast(Callable[[Request], Coroutine[Any, Any, Response]], bare)
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive, request._send))

        return strict


def build_router(routes: Sequence[Route], tag: str, schema: Schema) -> APIRouter:
    """The routes of `tag`, each running its document on `schema` (the app's)."""
    router = APIRouter(tags=[tag], route_class=StrictJSONRoute)
    for route in routes:
        codes = set(route.errors) | ({422} if route.body or route.query else set())
        if route.body:
            codes |= {413}
        if not route.public:
            codes |= {401, 403}
        responses: dict[int | str, dict[str, Any]] = {
            code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]}
            for code in sorted(codes)
        }
        router.add_api_route(
            route.path,
            _endpoint(route, schema),
            methods=[route.method],
            summary=route.summary,
            status_code=route.status,
            response_model=route.response,
            responses=responses,
            response_class=JSONResponse,
            operation_id=operation_id(route),
            dependencies=None if route.public else [Security(BEARER)],
        )
    return router
