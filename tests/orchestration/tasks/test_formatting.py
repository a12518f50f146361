from __future__ import annotations

import json

import pytest

from neuronest.errors import Invalid
from neuronest.orchestration.tasks.formatting import FORMATS, MAX_TEXT_LENGTH, format_text
from tests.orchestration.tasks.helpers import assert_safe_html

HAIKU = "Silicon thinking\nElectronic neurons fire\nHuman-like wisdom"

DOC = """# NeuroNest Guide ##

Welcome to **NeuroNest**, a *platform* for [AI work](https://example.com/docs).
Tasks can call `tools` like the <calculator>.

Features
--------
* Tasks
+ Agents
  - with *memory*
    and tools
- Workflows

1. Create
2. Run


```python
def total(a, b):
    return a*b*2  # not *emphasis*
```
"""

DOC_MARKDOWN = """# NeuroNest Guide

Welcome to **NeuroNest**, a *platform* for [AI work](https://example.com/docs).\\
Tasks can call `tools` like the <calculator>.

## Features

- Tasks
- Agents
  - with *memory*\\
    and tools
- Workflows

1. Create
2. Run

```python
def total(a, b):
    return a*b*2  # not *emphasis*
```
"""

DOC_HTML = """<h1>NeuroNest Guide</h1>
<p>Welcome to <strong>NeuroNest</strong>, a <em>platform</em> for \
<a href="https://example.com/docs">AI work</a>.<br>
Tasks can call <code>tools</code> like the &lt;calculator&gt;.</p>
<h2>Features</h2>
<ul>
<li>Tasks</li>
</ul>
<ul>
<li>Agents
<ul>
<li>with <em>memory</em><br>
and tools</li>
</ul>
</li>
</ul>
<ul>
<li>Workflows</li>
</ul>
<ol>
<li>Create</li>
<li>Run</li>
</ol>
<pre><code class="language-python">def total(a, b):
    return a*b*2  # not *emphasis*
</code></pre>
"""

DOC_PLAIN = """NeuroNest Guide

Welcome to NeuroNest, a platform for AI work (https://example.com/docs).
Tasks can call `tools` like the <calculator>.

Features

- Tasks
- Agents
  - with memory
    and tools
- Workflows

1. Create
2. Run

```python
def total(a, b):
    return a*b*2  # not *emphasis*
```
"""

HOSTILE = (
    '<script>alert("script")</script>\n'
    "[x](javascript:alert(1)) and [y](JavaScript:alert(2) 'title') and ![i](data:text/html,hi)\n"
    '<img src=x onerror="alert(3)"> <a href="javascript:alert(4)">click</a>\n'
    "<https://ok.example/path> &lt;script&gt; `<script>` **<b>bold</b>**\n"
    "\n"
    "```html\n<script>alert(5)</script>\n```\n"
    "> <iframe src=//evil></iframe>\n"
    '[ok](https://fine.example/?q="><script>)\n'
)

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>Ignored</title><style>p { color: red }</style></head>
<body>
  <h1>Hello &amp; welcome</h1>
  <p>This is <b>bold</b> and a <a href="https://x.org/a?b=1&amp;c=2">link</a>.<br>Next line.</p>
  <ol><li>one</li><li>two<ul><li>inner</li></ul></li></ol>
  <pre>  indented
    code &lt;x&gt;</pre>
  <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
  <p>Replace <name> with yours: 3 < 4 and 5 > 2. <img alt="A cat" src="cat.png"></p>
  <script>document.write("gone")</script><!-- a comment -->
</body></html>"""

SAMPLES = [
    HAIKU,
    DOC,
    HOSTILE,
    HTML_PAGE,
    "Roses are red,  \nviolets are blue.\n\n\n\nSecond stanza\t \n  indented line",
    "> quote line one\n> quote line two\n>\n> - item\n\nafter",
    "| a | b |\n|---|:-:|\n| **1** | 2 |\n| 3 |",
    "3. three\n4. four\n\n   - sub\n\n5. five\ncontinued",
    "Title\n===\n\ntext ending with a backslash\\",
    "```\nunclosed fence\n  keeps   spacing  ",
]


# --- the haiku -------------------------------------------------------------------------------


def test_haiku_markdown_keeps_three_lines_as_hard_breaks() -> None:
    assert format_text(HAIKU, "markdown") == (
        "Silicon thinking\\\nElectronic neurons fire\\\nHuman-like wisdom\n"
    )


def test_haiku_html() -> None:
    assert format_text(HAIKU, "html") == (
        "<p>Silicon thinking<br>\nElectronic neurons fire<br>\nHuman-like wisdom</p>\n"
    )


def test_haiku_plain() -> None:
    assert format_text(HAIKU, "plain") == HAIKU + "\n"


def test_haiku_json() -> None:
    output = format_text(HAIKU, "json")
    assert output == json.dumps(json.loads(output), ensure_ascii=False, indent=2)
    assert json.loads(output) == {
        "text": HAIKU,
        "lines": ["Silicon thinking", "Electronic neurons fire", "Human-like wisdom"],
        "paragraphs": [HAIKU],
        "word_count": 7,
        "character_count": len(HAIKU),
    }


# --- a markdown document ---------------------------------------------------------------------


def test_document_markdown() -> None:
    assert format_text(DOC, "markdown") == DOC_MARKDOWN


def test_document_html() -> None:
    output = format_text(DOC, "html")
    assert output == DOC_HTML
    assert_safe_html(output)


def test_document_plain() -> None:
    assert format_text(DOC, "plain") == DOC_PLAIN


def test_document_json() -> None:
    document = json.loads(format_text(DOC, "json"))
    assert document["text"] == DOC.strip()
    assert document["lines"][0] == "# NeuroNest Guide ##"
    assert "" not in document["lines"]
    assert len(document["paragraphs"]) == 5
    assert document["paragraphs"][1].startswith("Welcome to **NeuroNest**")
    assert document["word_count"] == len(DOC.split())
    assert document["character_count"] == len(DOC.strip())


# --- hostile input ---------------------------------------------------------------------------


def test_hostile_html_is_inert() -> None:
    output = format_text(HOSTILE, "html")
    assert_safe_html(output)
    assert "<script" not in output.lower()
    assert "<iframe" not in output.lower()
    assert "<img" not in output.lower()
    assert '<a href="javascript' not in output.lower()
    assert '<a href="data' not in output.lower()
    assert "&lt;script&gt;alert(&quot;script&quot;)&lt;/script&gt;" in output
    assert "x (javascript:alert(1))" in output  # an unsafe link is shown as text
    assert '<a href="https://ok.example/path">https://ok.example/path</a>' in output
    assert "<code>&lt;script&gt;</code>" in output
    assert "<strong>&lt;b&gt;bold&lt;/b&gt;</strong>" in output
    assert '<pre><code class="language-html">&lt;script&gt;alert(5)&lt;/script&gt;' in output
    assert '<a href="https://fine.example/?q=%22%3E%3Cscript%3E">ok</a>' in output


def test_hostile_plain_drops_scripts_and_keeps_text() -> None:
    output = format_text(HOSTILE, "plain")
    assert 'alert("script")' not in output  # a script element goes with its content
    assert "x (javascript:alert(1))" in output
    assert "click (javascript:alert(4))" in output
    assert "https://ok.example/path" in output
    assert "`<script>`" in output  # inline code is kept as written
    assert "<script>alert(5)</script>" in output  # so is fenced code
    assert "**" not in output


def test_hostile_markdown_is_tidied_not_interpreted() -> None:
    output = format_text(HOSTILE, "markdown")
    assert output.endswith("\n") and not output.endswith("\n\n")
    assert "[x](javascript:alert(1))" in output
    assert format_text(output, "markdown") == output


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.js></SCRIPT>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](  javascript:alert(1)  )",
        "[x](<javascript:alert(1)>)",
        "[x](java\tscript:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "![x](javascript:alert(1))",
        "<javascript:alert(1)>",
        '[x](https://a.example/"onmouseover="alert(1))',
        "`</code><script>alert(1)</script>`",
        '```"><script>alert(1)</script>\nx\n```',
        "**<svg onload=alert(1)>**",
        "| <script> | b |\n|---|---|\n| c | <img src=x onerror=alert(1)> |",
        "> <script>alert(1)</script>",
        "# <script>alert(1)</script>",
        "- <script>alert(1)</script>",
    ],
)
def test_html_never_emits_markup_from_input(attack: str) -> None:
    output = format_text(attack, "html")
    assert_safe_html(output)
    assert "<script" not in output.lower()
    assert "<svg" not in output.lower()
    assert "<img" not in output.lower()


# --- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", SAMPLES)
def test_markdown_is_idempotent(text: str) -> None:
    once = format_text(text, "markdown")
    assert format_text(once, "markdown") == once


# Not HOSTILE: its `&lt;script&gt;` is unescaped to the text `<script>`, which a second pass then
# reads as a tag. Entity-escaped markup is the one thing plain text cannot round-trip.
@pytest.mark.parametrize("text", [text for text in SAMPLES if text is not HOSTILE])
def test_plain_is_idempotent(text: str) -> None:
    once = format_text(text, "plain")
    assert format_text(once, "plain") == once


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", SAMPLES)
def test_deterministic_and_tidy(text: str, fmt: str) -> None:
    output = format_text(text, fmt)
    assert format_text(text, fmt) == output
    if fmt == "json":
        json.loads(output)
        return
    assert output.endswith("\n") and not output.endswith("\n\n")
    if fmt in ("markdown", "plain"):
        code = False
        for line in output.split("\n"):
            if line.startswith(("```", "~~~")):
                code = not code
            if not code and fmt == "plain":
                assert line == line.rstrip()
        assert "\n\n\n" not in output
    if fmt == "html":
        assert_safe_html(output)


def test_line_endings_do_not_matter() -> None:
    for fmt in FORMATS:
        assert format_text(DOC.replace("\n", "\r\n"), fmt) == format_text(DOC, fmt)
        assert format_text(HAIKU.replace("\n", "\r"), fmt) == format_text(HAIKU, fmt)


def test_format_name_is_case_insensitive() -> None:
    assert format_text(HAIKU, " HTML ") == format_text(HAIKU, "html")


@pytest.mark.parametrize("fmt", ["markdown", "html", "plain"])
def test_empty_text_gives_empty_output(fmt: str) -> None:
    assert format_text("", fmt) == ""
    assert format_text(" \n\t\n", fmt) == ""


def test_text_with_private_use_characters_survives() -> None:
    text = "keep \ue000 and \ue001 *here*"
    assert format_text(text, "plain") == "keep \ue000 and \ue001 here\n"
    assert format_text(text, "html") == "<p>keep \ue000 and \ue001 <em>here</em></p>\n"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pdf", "", "md", None, 3])
def test_unknown_format_is_422(fmt: object) -> None:
    with pytest.raises(Invalid) as caught:
        format_text("x", fmt)  # type: ignore[arg-type]
    assert caught.value.status == 422
    assert caught.value.field == "format"
    assert caught.value.message == "format: must be one of markdown, html, plain, json"


def test_formats_are_exported() -> None:
    assert FORMATS == ("markdown", "html", "plain", "json")


def test_bad_text_is_422() -> None:
    with pytest.raises(Invalid) as caught:
        format_text(None, "plain")  # type: ignore[arg-type]
    assert caught.value.field == "text"
    with pytest.raises(Invalid, match="too long") as caught:
        format_text("x" * (MAX_TEXT_LENGTH + 1), "plain")
    assert caught.value.status == 422


# --- markdown rules --------------------------------------------------------------------------


def test_markdown_normalization() -> None:
    text = (
        "Heading\n=======\n\n\n\nline one  \nline two   \n\n"
        "## Closed ##\n* a\n+ b\n    * deep\n\n***\n\n> q1\n> q2\n"
    )
    assert format_text(text, "markdown") == (
        "# Heading\n\nline one\\\nline two\n\n## Closed\n\n- a\n- b\n  - deep\n\n---\n\n"
        "> q1\\\n> q2\n"
    )


def test_markdown_keeps_code_and_tables_verbatim() -> None:
    text = "```\n  spaced   \n\n\n*x*\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert format_text(text, "markdown") == text + "\n"


def test_markdown_stanzas_stay_paragraphs() -> None:
    poem = "Line a\nLine b\n\n\nLine c\nLine d"
    assert format_text(poem, "markdown") == "Line a\\\nLine b\n\nLine c\\\nLine d\n"


# --- html rules ------------------------------------------------------------------------------


def test_html_blocks_and_inline() -> None:
    text = (
        "## Title\n\n3. three\n4. four\n\n> quoted *it*\n\n---\n\n"
        "[rel](/path) ![cat](https://img.example/c.png) <mailto:a@b.example> "
        "\\*not em\\* ~~gone~~ ***both***\n\n| h1 | h2 |\n|---|---|\n| **c** |"
    )
    assert format_text(text, "html") == (
        "<h2>Title</h2>\n"
        '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'
        "<blockquote>\n<p>quoted <em>it</em></p>\n</blockquote>\n"
        "<hr>\n"
        '<p>rel (/path) <a href="https://img.example/c.png">cat</a> '
        '<a href="mailto:a@b.example">mailto:a@b.example</a> '
        "*not em* <del>gone</del> <em><strong>both</strong></em></p>\n"
        "<table>\n<thead>\n<tr>\n<th>h1</th>\n<th>h2</th>\n</tr>\n</thead>\n"
        "<tbody>\n<tr>\n<td><strong>c</strong></td>\n<td></td>\n</tr>\n</tbody>\n</table>\n"
    )


def test_html_keeps_intraword_underscores_and_math() -> None:
    output = format_text("snake_case_name and 2 * 3 * 4 and a * b * c", "html")
    assert output == "<p>snake_case_name and 2 * 3 * 4 and a * b * c</p>\n"
    # CommonMark: an asterisk inside a word does open emphasis (an underscore does not).
    assert format_text("2*3*4", "html") == "<p>2<em>3</em>4</p>\n"


# --- plain rules -----------------------------------------------------------------------------


def test_plain_from_html_page() -> None:
    assert format_text(HTML_PAGE, "plain") == (
        "Hello & welcome\n\n"
        "This is bold and a link (https://x.org/a?b=1&c=2).\nNext line.\n\n"
        "1. one\n2. two\n   - inner\n\n"
        "```\n  indented\n    code <x>\n```\n\n"
        "a | b\n1 | 2\n\n"
        "Replace <name> with yours: 3 < 4 and 5 > 2. A cat\n"
    )


def test_plain_links_and_markers() -> None:
    text = (
        "[https://a.example](https://a.example) [me](mailto:me@x.example) "
        "[t](https://t.example) ![alt](https://i.example/x.png) <https://auto.example>\n\n"
        "* one\n+ two\n\n> ### quoted heading\n\n&copy; 2024 &nbsp;AT&amp;T &bogus;"
    )
    assert format_text(text, "plain") == (
        "https://a.example me (mailto:me@x.example) t (https://t.example) alt "
        "https://auto.example\n\n- one\n- two\n\nquoted heading\n\n\u00a9 2024  AT&T &bogus;\n"
    )


# --- json rules ------------------------------------------------------------------------------


def test_json_documents_are_pretty_printed_in_order() -> None:
    text = ' {"b": 1, "a": [1, 2, {"c": "\u00e9"}], "n": null}\n'
    assert format_text(text, "json") == (
        '{\n  "b": 1,\n  "a": [\n    1,\n    2,\n    {\n      "c": "\u00e9"\n    }\n  ],\n'
        '  "n": null\n}'
    )


@pytest.mark.parametrize(
    "text", ["[1, 2", "[NaN]", '{"a": Infinity}', "42", '"quoted"', "[" * 5000 + "]" * 5000]
)
def test_json_of_non_documents_describes_the_text(text: str) -> None:
    document = json.loads(format_text(text, "json"))
    assert document["text"] == text
    assert document["character_count"] == len(text)


def test_json_counts() -> None:
    document = json.loads(format_text("  one two\n\nthree  \n\n\n four five six \n", "json"))
    assert document == {
        "text": "one two\n\nthree  \n\n\n four five six",
        "lines": ["one two", "three", " four five six"],
        "paragraphs": ["one two", "three", " four five six"],
        "word_count": 6,
        "character_count": 33,
    }


# --- bounded work ----------------------------------------------------------------------------

PATHOLOGICAL = [
    "*a" * 25_000,
    "**a" * 16_000,
    "`" * 50_000,
    "` `` ``` " * 5_000,
    "[a](" * 12_000,
    "[a](" + "(" * 50_000,
    "<a " * 16_000,
    "<script>" * 6_000,
    "<!--" * 12_000,
    '<a href="' * 5_000,
    "<ul><li>x" * 5_000,
    "> " * 25_000 + "x",
    "".join(" " * i + "- x\n" for i in range(300)),
    "a\n" * 25_000,
    "&amp;" * 10_000,
    "\\" * 50_000,
    "|" * 50_000,
    "[" * 50_000,
]


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_pathological_input_is_handled(text: str) -> None:
    for fmt in FORMATS:
        output = format_text(text, fmt)
        assert isinstance(output, str)
        if fmt == "html":
            assert_safe_html(output)
