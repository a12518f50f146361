"""`${name}` (a run variable) and `${step.result.text}` (a path into an earlier step), in any
string of a step's input at any depth. A string that is exactly one template keeps the value's
JSON type; `$${` writes a literal `${`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}")
EXACT = re.compile(r"^\$\{([^{}]*)\}$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    text: str  # as written, e.g. "${step1.result.text}"
    head: str  # the variable or step id
    path: tuple[str, ...]


def _reference(expression: str) -> Reference:
    parts = tuple(part.strip() for part in expression.strip().split("."))
    if not parts or not all(parts) or not NAME.match(parts[0]):
        raise TemplateError(f"${{{expression}}} is not a valid reference")
    return Reference(text=f"${{{expression}}}", head=parts[0], path=parts[1:])


def references(value: Any) -> Iterator[Reference]:
    """Every reference in a JSON value."""
    if isinstance(value, str):
        for match in TOKEN.finditer(value):
            if match.group(0) != "$${":
                yield _reference(match.group(1))
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def _lookup(reference: Reference, variables: dict[str, Any], steps: dict[str, Any]) -> Any:
    if reference.head in steps:
        value: Any = steps[reference.head]
    elif reference.head in variables and not reference.path:
        return variables[reference.head]
    else:
        raise TemplateError(f"{reference.text}: nothing named {reference.head!r}")
    for part in reference.path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{reference.text}: {part!r} is not there")
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


class _Budget:
    """Bytes a rendering may still produce: refused as it grows, not after."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.left = limit
        self.sizes: dict[int, int] = {}

    def spend(self, amount: int) -> None:
        if self.left is None:
            return
        self.left -= amount
        if self.left < 0:
            raise TemplateError(f"the rendered input is over the {self.limit} byte limit")

    def spend_value(self, value: Any) -> None:
        if self.left is None:
            return
        if isinstance(value, str):
            self.spend(len(value))
            return
        key = id(value)
        if key not in self.sizes:
            self.sizes[key] = len(_as_text(value))
        self.spend(self.sizes[key])


def render(
    value: Any, variables: dict[str, Any], steps: dict[str, Any], limit: int | None = None
) -> Any:
    """`value` with every template replaced; `steps` maps step ids to their records. With a
    `limit`, a result over that many bytes (roughly, as JSON) is a TemplateError."""
    return _render(value, variables, steps, _Budget(limit))


def _render(value: Any, variables: dict[str, Any], steps: dict[str, Any], budget: _Budget) -> Any:
    if isinstance(value, str):
        exact = EXACT.match(value)
        if exact:
            found = _lookup(_reference(exact.group(1)), variables, steps)
            budget.spend_value(found)
            return found

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            text = _as_text(_lookup(_reference(match.group(1)), variables, steps))
            budget.spend(len(text))
            return text

        budget.spend(len(value))
        return TOKEN.sub(replace, value)
    if isinstance(value, dict):
        budget.spend(len(value))
        return {key: _render(item, variables, steps, budget) for key, item in value.items()}
    if isinstance(value, list):
        budget.spend(len(value))
        return [_render(item, variables, steps, budget) for item in value]
    budget.spend(8)
    return value
