"""The one Markdown parser configuration every format reads with."""

from __future__ import annotations

from typing import Final

from markdown_it import MarkdownIt

# Deeper block or inline nesting is not followed (markdown-it stops there): bounds the work
# and the recursion of the renderers.
MAX_NESTING: Final = 20


class _Parser(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        return True  # every link is parsed; each renderer decides what an unsafe one becomes


def parser(*, html: bool) -> MarkdownIt:
    """CommonMark + GFM tables and strikethrough; line breaks in paragraphs are kept."""
    md = _Parser(
        "commonmark", {"html": html, "breaks": True, "xhtmlOut": False, "maxNesting": MAX_NESTING}
    )
    return md.enable(["table", "strikethrough"]).disable("code")
