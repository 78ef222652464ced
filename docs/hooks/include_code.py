"""MkDocs hook: show code from minimlp.py by its qualified name, found with ``ast`` at
build time.

A page line that holds only

    <!-- minimlp:code Dense.backward -->

becomes a fenced ``python`` block with the source of ``Dense.backward`` exactly as in
the file (decorators, docstring and comments included), dedented to column 0. Names:

- ``fit``, ``gradcheck``: a top-level function; ``Identity``: a whole class;
- ``Dense.backward``: a method (``Class.method``, any depth of nesting);
- ``Module(__init__, forward, backward)``: a class shown in part: its ``class`` line,
  its docstring, its class attributes and the listed methods, in file order; a line
  ``...`` stands where methods are left out.

A name that is not in the file (or a listed method that the class lacks) is logged as an
error naming the page and the name, so ``mkdocs build --strict`` fails, and the page
shows a failure box in its place (``mkdocs serve`` keeps running while you fix it).

Code of another Python file of ``docs/`` is named the same way after its path and a
colon: ``<!-- minimlp:code pytorch/equivalence.py:train_torch -->``.

The directive may be indented (inside a list or an admonition): the block gets the same
indent. Nothing else in the page changes, and minimlp.py needs no markers: the name is
the anchor.

A line ``<!-- minimlp:include performance_table.md -->`` includes a file of ``docs/``: a
Markdown file as it is (the table that ``bench.py`` writes), any other file as a fenced
block (``.py`` as Python, anything else as text) titled with its name, or with the title
given in quotes after the path: ``<!-- minimlp:include homework/2021/output.txt "python
test.py" -->``. A missing file is an error in the same way.

Standard library only: building the docs needs neither torch nor minimlp's imports.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
from pathlib import Path

from hook_helpers import (
    SOURCE_NAME,
    fence as _fence,
    first_line as _first_line,
    read_source,
    watch_source,
)

CODE = re.compile(
    r"^(?P<indent>[ \t]*)<!--\s*minimlp:code\s+(?P<name>[^>]*?)\s*-->[ \t]*$",
    re.MULTILINE,
)
INCLUDE = re.compile(
    r'^(?P<indent>[ \t]*)<!--\s*minimlp:include\s+(?P<path>[^>\s"]+)'
    r'(?:\s+"(?P<title>[^"]*)")?\s*-->[ \t]*$',
    re.MULTILINE,
)
QUALIFIED = re.compile(
    r"^(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\((?P<members>[\w\s,]*)\))?$"
)

log = logging.getLogger(
    "mkdocs.hooks.include_code"
)  # under "mkdocs": counted by --strict

_Definition = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class NameNotFound(LookupError):
    """The qualified name (or one of its listed members) is not defined in the
    source."""


def _children(node: ast.AST) -> dict[str, ast.AST]:
    return {
        child.name: child
        for child in getattr(node, "body", [])
        if isinstance(child, _Definition)
    }


def find(tree: ast.Module, path: str) -> ast.AST:
    """The definition that the dotted `path` names (`Dense.backward`), or
    NameNotFound."""
    node: ast.AST = tree
    for depth, part in enumerate(path.split(".")):
        found = _children(node).get(part)
        if found is None:
            where = SOURCE_NAME if depth == 0 else ".".join(path.split(".")[:depth])
            raise NameNotFound(f"{path!r}: {where} defines no {part!r}")
        node = found
    return node


def _lines(source_lines: list[str], first: int, last: int) -> list[str]:
    return source_lines[first - 1 : last]


def extract(source: str, name: str) -> str:
    """The source text that `name` (see the module docstring) stands for, dedented."""
    match = QUALIFIED.match(name.strip())
    if match is None:
        raise NameNotFound(
            f"{name!r} is not a qualified name such as Dense.backward or "
            "Module(forward)"
        )
    tree = ast.parse(source)
    lines = source.splitlines()
    node = find(tree, match.group("path"))
    if match.group("members") is None:
        return textwrap.dedent(
            "\n".join(_lines(lines, _first_line(node), node.end_lineno))
        )
    if not isinstance(node, ast.ClassDef):
        raise NameNotFound(
            f"{name!r}: a list of members needs a class, and "
            f"{match.group('path')} is not one"
        )
    wanted = [m for m in re.split(r"[\s,]+", match.group("members")) if m]
    members = _children(node)
    missing = [m for m in wanted if m not in members]
    if missing:
        raise NameNotFound(
            f"{name!r}: class {match.group('path')} defines no "
            + ", ".join(map(repr, missing))
        )
    body = node.body
    has_docstring = (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    header_end = body[0].end_lineno if has_docstring else body[0].lineno - 1
    header_end = max(
        header_end, node.lineno
    )  # the `class` line, however many lines it takes
    out = _lines(lines, _first_line(node), header_end)
    indent = re.match(r"[ \t]*", lines[body[0].lineno - 1]).group(0)
    skipped = False
    for child in body[1:] if has_docstring else body:
        if not isinstance(child, _Definition) or child.name in wanted:
            if skipped or out[-1].strip():
                out.append("")
            if skipped:
                out += [f"{indent}...", ""]
            out += _lines(lines, _first_line(child), child.end_lineno)
            skipped = False
        else:
            skipped = True
    if skipped:
        out += ["", f"{indent}..."]
    return textwrap.dedent("\n".join(out))


def code_block(source: str, name: str, file_name: str = SOURCE_NAME) -> str:
    """`name` as a fenced Python block whose title says where it comes from."""
    code = extract(source, name)
    fence = _fence(code)
    shown = QUALIFIED.match(name.strip()).group("path")
    title = f"{file_name}: {shown}" + (" (in part)" if "(" in name else "")
    return f'{fence}python title="{title}"\n{code}\n{fence}'


def _failure(indent: str, message: str) -> str:
    return "\n".join(
        indent + line for line in ("!!! failure \"Missing code\"", "", f"    {message}")
    )


def render(markdown: str, source: str, docs_dir: Path, page_name: str = "page") -> str:
    """Replace every directive of the page; log an error for each name or file that
    does not exist."""

    def code(match: re.Match) -> str:
        indent, name, text, file_name = (
            match.group("indent"),
            match.group("name"),
            source,
            SOURCE_NAME,
        )
        try:
            if ":" in name:  # another file of docs/: path.py:Name
                relative, name = name.split(":", 1)
                path = (docs_dir / relative).resolve()
                if docs_dir.resolve() not in path.parents or not path.is_file():
                    raise NameNotFound(f"{relative!r}: no such file in docs/")
                text, file_name = path.read_text(encoding="utf-8"), path.name
            block = code_block(text, name, file_name)
        except NameNotFound as error:
            log.error(
                f"{page_name}: <!-- minimlp:code {match.group('name')} -->: {error}"
            )
            return _failure(indent, f"`{match.group('name')}` was not found.")
        return "\n".join(indent + line if line else line for line in block.split("\n"))

    def include(match: re.Match) -> str:
        path = (docs_dir / match.group("path")).resolve()
        if docs_dir.resolve() not in path.parents or not path.is_file():
            log.error(
                f"{page_name}: <!-- minimlp:include {match.group('path')} -->: "
                "no such file in docs/"
            )
            return _failure(
                match.group("indent"), f"`{match.group('path')}` is missing."
            )
        text = path.read_text(encoding="utf-8").rstrip("\n")
        if path.suffix != ".md":
            fence = _fence(text)
            language = "python" if path.suffix == ".py" else "text"
            title = match.group("title") or path.name
            text = f'{fence}{language} title="{title}"\n{text}\n{fence}'
        return "\n".join(
            match.group("indent") + line if line else line for line in text.split("\n")
        )

    return CODE.sub(code, INCLUDE.sub(include, markdown))


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if "minimlp:code" not in markdown and "minimlp:include" not in markdown:
        return markdown
    return render(
        markdown, read_source(config), Path(config.docs_dir), page.file.src_uri
    )


def on_serve(server, config, builder, **kwargs):
    return watch_source(server, config)
