"""Generate the two exercise skeletons from `minimlp.py`.

    python exercises/make_student.py           # (re)write both skeletons
    python exercises/make_student.py --check   # exit 1 if a committed skeleton is stale

Both skeletons are `minimlp.py` with the body of each exercise method replaced
by `raise NotImplementedError("exercise N: ...")`. The methods are found by
their qualified name (`Dense.backward`) with `ast`, so `minimlp.py` needs no
markers, and everything outside the exercises stays: a finished skeleton is a
working framework.

- **guided** (`exercises/minimlp_student.py`): the docstring and the comments
  of each exercise stay, so the equations sit above the place where the code
  goes. What would hand over the code itself goes: shape comments of the
  products (`# (out, N) @ (N, in) -> (out, in)`) and any sentence that names
  code (backticks, a method call such as `s.sign()`, `dim=`, `keepdim`, torch,
  speed notes). A trailing comment (`self.input = x  # saved: ...`) is kept as
  a comment line of its own, and all comments are put at the indentation of
  the body, since the loops and branches around them are gone.
- **derive** (`exercises/minimlp_derive.py`): the body keeps nothing of
  `minimlp.py`. It says only what the method must compute, from what, and the
  shapes (the TASKS below); the student derives the rest on paper, and checks
  the derivation against docs/backprop.md afterwards.

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

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "minimlp.py"
TARGETS = {"guided": ROOT / "exercises" / "minimlp_student.py",
           "derive": ROOT / "exercises" / "minimlp_derive.py"}
TARGET = TARGETS["guided"]
WIDTH = 88  # the longest line of minimlp.py

# The exercises, in the order of the file and of the docs page
# (docs/exercises.md): every forward, backward and step. The number of an
# exercise is its position here, counted from 1.
EXERCISES = (
    "Dense.forward",
    "Dense.backward",
    "ReLU.forward",
    "ReLU.backward",
    "Tanh.forward",
    "Tanh.backward",
    "Sigmoid.forward",
    "Sigmoid.backward",
    "Identity.forward",
    "Identity.backward",
    "Softmax.forward",
    "Softmax.backward",
    "Dropout.forward",
    "Dropout.backward",
    "Sequential.forward",
    "Sequential.backward",
    "MSELoss.forward",
    "MSELoss.backward",
    "CrossEntropyLoss.forward",
    "CrossEntropyLoss.backward",
    "SGD.step",
    "Adam.step",
)

# The derive level: what each method must compute, from what, and the shapes;
# never how (no equation for a gradient: that is the exercise).
SAVE = "Save on self what your backward will need."
TASKS = {
    "Dense.forward": "Return s = x wᵀ + b for x (N, in), with w = self.weight (out, in) and "
                     "b = self.bias (out,); s is (N, out). " + SAVE,
    "Dense.backward": "grad_output is ∂ℓ/∂s (N, out), for the s of the last forward. Add "
                      "∂ℓ/∂w (out, in) into self.grad_weight and ∂ℓ/∂b (out,) into "
                      "self.grad_bias, in place (gradients add up until zero_grad), and "
                      "return ∂ℓ/∂x (N, in). Derive one entry of each, then write it for the "
                      "whole batch.",
    "ReLU.forward": "Return x = max(0, s), entry by entry; s and x are (N, C). " + SAVE,
    "ReLU.backward": "grad_output is ∂ℓ/∂x (N, C), for the x = max(0, s) of the last "
                     "forward. Return ∂ℓ/∂s (N, C).",
    "Tanh.forward": "Return x = tanh(s), entry by entry; s and x are (N, C). " + SAVE,
    "Tanh.backward": "grad_output is ∂ℓ/∂x (N, C), for the x = tanh(s) of the last forward. "
                     "Return ∂ℓ/∂s (N, C), using what forward already computed.",
    "Sigmoid.forward": "Return x = σ(s) = 1 / (1 + e⁻ˢ), entry by entry; s and x are (N, C). "
                       "It must be finite, never NaN, for every s (try s = ±1000). " + SAVE,
    "Sigmoid.backward": "grad_output is ∂ℓ/∂x (N, C), for the x = σ(s) of the last forward. "
                        "Return ∂ℓ/∂s (N, C), using what forward already computed.",
    "Identity.forward": "Return x = s.",
    "Identity.backward": "grad_output is ∂ℓ/∂x; return ∂ℓ/∂s.",
    "Softmax.forward": "Return x (N, C) with xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row of s (N, C). It "
                       "must stay finite for large scores (try s = 1000). " + SAVE,
    "Softmax.backward": "grad_output is ∂ℓ/∂x (N, C), for the x = softmax(s) of the last "
                        "forward. Return ∂ℓ/∂s (N, C). Every xᵢ of a row depends on every sⱼ "
                        "of that row.",
    "Dropout.forward": "In training (self.training): zero each entry of x (N, C) with "
                       "probability p = self.p, drawing anew at every call (with "
                       "self.generator), and scale the entries kept so that each keeps its "
                       "mean. In eval mode: return x as it is. " + SAVE,
    "Dropout.backward": "grad_output is ∂ℓ/∂(output) (N, C), for the last forward. Return "
                        "∂ℓ/∂x (N, C).",
    "Sequential.forward": "Return the output of the modules in self.modules applied in "
                          "turn to x, the first one first. " + SAVE,
    "Sequential.backward": "grad_output is ∂ℓ/∂x⁽ᴸ⁾, the gradient of the network's output "
                           "(what the loss's backward returns). Every module must add its "
                           "parameter gradients; return ∂ℓ/∂x⁽⁰⁾, of the shape of the input.",
    "MSELoss.forward": "Return ℓ, a 0-dim tensor: the mean (self.reduction == 'mean') or the "
                       "sum ('sum') of (x − y)² over all the entries of the prediction x "
                       "(N, C) and the target y of the same shape. " + SAVE,
    "MSELoss.backward": "Return ∂ℓ/∂x (N, C), for the prediction x of the last forward. (A "
                        "loss's backward takes no argument: it starts backpropagation.)",
    "CrossEntropyLoss.forward": "logits are the scores s (N, C), target the class indices y "
                                "(N,). Return ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ], a 0-dim "
                                "tensor. It must stay finite for large logits (try s = "
                                "1000). " + SAVE,
    "CrossEntropyLoss.backward": "Return ∂ℓ/∂s (N, C), for the logits s of the last forward: "
                                 "derive it through softmax and log together.",
    "SGD.step": "Update every pair (w, ∂ℓ/∂w) of self.params once, in place, as the class "
                "docstring says: weight decay λ = self.weight_decay, momentum μ = "
                "self.momentum with a velocity per parameter in self.velocity (0 before the "
                "first step), learning rate η = self.lr read at every step. Never change a "
                "gradient.",
    "Adam.step": "Update every pair (w, ∂ℓ/∂w) of self.params once, in place, with Adam "
                 "(Kingma & Ba 2015, Algorithm 1): running means self.m of the gradient and "
                 "self.v of its square, both corrected for their start at 0; the step count "
                 "self.t; β₁, β₂ = self.betas, ε = self.eps, η = self.lr; weight decay λ = "
                 "self.weight_decay added to the gradient first. Never change a gradient.",
}

HEADERS = {
    "guided": """\
# ---------------------------------------------------------------------------
# Exercise skeleton, guided level: generated from minimlp.py by
# exercises/make_student.py. The body of each of the {count} exercises (every
# forward, backward and step, from Dense.forward to Adam.step) is a
# `raise NotImplementedError("exercise N: ...")` under the equations it must
# compute. Copy this file, write the code under each equation, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. To derive the equations yourself, take minimlp_derive.py.
# ---------------------------------------------------------------------------
""",
    "derive": """\
# ---------------------------------------------------------------------------
# Exercise skeleton, derive level: generated from minimlp.py by
# exercises/make_student.py. The body of each of the {count} exercises (every
# forward, backward and step, from Dense.forward to Adam.step) says only what
# the method must compute and the shapes, then raises
# `NotImplementedError("exercise N: ...")`. Derive each backward on paper
# (one entry first, then the whole batch), write it, and run
#     python exercises/check.py your_copy.py
# which says for every exercise PASS, TODO, WAIT (an earlier exercise first)
# or FAIL, and why. Then compare your derivation with docs/backprop.md.
# ---------------------------------------------------------------------------
""",
}

# Comments that would hand over the code: a sentence that names code, and a
# shape comment of a product, "(out, N) @ (N, in) -> (out, in)".
GIVEAWAY = re.compile(r"`|\b[A-Za-z_]\w*\.[A-Za-z_]\w*\(|\bsign\(|\b(?:dim|keepdim|alpha)\s*="
                      r"|\bkeepdim\b|\btorch\b|\b(?:faster|slower)\b")
SHAPE_HINT = re.compile(r"^\(.*->|\s@\s")


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
        lines += [f"{indent}# {line}\n" for line in _wrap(kept, WIDTH - len(indent) - 2)]
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width`, never breaking a shape such as (out, in)."""
    glued = re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\0"), text)
    return [line.replace("\0", " ") for line in
            textwrap.wrap(glued, width, break_long_words=False, break_on_hyphens=False)]


def derive_comments(name: str, indent: str) -> list[str]:
    """The task of a derive exercise, as comment lines."""
    if name not in TASKS:
        raise LookupError(f"make_student: no derive-level task for {name}; add it to TASKS")
    return [f"{indent}# {line}\n" for line in _wrap(TASKS[name], WIDTH - len(indent) - 2)]


def make_student(source: str, level: str = "guided") -> str:
    """The skeleton's text, at `level` ("guided" or "derive"), for the text of
    minimlp.py."""
    if level not in HEADERS:
        raise ValueError(f"make_student: level must be 'guided' or 'derive', got {level!r}")
    tree = ast.parse(source)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    replacements = []  # (first line to replace, last line, new lines), 1-based inclusive
    for number, name in enumerate(EXERCISES, start=1):
        function = find_function(tree, name)
        indent = " " * function.body[0].col_offset
        header_end = _header_end(tokens, function)
        docstring_end = _docstring_end(function)
        if level == "guided":
            keep_until = docstring_end or header_end
            comments = _comments(tokens, keep_until + 1, function.end_lineno)
            new = guided_comments(comments, indent)
        else:
            keep_until = header_end
            new = derive_comments(name, indent)
        new.append(f'{indent}raise NotImplementedError("exercise {number}: {name}")\n')
        replacements.append((keep_until + 1, function.end_lineno, new))
    for first, last, new in sorted(replacements, reverse=True):
        lines[first - 1:last] = new
    docstring_end = _module_docstring_end(tree)
    header = HEADERS[level].format(count=len(EXERCISES))
    lines[docstring_end:docstring_end] = ["\n", header]
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
                        help="do not write; exit 1 if a committed skeleton is stale")
    args = parser.parse_args(argv)
    source = SOURCE.read_text(encoding="utf-8")
    stale = 0
    for level, target in TARGETS.items():
        text = make_student(source, level)
        name = target.relative_to(ROOT)
        if args.check:
            current = target.read_text(encoding="utf-8") if target.exists() else None
            if current != text:
                print(f"{name} is stale: run python exercises/make_student.py")
                stale = 1
            else:
                print(f"{name} is up to date")
            continue
        target.write_text(text, encoding="utf-8")
        print(f"wrote {name} ({level} level, {len(EXERCISES)} exercises)")
    return stale


if __name__ == "__main__":
    sys.exit(main())
