from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from neuronest import docs
from neuronest.errors import AppError
from neuronest.graphql.context import Context
from neuronest.graphql.schema import Schema
from neuronest.graphql.ws import SessionCheckedHandler
from neuronest.kit import jsonvalue


async def get_context(connection: HTTPConnection) -> Context:
    """The app's services (its lifespan started them) and who is asking."""
    return Context(connection.app.state.services, connection)


class NeuroNestGraphQLRouter(GraphQLRouter[Context, None]):
    graphql_transport_ws_handler_class = SessionCheckedHandler

    def __init__(self, schema: Schema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.body_json_depth = schema.settings.body_json_depth

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from this installation's own files (Strawberry's page loads them from CDNs)."""
        return docs.graphiql_page()

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Websockets authenticate once, by `{"Authorization": "Bearer ..."}` in connection_init."""
        try:
            await context.session()
        except AppError as error:
            raise ConnectionRejectionError({"message": error.message}) from None
        return await super().on_ws_connect(context)

    def parse_json(self, data: str | bytes) -> Any:
        """HTTP bodies (and GET variables): a malformed one is a 422 naming where."""
        try:
            return jsonvalue.loads(data, max_depth=self.body_json_depth)
        except jsonvalue.Malformed as error:
            raise HTTPException(422, f"{error.where('body')}: {error.reason}") from None

    def decode_json(self, data: str | bytes) -> object:
        """Websocket messages: a malformed one closes the connection (4400), as invalid JSON."""
        try:
            return jsonvalue.loads(data, max_depth=self.body_json_depth)
        except jsonvalue.Malformed as error:
            raise json.JSONDecodeError(str(error), "", 0) from None


def graphql_router(schema: Schema) -> NeuroNestGraphQLRouter:
    return NeuroNestGraphQLRouter(
        schema,
        # The path is the route's own (not an include prefix), so metrics label it /graphql.
        path="/graphql",
        context_getter=get_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        graphql_ide="graphiql",
    )
