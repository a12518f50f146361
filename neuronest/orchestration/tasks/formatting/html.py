"""``html``: a safe HTML fragment from markdown-ish text.

Everything from the input is escaped (HTML in the input is shown as text, never interpreted); the
only tags are markdown-it's for headings, paragraphs (line breaks inside them as ``<br>``), lists,
``blockquote``, ``hr``, GFM tables (no style attributes), ``<pre><code>`` for fenced code (a
``language-`` class only for a plain language name), ``strong``/``em``/``del``/``code`` inline.
Links and autolinks become ``<a href>`` only for ``http:``, ``https:`` and ``mailto:``; any other
link is shown as inert text ``label (url)``. Images become links to the image (nothing is loaded).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, Sequence
from typing import Any, Final

from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from neuronest.orchestration.tasks.formatting.parsing import parser

_LANGUAGE: Final = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")
_SAFE_SCHEMES: Final = ("http://", "https://", "mailto:")

Env = MutableMapping[str, Any]


def safe_url(url: str) -> bool:
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    lower = url.lower()
    return any(lower.startswith(p) and len(url) > len(p) for p in _SAFE_SCHEMES)


def _label(tokens: Sequence[Token], index: int) -> str:
    """The text of a link's label: the tokens up to its close (links do not nest)."""
    parts: list[str] = []
    for token in tokens[index + 1 :]:
        if token.type == "link_close":
            break
        parts.append(token.content)
    return "".join(parts).strip()


def _link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Env
) -> str:
    href = str(tokens[idx].attrGet("href") or "")
    label = _label(tokens, idx)
    safe = safe_url(href)
    env.setdefault("links", []).append((safe, href, label))
    prefix = f'<a href="{escapeHtml(href)}">' if safe else ""
    return prefix + ("" if label else escapeHtml(href))


def _link_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Env
) -> str:
    safe, href, label = env["links"].pop()
    if safe:
        return "</a>"
    return escapeHtml(f" ({href})") if label and label != href else ""


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Env
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env).strip()
    if safe_url(src):
        return f'<a href="{escapeHtml(src)}">{escapeHtml(alt or src)}</a>'
    return escapeHtml(f"{alt} ({src})" if alt and src else alt or src)


def _fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Env
) -> str:
    token = tokens[idx]
    words = unescapeAll(token.info).split(maxsplit=1)
    attribute = ""
    if words and _LANGUAGE.fullmatch(words[0]):
        attribute = f' class="language-{escapeHtml(words[0])}"'
    return f"<pre><code{attribute}>{escapeHtml(token.content)}</code></pre>\n"


def _bare_tag(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Env
) -> str:
    token = tokens[idx]
    tag = "del" if token.tag == "s" else token.tag  # no style attributes, <del> for ~~x~~
    return f"</{tag}>" if token.nesting < 0 else f"<{tag}>"


_MD = parser(html=False)
for _name, _rule in {
    "link_open": _link_open,
    "link_close": _link_close,
    "image": _image,
    "fence": _fence,
    "th_open": _bare_tag,
    "td_open": _bare_tag,
    "s_open": _bare_tag,
    "s_close": _bare_tag,
}.items():
    _MD.add_render_rule(_name, _rule)


def to_html(text: str) -> str:
    return str(_MD.render(text, {}))
