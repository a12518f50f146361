"""Steps are checked when a workflow is saved: each 422 names the step and the problem."""

from __future__ import annotations

import graphlib
from typing import Any

from neuronest.auth.models import User
from neuronest.errors import Invalid, NotFound
from neuronest.memory.service import get_memory
from neuronest.orchestration.agents.service import get_agent
from neuronest.orchestration.tasks.types import REGISTRY
from neuronest.orchestration.workflows.templates import NAME, TemplateError, references
from neuronest.tools.registry import check_tools

MAX_STEPS = 1000
MAX_RETRIES = 10
MAX_TIMEOUT = 3600


def _fail(message: str) -> Invalid:
    return Invalid(f"steps: {message}", field="steps")


def _check_step(step: dict[str, Any], index: int) -> str:
    """What a step's shape (WorkflowStepDefinitionInput: its fields and their types) cannot
    say."""
    step_id = str(step["id"])
    if not NAME.match(step_id):
        raise _fail(f"item {index} needs an id made of letters, digits, '_' or '-'")
    where = f"step {step_id!r}"
    task_type = step["task_type"]
    if task_type not in REGISTRY:
        raise _fail(
            f"{where} has unknown task_type {task_type!r} (known: {', '.join(sorted(REGISTRY))})"
        )
    if not 0 <= step.get("retries", 0) <= MAX_RETRIES:
        raise _fail(f"{where}: retries must be a whole number from 0 to {MAX_RETRIES}")
    timeout = step.get("timeout")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise _fail(f"{where}: timeout must be a number of seconds up to {MAX_TIMEOUT}")
    try:
        check_tools(step.get("tools"))
    except Invalid as error:
        raise _fail(f"{where}: {error.message}") from None
    return step_id


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of `graph` (step -> the steps it depends on), each step followed by one it depends
    on, the first repeated at the end."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return [str(node) for node in reversed(error.args[1])]  # graphlib lists dependents
    return None


def ancestors(graph: dict[str, list[str]], step_id: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[step_id])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node])
    return seen


def dependency_graph(steps: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {step["id"]: list(step.get("depends_on", [])) for step in steps}


async def check_steps(steps: list[dict[str, Any]], actor: User) -> list[dict[str, Any]]:
    if not steps:
        raise _fail("a workflow needs a list of at least one step")
    if len(steps) > MAX_STEPS:
        raise _fail(f"at most {MAX_STEPS} steps")
    ids: set[str] = set()
    for index, step in enumerate(steps):
        step_id = _check_step(step, index)
        if step_id in ids:
            raise _fail(f"step id {step_id!r} is used twice")
        ids.add(step_id)
    graph = dependency_graph(steps)
    for step_id, depends_on in graph.items():
        for dependency in depends_on:
            if dependency not in ids:
                raise _fail(f"step {step_id!r} depends on {dependency!r}, which is no step")
            if dependency == step_id:
                raise _fail(f"step {step_id!r} depends on itself")
    cycle = _find_cycle(graph)
    if cycle:
        raise _fail(f"the steps form a cycle: {' -> '.join(cycle)}")
    for step in steps:
        before = ancestors(graph, step["id"])
        try:
            found = list(references(step.get("input_data", {})))
        except TemplateError as error:
            raise _fail(f"step {step['id']!r}: {error}") from None
        for reference in found:
            if reference.head in ids:
                if reference.head not in before:
                    raise _fail(
                        f"step {step['id']!r}: {reference.text} refers to step "
                        f"{reference.head!r}, which is not among its dependencies"
                    )
            elif reference.path:
                raise _fail(
                    f"step {step['id']!r}: {reference.text} refers to {reference.head!r}, "
                    "which is no step (run variables are plain names)"
                )
        for key, lookup, what in (
            ("agent_id", get_agent, "agent"),
            ("memory_id", get_memory, "memory"),
        ):
            if step.get(key) is not None:
                try:
                    await lookup(actor=actor, **{key: str(step[key])})
                except NotFound:
                    raise _fail(f"step {step['id']!r}: {what} {step[key]!r} not found") from None
    return steps


def required_variables(steps: list[dict[str, Any]]) -> list[str]:
    ids = {step["id"] for step in steps}
    names = {
        reference.head
        for step in steps
        for reference in references(step.get("input_data", {}))
        if reference.head not in ids
    }
    return sorted(names)
