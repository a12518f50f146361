"""Deterministic text formatting for the ``text_formatting`` task type: no model, no randomness.

``format_text(text, fmt)`` with ``fmt`` one of ``FORMATS`` (case-insensitive). Line endings are
normalized to ``\\n`` first. Text formats end with exactly one newline (an empty result is ``""``).

``markdown``: tidy CommonMark/GFM.
    Blocks are separated by exactly one blank line; trailing whitespace is removed; paragraph lines
    lose their leading indentation (indented code blocks are not recognized: use fences).
    **Line rule**: every line break inside a paragraph (or list item) becomes a hard break, written
    as a trailing backslash (``line\\``), so text keeps the lines it was written with when rendered:
    a three-line poem renders as three lines; blank lines still separate paragraphs. Trailing
    two-space hard breaks are rewritten as backslashes. ATX headings are kept (``## Title ##``
    becomes ``## Title``) and setext headings (``Title`` over ``===``) become ATX; bullets become
    ``-`` with nesting re-indented to the parent's content column; ordered markers are kept;
    thematic breaks become ``---``; block quotes, tables, HTML blocks and fenced code are kept
    (code verbatim). Inline content (emphasis, links, inline HTML) is left untouched, and so is
    HTML, even ``<script>``: markdown is source text; ask for ``html`` to get safe markup.

``html``: a safe HTML fragment from markdown-ish text.
    Everything from the input is escaped; the only tags are the ones this module writes: headings,
    paragraphs (line breaks inside them as ``<br>``), nested ``ul``/``ol`` lists, ``blockquote``,
    ``hr``, GFM tables, ``<pre><code>`` for fenced code, ``strong``/``em``/``del``/``code`` inline.
    Links and autolinks become ``<a href>`` only for ``http:``, ``https:`` and ``mailto:``; any
    other link is shown as inert text ``label (url)``. Images become links to the image (nothing
    is loaded). HTML in the input is shown as text, never interpreted.

``plain``: readable plain text.
    Markdown markup is removed: heading marks, emphasis, block-quote marks, thematic breaks;
    links ``[t](u)`` become ``t (u)`` (just ``u`` when the label is the URL), images their alt
    text; bullets become ``- `` (two spaces per nesting level), ordered markers are kept. Code is
    kept as text: fenced blocks *with* their fences, inline code with its backticks. HTML tags are
    removed (``script``/``style``/... with their content; ``<br>``, blocks and list items become
    line breaks, ``<li>`` a ``- `` item, ``<a href=u>t</a>`` ``t (u)``, ``<pre>`` a fenced block),
    tags that are not HTML elements (``<name>``) are kept, entities are unescaped. Lines have no
    trailing whitespace and no leading indentation except list nesting and code; at most one blank
    line in a row.

``json``: a JSON object or array given as the text is pretty-printed (``indent=2``, key order
    kept); anything else becomes ``{"text", "lines", "paragraphs", "word_count",
    "character_count"}`` where ``text`` is the input stripped of surrounding whitespace, ``lines``
    its non-blank lines (right-stripped), ``paragraphs`` its blank-line separated blocks, and the
    counts are whitespace-separated words and characters of ``text``. Both with
    ``ensure_ascii=False``, no trailing newline.

Every step is linear or bounded in the input size (regular expressions have bounded repetitions,
searches are memoized); input is limited to ``MAX_TEXT_LENGTH`` characters.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from neuronest.errors import Invalid

FORMATS: Final = ("markdown", "html", "plain", "json")
MAX_TEXT_LENGTH: Final = 200_000
_MAX_QUOTE_DEPTH: Final = 8
_MAX_LIST_DEPTH: Final = 10


def format_text(text: str, fmt: str) -> str:
    """Format ``text`` as ``fmt`` (one of `FORMATS`); raise `Invalid` on a bad format or text."""
    key = fmt.strip().lower() if isinstance(fmt, str) else None
    if key not in FORMATS:
        raise Invalid("format: must be one of markdown, html, plain, json", field="format")
    if not isinstance(text, str):
        raise Invalid("text: must be a string", field="text")
    if len(text) > MAX_TEXT_LENGTH:
        raise Invalid(
            f"text: too long ({len(text)} characters, at most {MAX_TEXT_LENGTH})", field="text"
        )
    normalized = (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n")
        .removeprefix("\ufeff")
    )
    return _FORMATTERS[key](normalized)


# ---------------------------------------------------------------------------------------------
# Placeholders: pieces already rendered (code spans, escapes, links...) are swapped for a private
# use character + index + the same character, so later steps cannot touch them.


class _Stash:
    def __init__(self, text: str) -> None:
        present = set(text)
        candidates = itertools.chain(range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))
        self.mark = next((chr(c) for c in candidates if chr(c) not in present), "\ue000")
        self.collides = self.mark in present  # only if the text holds every private-use char
        self.pattern = re.compile(re.escape(self.mark) + r"([0-9]+)" + re.escape(self.mark))
        self.rendered: list[str] = []
        self.source: list[str] = []

    def clean(self, text: str) -> str:
        return text.replace(self.mark, "") if self.collides else text

    def add(self, rendered: str, source: str | None = None) -> str:
        """Stash fully rendered text (no placeholders inside) and return its placeholder."""
        self.rendered.append(rendered)
        self.source.append(rendered if source is None else source)
        return f"{self.mark}{len(self.rendered) - 1}{self.mark}"

    def restore(self, text: str, *, source: bool = False) -> str:
        if self.mark not in text:
            return text
        table = self.source if source else self.rendered
        return self.pattern.sub(lambda m: table[int(m.group(1))], text)


# ---------------------------------------------------------------------------------------------
# Block structure


@dataclass
class _Code:
    fence: str
    info: str
    lines: list[str]


@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Para:
    lines: list[str]


@dataclass
class _Rule:
    pass


@dataclass
class _Item:
    indent: int
    marker: str
    text: str
    content_col: int
    more: list[str] = field(default_factory=list)  # continuation lines, "" between paragraphs
    depth: int = 0

    @property
    def ordered(self) -> bool:
        return self.marker[0].isdigit()

    @property
    def number(self) -> int:
        return int(self.marker[:-1]) if self.ordered else 0

    def groups(self) -> list[list[str]]:
        groups: list[list[str]] = [[self.text]]
        for line in self.more:
            if line:
                groups[-1].append(line)
            else:
                groups.append([])
        return [group for group in groups if group]


@dataclass
class _List:
    items: list[_Item]


@dataclass
class _Quote:
    blocks: list[_Block]


@dataclass
class _Table:
    lines: list[str]


@dataclass
class _Html:
    lines: list[str]


_Block = _Code | _Heading | _Para | _Rule | _List | _Quote | _Table | _Html

_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^[ \t]*(#{1,6})(?=[ \t]|$)")
_SETEXT = re.compile(r"^[ \t]*(?:=+|-+)[ \t]*$")
_QUOTE = re.compile(r"^[ \t]*>[ \t]?")
_ITEM = re.compile(r"^([ \t]*)([-*+]|[0-9]{1,9}[.)])(?:[ \t]+|$)")
_HTML_START = re.compile(r"^[ \t]*(?:<!--|</?([A-Za-z][A-Za-z0-9]{0,30})(?=[\s/>]|$))")
_DELIM_CELL = re.compile(r"[ \t]*:?-+:?[ \t]*")


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_HTML_BLOCK_TAGS: Final = _names(
    """address article aside blockquote body center details dialog dd div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe legend
    li main menu nav noscript ol p pre script section style summary table tbody td template
    textarea tfoot th thead title tr ul"""
)


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _fence_open(line: str) -> tuple[str, str, str] | None:
    m = _FENCE.match(line)
    if m is None:
        return None
    fence, info = m.group(2), m.group(3).strip()
    if fence[0] == "`" and "`" in info:
        return None  # ```like this``` is inline code, not a fence
    return m.group(1), fence, info


def _closes(line: str, fence: str) -> bool:
    s = line.strip()
    return len(s) >= len(fence) and s[0] == fence[0] and s == s[0] * len(s)


def _same(line: str) -> str:
    return line


def _take_code(
    lines: list[str], i: int, restore: Callable[[str], str] = _same
) -> tuple[_Code, int]:
    opened = _fence_open(restore(lines[i]))
    assert opened is not None
    indent, fence, info = opened
    body: list[str] = []
    i += 1
    while i < len(lines):
        if _closes(lines[i], fence):
            return _Code(fence, info, body), i + 1
        line = lines[i]
        strip = 0
        while strip < len(indent) and strip < len(line) and line[strip] in " \t":
            strip += 1
        body.append(line[strip:])
        i += 1
    return _Code(fence, info, body), i


def _split_fences(lines: list[str]) -> list[_Code | list[str]]:
    segments: list[_Code | list[str]] = []
    chunk: list[str] = []
    i = 0
    while i < len(lines):
        if _fence_open(lines[i]):
            if chunk:
                segments.append(chunk)
                chunk = []
            code, i = _take_code(lines, i)
            segments.append(code)
        else:
            chunk.append(lines[i])
            i += 1
    if chunk:
        segments.append(chunk)
    return segments


def _heading(line: str) -> tuple[int, str] | None:
    m = _ATX.match(line)
    if m is None:
        return None
    rest = line[m.end() :].strip()
    closing = rest.rstrip("#")
    if closing != rest and (not closing or closing[-1] in " \t"):
        rest = closing.rstrip()
    return len(m.group(1)), rest


def _is_rule(line: str) -> bool:
    s = line.strip()
    if len(s) < 3 or s[0] not in "-*_":
        return False
    compact = s.replace(" ", "").replace("\t", "")
    return len(compact) >= 3 and compact == s[0] * len(compact)


def _item(line: str) -> re.Match[str] | None:
    m = _ITEM.match(line)
    return m if m is not None and not _is_rule(line) else None


def _is_html_start(line: str) -> bool:
    m = _HTML_START.match(line)
    return m is not None and (m.group(1) is None or m.group(1).lower() in _HTML_BLOCK_TAGS)


def _split_row(line: str) -> list[str]:
    s = line.strip()
    s = s.removeprefix("|")
    s = s.removesuffix("|")
    return [cell.strip() for cell in s.split("|")]


def _table_start(lines: list[str], i: int) -> bool:
    if i + 1 >= len(lines) or "|" not in lines[i] or "|" not in lines[i + 1]:
        return False
    delimiter = _split_row(lines[i + 1])
    if not all(_DELIM_CELL.fullmatch(cell) for cell in delimiter):
        return False
    return len(_split_row(lines[i])) == len(delimiter)


_BLOCK_START_CHARS: Final = frozenset("`~#-*_+><0123456789")


def _may_start_block(line: str) -> bool:
    s = line.lstrip(" \t")
    return bool(s) and s[0] in _BLOCK_START_CHARS


def _starts_block(line: str, restore: Callable[[str], str]) -> bool:
    if not _may_start_block(line):
        return False
    return bool(
        _fence_open(restore(line))
        or _heading(line)
        or _is_rule(line)
        or _QUOTE.match(line)
        or _ITEM.match(line)
        or _is_html_start(line)
    )


def _interrupts_paragraph(line: str, restore: Callable[[str], str]) -> bool:
    if not _may_start_block(line):
        return False
    if _fence_open(restore(line)) or _heading(line) or _is_rule(line) or _QUOTE.match(line):
        return True
    if _is_html_start(line):
        return True
    m = _item(line)
    if m is None or not line[m.end() :].strip():
        return False  # an empty item cannot interrupt a paragraph
    marker = m.group(2)
    return not marker[0].isdigit() or int(marker[:-1]) == 1


def _parse_list(lines: list[str], i: int, restore: Callable[[str], str]) -> tuple[_List, int]:
    items: list[_Item] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        m = _item(line)
        if m is not None:
            indent = _width(m.group(1))
            marker = m.group(2)
            spaces = _width(line[m.end(2) : m.end()]) if line[m.end(2) : m.end()] else 1
            text = line[m.end() :].strip()
            col = indent + len(marker) + (min(spaces, 4) if text else 1)
            if items and indent <= items[0].indent and marker[0].isdigit() != items[0].ordered:
                break  # a bullet list and a numbered list side by side are two lists
            items.append(_Item(indent, marker, text, col))
            i += 1
            continue
        if not line.strip():
            j = i
            while j < n and not lines[j].strip():
                j += 1
            if j >= n:
                i = j
                break
            following = lines[j]
            if _item(following) is not None:
                i = j
                continue
            lead = len(following) - len(following.lstrip(" \t"))
            if _width(following[:lead]) >= items[-1].content_col and not _starts_block(
                following, restore
            ):
                items[-1].more.append("")
                i = j
                continue
            break
        if _starts_block(line, restore) or _table_start(lines, i):
            break
        last = items[-1]
        if not last.text and not last.more:
            last.text = line.strip()
        else:
            last.more.append(line.strip())
        i += 1
    stack: list[int] = []
    for item in items:
        while stack and item.indent < stack[-1]:
            stack.pop()
        if not stack or item.indent > stack[-1]:
            stack.append(item.indent)
        item.depth = min(len(stack) - 1, _MAX_LIST_DEPTH)
    return _List(items), i


def _parse_blocks(
    lines: list[str], depth: int = 0, restore: Callable[[str], str] = _same
) -> list[_Block]:
    """Block structure of `lines`; `restore` gives a protected line's source (for fences)."""
    blocks: list[_Block] = []
    n = len(lines)
    i = 0
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if _fence_open(restore(line)):
            code, i = _take_code(lines, i, restore)
            blocks.append(code)
            continue
        heading = _heading(line)
        if heading is not None:
            blocks.append(_Heading(*heading))
            i += 1
            continue
        if _is_rule(line):
            blocks.append(_Rule())
            i += 1
            continue
        if _QUOTE.match(line) and depth < _MAX_QUOTE_DEPTH:
            inner: list[str] = []
            while i < n and (quoted := _QUOTE.match(lines[i])):
                inner.append(lines[i][quoted.end() :])
                i += 1
            blocks.append(_Quote(_parse_blocks(inner, depth + 1, restore)))
            continue
        if _item(line) is not None:
            parsed, i = _parse_list(lines, i, restore)
            blocks.append(parsed)
            continue
        if _is_html_start(line):
            chunk: list[str] = []
            while i < n and lines[i].strip():
                chunk.append(lines[i])
                i += 1
            blocks.append(_Html(chunk))
            continue
        if _table_start(lines, i):
            rows = [lines[i], lines[i + 1]]
            i += 2
            while (
                i < n
                and lines[i].strip()
                and "|" in lines[i]
                and not _starts_block(lines[i], restore)
            ):
                rows.append(lines[i])
                i += 1
            blocks.append(_Table(rows))
            continue
        paragraph = [line]
        i += 1
        while i < n:
            line = lines[i]
            if not line.strip():
                break
            if _SETEXT.match(line):
                level = 1 if "=" in line else 2
                text = " ".join(part.strip() for part in paragraph)
                blocks.append(_Heading(level, text))
                paragraph = []
                i += 1
                break
            if _interrupts_paragraph(line, restore) or _table_start(lines, i):
                break
            paragraph.append(line)
            i += 1
        if paragraph:
            blocks.append(_Para(paragraph))
    return blocks


# ---------------------------------------------------------------------------------------------
# Inline pieces


def _code_spans(line: str) -> list[tuple[bool, str]]:
    """Split a line into (is_code, text) pieces; backtick runs pair with the next run of the same
    length (CommonMark), found by bisection so the scan stays near-linear."""
    if "`" not in line:
        return [(False, line)]
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", line)]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    pieces: list[tuple[bool, str]] = []
    position = 0
    k = 0
    while k < len(runs):
        start, end = runs[k]
        backslashes = 0
        while start - backslashes - 1 >= position and line[start - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2:
            k += 1
            continue
        same = by_length[end - start]
        j = bisect_right(same, k)
        if j == len(same):
            k += 1
            continue
        close = same[j]
        pieces.append((False, line[position:start]))
        pieces.append((True, line[start : runs[close][1]]))
        position = runs[close][1]
        k = close + 1
    pieces.append((False, line[position:]))
    return pieces


_AUTOLINK = re.compile(r"<((?:[Hh][Tt][Tt][Pp][Ss]?://|[Mm][Aa][Ii][Ll][Tt][Oo]:)[^\s<>]{1,2000})>")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_LINK = re.compile(
    r"(!?)\[([^\[\]\n]{0,1000})\]\([ \t]{0,20}"
    r"(<[^<>\n]{0,2000}>|(?:[^()\s]|\([^()\s]{0,2000}\)){0,2000})"
    r"(?:[ \t]{1,20}(?:\"[^\"\n]{0,1000}\"|'[^'\n]{0,1000}'))?[ \t]{0,20}\)"
)


def _emphasis(marker: str, count: int) -> re.Pattern[str]:
    m = re.escape(marker)
    delimiter = m * count
    inner = rf"[^\s{m}](?:[^{m}\n]{{0,2000}}[^\s{m}])?"
    return re.compile(rf"(?<![\w{m}]){delimiter}({inner}){delimiter}(?![\w{m}])")


# (pattern, html open, html close); the double forms run again after the single ones so that
# `**bold *and* bold**` (whose inner asterisks stop the first pass) is handled.
_EMPHASIS: Final = [
    ("*", _emphasis("*", 3), r"<strong><em>\1</em></strong>"),
    ("_", _emphasis("_", 3), r"<strong><em>\1</em></strong>"),
    ("*", _emphasis("*", 2), r"<strong>\1</strong>"),
    ("_", _emphasis("_", 2), r"<strong>\1</strong>"),
    ("~", _emphasis("~", 2), r"<del>\1</del>"),
    ("*", _emphasis("*", 1), r"<em>\1</em>"),
    ("_", _emphasis("_", 1), r"<em>\1</em>"),
    ("*", _emphasis("*", 2), r"<strong>\1</strong>"),
    ("_", _emphasis("_", 2), r"<strong>\1</strong>"),
]


def _safe_url(url: str) -> bool:
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    lower = url.lower()
    return any(
        lower.startswith(prefix) and len(url) > len(prefix)
        for prefix in ("http://", "https://", "mailto:")
    )


def _protect(line: str, stash: _Stash, *, for_html: bool) -> str:
    """Stash code spans, autolinks and backslash escapes of one line before anything else."""
    out: list[str] = []
    for is_code, piece in _code_spans(line):
        if is_code:
            if for_html:
                run = len(piece) - len(piece.lstrip("`"))
                content = piece[run:-run]
                if content.startswith(" ") and content.endswith(" ") and content.strip():
                    content = content[1:-1]
                out.append(stash.add(f"<code>{html.escape(content, quote=False)}</code>", piece))
            else:
                out.append(stash.add(piece))
            continue

        def autolink(m: re.Match[str]) -> str:
            url = m.group(1)
            if for_html:
                link = f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>'
                return stash.add(link, m.group(0))
            return stash.add(url, m.group(0))

        def escaped(m: re.Match[str]) -> str:
            char = m.group(1)
            return stash.add(html.escape(char, quote=False) if for_html else char, m.group(0))

        out.append(_ESCAPE.sub(escaped, _AUTOLINK.sub(autolink, piece)))
    return "".join(out)


def _link_parts(m: re.Match[str], stash: _Stash) -> tuple[bool, str, str]:
    image, label, url = m.group(1) == "!", m.group(2), m.group(3)
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    return image, label, stash.restore(url, source=True).strip()


def _inline_html(text: str, stash: _Stash) -> str:
    def link(m: re.Match[str]) -> str:
        _image, label, url = _link_parts(m, stash)
        if not label.strip():
            label = url
        if _safe_url(url):
            opening = stash.add(f'<a href="{html.escape(url)}">')
            return opening + label + stash.add("</a>")
        shown = f" ({url})" if url and label != url else ""
        return label + stash.add(html.escape(shown, quote=False))

    if "[" in text:
        text = _LINK.sub(link, text)
    text = html.escape(text, quote=False)
    for marker, pattern, replacement in _EMPHASIS:
        if marker in text:
            text = pattern.sub(replacement, text)
    return stash.restore(text)


def _inline_plain(text: str, stash: _Stash) -> str:
    def link(m: re.Match[str]) -> str:
        image, label, url = _link_parts(m, stash)
        shown = stash.restore(label).strip()
        if not shown:
            return stash.add(url)
        if image or not url or shown in (url, url.removeprefix("mailto:")):
            return label
        return label + stash.add(f" ({url})")

    if "[" in text:
        text = _LINK.sub(link, text)
    for marker, pattern, _ in _EMPHASIS:
        if marker in text:
            text = pattern.sub(r"\1", text)
    return text


# ---------------------------------------------------------------------------------------------
# HTML in the input, for `plain`: a linear scanner (no backtracking on hostile input).

_KNOWN_TAGS: Final = _HTML_BLOCK_TAGS | _names(
    """a abbr area audio b base bdi bdo big br button canvas caption cite code col colgroup
    data datalist del dfn em embed font frame frameset i img input ins kbd label link map
    mark math meta meter object optgroup option output param picture progress q rp rt ruby s
    samp select slot small source span strike strong sub sup svg time tt track u var video
    wbr"""
)
_DROP_WITH_CONTENT: Final = frozenset(
    ["script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg", "math"]
)
_TEXT_BREAK_TAGS: Final = _HTML_BLOCK_TAGS - frozenset(
    ["li", "ol", "ul", "tr", "td", "th", "pre", "tbody", "thead", "tfoot"]
)
_TAG = re.compile(
    r"""<(/?)([A-Za-z][A-Za-z0-9]{0,30})(?=[\s/>])((?:[^<>"']|"[^"<]*"|'[^'<]*')*)>"""
)
_DECLARATION = re.compile(r"<[!?][^<>]{0,1000}>")
_COMMENT_END = re.compile("-->")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_CLOSE_TAGS: dict[str, re.Pattern[str]] = {}


def _attribute(attributes: str, name: str) -> str:
    m = re.search(
        rf"""(?:^|\s){name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", attributes, re.I
    )
    if m is None:
        return ""
    return html.unescape(next(group for group in m.groups() if group is not None)).strip()


class _Finder:
    """`pattern.search(text, start)` memoized per key, so repeated searches stay linear."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.memo: dict[str, tuple[int, int, int]] = {}

    def find(self, key: str, pattern: re.Pattern[str], start: int) -> int | None:
        cached = self.memo.get(key)
        if cached is not None and cached[0] <= start and (cached[1] < 0 or cached[1] >= start):
            return None if cached[1] < 0 else cached[2]
        m = pattern.search(self.text, start)
        self.memo[key] = (start, m.start() if m else -1, m.end() if m else -1)
        return m.end() if m else None


def _html_to_text(text: str, stash: _Stash) -> str:
    out: list[str] = []
    finder = _Finder(text)
    lists: list[list[int]] = []  # [ordered, counter]
    links: list[tuple[int, str]] = []
    pres: list[int] = []
    cells = 0

    def entity(m: re.Match[str]) -> str:
        unescaped = html.unescape(m.group(0))
        return m.group(0) if unescaped == m.group(0) else stash.add(unescaped, m.group(0))

    position, n = 0, len(text)
    while position < n:
        lt = text.find("<", position)
        if lt < 0:
            out.append(_ENTITY.sub(entity, text[position:]))
            break
        if lt > position:
            out.append(_ENTITY.sub(entity, text[position:lt]))
        m = _TAG.match(text, lt)
        if m is None:
            if text.startswith("<!--", lt):
                end = finder.find("-->", _COMMENT_END, lt + 4)
                if end is not None:
                    position = end
                    continue
            else:
                declaration = _DECLARATION.match(text, lt)
                if declaration is not None:
                    position = declaration.end()
                    continue
            out.append("<")
            position = lt + 1
            continue
        closing, name, attributes = m.group(1) == "/", m.group(2).lower(), m.group(3)
        position = m.end()
        if name not in _KNOWN_TAGS:
            out.append(m.group(0))  # <name>, <your-token>: not markup, keep it
            continue
        if name in _DROP_WITH_CONTENT and not closing and not attributes.rstrip().endswith("/"):
            pattern = _CLOSE_TAGS.setdefault(name, re.compile(rf"</{name}\s*>", re.I))
            end = finder.find(name, pattern, position)
            if end is not None:
                position = end
            continue
        if name == "br":
            out.append("\n")
        elif name in ("ul", "ol"):
            if closing:
                if lists:
                    lists.pop()
            else:
                lists.append([int(name == "ol"), 0])
            out.append("\n")
        elif name == "li":
            if closing:
                out.append("\n")
            else:
                marker = "-"
                if lists and lists[-1][0]:
                    lists[-1][1] += 1
                    marker = f"{lists[-1][1]}."
                depth = min(max(len(lists) - 1, 0), _MAX_LIST_DEPTH)
                out.append("\n" + "  " * depth + marker + " ")
        elif name == "tr":
            if not closing:
                cells = 0
                out.append("\n")
        elif name in ("td", "th"):
            if not closing:
                if cells:
                    out.append(" | ")
                cells += 1
        elif name == "a":
            if not closing:
                links.append((len(out), _attribute(attributes, "href")))
            elif links:
                start, href = links.pop()
                label = stash.restore("".join(out[start:])).strip()
                if href and not label:
                    out.append(stash.add(href))
                elif href and label not in (href, href.removeprefix("mailto:")):
                    out.append(stash.add(f" ({href})"))
        elif name == "img":
            alt = _attribute(attributes, "alt")
            if alt:
                out.append(stash.add(alt))
        elif name == "pre":
            if not closing:
                out.append("\n\n")
                pres.append(len(out))
            elif pres:
                start = pres.pop()
                body = stash.restore("".join(out[start:])).strip("\n")
                del out[start:]
                out.append(stash.add(f"```\n{body}\n```") + "\n\n")
        elif name in _TEXT_BREAK_TAGS:
            out.append("\n\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Renderers


def _hard_breaks(lines: list[str]) -> list[str]:
    result: list[str] = []
    for index, line in enumerate(lines):
        if index < len(lines) - 1:
            backslashes = len(line) - len(line.rstrip("\\"))
            if backslashes % 2:
                line = line[:-1]
            line = line.rstrip() + "\\"
        result.append(line)
    return result


def _unbreak(lines: list[str]) -> list[str]:
    """Stripped lines without their hard-break backslashes (escapes are stashed by now)."""
    stripped = [line.strip() for line in lines]
    return [
        line[:-1] if index < len(stripped) - 1 and line.endswith("\\") else line
        for index, line in enumerate(stripped)
    ]


def _fenced(code: _Code, stash: _Stash) -> str:
    lines = [stash.restore(line, source=True) for line in code.lines]
    info = stash.restore(code.info, source=True)
    if info.startswith(code.fence[0]):
        info = " " + info  # `~~~ ~x`: the info string must not lengthen the fence
    return "\n".join([code.fence + info, *lines, code.fence])


def _render_markdown(blocks: list[_Block], stash: _Stash) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            parts.append(_markdown_heading(block))
        elif isinstance(block, _Rule):
            parts.append("---")
        elif isinstance(block, _Para):
            parts.append("\n".join(_hard_breaks([line.strip() for line in block.lines])))
        elif isinstance(block, _List):
            parts.append(_markdown_list(block))
        elif isinstance(block, _Quote):
            inner = "\n\n".join(_render_markdown(block.blocks, stash))
            parts.append("\n".join(f"> {line}" if line else ">" for line in inner.split("\n")))
        elif isinstance(block, _Table):
            parts.append("\n".join(line.strip() for line in block.lines))
        elif isinstance(block, _Html):
            parts.append("\n".join(line.rstrip() for line in block.lines))
        else:
            parts.append(_fenced(block, stash))
    return [part for part in parts if part]


def _markdown_heading(block: _Heading) -> str:
    text = block.text
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        text = text[:-1] + "\\#"  # a setext title ending in ` #` must not lose it as ATX
    return ("#" * block.level + " " + text).rstrip()


def _markdown_list(block: _List) -> str:
    out: list[str] = []
    columns: list[int] = []
    for item in block.items:
        depth = min(item.depth, len(columns))
        indent = columns[depth - 1] if depth else 0
        groups = [_hard_breaks(group) for group in item.groups()]
        first = groups[0][0]
        marker = item.marker if item.ordered else "-"
        if not item.ordered and _is_rule(f"- {first}"):
            marker = "*"  # `- ---` would read as a thematic break
        column = indent + len(marker) + 1
        del columns[depth:]
        columns.append(column)
        out.append(" " * indent + marker + (" " + first if first else ""))
        out.extend(" " * column + line for line in groups[0][1:])
        for group in groups[1:]:
            out.append("")
            out.extend(" " * column + line for line in group)
    return "\n".join(out)


def _render_plain(blocks: list[_Block], stash: _Stash) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            parts.append(_inline_plain(block.text, stash))
        elif isinstance(block, _Rule):
            continue
        elif isinstance(block, _Para | _Html):
            parts.append(_inline_plain("\n".join(_unbreak(block.lines)), stash))
        elif isinstance(block, _List):
            lines: list[str] = []
            for item in block.items:
                groups = [_unbreak(group) for group in item.groups()]
                first = _inline_plain(groups[0][0], stash)
                marker = item.marker if item.ordered else "-"
                if not item.ordered and _is_rule(f"- {first}"):
                    marker = "*"
                prefix = "  " * item.depth + marker + " "
                lines.append(prefix + first)
                for number, group in enumerate(groups):
                    if number:
                        lines.append("")
                    start = 1 if number == 0 else 0
                    lines.extend(" " * len(prefix) + _inline_plain(t, stash) for t in group[start:])
            parts.append("\n".join(lines))
        elif isinstance(block, _Quote):
            parts.extend(_render_plain(block.blocks, stash))
        elif isinstance(block, _Table):
            parts.append("\n".join(_inline_plain(line.strip(), stash) for line in block.lines))
        else:
            parts.append(_fenced(block, stash))
    return [stash.restore(part) for part in parts if part]


def _render_html(blocks: list[_Block], stash: _Stash) -> list[str]:
    parts: list[str] = []

    def inline(text: str) -> str:
        return _inline_html(text.strip(), stash)

    for block in blocks:
        if isinstance(block, _Heading):
            parts.append(f"<h{block.level}>{inline(block.text)}</h{block.level}>")
        elif isinstance(block, _Rule):
            parts.append("<hr>")
        elif isinstance(block, _Para | _Html):
            text = inline("\n".join(_unbreak(block.lines)))
            parts.append("<p>" + text.replace("\n", "<br>\n") + "</p>")
        elif isinstance(block, _List):
            parts.append(_html_list(block, inline))
        elif isinstance(block, _Quote):
            inner = "\n".join(_render_html(block.blocks, stash))
            parts.append(
                f"<blockquote>\n{inner}\n</blockquote>" if inner else "<blockquote></blockquote>"
            )
        elif isinstance(block, _Table):
            parts.append(_html_table(block, inline))
        else:
            language = stash.restore(block.info, source=True).split(maxsplit=1)
            attribute = ""
            if language and re.fullmatch(r"[A-Za-z0-9_+#.-]{1,40}", language[0]):
                attribute = f' class="language-{html.escape(language[0])}"'
            body = "".join(stash.restore(line, source=True) + "\n" for line in block.lines)
            parts.append(f"<pre><code{attribute}>{html.escape(body, quote=False)}</code></pre>")
    return parts


def _html_list(block: _List, inline: Callable[[str], str]) -> str:
    out: list[str] = []
    open_lists: list[str] = []

    def close_item() -> None:
        out[-1] += "</li>"

    for item in block.items:
        tag = "ol" if item.ordered else "ul"
        depth = item.depth
        while len(open_lists) > depth + 1:
            close_item()
            out.append(f"</{open_lists.pop()}>")
        if len(open_lists) == depth + 1:
            close_item()
            if open_lists[-1] != tag:
                out.append(f"</{open_lists.pop()}>")
        while len(open_lists) < depth + 1:
            start = f' start="{item.number}"' if tag == "ol" and item.number != 1 else ""
            out.append(f"<{tag}{start}>")
            open_lists.append(tag)
            if len(open_lists) < depth + 1:
                out.append("<li>")
        groups = [[inline(line) for line in _unbreak(group)] for group in item.groups()]
        if len(groups) == 1:
            body = "<br>\n".join(groups[0])
        else:
            body = "\n".join("<p>" + "<br>\n".join(group) + "</p>" for group in groups)
        out.append("<li>" + body)
    while open_lists:
        close_item()
        out.append(f"</{open_lists.pop()}>")
    return "\n".join(out)


def _html_table(block: _Table, inline: Callable[[str], str]) -> str:
    rows = [_split_row(line) for line in block.lines]
    header, body = rows[0], rows[2:]
    columns = len(header)
    out = [
        "<table>",
        "<thead>",
        "<tr>" + "".join(f"<th>{inline(c)}</th>" for c in header) + "</tr>",
    ]
    out.append("</thead>")
    if body:
        out.append("<tbody>")
        for row in body:
            cells = (row + [""] * columns)[:columns]
            out.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in cells) + "</tr>")
        out.append("</tbody>")
    out.append("</table>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Formats


def _markdown(text: str) -> str:
    stash = _Stash("")
    parts = _render_markdown(_parse_blocks(text.split("\n")), stash)
    result = "\n\n".join(parts)
    return result + "\n" if result else ""


def _html(text: str) -> str:
    stash = _Stash(text)
    text = stash.clean(text)
    lines = [_protect(line, stash, for_html=True) for line in text.split("\n")]
    blocks = _parse_blocks(lines, restore=lambda line: stash.restore(line, source=True))
    result = "\n".join(_render_html(blocks, stash))
    return result + "\n" if result else ""


def _plain(text: str) -> str:
    stash = _Stash(text)
    text = stash.clean(text)
    parts: list[str] = []
    for segment in _split_fences(text.split("\n")):
        if isinstance(segment, _Code):
            parts.append(_fenced(segment, stash))
            continue
        protected = "\n".join(_protect(line, stash, for_html=False) for line in segment)
        converted = _html_to_text(protected, stash)
        blocks = _parse_blocks(
            converted.split("\n"), restore=lambda line: stash.restore(line, source=True)
        )
        parts.extend(_render_plain(blocks, stash))
    lines: list[str] = []
    for line in "\n\n".join(parts).replace("\xa0", " ").split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _json(text: str) -> str:
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
    "markdown": _markdown,
    "html": _html,
    "plain": _plain,
    "json": _json,
}
