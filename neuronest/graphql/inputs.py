"""Input that no database can store, or that the API could not serve back, is refused before
anything runs: in documents (inline literals) and in variables alike."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FloatValueNode,
    IntValueNode,
    ObjectFieldNode,
    StringValueNode,
    visit,
)
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.kit import jsonvalue

# Strings, block strings and comments hold no structure; what is left are the brackets.
_NOISE = re.compile(r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n])*"|#[^\n\r]*')
_NOT_BRACKET = re.compile(r"[^\[\]{}()]+")
_DELTA = {"[": 1, "{": 1, "(": 1, "]": -1, "}": -1, ")": -1}


# Far below what exhausts the parser's recursion, far above any honest document: the depth
# limit of selections (GRAPHQL_MAX_DEPTH) and of JSON values (MAX_JSON_DEPTH) answer first.
DOCUMENT_NESTING = 128


def document_depth_limit(settings: Settings) -> int:
    return max(DOCUMENT_NESTING, 2 * (settings.graphql_max_depth + settings.max_json_depth))


def check_document_nesting(query: str, settings: Settings) -> None:
    """graphql-core's parser recurses once per bracket: a deeply nested document is refused from
    its text, before parsing (which would otherwise end in a RecursionError)."""
    limit = document_depth_limit(settings)
    if query.count("[") + query.count("{") + query.count("(") <= limit:
        return  # cannot nest deeper than it has brackets: every honest document
    brackets = _NOT_BRACKET.sub("", _NOISE.sub("", query))
    if max(accumulate(_DELTA[b] for b in brackets), default=0) > limit:
        raise Invalid(f"query: is nested deeper than {limit} levels", field="query")


def _where(ancestors: list[Any]) -> str:
    names = [
        node.name.value for node in ancestors if isinstance(node, ArgumentNode | ObjectFieldNode)
    ]
    return ".".join(names) or "query"


class _LiteralChecker(Visitor):
    """Inline literals obey the rules of JSON values: text without NUL or lone surrogates,
    finite numbers in range."""

    def enter(self, node: Any, _key: Any, parent: Any, _path: Any, ancestors: list[Any]) -> None:
        problem: str | None = None
        if isinstance(node, StringValueNode):
            problem = jsonvalue.text_problem(node.value)
        elif isinstance(node, IntValueNode | FloatValueNode):
            parse = jsonvalue.parse_int if isinstance(node, IntValueNode) else jsonvalue.parse_float
            number = parse(node.value)
            problem = None if isinstance(number, int | float) else number.reason
        if problem:
            where = _where([*ancestors, parent])
            raise Invalid(f"{where}: {problem}", field=where)


_checked: dict[str, bool] = {}
_CHECKED_MAX = 512


def check_literals(query: str, document: DocumentNode) -> None:
    """Each distinct document is checked once (documents repeat; the parser cache keeps them)."""
    if query in _checked:
        return
    visit(document, _LiteralChecker())
    if len(_checked) >= _CHECKED_MAX:
        _checked.clear()
    _checked[query] = True


def check_variables(variables: dict[str, Any] | None, settings: Settings) -> None:
    """A request's variables are well-formed JSON, nested no deeper than a body may be."""
    if variables:
        try:
            jsonvalue.check(variables, max_depth=settings.body_json_depth)
        except jsonvalue.Malformed as error:
            raise error.invalid("variables") from None


class WellFormedInput(SchemaExtension):
    """Documents, their literals and their variables are well-formed JSON-storable input; any
    violation is a BAD_USER_INPUT error naming the argument (or variable) and why; the limits
    are those of `settings` (the schema's)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query
        if query:
            check_document_nesting(query, self.settings)
        yield

    def on_validate(self) -> Iterator[None]:
        # Before graphql-core's own validation parses the literals of JSON arguments.
        context = self.execution_context
        if context.graphql_document is not None and context.query:
            check_literals(context.query, context.graphql_document)
        yield

    def on_execute(self) -> Iterator[None]:
        check_variables(self.execution_context.variables, self.settings)
        yield
