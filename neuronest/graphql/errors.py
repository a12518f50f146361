"""Maps the error hierarchy to `extensions.code` once; anything unexpected is logged and masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from neuronest.errors import INTERNAL_CODE, AppError

log = logging.getLogger("neuronest.graphql")

VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"


def map_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, AppError):
        extensions = {"code": original.code, **original.extensions}
        message = original.message
    elif original is None or isinstance(original, GraphQLError):
        extensions = {"code": (error.extensions or {}).get("code", VALIDATION_CODE)}
        message = error.message
    else:
        log.error("unexpected error in %s", error.path, exc_info=original)
        extensions = {"code": INTERNAL_CODE}
        message = "Internal server error"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original if isinstance(original, AppError) else None,
        extensions=extensions,
    )


def _map_result(result: object) -> None:
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = [map_error(e) for e in errors]  # type: ignore[attr-defined]


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        _map_result(self.execution_context.result)

    def on_stream_result(self, result: object) -> Iterator[None]:
        """Each event of a subscription gets its codes before it is sent."""
        _map_result(result)
        yield None
