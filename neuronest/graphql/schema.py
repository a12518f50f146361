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
from neuronest.config import Settings
from neuronest.graphql.cost import Budget, BudgetedValidation, Verdicts
from neuronest.graphql.errors import map_errors
from neuronest.graphql.flat import FlatListExecution
from neuronest.graphql.inputs import WellFormedInput
from neuronest.graphql.prepared import DocumentError, PreparedDocuments, PreparedParserCache
from neuronest.graphql.scalars import scalars
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


class Schema(strawberry.Schema):
    """The API of one app, held to the limits of its settings (GRAPHQL_MAX_*): each app builds
    its own (`create_app(settings)`), so two apps of one process each keep theirs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.budget = Budget(
            max_cost=settings.graphql_max_cost,
            max_depth=settings.graphql_max_depth,
            max_root_fields=settings.graphql_max_root_fields,
            max_aliases=settings.graphql_max_aliases,
            max_field_repeats=settings.graphql_max_field_repeats,
            expensive_mutations=EXPENSIVE_MUTATIONS,
        )
        self.verdicts = Verdicts(maxsize=512)
        self.prepared = PreparedDocuments()
        budget, verdicts, prepared = self.budget, self.verdicts, self.prepared
        super().__init__(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            config=StrawberryConfig(auto_camel_case=True, scalar_map=scalars(settings)),
            execution_context_class=FlatListExecution,
            extensions=[
                lambda: WellFormedInput(settings),
                lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
                lambda: PreparedParserCache(prepared, maxsize=512),
                lambda: BudgetedValidation(budget, verdicts, maxsize=512, prepared=prepared),
                OperationTypeMetric,
            ],
        )

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Every path of execution (queries, subscription events, errors raised by extensions)
        passes its errors here once: they get their codes, and the unexpected are masked."""
        map_errors(errors)

    def prepare(self, query: str) -> DocumentNode:
        """A fixed document (a REST route's) parsed and validated now, and then executed from
        this parse each time it is sent: one the schema refuses, or over budget by itself,
        raises DocumentError here, at start-up."""
        document = self.prepared.prepare(self._schema, query, self.settings.graphql_max_tokens)
        error = self.verdicts.check(self._schema, query, document, None, self.budget)
        if error is not None:
            raise DocumentError(f"{error.message} in {query!r}")
        return document


def sdl() -> str:
    """The schema's text (schema.graphql): the types do not depend on the settings."""
    return Schema(Settings()).as_str()
