from __future__ import annotations

from starlette.requests import HTTPConnection
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from neuronest.errors import AppError
from neuronest.graphql.context import Context
from neuronest.graphql.schema import schema
from neuronest.graphql.ws import SessionCheckedHandler


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


class NeuroNestGraphQLRouter(GraphQLRouter[Context, None]):
    graphql_transport_ws_handler_class = SessionCheckedHandler

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Websockets authenticate once, by `{"Authorization": "Bearer ..."}` in connection_init."""
        try:
            await context.session()
        except AppError as error:
            raise ConnectionRejectionError({"message": error.message}) from None
        return await super().on_ws_connect(context)


def graphql_router() -> NeuroNestGraphQLRouter:
    return NeuroNestGraphQLRouter(
        schema,
        context_getter=get_context,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        graphql_ide="graphiql",
    )
