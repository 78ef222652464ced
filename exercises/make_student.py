"""Generate the exercise skeleton `exercises/minimlp_student.py` from `minimlp.py`.

    python exercises/make_student.py           # (re)write the skeleton
    python exercises/make_student.py --check   # exit 1 if the committed skeleton is stale

The skeleton is `minimlp.py` with the body of each exercise method replaced by
`raise NotImplementedError("exercise N: ...")`. The methods are found by their
qualified name (`Dense.backward`) with `ast`, so `minimlp.py` needs no markers.
Inside an exercise the docstring and every comment stay (the equations: the
student has the maths and writes the code); the code statements go. A trailing
comment (`if decay:  # g <- g + λw`) is kept as a comment line of its own, and
all comments are put at the indentation of the body, since the loops and
branches around them are gone. Everything outside the exercises stays, so a
finished skeleton is a working framework.

Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "minimlp.py"
TARGET = ROOT / "exercises" / "minimlp_student.py"

# The exercises, in the order of the docs page (docs/exercises.md); the number
# of an exercise is its position here, counted from 1.
EXERCISES = (
    "Dense.forward",
    "Dense.backward",
    "ReLU.forward",
    "ReLU.backward",
    "Tanh.forward",
    "Tanh.backward",
    "Sigmoid.forward",
    "Sigmoid.backward",
    "Softmax.backward",
    "MSELoss.forward",
    "MSELoss.backward",
    "CrossEntropyLoss.backward",
    "Sequential.backward",
    "SGD.step",
    "Adam.step",
)

HEADER = """\
# ---------------------------------------------------------------------------
# Exercise skeleton, generated from minimlp.py by exercises/make_student.py.
# The body of each exercise (Dense.forward, Dense.backward, ..., Adam.step) is
# a `raise NotImplementedError("exercise N: ...")` under the equations it must
# compute. Copy this file, write the code under each equation, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO or FAIL, and why.
# ---------------------------------------------------------------------------
"""


def find_function(tree: ast.Module, qualified_name: str) -> ast.FunctionDef:
    """The `def` of `Class.method` (or of a module-level function `name`)."""
    *classes, name = qualified_name.split(".")
    body = tree.body
    for class_name in classes:
        found = [n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name]
        if not found:
            raise LookupError(f"make_student: no class {class_name!r} for {qualified_name}")
        body = found[0].body
    found = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == name]
    if not found:
        raise LookupError(f"make_student: no function {qualified_name} in minimlp.py")
    return found[0]


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
    raise ValueError(f"make_student: cannot find the end of the header of {function.name}")


def _docstring_end(function: ast.FunctionDef) -> int | None:
    first = function.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first.end_lineno
    return None


def _comments(tokens: list, first_line: int, last_line: int) -> list[str]:
    """The text of every comment on lines first_line..last_line, in order."""
    return [token.string for token in tokens
            if token.type == tokenize.COMMENT and first_line <= token.start[0] <= last_line]


def make_student(source: str) -> str:
    """The skeleton's text for the text of minimlp.py."""
    tree = ast.parse(source)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    replacements = []  # (first line to replace, last line, new lines), 1-based inclusive
    for number, name in enumerate(EXERCISES, start=1):
        function = find_function(tree, name)
        indent = " " * function.body[0].col_offset
        docstring_end = _docstring_end(function)
        keep_until = docstring_end or _header_end(tokens, function)
        comments = _comments(tokens, keep_until + 1, function.end_lineno)
        new = [f"{indent}{comment}\n" for comment in comments]
        new.append(f'{indent}raise NotImplementedError("exercise {number}: {name}")\n')
        replacements.append((keep_until + 1, function.end_lineno, new))
    for first, last, new in sorted(replacements, reverse=True):
        lines[first - 1:last] = new
    docstring_end = _module_docstring_end(tree)
    lines[docstring_end:docstring_end] = ["\n", HEADER]
    return "".join(lines)


def _module_docstring_end(tree: ast.Module) -> int:
    first = tree.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return first.end_lineno
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the committed skeleton is stale")
    args = parser.parse_args(argv)
    text = make_student(SOURCE.read_text(encoding="utf-8"))
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else None
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run python exercises/make_student.py")
            return 1
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(EXERCISES)} exercises)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
