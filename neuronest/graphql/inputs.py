"""Input that no database can store is refused before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from neuronest.errors import Invalid

NUL = "\x00"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class _NulFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if NUL in node.value:
            self.found = True


class RejectNulCharacters(SchemaExtension):
    """PostgreSQL cannot store NUL characters in text: such input is a 422, never a 500."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if _has_nul(context.variables):
            raise Invalid("text must not contain NUL characters")
        if context.graphql_document is not None:
            finder = _NulFinder()
            visit(context.graphql_document, finder)
            if finder.found:
                raise Invalid("text must not contain NUL characters")
        yield
