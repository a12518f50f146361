"""The schema, composed from each domain's query, mutation and subscription parts."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLError
from strawberry.extensions import MaxTokensLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from neuronest.auth.graphql import (
    EXPENSIVE_MUTATIONS,
    AuthMutation,
    AuthQuery,
    AuthSubscription,
)
from neuronest.config import get_settings
from neuronest.graphql.cost import Budget, BudgetedValidation, Verdicts
from neuronest.graphql.errors import map_errors
from neuronest.graphql.flat import FlatListExecution
from neuronest.graphql.inputs import WellFormedInput
from neuronest.graphql.prepared import DocumentError, PreparedDocuments, PreparedParserCache
from neuronest.graphql.scalars import SCALARS
from neuronest.memory.graphql import MemoryMutation, MemoryQuery
from neuronest.observability.graphql import OperationTypeMetric
from neuronest.orchestration.agents.graphql import AgentMutation, AgentQuery
from neuronest.orchestration.tasks.graphql import TaskMutation, TaskQuery, TaskSubscription
from neuronest.orchestration.workflows.graphql import WorkflowMutation, WorkflowQuery
from neuronest.projects.graphql import ProjectMutation, ProjectQuery
from neuronest.runtimes.graphql import RuntimeMutation, RuntimeQuery, RuntimeSubscription

Query = merge_types(
    "Query",
    (AuthQuery, ProjectQuery, RuntimeQuery, AgentQuery, TaskQuery, WorkflowQuery, MemoryQuery),
)
Mutation = merge_types(
    "Mutation",
    (
        AuthMutation,
        ProjectMutation,
        RuntimeMutation,
        AgentMutation,
        TaskMutation,
        WorkflowMutation,
        MemoryMutation,
    ),
)
Subscription = merge_types(
    "Subscription", (AuthSubscription, RuntimeSubscription, TaskSubscription)
)


_settings = get_settings()
BUDGET = Budget(
    max_cost=_settings.graphql_max_cost,
    max_depth=_settings.graphql_max_depth,
    max_root_fields=_settings.graphql_max_root_fields,
    max_aliases=_settings.graphql_max_aliases,
    max_field_repeats=_settings.graphql_max_field_repeats,
    expensive_mutations=EXPENSIVE_MUTATIONS,
)
VERDICTS = Verdicts(maxsize=512)
PREPARED = PreparedDocuments()


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Every path of execution (queries, subscription events, errors raised by extensions)
        passes its errors here once: they get their codes, and the unexpected are masked."""
        map_errors(errors)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
    execution_context_class=FlatListExecution,
    extensions=[
        WellFormedInput,
        lambda: MaxTokensLimiter(max_token_count=_settings.graphql_max_tokens),
        lambda: PreparedParserCache(PREPARED, maxsize=512),
        lambda: BudgetedValidation(BUDGET, VERDICTS, maxsize=512, prepared=PREPARED),
        OperationTypeMetric,
    ],
)


def prepare(query: str) -> DocumentNode:
    """A fixed document (a REST route's) parsed and validated now, and then executed from this
    parse each time it is sent: one the schema refuses, or over budget by itself, raises
    DocumentError here, at start-up."""
    document = PREPARED.prepare(schema._schema, query, _settings.graphql_max_tokens)
    error = VERDICTS.check(schema._schema, query, document, None, BUDGET)
    if error is not None:
        raise DocumentError(f"{error.message} in {query!r}")
    return document
