"""The tools a task may offer its model, by name."""

from __future__ import annotations

import json
from typing import Any

from neuronest.config import Settings
from neuronest.errors import AppError, Invalid
from neuronest.llm.client import ToolSpec
from neuronest.memory.models import Memory
from neuronest.runtimes.oneshot import ENTRY_POINTS, run_code
from neuronest.tools.calculator import PARAMETERS as CALCULATOR_PARAMETERS
from neuronest.tools.calculator import calculate, describe
from neuronest.tools.search import search_sources

KNOWN_TOOLS = ("calculator", "search", "code")
MAX_TOOLS = 32
CODE_TOOL_TIMEOUT = 30


def check_tools(tools: Any) -> list[str] | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise Invalid("tools: must be a list of tool names", field="tools")
    if len(tools) > MAX_TOOLS:
        raise Invalid(f"tools: at most {MAX_TOOLS} names", field="tools")
    unknown = [t for t in tools if t not in KNOWN_TOOLS]
    if unknown:
        raise Invalid(
            f"tools: unknown tool {unknown[0]!r} (known: {', '.join(KNOWN_TOOLS)})",
            field="tools",
        )
    return list(dict.fromkeys(tools))


def build_tools(
    names: list[str] | None, *, settings: Settings, user_id: str, memory: Memory | None
) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for name in names or []:
        if name == "calculator":

            async def calculator(arguments: dict[str, Any]) -> str:
                try:
                    return calculate(str(arguments.get("expression", "")))
                except AppError as error:
                    return f"error: {error.message}"

            specs.append(
                ToolSpec(
                    name="calculator",
                    description=f"Evaluates an arithmetic expression exactly. {describe()}",
                    parameters=CALCULATOR_PARAMETERS,
                    handler=calculator,
                )
            )
        elif name == "search":

            async def search(arguments: dict[str, Any]) -> str:
                sources = await search_sources(
                    str(arguments.get("query", "")),
                    settings=settings,
                    user_id=user_id,
                    memory=memory,
                )
                return json.dumps([source.as_dict() for source in sources], ensure_ascii=False)

            specs.append(
                ToolSpec(
                    name="search",
                    description=(
                        "Searches the task's memory and the user's project files; returns the "
                        "most relevant passages with where they come from."
                    ),
                    parameters={
                        "type": "object",
                        "properties": {"query": {"type": "string"}},
                        "required": ["query"],
                    },
                    handler=search,
                )
            )
        elif name == "code":

            async def code(arguments: dict[str, Any]) -> str:
                language = str(arguments.get("language", "python"))
                try:
                    result = await run_code(
                        settings,
                        language=language,
                        code=str(arguments.get("code", "")),
                        timeout=CODE_TOOL_TIMEOUT,
                        owner=user_id,
                    )
                except AppError as error:
                    return f"error: {error.message}"
                report = result.outcome()
                failure = result.failure
                if failure is not None:
                    report["error"] = failure
                return json.dumps(report)

            specs.append(
                ToolSpec(
                    name="code",
                    description=(
                        "Runs a program in an isolated sandbox without network and returns its "
                        f"output; languages: {', '.join(ENTRY_POINTS)}; {CODE_TOOL_TIMEOUT} s."
                    ),
                    parameters={
                        "type": "object",
                        "properties": {
                            "language": {"type": "string", "enum": list(ENTRY_POINTS)},
                            "code": {"type": "string"},
                        },
                        "required": ["code"],
                    },
                    handler=code,
                )
            )
    return specs
