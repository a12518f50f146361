"""What the model-backed task types share: instructions, agent settings, the call itself."""

from __future__ import annotations

from typing import Any

from neuronest.llm.client import LLMRequest, LLMResult, complete
from neuronest.orchestration.tasks.types.base import TaskRun

DEFAULT_SYSTEM = "You are a helpful, precise assistant."


def instructions(task: TaskRun, purpose: str | None = None) -> str:
    parts = [task.agent.get("system_prompt") or DEFAULT_SYSTEM]
    if purpose:
        parts.append(purpose)
    context = {k: v for k, v in (task.task.context or {}).items() if k != "workflow_id"}
    if context:
        lines = "\n".join(f"- {key}: {value}" for key, value in context.items())
        parts.append(f"Follow this context:\n{lines}")
    if task.recalled:
        notes = "\n".join(f"- {note}" for note in task.recalled)
        parts.append(f"Relevant notes from earlier conversations:\n{notes}")
    return "\n\n".join(parts)


async def ask(task: TaskRun, prompt: str, purpose: str | None = None) -> LLMResult:
    return await complete(
        task.settings,
        LLMRequest(
            model=task.agent.get("model"),
            prompt=prompt,
            system=instructions(task, purpose),
            temperature=task.agent.get("temperature"),
            max_tokens=task.agent.get("max_tokens"),
            tools=task.tools,
        ),
        on_delta=task.emit,
    )


def llm_result(result: LLMResult, **extra: Any) -> dict[str, Any]:
    return {
        "text": result.text,
        "model": result.model,
        "usage": result.usage,
        "tool_calls": [
            {"name": call.name, "arguments": call.arguments, "result": call.result}
            for call in result.tool_calls
        ],
        **extra,
    }
