"""API shapes, each defined once.

A shape is a pydantic model decorated with `strawberry.pydantic.type` (or `.input`): the same
class is the GraphQL type, the REST response model (OpenAPI included) and, through
`selection()`, the fields the REST shim asks GraphQL for. A field added to a shape therefore
appears in GraphQL and REST alike; only fields with a resolver (`strawberry.pydantic.field`)
are GraphQL's alone.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Self, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel, BeforeValidator, ConfigDict

# Ids are UUIDs (or ints) in the database and strings in both APIs.
Id = Annotated[strawberry.ID, BeforeValidator(str)]


class Shape(BaseModel):
    """Base of output shapes: built from a database row (or any object) by its attributes."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, row: Any) -> Self:
        return cls.model_validate(row)


def camel(name: str) -> str:
    """GraphQL's name of a field (Strawberry's auto camel case)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The shape a field holds (alone, in a list or optional), if any."""
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType):
        for argument in get_args(annotation):
            found = _nested(argument)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def selection(shape: type[BaseModel]) -> str:
    """The GraphQL selection of every field of `shape`, aliased to its snake_case name (the REST
    names), nested shapes included."""
    parts = []
    for name, info in shape.model_fields.items():
        graphql_name = camel(name)
        part = graphql_name if graphql_name == name else f"{name}: {graphql_name}"
        inner = _nested(info.annotation)
        if inner is not None:
            part += f" {{ {selection(inner)} }}"
        parts.append(part)
    return " ".join(parts)
