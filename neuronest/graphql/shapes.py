"""API shapes, each defined once.

A shape is a pydantic model decorated with `strawberry.pydantic.type` (or `.input`): the same
class is the GraphQL type, the REST response model (OpenAPI included) and, through
`selection()`, the fields the REST shim asks GraphQL for. A field added to a shape therefore
appears in GraphQL and REST alike; only fields with a resolver (`strawberry.pydantic.field`)
are GraphQL's alone.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Annotated, Any, Self, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel, BeforeValidator, ConfigDict
from strawberry.scalars import JSON

# Ids are UUIDs (or ints) in the database and strings in both APIs.
Id = Annotated[strawberry.ID, BeforeValidator(str)]
OptionalId = Annotated[
    strawberry.ID | None, BeforeValidator(lambda value: None if value is None else str(value))
]


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


# A free-form JSON object (`input_data`, `context`, `result`): the JSON scalar in GraphQL, an
# object in REST and its OpenAPI schema.
Object = Annotated[dict[str, Any], strawberry.field(graphql_type=JSON)]
OptionalObject = Annotated[dict[str, Any] | None, strawberry.field(graphql_type=JSON | None)]


class Sparse(BaseModel):
    """A nested object kept as the client wrote it (a workflow step, an agent's configuration):
    a field left out and a null are the same, neither is stored, and REST shows only the fields
    it has. Inputs refuse unknown fields and values of the wrong JSON type (no coercion)."""


class SparseInput(Sparse):
    model_config = ConfigDict(extra="forbid", strict=True)


def given(value: Any) -> Any:
    """An input as the plain data services take: sparse objects without their nulls."""
    if isinstance(value, list):
        return [given(item) for item in value]
    if isinstance(value, Sparse):
        return value.model_dump(exclude_none=True)
    return value


def graphql_input(model: BaseModel) -> dict[str, Any]:
    """A REST body as a GraphQL input value: the fields it was given by their GraphQL names,
    nested shapes likewise (free-form objects stay as they are)."""
    return {
        camel(name): _graphql_value(getattr(model, name))
        for name in type(model).model_fields
        if name in model.model_fields_set
    }


def _graphql_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_graphql_value(item) for item in value]
    if isinstance(value, BaseModel):
        return graphql_input(value)
    return value


Prune = Callable[[Any], Any]


def rest_pruner(annotation: Any) -> Prune | None:
    """What turns GraphQL's answer of `annotation` (a shape, a list of them, ...) into its REST
    JSON: the nulls of the sparse objects in it go. None when it holds no sparse object."""
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType):
        inner = next(
            (found for arg in get_args(annotation) if (found := rest_pruner(arg)) is not None),
            None,
        )
        if inner is None or origin is not list:
            return inner
        each = inner
        return lambda value: value if value is None else [each(item) for item in value]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    fields = {
        name: found
        for name, info in annotation.model_fields.items()
        if (found := rest_pruner(info.annotation)) is not None
    }
    sparse = issubclass(annotation, Sparse)
    if not fields and not sparse:
        return None

    def prune(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        pruned = {k: fields[k](v) if k in fields else v for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v is not None} if sparse else pruned

    return prune
