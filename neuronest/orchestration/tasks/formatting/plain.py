"""``plain``: readable plain text.

The text is read as Markdown (markdown-it-py, raw HTML allowed through) and the resulting HTML as
a tree (lxml), which is written out as text: markup is removed (heading marks, emphasis, quote
marks, thematic breaks); links become ``t (u)`` (just ``u`` when the label is the URL), images
their alt text; bullets become ``- `` and ordered markers are kept, nested items indented to the
parent's content column; tables become ``a | b`` rows. Code is kept as text: fenced blocks (and
``<pre>``) *with* their fences, inline code with its backticks. ``script``/``style``/... go with
their content; tags that are not HTML elements (``<name>``) are kept; entities are unescaped.
Lines have no trailing whitespace and no leading indentation except list nesting; at most one
blank line in a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import lxml.etree
import lxml.html

from neuronest.orchestration.tasks.formatting.parsing import parser

_MD = parser(html=True)
_HTML = lxml.html.HTMLParser(
    recover=True, remove_comments=True, remove_pis=True, no_network=True, default_doctype=False
)
_SPACE: Final = re.compile(r"[ \t\n\r\f\v]+")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TICKS: Final = re.compile(r"`+")
_MAX_LIST_DEPTH: Final = 10


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_BLOCKS: Final = _names(
    """address article aside blockquote body center details dialog dd div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend main menu nav
    p section summary table textarea"""
)
_STRUCTURE: Final = _names("table thead tbody tfoot tr td th ul ol li")
_DROP: Final = _names("script style head title template noscript iframe object svg math")
_INLINE: Final = _names(
    """a abbr area audio b base bdi bdo big br button canvas caption cite code col colgroup
    data datalist del dfn em embed font frame frameset i img input ins kbd label link map mark
    meta meter optgroup option output param picture progress q rp rt ruby s samp select slot
    small source span strike strong sub sup time tt track u var video wbr li ol ul tr td th pre
    tbody thead tfoot"""
)


@dataclass
class _List:
    ordered: bool
    counter: int
    indent: str


@dataclass
class _Writer:
    """Lines of text; breaks are requested (1: new line, 2: blank line) and applied lazily."""

    lines: list[str] = field(default_factory=list)
    line: str | None = None
    has_content: bool = False
    indent: str = ""
    pending: int = 0
    captures: list[list[str]] = field(default_factory=list)

    def request(self, level: int) -> None:
        self.pending = max(self.pending, level)

    def _flush(self) -> None:
        if self.line is not None and not self.has_content:
            self.pending = 0  # the first block of a list item goes on its marker's line
            return
        if self.line is not None:
            self.lines.append(self.line)
            self.line = None
        if self.pending == 2 and self.lines and self.lines[-1]:
            self.lines.append("")
        self.pending = 0

    def text(self, text: str, *, verbatim: bool = False) -> None:
        if not verbatim:
            text = _SPACE.sub(" ", text)
        for capture in self.captures:
            capture.append(text)
        blank = not text.strip()
        if self.pending and not blank:
            self._flush()
        if self.line is None:
            if blank:
                return
            self.line = self.indent
        if not self.has_content:
            if blank:
                return
            text = text.lstrip()
        self.line += text
        self.has_content = True

    def line_break(self) -> None:
        if self.line is None:
            self.lines.append("")
        else:
            self.lines.append(self.line)
            self.line = None
        self.has_content = False

    def item(self, prefix: str) -> None:
        self.request(1)
        if self.line is not None and not self.has_content:
            self.has_content = True  # an empty item keeps its marker line
        self._flush()
        self.line = prefix
        self.has_content = False

    def block(self, body: list[str]) -> None:
        self.request(2)
        self._flush()
        if self.line is not None:  # a code block that opens a list item: marker line first
            self.lines.append(self.line.rstrip())
            self.line = None
        self.lines += [self.indent + line if line else "" for line in body]
        self.request(2)

    def result(self) -> str:
        if self.line is not None:
            self.lines.append(self.line)
        out: list[str] = []
        for line in "\n".join(self.lines).replace("\xa0", " ").split("\n"):
            line = line.rstrip()
            if line or (out and out[-1]):
                out.append(line)
        while out and not out[-1]:
            out.pop()
        return "\n".join(out) + "\n" if out else ""


def _fence(body: str, info: str = "") -> list[str]:
    longest = max((len(run) for run in _TICKS.findall(body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [ticks + info, *body.split("\n"), ticks]


def _inline_code(body: str) -> str:
    longest = max((len(run) for run in _TICKS.findall(body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


class _Converter:
    def __init__(self) -> None:
        self.out = _Writer()
        self.lists: list[_List] = []
        self.indents: list[str] = []
        self.links: list[str] = []
        self.sink: list[str] | None = None  # text of <pre> or inline <code>, written at its end
        self.info = ""
        self.cells = 0

    def data(self, text: str | None) -> None:
        if not text:
            return
        if self.sink is not None:
            self.sink.append(text)
        else:
            self.out.text(text)

    def start(self, element: lxml.html.HtmlElement) -> None:
        tag = element.tag
        out = self.out
        if self.sink is not None:
            if tag == "br":
                self.sink.append("\n")
            elif tag == "code":
                self.info = _language(element) or self.info
            return
        if tag in _BLOCKS:
            out.request(2)
        if tag == "br":
            out.line_break()
        elif tag in ("ul", "ol"):
            start = element.get("start", "1")
            first = int(start) if start.isdigit() and len(start) < 10 else 1
            out.request(1 if self.lists else 2)
            previous = element.getprevious()
            if tag == "ul" and previous is not None and previous.tag == "ul":
                out.pending = 1  # `* a` then `+ b`: two lists to Markdown, one to a reader
            self.lists.append(_List(tag == "ol", first - 1, out.indent))
        elif tag == "li":
            self._item()
        elif tag == "tr":
            out.request(1)
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                out.text(" | ", verbatim=True)
            self.cells += 1
        elif tag == "a":
            self.links.append(element.get("href", "").strip())
            out.captures.append([])
        elif tag == "img":
            out.text(element.get("alt", ""))
        elif tag == "pre":
            self.sink, self.info = [], ""
        elif tag == "code":
            self.sink = []
        elif tag not in _BLOCKS and tag not in _INLINE:
            attributes = "".join(f' {k}="{v}"' for k, v in element.attrib.items())
            out.text(f"<{tag}{attributes}>", verbatim=True)  # <name>: not markup, keep it

    def end(self, element: lxml.html.HtmlElement) -> None:
        tag = element.tag
        out = self.out
        if tag == "pre" and self.sink is not None:
            body = "".join(self.sink).removeprefix("\n").rstrip("\n")
            self.sink = None
            out.block(_fence(body, self.info))
        elif tag == "code" and self.sink is not None and not self.info and not _in_pre(element):
            body = "".join(self.sink)
            self.sink = None
            out.text(_inline_code(body), verbatim=True)
        elif self.sink is not None:
            return
        elif tag in _BLOCKS:
            out.request(2)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            out.request(2 if not self.lists else 1)
        elif tag == "li" and self.indents:
            out.indent = self.indents.pop()
            out.request(1)
        elif tag == "a" and self.links:
            href = self.links.pop()
            label = "".join(out.captures.pop()).strip()
            if href and not label:
                out.text(href, verbatim=True)
            elif href and label not in (href, href.removeprefix("mailto:")):
                out.text(f" ({href})", verbatim=True)

    def _item(self) -> None:
        if not self.lists:
            self.lists.append(_List(False, 0, self.out.indent))
        current = self.lists[-1]
        current.counter += 1
        marker = f"{current.counter}." if current.ordered else "-"
        self.indents.append(self.out.indent)
        self.out.item(current.indent + marker + " ")
        if len(self.lists) <= _MAX_LIST_DEPTH:
            self.out.indent = current.indent + " " * (len(marker) + 1)


def _language(element: lxml.html.HtmlElement) -> str:
    for name in element.get("class", "").split():
        if name.startswith("language-"):
            return str(name.removeprefix("language-"))
    return ""


def _in_pre(element: lxml.html.HtmlElement) -> bool:
    parent = element.getparent()
    return parent is not None and parent.tag == "pre"


def _significant(text: str | None, element: lxml.html.HtmlElement) -> str | None:
    """Whitespace between the parts of a table or list is layout, not text."""
    if text and element.tag in _STRUCTURE and not text.strip():
        return None
    return text


def to_plain(text: str) -> str:
    markup = _CONTROL.sub("", str(_MD.render(text)))
    if not markup.strip():
        return ""
    try:
        root = lxml.html.document_fromstring(markup, parser=_HTML)
    except lxml.etree.ParserError:
        return ""  # nothing but comments
    converter = _Converter()
    walker = lxml.etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        if not isinstance(element.tag, str):
            continue
        if event == "start":
            if element.tag in _DROP:
                walker.skip_subtree()
                continue
            converter.start(element)
            converter.data(_significant(element.text, element))
        else:
            if element.tag not in _DROP:
                converter.end(element)
            converter.data(_significant(element.tail, element))
    return converter.out.result()
