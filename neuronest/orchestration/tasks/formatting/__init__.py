"""Deterministic text formatting for the ``text_formatting`` task type: no model, no randomness.

``format_text(text, fmt)`` with ``fmt`` one of ``FORMATS`` (case-insensitive). Line endings are
normalized to ``\\n`` first. Text formats end with exactly one newline (an empty result is ``""``).
Markdown is read by markdown-it-py (CommonMark plus GFM tables and strikethrough; indented code
blocks are not recognized: use fences), HTML by lxml (libxml2); both are linear in the input.
Nesting deeper than ``parsing.MAX_NESTING`` (markdown) or 256 (HTML) is not followed further.

``markdown``: tidy source (see `markdown`). ``html``: a safe fragment (see `html`).
``plain``: readable text (see `plain`). ``json``: see `_json`.

`format_bounded` is what the task runs: the work happens in a worker process with a time,
memory and output budget (`neuronest.kit.offload`), so the event loop never waits on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final

from neuronest.config import Settings
from neuronest.errors import Invalid
from neuronest.kit.offload import BudgetExceeded, run_bounded
from neuronest.orchestration.tasks.formatting.html import to_html
from neuronest.orchestration.tasks.formatting.markdown import to_markdown
from neuronest.orchestration.tasks.formatting.plain import to_plain

FORMATS: Final = ("markdown", "html", "plain", "json")
MAX_TEXT_LENGTH: Final = 1_000_000


def _checked(text: str, fmt: str, max_chars: int) -> str:
    key = fmt.strip().lower() if isinstance(fmt, str) else None
    if key not in FORMATS:
        raise Invalid("format: must be one of markdown, html, plain, json", field="format")
    if not isinstance(text, str):
        raise Invalid("text: must be a string", field="text")
    if len(text) > max_chars:
        raise Invalid(f"text: too long ({len(text)} characters, at most {max_chars})", field="text")
    return key


def format_text(text: str, fmt: str, max_chars: int = MAX_TEXT_LENGTH) -> str:
    """Format ``text`` as ``fmt`` (one of `FORMATS`); raise `Invalid` on a bad format or text."""
    key = _checked(text, fmt, max_chars)
    normalized = (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n")
        .removeprefix("\ufeff")
    )
    return _FORMATTERS[key](normalized)


async def format_bounded(text: str, fmt: str, settings: Settings) -> str:
    """`format_text` in a worker process; `Invalid` when the input needs more than the budget."""
    _checked(text, fmt, settings.format_max_chars)
    try:
        return await run_bounded(
            format_text,
            text,
            fmt,
            settings.format_max_chars,
            timeout=settings.format_timeout,
            workers=settings.offload_workers,
            memory_bytes=settings.offload_memory_bytes,
            max_output=settings.format_max_output_chars,
        )
    except BudgetExceeded as error:
        raise Invalid(f"text: formatting exceeded its budget: {error}", field="text") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json(text: str) -> str:
    """A JSON object or array given as the text is pretty-printed (``indent=2``, key order kept);
    anything else becomes ``{"text", "lines", "paragraphs", "word_count", "character_count"}``
    where ``text`` is the input stripped of surrounding whitespace, ``lines`` its non-blank lines
    (right-stripped), ``paragraphs`` its blank-line separated blocks, and the counts are
    whitespace-separated words and characters of ``text``. Both with ``ensure_ascii=False``, no
    trailing newline."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            value = json.loads(stripped, parse_constant=_reject_constant)
            return json.dumps(value, ensure_ascii=False, indent=2)
        except (ValueError, RecursionError):
            pass  # not a JSON document after all: describe it as text
    lines = [line.rstrip() for line in stripped.split("\n") if line.strip()]
    paragraphs = [
        "\n".join(line.rstrip() for line in block.strip("\n").split("\n"))
        for block in re.split(r"\n[ \t]*\n", stripped)
        if block.strip()
    ]
    document = {
        "text": stripped,
        "lines": lines,
        "paragraphs": paragraphs,
        "word_count": len(stripped.split()),
        "character_count": len(stripped),
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


_FORMATTERS: Final[dict[str, Callable[[str], str]]] = {
    "markdown": to_markdown,
    "html": to_html,
    "plain": to_plain,
    "json": _json,
}
