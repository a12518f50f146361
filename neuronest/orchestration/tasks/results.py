"""What a task stores as its result: servable JSON of bounded size."""

from __future__ import annotations

from typing import Any

from neuronest.kit import jsonvalue


def stored_result(result: dict[str, Any] | None, limit: int) -> dict[str, Any] | None:
    """`result` made servable; one over `limit` bytes (MAX_RESULT_BYTES) keeps only the start
    of its text, with `truncated: true` and a note of the size it had."""
    if result is None:
        return None
    clean: dict[str, Any] = jsonvalue.servable(result)
    used = jsonvalue.size(clean)
    if used <= limit:
        return clean
    text = str(clean.get("text") or "")
    kept = text.encode()[: limit // 2].decode("utf-8", "ignore")
    return {
        "text": kept,
        "truncated": True,
        "note": f"the result was {used} bytes, over the {limit} byte limit: only the start of "
        "its text is kept",
    }
