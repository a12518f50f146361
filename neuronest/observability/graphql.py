"""Tells the request's metrics which GraphQL operation type it carried."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from neuronest.observability.asgi import record_operation


class OperationTypeMetric(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        try:
            operation = self.execution_context.operation_type.value
        except Exception:  # the document did not parse, or names no operation it holds
            operation = "invalid"
        record_operation(operation)
