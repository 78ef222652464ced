"""MkDocs hook: the "Annotated source" page, generated from minimlp.py at build time.

docco/pycco style, cut along the file's own structure:

- Each section rule of the file (a ``# ----`` banner) becomes a heading, so the page has
  the same sections as the file, listed in the table of contents; the banner's text is
  the section's intro (the module docstring is the intro of the first section, above the
  first rule).
- Each class, method and function is one box (a *row*) that holds all of it, and nothing
  else: the class line with its docstring and attributes, each method, each function,
  the module-level statements between them.
- Inside a box, each comment block sits on the left beside the lines it precedes on the
  right, so the code of a method reads top to bottom in one column, and every comment is
  beside its line.
- Comments keep their lines: an equation line (``∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)``, or any line
  indented further) starts a line of its own; only wrapped prose is joined into a
  paragraph.
- Unicode superscripts and subscripts (``x⁽ˡ⁻¹⁾``, ``wᵀ``, ``Σⱼ``) are set as HTML
  superscripts in the text font, so ``ˡ`` reads as the letter l, not as ¹ (as it does in
  many code fonts), and ``ᵀ`` is the ``⊤`` of the typeset pages.
- In docstrings, ``>>>`` examples and indented code are code blocks; an indented block
  of maths (such as the notation line of the module docstring) is a display line in the
  text font.

The page ``annotated.md`` holds the marker line ``<!-- minimlp:annotated-source -->``,
replaced by Markdown (headings, and ``md_in_html`` divs holding fenced code blocks) that
the site's own Markdown settings then render, so highlighting and the table of contents
work as on any page. Standard library only: building the docs needs neither torch nor
minimlp's imports.
"""

from __future__ import annotations

import ast
import html
import re

from hook_helpers import (
    fence as _fence,
    first_line as _first_line,
    replace_placeholder,
    watch_source,
)

PLACEHOLDER = "<!-- minimlp:annotated-source -->"
FIRST_HEADING = "The file and its imports"  # the part above the first section rule

SECTION_RULE = re.compile(r"^\s*#\s*-{8,}\s*$")
FULL_LINE_COMMENT = re.compile(r"^\s*#(?!!)")  # not a shebang
# A shape note such as `# (N, in) @ (in, out) -> (N, out)` stays in the code, above the
# line it describes.
SHAPE_NOTE = re.compile(r"^\s*#\s*\([^)]*\).*->")
# A comment line that starts an equation: a short left-hand side, then =, +=, ←, ≈ or ~.
EQUATION_START = re.compile(r"^\s*\S+(?: \S+)?\s(?:=|\+=|−=|-=|←|≈|~)\s")
MATH_CHARACTERS = set("⁽⁾ˡᵀ∂ℓ⊙σΣ√←≈ⱼᵢₙ²⁻")

SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿˡᵀᵗˢᴸʲᵏᵐᵉˣ", "0123456789+−=()inl⊤tsLjkmex"))
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ᵢⱼₙₖₘₜₗₓ", "0123456789+−=()ijnkmtlx"))
_SCRIPT_RUN = re.compile(f"[{''.join(SUPERSCRIPTS)}]+|[{''.join(SUBSCRIPTS)}]+")


class Piece:
    """A comment block (or a docstring, then comments) and the code lines it
    precedes."""

    def __init__(self) -> None:
        self.docstring: list[str] = []
        self.comments: list[str] = []
        self.code: list[str] = []

    @property
    def prose(self) -> list[str]:
        return self.docstring + self.comments


class Unit:
    """A box of the page: a heading (a section rule of the file) with its intro, or a
    definition (class header, method, function, module-level statements) cut into
    (prose, code) pieces."""

    def __init__(self, heading: str | None = None) -> None:
        self.heading = heading
        self.intro: list[str] = []  # comment lines (a section rule's text)
        self.docstring: list[str] = []  # the module docstring, under the first heading
        self.pieces: list[Piece] = []


def _docstrings(tree: ast.Module) -> tuple[dict[int, str], set[int]]:
    """Where docstrings go: {first line of the owner (its `def`/`class`, decorators
    included; 1 for the module): cleaned text}, and the set of the docstrings' own
    lines, to leave out of the code."""
    owners: dict[int, str] = {}
    lines: set[int] = set()
    nodes = [tree] + [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for node in nodes:
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            first = 1 if node is tree else _first_line(node)
            text = ast.get_docstring(node, clean=True) or ""
            # reStructuredText's "Example::" introduces an indented literal block; here
            # it is a colon.
            owners[first] = re.sub(r"::$", ":", text, flags=re.MULTILINE)
            lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return owners, lines


_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _unit_starts(tree: ast.Module) -> set[int]:
    """First lines of the boxes: every top-level definition, every method of a class,
    and the first of each run of module-level statements."""
    starts: set[int] = set()
    previous_was_definition = True
    for node in tree.body:
        is_definition = isinstance(node, _DEFINITION)
        if is_definition or previous_was_definition:
            starts.add(_first_line(node))
        if isinstance(node, ast.ClassDef):
            starts.update(
                _first_line(child)
                for child in node.body
                if isinstance(child, _DEFINITION)
            )
        previous_was_definition = is_definition
    return starts


def _comment_text(line: str) -> str:
    """'    # some *prose*' -> 'some *prose*' (keeps any further indentation)."""
    text = line.lstrip()[1:]
    return text[1:] if text.startswith(" ") else text


def units(source: str) -> list[Unit]:
    """Cut the source into the page's boxes, in file order (see the module
    docstring)."""
    tree = ast.parse(source)
    docstring_of, docstring_lines = _docstrings(tree)
    starts = _unit_starts(tree)
    lines = source.splitlines()
    # Comments right above a definition (no blank line between) belong to its box.
    for start in sorted(starts):
        first = start
        while (
            first > 1
            and FULL_LINE_COMMENT.match(lines[first - 2])
            and not SECTION_RULE.match(lines[first - 2])
            and not SHAPE_NOTE.match(lines[first - 2])
        ):
            first -= 1
        if first != start:
            starts.discard(start)
            starts.add(first)

    result: list[Unit] = [Unit(heading=FIRST_HEADING)]
    in_banner = False

    def current() -> Unit:
        return result[-1]

    def piece_for_prose() -> Piece:
        unit = current()
        if not unit.pieces or any(
            c.strip() for c in unit.pieces[-1].code
        ):  # prose after code: a new piece
            unit.pieces.append(Piece())
        return unit.pieces[-1]

    for number, line in enumerate(lines, start=1):
        if SECTION_RULE.match(line):
            in_banner = not in_banner
            if in_banner:
                result.append(Unit(heading=""))
            continue
        if in_banner:
            unit = current()
            text = _comment_text(line) if line.strip() else ""
            if unit.heading == "" and text.strip():
                unit.heading = text.strip()
            elif unit.heading:
                unit.intro.append(text)
            continue
        if (
            number == 1 and number in docstring_of
        ):  # the module docstring: the first section's intro
            result[0].docstring = docstring_of[number].splitlines()
            continue
        if number in docstring_lines and len(result) == 1 and not result[0].pieces:
            continue  # the rest of the module docstring
        if number in starts:
            result.append(Unit())
        if number in docstring_of:
            piece = piece_for_prose()
            piece.docstring = docstring_of[number].splitlines()
        if number in docstring_lines:
            continue
        if FULL_LINE_COMMENT.match(line) and not SHAPE_NOTE.match(line):
            piece_for_prose().comments.append(_comment_text(line))
        elif not line.strip():
            unit = current()
            if unit.pieces and any(c.strip() for c in unit.pieces[-1].code):
                unit.pieces[-1].code.append("")
            elif unit.pieces:
                unit.pieces[-1].comments.append("")
        else:
            unit = current()
            if not unit.pieces:
                unit.pieces.append(Piece())
            unit.pieces[-1].code.append(line)
    # Drop empty pieces and boxes; a heading keeps its intro.
    kept = []
    for unit in result:
        unit.pieces = [
            p for p in unit.pieces if any(x.strip() for x in p.prose + p.code)
        ]
        if unit.heading is not None or unit.pieces:
            kept.append(unit)
    return kept


def split_rows(source: str) -> list[tuple[list[str], list[str]]]:
    """Every (prose lines, code lines) piece of every box, in file order."""
    return [
        (piece.prose, piece.code) for unit in units(source) for piece in unit.pieces
    ]


# ---- Text: superscripts, equation lines, docstrings ----


def _scripts(text: str) -> str:
    """HTML-escaped `text` with runs of Unicode super/subscripts as <sup>/<sub> in
    the text font."""

    def replace(match: re.Match) -> str:
        run = match.group(0)
        if run[0] in SUPERSCRIPTS:
            return (
                "<sup>" + html.escape("".join(SUPERSCRIPTS[c] for c in run)) + "</sup>"
            )
        return "<sub>" + html.escape("".join(SUBSCRIPTS[c] for c in run)) + "</sub>"

    out, last = [], 0
    for match in _SCRIPT_RUN.finditer(text):
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(replace(match))
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def _inline(text: str) -> str:
    """Markdown text with super/subscripts set outside its code spans (`...` stays as
    written)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(
        part if part.startswith("`") else _scripts_markdown(part) for part in parts
    )


def _scripts_markdown(text: str) -> str:
    """Like _scripts, but leaves Markdown's own characters (*, _, <, &) as they are."""
    return _SCRIPT_RUN.sub(lambda m: _scripts(m.group(0)), text)


def _equation_html(text: str) -> str:
    """An equation line as HTML: code spans as <code>, the rest with
    super/subscripts."""
    parts = re.split(r"(`[^`]*`)", text.strip())
    return "".join(
        f"<code>{html.escape(p[1:-1])}</code>" if p.startswith("`") else _scripts(p)
        for p in parts
    )


def _is_equation(line: str, base_indent: int) -> bool:
    indent = len(line) - len(line.lstrip())
    return indent > base_indent or bool(EQUATION_START.match(line))


def comment_markdown(lines: list[str]) -> str:
    """Comment lines as Markdown: paragraphs at blank lines; an equation line (or one
    indented further than the block) on a line of its own; wrapped prose joined."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    out = []
    for paragraph in (p for p in paragraphs if p):
        base = min(len(line) - len(line.lstrip()) for line in paragraph)
        if all(len(line) - len(line.lstrip()) > base for line in paragraph) or all(
            len(line) - len(line.lstrip()) >= 4 for line in paragraph
        ):
            base = -1  # an indented block: all display lines
        visual: list[tuple[bool, str]] = []  # (is an equation line, text)
        for line in paragraph:
            equation = base < 0 or _is_equation(line, base)
            if visual and not equation and not visual[-1][0]:
                visual[-1] = (False, visual[-1][1] + " " + line.strip())
            elif (
                visual
                and not equation
                and visual[-1][0]
                and not _ends_equation(visual[-1][1])
            ):
                visual[-1] = (
                    True,
                    visual[-1][1] + " " + line.strip(),
                )  # the equation's sentence goes on
            else:
                visual.append((equation, line.strip()))
        rendered = [
            (
                f'<span class="annotated-equation">{_equation_html(text)}</span>'
                if equation
                else _inline(text)
            )
            for equation, text in visual
        ]
        out.append("<br>\n".join(rendered))
    return "\n\n".join(out)


_CONTINUES = re.compile(
    r"(?:[,;]|\b(?:a|an|the|and|or|of|to|is|by|as|with|for|in|that|from))\s*$"
)


def _ends_equation(text: str) -> bool:
    """Does an equation line end there, or does the sentence that follows it on the
    same comment line (`x = ... . Subtracting ...`) go on to the next comment line?"""
    wrapped_sentence = ". " in text and not text.rstrip().endswith((".", ":"))
    return not (_CONTINUES.search(text) or wrapped_sentence)


def docstring_markdown(lines: list[str]) -> str:
    """A docstring as Markdown: `>>>` examples as pycon blocks, indented code as
    Python blocks, indented maths as display lines, the rest as Markdown prose with
    super/subscripts set."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i].strip())
                i += 1
            out += ["", "```pycon", *block, "```", ""]
            continue
        if (
            line.startswith("    ")
            and line.strip()
            and (i == 0 or not lines[i - 1].strip())
        ):
            block = []
            while i < len(lines) and (
                lines[i].startswith("    ") or not lines[i].strip()
            ):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            text = "\n".join(block)
            if MATH_CHARACTERS & set(text):
                out += [
                    "",
                    '<p class="annotated-display">'
                    + "<br>".join(_equation_html(b) for b in block if b.strip())
                    + "</p>",
                    "",
                ]
            else:
                code = "\n".join(b[4:] for b in block)
                out += ["", "```python", code, "```", ""]
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out).strip()


def _cell(kind: str, markdown: str) -> str:
    return f'<div class="annotated-{kind}" markdown>\n\n{markdown}\n\n</div>\n'


def render_markdown(source: str) -> str:
    """The page: a heading per section of the file, a box per definition (see the
    module docstring)."""
    parts = []
    for unit in units(source):
        if unit.heading is not None:
            parts.append(f"## {_inline(unit.heading)}\n")
            intro = (
                docstring_markdown(unit.docstring)
                if unit.docstring
                else comment_markdown(unit.intro)
            )
            if intro:
                parts.append(
                    f'<div class="annotated-intro" markdown>\n\n{intro}\n\n</div>\n'
                )
        if not unit.pieces:
            continue
        cells = []
        for piece in unit.pieces:
            prose_md = "\n\n".join(
                text
                for text in (
                    docstring_markdown(piece.docstring),
                    comment_markdown(piece.comments),
                )
                if text
            )
            code = list(piece.code)
            while code and not code[-1].strip():
                code.pop()
            code_md = ""
            if code:
                body = "\n".join(code)
                fence = _fence(body)
                code_md = f"{fence}python\n{body}\n{fence}"
            cells.append(_cell("prose", prose_md) + _cell("code", code_md))
        parts.append(
            '<div class="annotated-row" markdown>\n' + "".join(cells) + "</div>\n"
        )
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    return replace_placeholder(markdown, PLACEHOLDER, config, render_markdown)


def on_serve(server, config, builder, **kwargs):
    return watch_source(server, config)
