"""In-process hooks: how a lower domain lets a higher one react to its changes without importing it.

The lower domain declares a `Hook` and runs it at the moment of the change; the composition root
(`neuronest.wiring`) connects the higher domain's handler. Handlers run in the order connected,
each awaited, inside the call that made the change: a project's runtimes are gone before the
project is, a finished step has moved its workflow on before its worker takes the next job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec

P = ParamSpec("P")


class Hook(Generic[P]):
    """A named moment of a domain; its handlers take the arguments `P`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[Hook[Any], list[Callable[..., Awaitable[None]]]] = {}

    def connect(self, hook: Hook[P], handler: Callable[P, Awaitable[None]]) -> None:
        self._handlers.setdefault(hook, []).append(handler)

    async def run(self, hook: Hook[P], *args: P.args, **kwargs: P.kwargs) -> None:
        for handler in self._handlers.get(hook, ()):
            await handler(*args, **kwargs)
