"""API shapes, each defined once.

A shape is a pydantic model decorated with `strawberry.pydantic.type` (or `.input`): the same
class is the GraphQL type, the REST response model (OpenAPI included) and, through
`selection()`, the fields the REST shim asks GraphQL for. A field added to a shape therefore
appears in GraphQL and REST alike; only fields with a resolver (`strawberry.pydantic.field`)
are GraphQL's alone.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Self, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
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


def selection(shape: type[BaseModel], of: type[BaseModel] | None = None) -> str:
    """The GraphQL selection of every field of `shape`, aliased to its snake_case name (the REST
    names), nested shapes included; for a `variant`, `of` is the GraphQL type it was made from,
    whose fields say what is nested."""
    parts = []
    for name in shape.model_fields:
        graphql_name = camel(name)
        part = graphql_name if graphql_name == name else f"{name}: {graphql_name}"
        inner = _nested((of or shape).model_fields[name].annotation)
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
    given = model.model_fields_set
    # Plain values as the model serialises them (a field may declare its GraphQL form there).
    dumped = model.model_dump(include=given)
    return {
        camel(name): _graphql_value(value) if _holds_shapes(value) else dumped[name]
        for name in type(model).model_fields
        if name in given
        for value in (getattr(model, name),)
    }


def _holds_shapes(value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, BaseModel) for item in value)
    return isinstance(value, BaseModel)


def _graphql_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_graphql_value(item) for item in value]
    if isinstance(value, BaseModel):
        return graphql_input(value)
    return value


@dataclass(frozen=True)
class Reshaped:
    """Marks a field of a REST shape (in `Annotated`) whose GraphQL value has another form:
    `of_graphql` turns the GraphQL value (when not null) into the REST one."""

    of_graphql: Callable[[Any], Any]


Convert = Callable[[Any], Any]


def rest_form(annotation: Any) -> Convert | None:
    """What turns GraphQL's answer of `annotation` (a REST response model: a shape, a list or an
    optional of one, ...) into its REST JSON, as the model declares it: a `Reshaped` field takes
    its REST form, and the nulls of the sparse objects go, at any depth. None when GraphQL's
    answer already is the REST JSON. The REST shim applies it to every route's result."""
    origin = get_origin(annotation)
    if origin in (list, Union, types.UnionType):
        inner = next(
            (found for arg in get_args(annotation) if (found := rest_form(arg)) is not None),
            None,
        )
        if inner is None or origin is not list:
            return inner
        each = inner
        return lambda value: value if value is None else [each(item) for item in value]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    fields: dict[str, Convert] = {}
    for name, info in annotation.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Reshaped)), None)
        found = marker.of_graphql if marker is not None else rest_form(info.annotation)
        if found is not None:
            fields[name] = found
    sparse = issubclass(annotation, Sparse)
    if not fields and not sparse:
        return None

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        converted = {
            k: v if v is None or k not in fields else fields[k](v) for k, v in value.items()
        }
        return {k: v for k, v in converted.items() if v is not None} if sparse else converted

    return convert


def variant(
    shape: type[BaseModel],
    name: str,
    *,
    without: Collection[str] = (),
    retyped: Mapping[str, Any] | None = None,
) -> type[Shape]:
    """`shape` as REST shows it: the same fields, in the same order, less those `without`, and
    those in `retyped` with another type (their default and description kept)."""
    retyped = retyped or {}
    fields: dict[str, Any] = {}
    for field_name, info in shape.model_fields.items():
        if field_name in without:
            continue
        if field_name in retyped:
            kept = Field(info.default, description=info.description, examples=info.examples)
            fields[field_name] = (retyped[field_name], kept)
        else:
            fields[field_name] = (info.annotation, info)
    made: type[Shape] = create_model(name, __base__=Shape, __module__=shape.__module__, **fields)
    return made


def many(shape: type[BaseModel]) -> Any:
    """`list[shape]`, for a shape made by `variant` (which type checkers cannot see as a type)."""
    return list[shape]  # type: ignore[valid-type]
