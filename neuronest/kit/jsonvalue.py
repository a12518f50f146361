"""Well-formed JSON: bounded depth and size, finite numbers in range, and text that every database
stores and every client decodes (valid UTF-8, no NUL, no lone surrogates).

Python's json module accepts `NaN`/`Infinity`, turns `1e400` into `inf` and gives a RecursionError
on deep nesting; `loads` refuses all of those, and `check` walks a value without recursion.
"""

from __future__ import annotations

import json
import math
from typing import Any

from neuronest.config import Settings
from neuronest.errors import Invalid

# Integers every JSON client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_INT_DIGITS = len(str(MAX_SAFE_INTEGER))
MAX_RESULT_DEPTH = 64

# A path is a linked list of (parent, key) pairs: O(1) per node, spelt out only for an error.
Path = tuple[Any, str | int] | None


class Malformed(ValueError):
    """A JSON value that is not well-formed; `path` names where (e.g. `input_data.steps[2]`)."""

    def __init__(self, reason: str, path: Path = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts = _parts(path)

    def where(self, field: str | None = None) -> str:
        return spell([field, *self.parts] if field else self.parts) or "body"

    def invalid(self, field: str) -> Invalid:
        where = self.where(field)
        return Invalid(f"{where}: {self.reason}", field=where)


def _parts(path: Path) -> list[str | int]:
    parts: list[str | int] = []
    while path is not None:
        path, key = path
        if isinstance(key, str) and text_problem(key):
            key = key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
        parts.append(key)
    parts.reverse()
    return parts


def spell(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored and served back, or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (invalid Unicode)"
    return None


def number_problem(value: int | float) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value > MAX_SAFE_INTEGER or value < -MAX_SAFE_INTEGER:
            return f"integers must lie within ±{MAX_SAFE_INTEGER} (2^53 - 1)"
        return None
    if not math.isfinite(value):
        return "numbers must be finite (no NaN, Infinity or overflowing floats)"
    return None


def check(value: Any, *, max_depth: int) -> None:
    """Raises Malformed unless `value` is well-formed JSON nested at most `max_depth` deep."""
    stack: list[tuple[Any, int, Path]] = [(value, 0, None)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise Malformed(f"is nested deeper than {max_depth} levels", path)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise Malformed("object keys must be strings", path)
                    key_problem = text_problem(key)
                    if key_problem:
                        raise Malformed(f"key {key_problem}", (path, key))
                    stack.append((child, depth + 1, (path, key)))
            else:
                stack.extend((child, depth + 1, (path, i)) for i, child in enumerate(item))
            continue
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int | float):
            problem = number_problem(item)
        elif isinstance(item, _Refused):
            problem = item.reason
        else:
            problem = "is not a JSON value"
        if problem:
            raise Malformed(problem, path)


def size(value: Any) -> int:
    """Bytes of `value` as compact JSON (call after `check`: it cannot recurse too deep then)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def bounded(value: Any, *, field: str, max_depth: int, max_bytes: int) -> Any:
    """`value` if well-formed and at most `max_bytes` as JSON, else Invalid naming the field."""
    try:
        check(value, max_depth=max_depth)
    except Malformed as error:
        raise error.invalid(field) from None
    used = size(value)
    if used > max_bytes:
        raise Invalid(f"{field}: {used} bytes is over the {max_bytes} byte limit", field=field)
    return value


class _Refused:
    """A number the parser met that JSON cannot carry; `check` reports it with its path."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def parse_float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused(f"number {text[:24]} overflows")
    return value


def parse_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS or abs(int(text)) > MAX_SAFE_INTEGER:
        return _Refused(f"integer {text[:24]} is beyond ±{MAX_SAFE_INTEGER} (2^53 - 1)")
    return int(text)


def loads(data: str | bytes, *, max_depth: int) -> Any:
    """A strict JSON parser: valid UTF-8, no NaN/Infinity, numbers in range, bounded nesting,
    no NUL or lone surrogates. Raises Malformed."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise Malformed(f"is not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(
            data, parse_constant=_constant, parse_float=parse_float, parse_int=parse_int
        )
    except RecursionError:
        raise Malformed(f"is nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as error:
        raise Malformed(f"is not valid JSON ({error.msg} at character {error.pos})") from None
    check(value, max_depth=max_depth)
    return value


def input_value(value: Any, field: str, settings: Settings) -> Any:
    """A free-form input (`input_data`, `context`, workflow `steps` and variables)."""
    return bounded(
        value, field=field, max_depth=settings.max_json_depth, max_bytes=settings.max_input_bytes
    )


def small_object(value: Any, field: str, settings: Settings) -> Any:
    """A free-form setting (`configuration`, `environment_vars`, entry `metadata`)."""
    return bounded(
        value, field=field, max_depth=settings.max_json_depth, max_bytes=settings.max_object_bytes
    )


def servable(value: Any, depth: int = 0) -> Any:
    """`value` as something every client can read back: text without NUL or lone surrogates,
    non-finite numbers as null. For values the server makes (results), not for input."""
    if isinstance(value, str):
        if text_problem(value) is None:
            return value
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and number_problem(value):
        return str(value)
    if isinstance(value, dict | list) and depth >= MAX_RESULT_DEPTH:
        return None
    if isinstance(value, dict):
        return {str(servable(k)): servable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [servable(item, depth + 1) for item in value]
    return value
