"""The budget of one GraphQL document, measured before graphql-core validates it.

One pass over the document, each fragment measured once however often it is spread, finds its
depth, root fields, aliases, repeats of one field, password mutations and an estimate of its
cost: a list of objects costs its size (its `limit`/`first` argument, else the default page
size; 1 for a list `embedded` in its parent) times the cost of one element plus one; any other
field costs 1. A document over budget is refused unvalidated and unrun: graphql-core's validation
itself costs seconds of CPU on hostile documents (one field repeated hundreds of times), and
strawberry's depth and alias limiters walk nested fragments once per path, exponentially often.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import ValidationCache

from neuronest.errors import AppError, TooCostly, TooManyFields
from neuronest.graphql.prepared import PreparedDocuments
from neuronest.graphql.shapes import Sparse
from neuronest.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT

SIZE_ARGUMENTS = ("limit", "first")
# Fragments spread within fragments: deeper than this is refused (no honest document nests so).
MAX_FRAGMENT_NESTING = 32
SHOWN_COST_LIMIT = 10**12
EMBEDDED = "neuronest.cost.embedded"


def embedded() -> Any:
    """Marks a list field (in `Annotated`) held in its parent's stored value, like a runtime's
    variables: it reads nothing more and the parent's size limit bounds it, so it costs what one
    item costs, not a page of them."""
    return strawberry.field(metadata={EMBEDDED: True})


@dataclass(frozen=True)
class Budget:
    max_cost: int
    max_depth: int
    max_root_fields: int
    max_aliases: int
    max_field_repeats: int
    # Root mutations that hash a password or send a mail: one per document.
    expensive_mutations: frozenset[str]
    default_list_size: int = DEFAULT_LIMIT
    max_list_size: int = MAX_LIMIT  # resolvers refuse larger pages themselves


@dataclass
class Measure:
    """One selection set, fragments included."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    expensive: int = 0
    names: Counter[str] = field(default_factory=Counter)  # response names at this level

    def add(self, other: Measure) -> None:
        self.cost += other.cost
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.expensive += other.expensive
        self.names.update(other.names)


class _Walk:
    """Measures the operations of one document with one request's variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        budget: Budget,
    ) -> None:
        self.schema = schema
        self.budget = budget
        self.provided = dict(variables or {})
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables: dict[str, Any] = {}
        self.memo: dict[tuple[str, bool], Measure] = {}
        self.active: list[str] = []
        self.read_variables = False  # a size came from a variable: the verdict is this request's

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        defaults = {
            d.variable.name.value: _int_literal(d.default_value)
            for d in operation.variable_definitions or ()
        }
        self.variables = {**defaults, **self.provided}
        self.memo = {}  # fragment sizes may read the operation's variable defaults
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return Measure()
        return self.selection_set(
            operation.selection_set, root, expensive_root=_is_mutation(operation)
        )

    def selection_set(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        expensive_root: bool = False,
    ) -> Measure:
        measure = Measure()
        fields = (
            parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
        )
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                measure.names[(selection.alias or selection.name).value] += 1
                measure.aliases += selection.alias is not None
                name = selection.name.value
                if expensive_root and name in self.budget.expensive_mutations:
                    measure.expensive += 1
                if name.startswith("__"):
                    measure.cost += 1  # introspection: bounded by the schema and its own rule
                    continue
                measure.add(self.field(selection, fields.get(name)))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                measure.add(self.nested(selection.selection_set, target, expensive_root))
            elif isinstance(selection, FragmentSpreadNode):
                measure.add(self.fragment(selection.name.value, expensive_root))
        return measure

    def field(self, node: FieldNode, definition: GraphQLField | None) -> Measure:
        """A field as its parent sees it: its cost, depth and aliases. An unknown field (which
        validation reports) still counts with its selections."""
        if node.selection_set is None:
            return Measure(cost=1)
        child_type = get_named_type(definition.type) if definition else None
        child = self.selection_set(node.selection_set, child_type)
        self.check_repeats(child)
        size = self.list_size(node, definition) if definition else 1
        return Measure(cost=size * (1 + child.cost), depth=child.depth + 1, aliases=child.aliases)

    def nested(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        expensive_root: bool,
        fragment: str = "",
    ) -> Measure:
        """An inline fragment or a fragment's definition, within the selection set of a field."""
        if len(self.active) >= MAX_FRAGMENT_NESTING:
            raise TooCostly(f"Fragments may be nested at most {MAX_FRAGMENT_NESTING} deep")
        self.active.append(fragment)
        try:
            return self.selection_set(selection_set, parent, expensive_root)
        finally:
            self.active.pop()

    def fragment(self, name: str, expensive_root: bool) -> Measure:
        definition = self.fragments.get(name)
        if definition is None or name in self.active:
            return Measure()  # unknown or cyclic: validation reports it
        key = (name, expensive_root)
        if key not in self.memo:
            target = self.schema.get_type(definition.type_condition.name.value)
            self.memo[key] = self.nested(definition.selection_set, target, expensive_root, name)
        return self.memo[key]

    def list_size(self, node: FieldNode, definition: GraphQLField) -> int:
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if not isinstance(field_type, GraphQLList) or _embedded(get_named_type(field_type)):
            return 1
        strawberry_field = (definition.extensions or {}).get("strawberry-definition")
        if getattr(strawberry_field, "metadata", {}).get(EMBEDDED):
            return 1
        value: Any = None
        given = {argument.name.value: argument.value for argument in node.arguments or ()}
        for name in SIZE_ARGUMENTS:
            if name in given:
                value = self.value(given[name])
            elif name in definition.args:
                value = definition.args[name].default_value
            else:
                continue
            break
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        if size is None:
            size = self.budget.default_list_size
        return min(max(size, 1), self.budget.max_list_size)

    def value(self, node: ValueNode) -> Any:
        if isinstance(node, VariableNode):
            self.read_variables = True
            return self.variables.get(node.name.value)
        return _int_literal(node)

    def check_repeats(self, measure: Measure) -> None:
        name, count = max(measure.names.items(), key=lambda item: item[1], default=("", 0))
        if count > self.budget.max_field_repeats:
            raise TooManyFields(
                f"`{name}` is selected {_shown(count)} times in one selection set; "
                f"at most {self.budget.max_field_repeats} are allowed"
            )


def _embedded(named: GraphQLNamedType) -> bool:
    """Objects stored within their parent's row (sparse shapes: a workflow's steps): a list of
    them costs as one value, like the JSON object they replaced; no resolver fetches them."""
    definition = (named.extensions or {}).get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    return isinstance(origin, type) and issubclass(origin, Sparse)


def _int_literal(node: ValueNode | None) -> int | None:
    return int(node.value) if isinstance(node, IntValueNode) else None


def _is_mutation(operation: OperationDefinitionNode) -> bool:
    return operation.operation == OperationType.MUTATION


def _shown(number: int) -> str:
    return f"{number:,}" if number < SHOWN_COST_LIMIT else f"more than {SHOWN_COST_LIMIT:,}"


def check_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    budget: Budget,
) -> AppError | None:
    """Why `document` is over budget, or None when every operation in it is within."""
    return _verdict(_Walk(schema, document, variables, budget), document, budget)


def _verdict(walk: _Walk, document: DocumentNode, budget: Budget) -> AppError | None:
    expensive = 0
    try:
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            measure = walk.operation(operation)
            walk.check_repeats(measure)
            expensive += measure.expensive
            root_fields = sum(measure.names.values())
            if root_fields > budget.max_root_fields:
                return TooManyFields(
                    f"{_shown(root_fields)} root fields; at most {budget.max_root_fields} "
                    "are allowed in one request"
                )
            if measure.aliases > budget.max_aliases:
                return TooManyFields(
                    f"{_shown(measure.aliases)} aliases; at most {budget.max_aliases} are allowed"
                )
            if measure.depth > budget.max_depth:
                return TooCostly(
                    f"Query is nested {measure.depth} levels deep; at most {budget.max_depth} "
                    "are allowed (maximum operation depth)"
                )
            if measure.cost > budget.max_cost:
                return TooCostly(
                    f"Query would cost {_shown(measure.cost)} (list sizes times selections); "
                    f"the budget is {budget.max_cost:,}",
                    max_cost=budget.max_cost,
                )
    except AppError as error:
        return error
    if expensive > 1:
        names = ", ".join(sorted(budget.expensive_mutations))
        return TooCostly(f"At most one of {names} may run per request")
    return None


class Verdicts:
    """The verdicts of documents whose measure reads no variable, by query text: an honest client
    sends the same few documents again and again, and each is measured once (bounded LRU)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._known: OrderedDict[str, AppError | None] = OrderedDict()

    def check(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        variables: Mapping[str, Any] | None,
        budget: Budget,
    ) -> AppError | None:
        if query in self._known:
            self._known.move_to_end(query)
            return self._known[query]
        walk = _Walk(schema, document, variables, budget)
        verdict = _verdict(walk, document, budget)
        if not walk.read_variables:
            self._known[query] = verdict
            if len(self._known) > self.maxsize:
                self._known.popitem(last=False)
        return verdict

    def knows(self, query: str) -> bool:
        """Whether `query` has a verdict that holds for any variables (it reads none)."""
        return query in self._known


class BudgetedValidation(ValidationCache):
    """Refuses documents over budget, then validates the rest (cached, as ValidationCache;
    a prepared document was validated when it was prepared)."""

    def __init__(
        self, budget: Budget, verdicts: Verdicts, maxsize: int, prepared: PreparedDocuments
    ) -> None:
        super().__init__(maxsize=maxsize)
        self.budget = budget
        self.verdicts = verdicts
        self.prepared = prepared

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        error = self.verdicts.check(
            context.schema._schema,
            context.query or "",
            context.graphql_document,
            context.variables,
            self.budget,
        )
        if error is None and self.prepared.is_valid(context):
            context.pre_execution_errors = []
            yield
            return
        if error is None:
            yield from super().on_validate()
            return
        context.pre_execution_errors = [GraphQLError(error.message, original_error=error)]
        yield
