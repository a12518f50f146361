"""A REST route's document answered without executing it: its root field's resolver is called
with the route's arguments, and the object it returns is completed along the document's selection
by the schema's own types (their scalars serialise), as GraphQL's execution would answer.

Only a document that GraphQL's execution could not answer otherwise qualifies, and that is checked
once, where the route is built: one root field whose arguments are all variables, a selection of
plain fields (no resolver of their own, no fragments or directives) and a budget verdict that reads
no variable. Until the resolver runs, a request meets what the schema's extensions check first: its
variables well-formed, then coerced by the document's variable definitions (the same errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import get_variable_values
from strawberry.types.field import StrawberryField

from neuronest.graphql.context import Context
from neuronest.graphql.errors import map_error
from neuronest.graphql.inputs import check_variables
from neuronest.graphql.prepared import DocumentError
from neuronest.graphql.schema import Schema
from neuronest.observability.asgi import record_operation

Complete = Callable[[Any], Any]
# Calls the root field: the context, the request's variables (as GraphQL would receive them) and
# the Python values of its arguments that REST already holds (a validated body). Answers the
# field's value as GraphQL would, or raises a GraphQLError in its client-facing form.
Direct = Callable[[Context, dict[str, Any], Mapping[str, Any]], Awaitable[Any]]


class DirectInfo:
    """What a resolver called directly sees of `info`: the request's context alone."""

    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context


def _strawberry_field(field: Any, where: str) -> StrawberryField:
    definition = field.extensions.get("strawberry-definition")
    if not isinstance(definition, StrawberryField):
        raise DocumentError(f"{where} is not a strawberry field")
    return definition


def _plain_fields(selection: SelectionSetNode, where: str) -> list[FieldNode]:
    nodes = []
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.directives:
            raise DocumentError(f"{where}: only plain fields can be answered directly")
        nodes.append(node)
    return nodes


def _completion(
    type_: GraphQLOutputType, selection: SelectionSetNode | None, where: str
) -> Complete:
    """What turns a resolved value of `type_` into its GraphQL result along `selection`."""
    if isinstance(type_, GraphQLNonNull):
        inner = _completion(type_.of_type, selection, where)

        def non_null(value: Any) -> Any:
            result = inner(value)
            if result is None:
                raise TypeError(f"{where}: null for a non-null field")
            return result

        return non_null
    if isinstance(type_, GraphQLList):
        each = _completion(type_.of_type, selection, where)
        return lambda value: None if value is None else [each(item) for item in value]
    if isinstance(type_, GraphQLLeafType):
        serialize = type_.serialize
        return lambda value: None if value is None else serialize(value)
    if not isinstance(type_, GraphQLObjectType) or selection is None:
        raise DocumentError(f"{where}: {type_} cannot be answered directly")
    fields: list[tuple[str, str, Complete]] = []
    for node in _plain_fields(selection, where):
        name = node.name.value
        field_where = f"{where}.{name}"
        definition = _strawberry_field(type_.fields[name], field_where)
        if definition.base_resolver is not None:
            raise DocumentError(f"{field_where} has a resolver: it cannot be answered directly")
        key = node.alias.value if node.alias else name
        complete = _completion(type_.fields[name].type, node.selection_set, field_where)
        fields.append((key, definition.python_name, complete))

    def complete_object(value: Any) -> Any:
        if value is None:
            return None
        return {key: complete(getattr(value, attribute)) for key, attribute, complete in fields}

    return complete_object


def direct_call(schema: Schema, query: str) -> Direct:
    """The call that answers `query` (a prepared document) as its execution would; raises
    DocumentError when the document does not qualify (see the module's docstring)."""
    document = schema.prepare(query)
    (definition,) = document.definitions  # prepared: one operation (REST names none)
    assert isinstance(definition, OperationDefinitionNode)
    if not schema.verdicts.knows(query):
        raise DocumentError(f"{query!r}: its budget depends on the request")
    roots = _plain_fields(definition.selection_set, "the operation")
    if len(roots) != 1:
        raise DocumentError(f"{query!r}: only one root field can be answered directly")
    root = roots[0]
    root_type = schema._schema.get_root_type(definition.operation)
    assert root_type is not None
    name = root.name.value
    field = _strawberry_field(root_type.fields[name], name)
    if field.permission_classes or field.extensions:
        raise DocumentError(f"{name} has permissions or field extensions: execution runs them")
    resolver = field.base_resolver
    if (
        resolver is None
        or not resolver.is_async
        or resolver.self_parameter is None
        or resolver.info_parameter is None
    ):
        raise DocumentError(f"{name} has no async resolver taking self and info")
    python_names = {
        a.graphql_name or schema.config.name_converter.get_graphql_name(a): a.python_name
        for a in field.arguments
    }
    arguments: list[tuple[str, str]] = []  # (variable, the resolver's parameter)
    for argument in root.arguments or ():
        if not isinstance(argument.value, VariableNode):
            raise DocumentError(f"{name}: only variables can be passed directly")
        arguments.append((argument.value.name.value, python_names[argument.name.value]))
    variable_definitions = definition.variable_definitions or ()
    key = root.alias.value if root.alias else name
    complete = _completion(root_type.fields[name].type, root.selection_set, name)
    call: Callable[..., Awaitable[Any]] = resolver.wrapped_func  # type: ignore[assignment]
    info_name = resolver.info_parameter.name
    operation = definition.operation.value
    settings = schema.settings

    async def run(context: Context, variables: dict[str, Any], values: Mapping[str, Any]) -> Any:
        try:
            check_variables(variables, settings)
        except Exception as error:
            # Refused before execution: no operation type reaches the metrics (as with GraphQL).
            raise map_error(GraphQLError(str(error), original_error=error)) from None
        record_operation(operation)
        coercion = get_variable_values(schema._schema, variable_definitions, variables)
        if isinstance(coercion, list):
            raise map_error(coercion[0])
        coerced = coercion.coerced
        kwargs = {
            parameter: values[variable] if variable in values else coerced[variable]
            for variable, parameter in arguments
            if variable in coerced
        }
        try:
            return complete(await call(None, **{info_name: DirectInfo(context)}, **kwargs))
        except Exception as error:
            raise map_error(
                GraphQLError(str(error), nodes=[root], path=[key], original_error=error)
            ) from None

    return run
