"""What the formatting tests share: the rules a safe HTML rendering keeps."""

from __future__ import annotations

import re

FORMAT_TAGS = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")
ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "ul", "ol", "li", "blockquote", "hr",
    "pre", "code", "strong", "em", "del", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def assert_safe_html(output: str) -> None:
    for closing, tag, attributes in FORMAT_TAGS.findall(output):
        assert tag in ALLOWED_TAGS, tag
        attributes = attributes.strip()
        if not attributes:
            continue
        assert not closing
        if tag == "a":
            href = re.fullmatch(r'href="([^"<>]*)"', attributes)
            assert href, attributes
            assert href.group(1).lower().startswith(("http://", "https://", "mailto:"))
        elif tag == "code":
            assert re.fullmatch(r'class="language-[A-Za-z0-9_+#.-]+"', attributes), attributes
        else:
            assert tag == "ol" and re.fullmatch(r'start="[0-9]+"', attributes), attributes
