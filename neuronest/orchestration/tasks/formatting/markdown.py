"""``markdown``: tidy CommonMark/GFM, written back from markdown-it-py's syntax tree.

Blocks are separated by exactly one blank line; trailing whitespace is removed; paragraph lines
lose their leading indentation. **Line rule**: every line break inside a paragraph (or list item)
becomes a hard break, written as a trailing backslash (``line\\``), so text keeps the lines it was
written with when rendered; blank lines still separate paragraphs. ATX headings are kept without
closing marks and setext headings become ATX; bullets become ``-`` (adjacent bullet lists with
different bullet characters become one list) with nesting indented to the parent's content
column; ordered markers are kept; thematic breaks become ``---``; block quotes, tables (re-joined
from their cells), HTML blocks and fenced code are kept (code verbatim). Inline content
(emphasis, links, inline HTML) is left untouched: markdown is source text; ask for ``html`` to get
safe markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from markdown_it.tree import SyntaxTreeNode

from neuronest.orchestration.tasks.formatting.parsing import parser

_MD = parser(html=True)
_RULE: Final = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*")
_ALIGN: Final = {"text-align:left": ":--", "text-align:center": ":-:", "text-align:right": "--:"}


def to_markdown(text: str) -> str:
    result = "\n\n".join(_blocks(SyntaxTreeNode(_MD.parse(text)).children))
    return result + "\n" if result else ""


def hard_breaks(lines: list[str]) -> list[str]:
    result: list[str] = []
    for index, line in enumerate(lines):
        if index < len(lines) - 1:
            if (len(line) - len(line.rstrip("\\"))) % 2:
                line = line[:-1]
            line = line.rstrip() + "\\"
        result.append(line)
    return result


def _inline_lines(node: SyntaxTreeNode) -> list[str]:
    content = node.children[0].content if node.children else ""
    return [line.strip() for line in content.split("\n")]


def _merged(children: list[SyntaxTreeNode]) -> Iterator[list[SyntaxTreeNode]]:
    """Blocks one by one, adjacent bullet lists together (they all become `-` lists)."""
    group: list[SyntaxTreeNode] = []
    for child in children:
        if child.type == "bullet_list":
            group.append(child)
            continue
        if group:
            yield group
            group = []
        yield [child]
    if group:
        yield group


def _blocks(children: list[SyntaxTreeNode]) -> list[str]:
    parts = [_block(group) for group in _merged(children)]
    return [part for part in parts if part]


def _block(group: list[SyntaxTreeNode]) -> str:
    node = group[0]
    kind = node.type
    if kind == "paragraph":
        return "\n".join(hard_breaks(_inline_lines(node)))
    if kind == "heading":
        return _heading(int(node.tag[1:]), " ".join(_inline_lines(node)))
    if kind == "hr":
        return "---"
    if kind == "fence":
        info = node.info.strip()
        if info.startswith(node.markup[0]):
            info = " " + info  # `~~~ ~x`: the info string must not lengthen the fence
        body = (
            node.content if node.content.endswith("\n") or not node.content else node.content + "\n"
        )
        return f"{node.markup}{info}\n{body}{node.markup}"
    if kind == "html_block":
        return "\n".join(line.rstrip() for line in node.content.rstrip("\n").split("\n"))
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(node.children))
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind in ("bullet_list", "ordered_list"):
        return _list(group)
    if kind == "table":
        return _table(node)
    return ""


def _heading(level: int, text: str) -> str:
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        text = text[:-1] + "\\#"  # a setext title ending in ` #` must not lose it as ATX
    return ("#" * level + " " + text).rstrip()


def _list(group: list[SyntaxTreeNode]) -> str:
    items = [item for lst in group for item in lst.children]
    loose = any(
        child.type == "paragraph" and not child.hidden for item in items for child in item.children
    )
    separator = "\n\n" if loose else "\n"
    out: list[str] = []
    for item in items:
        marker = f"{item.info}{item.markup}" if group[0].type == "ordered_list" else "-"
        body = separator.join(_blocks(item.children)).split("\n")
        if marker == "-" and _RULE.fullmatch(f"- {body[0]}"):
            marker = "*"  # `- ---` would read as a thematic break
        pad = " " * (len(marker) + 1)
        lines = [f"{marker} {body[0]}".rstrip()]
        lines += [pad + line if line else "" for line in body[1:]]
        out.append("\n".join(lines))
    return separator.join(out)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _table(node: SyntaxTreeNode) -> str:
    rows = [row for section in node.children for row in section.children]
    texts = [[" ".join(_inline_lines(cell)) for cell in row.children] for row in rows]
    delimiter = [_ALIGN.get(str(cell.attrs.get("style", "")), "---") for cell in rows[0].children]
    lines = [_row(texts[0]), "|" + "|".join(delimiter) + "|"]
    lines += [_row(cells) for cells in texts[1:]]
    return "\n".join(line.replace("  |", " |") for line in lines)
