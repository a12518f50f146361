"""Lists of flat objects completed in one pass.

graphql-core completes a list of objects field by field: a resolve info, a resolver call and a
leaf coercion for every field of every item, about 4 µs per field. A live log event carries up
to thousands of `RuntimeLog` lines, so that cost is most of what a log flood costs the server (and
a runtime may hold thousands of `EnvironmentVariable`s).
For the object types named in `FLAT_TYPES`, whose fields are plain attributes of scalar types,
a list whose selection holds only such fields (aliases and `__typename` included; no arguments,
no deferred or streamed parts) is completed here instead, with the same coercions and therefore
the same JSON. Anything else, including a null where the schema promises none, takes
graphql-core's own path, which reports it as usual.

A resolver may also return such a list as `Columns` (a sequence of values per attribute): it is
completed column by column, each column's values coerced at once, without an object per item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition

FLAT_TYPES = frozenset({"RuntimeLog", "EnvironmentVariable"})

# One selected field of an item: (response name, attribute, coercion, may be null); a `None`
# attribute stands for `__typename`.
Part = tuple[str, str | None, Callable[[Any], Any], bool]


class _NotFlat(Exception):
    """This list takes graphql-core's own path."""


class Columns:
    """A list of flat objects as columns: `columns` maps attributes to their values, all of one
    length. Iterated (by graphql-core's own path), it gives `make(**attributes)` per item."""

    def __init__(self, columns: Mapping[str, Sequence[Any]], make: Callable[..., Any]) -> None:
        self.columns = columns
        self.make = make

    def __len__(self) -> int:
        return min(map(len, self.columns.values()), default=0)

    def __iter__(self) -> Iterator[Any]:
        names = tuple(self.columns)
        for values in zip(*self.columns.values(), strict=True):
            yield self.make(**dict(zip(names, values, strict=True)))


def _plain_fields(object_type: GraphQLObjectType) -> dict[str, str]:
    """The type's fields that are plain attributes (no resolver, permission or extension): their
    GraphQL name and Python attribute."""
    definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryObjectDefinition):
        return {}
    names = NameConverter(auto_camel_case=True)
    return {
        names.from_field(field): field.python_name
        for field in definition.fields
        if field.base_resolver is None and not field.permission_classes and not field.extensions
    }


class FlatListExecution(StrawberryGraphQLCoreExecutionContext):
    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        if isinstance(items, Columns):
            try:
                parts = self._flat_parts(item_type, field_details_list, path)
                return _complete_columns(items, parts)
            except _NotFlat:
                pass
        elif isinstance(items, list):
            try:
                parts = self._flat_parts(item_type, field_details_list, path)
                return [_complete(item, parts) for item in items]
            except _NotFlat:
                pass
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def _flat_parts(
        self, item_type: GraphQLOutputType, field_details_list: FieldDetailsList, path: Path
    ) -> list[Part]:
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(object_type, GraphQLObjectType) or object_type.name not in FLAT_TYPES:
            raise _NotFlat
        if item_type is object_type or self.get_stream_usage(field_details_list, path):
            raise _NotFlat
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            raise _NotFlat
        plain = _plain_fields(object_type)
        parts: list[Part] = []
        for response_name, details in grouped.items():
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                parts.append((response_name, None, _constant(object_type.name), False))
                continue
            field_type = object_type.fields[name].type
            leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
            if node.arguments or name not in plain or not isinstance(leaf, GraphQLScalarType):
                raise _NotFlat
            nullable = not isinstance(field_type, GraphQLNonNull)
            parts.append((response_name, plain[name], leaf.coerce_output_value, nullable))
        return parts


def _constant(value: str) -> Callable[[Any], Any]:
    return lambda _: value


def _complete(item: Any, parts: list[Part]) -> dict[str, Any]:
    completed: dict[str, Any] = {}
    for response_name, attribute, coerce, nullable in parts:
        if attribute is None:
            completed[response_name] = coerce(None)
            continue
        value = getattr(item, attribute)
        if value is None:
            if not nullable:
                raise _NotFlat  # graphql-core reports the broken promise
            completed[response_name] = None
            continue
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise _NotFlat
        completed[response_name] = coerced
    return completed


def _complete_columns(items: Columns, parts: list[Part]) -> list[dict[str, Any]]:
    count = len(items)
    names = [response_name for response_name, *_ in parts]
    columns: list[Sequence[Any]] = []
    for _, attribute, coerce, nullable in parts:
        if attribute is None:
            columns.append([coerce(None)] * count)
            continue
        values = items.columns.get(attribute)
        if values is None or len(values) != count:
            raise _NotFlat
        columns.append(_coerced(values, coerce, nullable))
    if not names:  # every field skipped
        return [{} for _ in range(count)]
    return _rows(tuple(names))(*columns)


@lru_cache(maxsize=64)
def _rows(names: tuple[str, ...]) -> Callable[..., list[dict[str, Any]]]:
    """A function of one column per name that gives the rows as dicts: a dict display per row
    costs a tenth of `dict(zip(names, row))`. Response names are GraphQL names (letters,
    digits, `_`), quoted all the same."""
    columns = ", ".join(f"c{index}" for index in range(len(names)))
    values = ", ".join(f"v{index}" for index in range(len(names)))
    items = ", ".join(f"{name!r}: v{index}" for index, name in enumerate(names))
    source = (
        f"def rows({columns}):\n"
        f"    return [{{{items}}} for {values}, in zip({columns}, strict=True)]\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the source is built from GraphQL names only
    return namespace["rows"]  # type: ignore[no-any-return]


# Scalars whose coercion gives back a value of this type unchanged (Int: within its range).
_UNCHANGED: dict[Any, type] = {
    GraphQLString.coerce_output_value: str,
    GraphQLID.coerce_output_value: str,
    GraphQLInt.coerce_output_value: int,
}


def _coerced(values: Sequence[Any], coerce: Callable[[Any], Any], nullable: bool) -> Sequence[Any]:
    """`values` as `_complete` would coerce each of them: at once when they are of the type the
    scalar passes on unchanged, and once per distinct value when few are."""
    kinds = set(map(type, values))
    unchanged = _UNCHANGED.get(coerce)
    if kinds == {unchanged} and (
        unchanged is str or GRAPHQL_MIN_INT <= min(values) <= max(values) <= GRAPHQL_MAX_INT
    ):
        return values

    def one(value: Any) -> Any:
        if value is None:
            if not nullable:
                raise _NotFlat  # graphql-core reports the broken promise
            return None
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise _NotFlat
        return coerced

    try:
        distinct = set(values) if len(kinds) == 1 else values  # 1 and 1.0 are one key
    except TypeError:  # unhashable values
        distinct = values
    if isinstance(distinct, set) and len(distinct) * 4 <= len(values):
        table = {value: one(value) for value in distinct}
        return [table[value] for value in values]
    return [one(value) for value in values]
