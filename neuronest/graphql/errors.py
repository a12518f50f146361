"""Maps the error hierarchy to `extensions.code` once; anything unexpected is logged and masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.pydantic import InputValidationError

from neuronest.errors import INTERNAL_CODE, AppError, Invalid

log = logging.getLogger("neuronest.graphql")

VALIDATION_CODE = "GRAPHQL_VALIDATION_FAILED"


def map_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, AppError):
        extensions = {"code": original.code, **original.extensions}
        message = original.message
    elif isinstance(original, InputValidationError):  # an input shape refused a value
        extensions = {**(error.extensions or {}), "code": Invalid.code}
        message = error.message
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


def map_errors(errors: list[GraphQLError]) -> None:
    """Replaces each error, in place, by its client-facing form (idempotent)."""
    errors[:] = [map_error(error) for error in errors]
