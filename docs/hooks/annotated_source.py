"""MkDocs hook: the "Annotated source" page, generated from minimlp.py at build time.

docco/pycco style: the file is cut into rows; each row is a block of comment prose
(Markdown with $...$ math) on the left and the code that block precedes on the right.

- Full-line comments and docstrings become prose; trailing comments stay with their code.
- Section rules (``# -----``) are dropped; ``# ## Title`` lines become page headings (and TOC entries).

The page ``annotated.md`` holds the marker line ``<!-- minimlp:annotated-source -->``, replaced by
Markdown rows (``md_in_html`` divs with a fenced code block) that the site's own Markdown settings
then render, so math, highlighting and the table of contents work as on any page.
Standard library only: building the docs needs neither torch nor minimlp's imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PLACEHOLDER = "<!-- minimlp:annotated-source -->"
SOURCE_NAME = "minimlp.py"

SECTION_RULE = re.compile(r"^\s*#\s*-{8,}\s*$")
FULL_LINE_COMMENT = re.compile(r"^\s*#(?!!)")  # not a shebang
# A shape note such as `# (N, in) @ (in, out) -> (N, out)` stays in the code, above the line it describes.
SHAPE_NOTE = re.compile(r"^\s*#\s*\([^)]*\).*->")


def _source_path(config) -> Path:
    return Path(config.config_file_path).resolve().parent / SOURCE_NAME


def _docstrings(tree: ast.Module) -> tuple[dict[int, str], set[int]]:
    """Where docstrings go: {first line of the owner (its `def`/`class`, decorators included; 1 for the
    module): cleaned text}, and the set of the docstrings' own lines, to leave out of the code."""
    owners: dict[int, str] = {}
    lines: set[int] = set()
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in nodes:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            first = 1 if node is tree else min([node.lineno] + [d.lineno for d in node.decorator_list])
            text = ast.get_docstring(node, clean=True) or ""
            # reStructuredText's "Example::" introduces an indented literal block; in Markdown the
            # indented block is already code, so the double colon becomes a plain one.
            owners[first] = re.sub(r"::$", ":", text, flags=re.MULTILINE)
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return owners, lines


def _comment_text(line: str) -> str:
    """'    # some *prose*' -> 'some *prose*' (keeps any further indentation, for Markdown lists)."""
    text = line.lstrip()[1:]
    return text[1:] if text.startswith(" ") else text


def _space_display_math(lines: list[str]) -> list[str]:
    """Put blank lines around $$...$$ blocks, so arithmatex sees them as display math."""
    out: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        opens = not inside and stripped.startswith("$$")
        if opens:
            out.append("")
            inside = not (len(stripped) > 2 and stripped.endswith("$$"))
            out.append(line)
            if not inside:
                out.append("")
        elif inside:
            out.append(line)
            if stripped.endswith("$$"):
                inside = False
                out.append("")
        else:
            out.append(line)
    return out


def split_rows(source: str) -> list[tuple[list[str], list[str]]]:
    """Cut the source into (prose lines, code lines) rows, in file order.

    A row starts at a comment that follows code. A docstring is prose for the row that starts at its
    owner's `def`/`class` line, so the signature stays next to what the docstring says about it.
    """
    docstring_of, docstring_lines = _docstrings(ast.parse(source))
    rows: list[tuple[list[str], list[str]]] = [([], [])]

    def add_prose(lines: list[str], paragraph: bool = False) -> None:
        if any(c.strip() for c in rows[-1][1]):  # prose after code: a new row
            rows.append(([], []))
        prose = rows[-1][0]
        if paragraph and prose:
            prose.append("")
        prose.extend(lines)

    for number, line in enumerate(source.splitlines(), start=1):
        if number in docstring_of:
            add_prose(docstring_of[number].splitlines() + [""], paragraph=True)
        if number in docstring_lines or SECTION_RULE.match(line):
            continue
        code = rows[-1][1]
        if FULL_LINE_COMMENT.match(line) and not SHAPE_NOTE.match(line):
            add_prose([_comment_text(line)])
        elif not line.strip():
            (code if any(c.strip() for c in code) else rows[-1][0]).append("")
        else:
            code.append(line)
    return [(prose, code) for prose, code in rows if any(p.strip() for p in prose) or any(c.strip() for c in code)]


def _fence(code: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(source: str) -> str:
    """The rows as Markdown: a two-column grid per row (md_in_html), code as a fenced block."""
    parts = []
    for prose, code in split_rows(source):
        while code and not code[-1].strip():
            code.pop()
        prose_md = "\n".join(_space_display_math(prose)).strip()
        code_md = ""
        if code:
            body = "\n".join(code)
            fence = _fence(body)
            code_md = f"{fence}python\n{body}\n{fence}"
        parts.append(
            '<div class="annotated-row" markdown>\n'
            '<div class="annotated-prose" markdown>\n\n'
            f"{prose_md}\n\n"
            "</div>\n"
            '<div class="annotated-code" markdown>\n\n'
            f"{code_md}\n\n"
            "</div>\n"
            "</div>\n"
        )
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    source = _source_path(config).read_text(encoding="utf-8")
    return markdown.replace(PLACEHOLDER, render_markdown(source))


def on_serve(server, config, builder, **kwargs):
    # `mkdocs serve` rebuilds when minimlp.py changes, not only when docs/ does.
    server.watch(str(_source_path(config)))
    return server
