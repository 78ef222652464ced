"""Comparing the numbers a method gave with the right ones, and saying how
they differ in words: the vocabulary that the harness and the graders share.
No grading happens here.
"""

from __future__ import annotations

import torch

F64 = torch.float64


def is_tensor(value) -> bool:
    return isinstance(value, torch.Tensor)


def close(got, expected) -> bool:
    return (
        is_tensor(got)
        and got.shape == expected.shape
        and bool(torch.isfinite(got).all() or not torch.isfinite(expected).all())
        and torch.allclose(
            got.to(F64), expected.to(F64), rtol=1e-6, atol=1e-9, equal_nan=True
        )
    )


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "None"
    if not is_tensor(value):
        text = " ".join(repr(value).split())
        return f"{shorten(text, 120)} (a {type(value).__name__}, not a tensor)"
    if value.dim() == 0:
        number = value.item()
        return (
            f"{number + 0.0:.{digits}g}" if isinstance(number, float) else str(number)
        )
    if value.dim() > 2 or value.numel() > 12:
        return f"a tensor of shape {tuple(value.shape)}"
    return "[" + ", ".join(fmt(row, digits) for row in value) + "]"


def fmt_pair(expected, got) -> tuple:
    """`expected` and `got` as text, with enough digits that two different values
    never print the same."""
    if (
        is_tensor(expected)
        and is_tensor(got)
        and expected.shape == got.shape
        and expected.numel() > 12
        and expected.dim() > 0
    ):
        difference = (got.to(F64) - expected.to(F64)).abs().nan_to_num(nan=float("inf"))
        flat, index = int(difference.argmax()), []
        for size in reversed(got.shape):
            flat, position = divmod(flat, size)
            index.insert(0, position)
        where = f"a tensor of shape {tuple(got.shape)} with {index_text(index)} = "
        return tuple(
            where + text for text in fmt_pair(expected[tuple(index)], got[tuple(index)])
        )
    for digits in (4, 6, 8, 12, 17):
        a, b = fmt(expected, digits), fmt(got, digits)
        if a != b:
            return a, b
    return a, b


def index_text(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def differing(quantity: str, got, expected) -> str:
    """Which entries of `got` differ from `expected`, and by how much, e.g.
    '2 of 4 entries of ∂ℓ/∂s differ (row 1 only): ∂ℓ/∂s[1, 0] is 0.5, expected -2; ...'.
    """
    if not (is_tensor(got) and got.shape == expected.shape):
        return ""
    got, expected = got.to(F64), expected.to(F64)
    if got.dim() == 0:
        return (
            f"{quantity} is {got.item():.6g}, expected {expected.item():.6g} "
            f"(a difference of {(got - expected).abs().item():.3g})"
        )
    bad = ~torch.isclose(got, expected, rtol=1e-6, atol=1e-9, equal_nan=True)
    where = bad.nonzero().tolist()
    if not where:
        return ""
    total = got.numel()
    pattern = ""
    if got.dim() == 2 and len(where) < total:
        rows, columns = {i for i, _ in where}, {j for _, j in where}
        if len(rows) == 1 and got.shape[0] > 1:
            pattern = f" (row {rows.pop()} only)"
        elif len(columns) == 1 and got.shape[1] > 1:
            pattern = f" (column {columns.pop()} only)"
    difference = (got - expected).abs().nan_to_num(nan=float("inf"))
    flat, worst_index = int(difference.argmax()), []
    for size in reversed(got.shape):
        flat, position = divmod(flat, size)
        worst_index.insert(0, position)
    shown = where[:2] + ([worst_index] if worst_index not in where[:2] else [])
    parts = [
        f"{quantity}{index_text(i)} is {got[tuple(i)].item():.6g}, expected "
        f"{expected[tuple(i)].item():.6g}"
        for i in shown
    ]
    count = (
        f"every entry of {quantity} differs"
        if len(where) == total
        else f"{len(where)} of {total} entries of {quantity} differ"
    )
    return f"{count}{pattern}, by up to {difference.max().item():.3g}: " + "; ".join(
        parts
    )


def shorten(text: str, limit: int = 200) -> str:
    """`text` whole when it fits in `limit` characters, else its first words and
    " …": never cut inside a word."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def copy(value):
    """A detached copy of a tensor (anything else as it is)."""
    return value.detach().clone() if is_tensor(value) else value


def unchanged(before, after) -> bool:
    """Two tensors with the same shape and entries (NaN equal to NaN)."""
    return (
        is_tensor(before)
        and is_tensor(after)
        and before.shape == after.shape
        and bool(((before == after) | (before.isnan() & after.isnan())).all())
    )
