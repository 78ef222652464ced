"""Make the two exercise skeletons from `minimlp.py`.

    python exercises/make_skeletons.py           # (re)write both skeletons
    python exercises/make_skeletons.py --check   # exit 1 if one is stale

Both skeletons are `minimlp.py` with the body of each exercise method replaced
by `raise NotImplementedError("exercise N: ...")`. The methods are found by
their qualified name (`Dense.backward`) with `ast`, so `minimlp.py` needs no
markers, and everything outside the exercises stays: a finished skeleton is a
working framework.

- **guided** (`exercises/minimlp_guided.py`): the docstring and the comments
  of each exercise stay, so the equations sit above the place where the code
  goes. What would hand over the code itself goes: shape comments of the
  products (`# (out, N) @ (N, in) -> (out, in)`) and any sentence that names
  code (backticks, a method call such as `s.sign()`, `dim=`, `keepdim`, torch,
  speed notes). A trailing comment (`self.input = x  # saved: ...`) is kept as
  a comment line of its own, and all comments are put at the indentation of
  the body, since the loops and branches around them are gone.
- **derive** (`exercises/minimlp_derive.py`): the body keeps nothing of
  `minimlp.py`. It says only what the method must compute, from what, and the
  shapes (each exercise's `task` in exercises/catalogue.py, which lists the
  exercises); the student derives the rest on paper, and checks the derivation
  against docs/backprop.md afterwards.

Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import textwrap
import tokenize
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python exercises/make_skeletons.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from exercises.catalogue import EXERCISES, find_function  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "minimlp.py"
TARGETS = {
    "guided": ROOT / "exercises" / "minimlp_guided.py",
    "derive": ROOT / "exercises" / "minimlp_derive.py",
}
WIDTH = 88  # the longest line of minimlp.py

HEADERS = {
    "guided": (
        """\
# ---------------------------------------------------------------------------
# Exercise skeleton, guided level: generated from minimlp.py by
# exercises/make_skeletons.py. The body of each of the {count} exercises (every
# forward, backward and step, from Dense.forward to Adam.step) is a
# `raise NotImplementedError("exercise N: ...")` under the equations it must
# compute. Copy this file, write the code under each equation, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. To derive the equations yourself, take minimlp_derive.py.
# ---------------------------------------------------------------------------
"""
    ),
    "derive": (
        """\
# ---------------------------------------------------------------------------
# Exercise skeleton, derive level: generated from minimlp.py by
# exercises/make_skeletons.py. The body of each of the {count} exercises (every
# forward, backward and step, from Dense.forward to Adam.step) says only what
# the method must compute and the shapes, then raises
# `NotImplementedError("exercise N: ...")`. Derive each backward on paper
# (one entry first, then the whole batch), write it, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. Then compare your derivation with docs/backprop.md.
# ---------------------------------------------------------------------------
"""
    ),
}

# Comments that would hand over the code: a sentence that names code, and a
# shape comment of a product, "(out, N) @ (N, in) -> (out, in)".
GIVEAWAY = re.compile(
    r"`|\b[A-Za-z_]\w*\.[A-Za-z_]\w*\(|\bsign\(|\b(?:dim|keepdim|alpha)\s*="
    r"|\bkeepdim\b|\btorch\b|\b(?:faster|slower)\b"
)
SHAPE_HINT = re.compile(r"^\(.*->|\s@\s")


def _header_end(tokens: list, function: ast.FunctionDef) -> int:
    """The line of the colon that ends the `def ...(...) -> ...:` header."""
    depth, started = 0, False
    for token in tokens:
        if token.start[0] < function.lineno:
            continue
        if not started:
            started = token.type == tokenize.NAME and token.string == "def"
            continue
        if token.type == tokenize.OP:
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
            elif token.string == ":" and depth == 0:
                return token.start[0]
    raise ValueError(
        f"make_skeletons: cannot find the end of the header of {function.name}"
    )


def _docstring_end(node: ast.FunctionDef | ast.Module) -> int | None:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.end_lineno
    return None


def _comments(tokens: list, first_line: int, last_line: int) -> list[str]:
    """The text of every comment on lines first_line..last_line, in order, without
    the '#': a run of comment lines on consecutive lines is one block, ended by
    an empty string."""
    found, previous = [], None
    for token in tokens:
        if token.type == tokenize.COMMENT and first_line <= token.start[0] <= last_line:
            if previous is not None and token.start[0] != previous + 1:
                found.append("")
            found.append(token.string[1:])
            previous = token.start[0]
    return found


def _blocks(comments: list[str]) -> list[list[str]]:
    """Comment lines in blocks: a run of lines of prose, or one indented display
    line (`#   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)`), which is never rewrapped."""
    blocks, current = [], []
    for text in comments + [""]:
        display = text.startswith("   ")
        if not text or display:
            if current:
                blocks.append(current)
            current = []
            if display:
                blocks.append([text])
        else:
            current.append(text)
    return blocks


def _keep_sentences(text: str) -> str:
    """`text` without the sentences that hand over code. A sentence that opens
    with an equation keeps it: 'x = 1 / (1 + e⁻ˢ), computed by torch...' keeps
    'x = 1 / (1 + e⁻ˢ)'."""
    kept = []
    for sentence in re.split(r"(?<=\.)\s+", text.strip()):
        if not GIVEAWAY.search(sentence):
            kept.append(sentence)
            continue
        clauses, depth, start, prefix = [], 0, 0, []
        for i, char in enumerate(sentence):
            depth += char in "([" and 1 or (char in ")]" and -1 or 0)
            if depth == 0 and sentence.startswith((", ", "; ", ": "), i):
                clauses.append(sentence[start:i])
                start = i + 2
        clauses.append(sentence[start:])
        for clause in clauses:
            if GIVEAWAY.search(clause):
                break
            prefix.append(clause)
        opening = ", ".join(prefix)
        if prefix and re.search(r"=|←", opening) and not opening[:1].isupper():
            kept.append(opening + ".")
    return " ".join(kept)


def guided_comments(comments: list[str], indent: str) -> list[str]:
    """The comment lines a guided exercise keeps, at the body's indentation."""
    lines = []
    for block in _blocks(comments):
        block = [text for text in block if not SHAPE_HINT.search(text.strip())]
        if not block:
            continue
        if not any(GIVEAWAY.search(text) for text in block):
            lines += [f"{indent}#{text}\n" for text in block]
            continue
        kept = _keep_sentences(" ".join(text.strip() for text in block))
        lines += [
            f"{indent}# {line}\n" for line in _wrap(kept, WIDTH - len(indent) - 2)
        ]
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, never breaking a shape such as (out, in)."""
    glued = re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\0"), text)
    return [
        line.replace("\0", " ")
        for line in textwrap.wrap(
            glued, width, break_long_words=False, break_on_hyphens=False
        )
    ]


def derive_comments(task: str, indent: str) -> list[str]:
    """The task of a derive exercise, as comment lines."""
    return [f"{indent}# {line}\n" for line in _wrap(task, WIDTH - len(indent) - 2)]


def make_skeleton(source: str, level: str = "guided") -> str:
    """The skeleton's text, at `level` ("guided" or "derive"), for the text of
    minimlp.py."""
    if level not in HEADERS:
        raise ValueError(
            f"make_skeleton: level must be 'guided' or 'derive', got {level!r}"
        )
    tree = ast.parse(source)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    replacements = (
        []
    )  # (first line to replace, last line, new lines), 1-based inclusive
    for exercise in EXERCISES:
        function = find_function(tree, exercise.name)
        indent = " " * function.body[0].col_offset
        header_end = _header_end(tokens, function)
        docstring_end = _docstring_end(function)
        if level == "guided":
            keep_until = docstring_end or header_end
            comments = _comments(tokens, keep_until + 1, function.end_lineno)
            new = guided_comments(comments, indent)
        else:
            keep_until = header_end
            new = derive_comments(exercise.task, indent)
        new.append(
            f'{indent}raise NotImplementedError('
            f'"exercise {exercise.number}: {exercise.name}")\n'
        )
        replacements.append((keep_until + 1, function.end_lineno, new))
    for first, last, new in sorted(replacements, reverse=True):
        lines[first - 1 : last] = new
    docstring_end = _docstring_end(tree) or 0  # 0: no module docstring
    header = HEADERS[level].format(count=len(EXERCISES))
    lines[docstring_end:docstring_end] = ["\n", header]
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if a committed skeleton is stale",
    )
    args = parser.parse_args(argv)
    source = SOURCE.read_text(encoding="utf-8")
    stale = 0
    for level, target in TARGETS.items():
        text = make_skeleton(source, level)
        name = target.relative_to(ROOT)
        if args.check:
            current = target.read_text(encoding="utf-8") if target.exists() else None
            if current != text:
                print(f"{name} is stale: run python exercises/make_skeletons.py")
                stale = 1
            else:
                print(f"{name} is up to date")
            continue
        target.write_text(text, encoding="utf-8")
        print(f"wrote {name} ({level} level, {len(EXERCISES)} exercises)")
    return stale


if __name__ == "__main__":
    sys.exit(main())
