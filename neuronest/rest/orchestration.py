from __future__ import annotations

from typing import Any

from pydantic import RootModel

from neuronest.graphql.shapes import selection
from neuronest.orchestration.agents.graphql import Agent, AgentInput, AgentUpdateInput
from neuronest.orchestration.tasks.graphql import Task, TaskInput
from neuronest.orchestration.workflows.graphql import Workflow, WorkflowInput, WorkflowUpdateInput
from neuronest.rest.auth import MessageOut
from neuronest.rest.shim import PAGE, QueryParam, Route


class RunVariables(RootModel[dict[str, Any]]):
    """The run's variables, e.g. {"topic": "artificial intelligence"}."""


WORKFLOW = selection(Workflow)
AGENT = selection(Agent)
TASK = selection(Task)

ROUTES = [
    Route(
        "POST",
        "/api/orchestration/tasks",
        "Create a task (a worker runs it; status `created` at first)",
        f"mutation($input: TaskInput!) {{ result: createTask(input: $input) {{ {TASK} }} }}",
        Task,
        status=201,
        body=TaskInput,
        errors=(404, 409, 422),
        direct=True,
    ),
    Route(
        "GET",
        "/api/orchestration/tasks",
        "List tasks (newest first)",
        "query($taskType: String, $status: String, $agentId: ID, $limit: Int, $offset: Int) "
        "{ result: tasks(taskType: $taskType, status: $status, agentId: $agentId, "
        f"limit: $limit, offset: $offset) {{ {TASK} }} }}",
        list[Task],
        query=(QueryParam("task_type"), QueryParam("status"), QueryParam("agent_id"), *PAGE),
    ),
    Route(
        "GET",
        "/api/orchestration/tasks/{task_id}",
        "Get a task",
        f"query($taskId: ID!) {{ result: task(taskId: $taskId) {{ {TASK} }} }}",
        Task,
        errors=(404,),
        direct=True,
    ),
    Route(
        "DELETE",
        "/api/orchestration/tasks/{task_id}",
        "Delete a task (cancels it first)",
        "mutation($taskId: ID!) { result: deleteTask(taskId: $taskId) { message } }",
        MessageOut,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/orchestration/tasks/{task_id}/cancel",
        "Cancel a task (409 once it has finished)",
        "mutation($taskId: ID!) { result: cancelTask(taskId: $taskId) { message } }",
        MessageOut,
        errors=(404, 409),
    ),
    Route(
        "POST",
        "/api/orchestration/agents",
        "Create an agent",
        f"mutation($input: AgentInput!) {{ result: createAgent(input: $input) {{ {AGENT} }} }}",
        Agent,
        status=201,
        body=AgentInput,
        direct=True,
    ),
    Route(
        "GET",
        "/api/orchestration/agents",
        "List agents (newest first)",
        "query($limit: Int, $offset: Int) "
        f"{{ result: agents(limit: $limit, offset: $offset) {{ {AGENT} }} }}",
        list[Agent],
        query=PAGE,
    ),
    Route(
        "GET",
        "/api/orchestration/agents/{agent_id}",
        "Get an agent",
        f"query($agentId: ID!) {{ result: agent(agentId: $agentId) {{ {AGENT} }} }}",
        Agent,
        errors=(404,),
        direct=True,
    ),
    Route(
        "PUT",
        "/api/orchestration/agents/{agent_id}",
        "Update an agent",
        "mutation($agentId: ID!, $input: AgentUpdateInput!) "
        f"{{ result: updateAgent(agentId: $agentId, input: $input) {{ {AGENT} }} }}",
        Agent,
        body=AgentUpdateInput,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/api/orchestration/agents/{agent_id}",
        "Delete an agent",
        "mutation($agentId: ID!) { result: deleteAgent(agentId: $agentId) { message } }",
        MessageOut,
        errors=(404,),
    ),
]

ROUTES += [
    Route(
        "POST",
        "/api/orchestration/workflows",
        "Create a workflow (steps are validated)",
        "mutation($input: WorkflowInput!) "
        f"{{ result: createWorkflow(input: $input) {{ {WORKFLOW} }} }}",
        Workflow,
        status=201,
        body=WorkflowInput,
        direct=True,
    ),
    Route(
        "GET",
        "/api/orchestration/workflows",
        "List workflows (newest first)",
        "query($limit: Int, $offset: Int) "
        f"{{ result: workflows(limit: $limit, offset: $offset) {{ {WORKFLOW} }} }}",
        list[Workflow],
        query=PAGE,
    ),
    Route(
        "GET",
        "/api/orchestration/workflows/{workflow_id}",
        "Get a workflow (status and result of its latest run)",
        f"query($workflowId: ID!) {{ result: workflow(workflowId: $workflowId) {{ {WORKFLOW} }} }}",
        Workflow,
        errors=(404,),
        direct=True,
    ),
    Route(
        "PUT",
        "/api/orchestration/workflows/{workflow_id}",
        "Update a workflow (a run in progress keeps its steps)",
        "mutation($workflowId: ID!, $input: WorkflowUpdateInput!) "
        f"{{ result: updateWorkflow(workflowId: $workflowId, input: $input) {{ {WORKFLOW} }} }}",
        Workflow,
        body=WorkflowUpdateInput,
        errors=(404, 422),
    ),
    Route(
        "DELETE",
        "/api/orchestration/workflows/{workflow_id}",
        "Delete a workflow",
        "mutation($workflowId: ID!) "
        "{ result: deleteWorkflow(workflowId: $workflowId) { message } }",
        MessageOut,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/orchestration/workflows/{workflow_id}/execute",
        "Execute a workflow with the run's variables; answers with its `workflow` task",
        "mutation($workflowId: ID!, $variables: JSON!) "
        "{ result: executeWorkflow(workflowId: $workflowId, variables: $variables) "
        f"{{ {TASK} }} }}",
        Task,
        status=201,
        body=RunVariables,
        body_variable="variables",
        errors=(404, 409, 422),
        direct=True,
    ),
]
