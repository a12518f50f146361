"""Documents parsed and validated once, when the code that sends them is built (the REST routes'
fixed operations), and executed from that parse on every call.

The schema's parser extension takes a prepared document by its text instead of parsing it, and
its validation extension skips graphql-core's validation of it (still measuring its budget, which
may read the request's variables). Anyone sending the very same text, over /graphql as well,
gets the same treatment: validity depends on the text and the schema alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from strawberry.extensions import ParserCache
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

# The rules a request is validated by (strawberry's default; no extension of ours adds any).
RULES = tuple(specified_rules)


class DocumentError(ValueError):
    """A fixed document the schema refuses: raised where it is prepared (at start-up)."""


class PreparedDocuments:
    def __init__(self) -> None:
        self._documents: dict[str, DocumentNode] = {}

    def prepare(self, schema: GraphQLSchema, query: str, max_tokens: int) -> DocumentNode:
        """Parses and validates `query` as a request would be (the same rules and token limit);
        a document with errors raises DocumentError naming them."""
        known = self._documents.get(query)
        if known is not None:
            return known
        try:
            document = parse(query, max_tokens=max_tokens)
        except GraphQLError as error:
            raise DocumentError(f"{error.message} in {query!r}") from None
        errors = validate_document(schema, document, RULES)
        if errors:
            raise DocumentError(f"{'; '.join(e.message for e in errors)} in {query!r}")
        self._documents[query] = document
        return document

    def get(self, query: str | None) -> DocumentNode | None:
        return self._documents.get(query) if query else None

    def is_valid(self, context: ExecutionContext) -> bool:
        """Whether the request runs a prepared document under the rules it was validated by."""
        document = context.graphql_document
        return (
            document is not None
            and self.get(context.query) is document
            and context.validation_rules == RULES
        )


class PreparedParserCache(ParserCache):
    """ParserCache that hands out prepared documents as they are."""

    def __init__(self, prepared: PreparedDocuments, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.prepared = prepared

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        document = self.prepared.get(context.query)
        if document is None:
            yield from super().on_parse()
            return
        context.graphql_document = document
        yield
