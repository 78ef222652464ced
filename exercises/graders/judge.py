"""Reading a mistake from the numbers: each case's right answer and what the
classic mistakes would give on the same inputs; `judge` finds the mistake (or
the factor) that explains what the student's method gave on every case. Also
the oracles' small helpers (torch.autograd, seeded inputs).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from exercises.compare import F64, close, differing, fmt, fmt_pair, is_tensor, shorten
from exercises.harness import Failed, crashed, error_text


@dataclass
class Case:
    label: str  # "N=2, in=2, out=2"
    got: object  # the student's tensor (or None)
    expected: torch.Tensor
    dims: dict  # the sizes the factors depend on
    alts: dict = field(default_factory=dict)  # mistake key -> what that mistake gives
    inputs: list = field(default_factory=list)  # (name, tensor) shown in the example


@dataclass
class Mistake:
    key: str
    headline: str
    look_at: str


@dataclass
class Factor:
    """A multiplier a mistake puts on the right answer, as a function of the sizes."""

    headline: str
    value: object  # callable(dims) -> float, or None where it does not apply
    look_at: str = ""


SIGN = Factor("the sign is flipped", lambda d: -1.0)


def example(case: Case, quantity: str, note: str = "") -> list:
    expected, got = fmt_pair(case.expected, case.got)
    lines = [f"example ({case.label}{note}):"]
    lines += [f"  {name} = {fmt(value)}" for name, value in case.inputs]
    lines += [f"  expected {quantity} = {expected}", f"  got      {quantity} = {got}"]
    if expected.startswith("a tensor of shape") and got.startswith("a tensor of shape"):
        lines.append("  " + differing(quantity, case.got, case.expected))
    return lines


def judge(
    quantity: str,
    cases: list,
    mistakes=(),
    factors=(),
    look_at: str = "",
    none_message: str = "",
    nan_message: str = "",
    errors=(),
    what: str = "",
    crash: bool = True,
) -> None:
    """Return when every case is right, else raise Failed with the best diagnosis.
    `errors` are the (case label, exception) of the cases that raised: the
    cases that ran are diagnosed first (a transposed product runs on a square
    layer and raises on the others), then the first error is reported."""
    failing = [case for case in cases if not close(case.got, case.expected)]
    if not failing:
        if errors and crash:
            label, error = errors[0]
            raise crashed(what or "it", error, label, look_at)
        return
    shown = cases[0] if cases[0] in failing else failing[0]
    note = "" if shown is cases[0] else f"; the {cases[0].label} case is right"
    also = [
        f"(and on {label} it raised {shorten(error_text(error), 100)})"
        for label, error in errors[:1]
    ]

    def fail(headline, where=look_at, case=shown):
        raise Failed(
            headline,
            where,
            example(case, quantity, "" if case is not shown else note) + also,
        )

    if any(case.got is None for case in cases):
        fail(
            none_message or f"{quantity} is None",
            case=next(case for case in cases if case.got is None),
        )
    if any(not is_tensor(case.got) for case in cases):
        odd = next(case for case in cases if not is_tensor(case.got))
        fail(f"{quantity} is a {type(odd.got).__name__}, not a tensor", case=odd)
    for case in failing:
        if (
            case.got.shape == case.expected.shape
            and not torch.isfinite(case.got).all()
            and torch.isfinite(case.expected).all()
        ):
            fail(
                nan_message
                or f"{quantity} has NaN or inf entries where the answer is finite",
                case=case,
            )
    for mistake in mistakes:
        matched = [
            case
            for case in cases
            if mistake.key in case.alts
            and case.got.shape == case.alts[mistake.key].shape
        ]
        if (
            matched
            and any(case in failing for case in matched)
            and all(close(case.got, case.alts[mistake.key]) for case in matched)
        ):
            fail(
                mistake.headline,
                mistake.look_at or look_at,
                next(case for case in cases if case in failing and case in matched),
            )
    found = _factor(cases, factors)
    if found is not None:
        fail(found[0], found[1] or look_at)
    if any(case.got.shape != case.expected.shape for case in failing):
        case = next(case for case in failing if case.got.shape != case.expected.shape)
        flipped = (
            tuple(case.got.shape) == tuple(case.expected.shape)[::-1]
            and case.got.dim() == 2
        )
        fail(
            f"{quantity} has shape {tuple(case.got.shape)}, expected "
            f"{tuple(case.expected.shape)}"
            + (" (transposed)" if flipped else ""),
            case=case,
        )
    fail(
        "not a mistake this checker knows:"
        f" {differing(quantity, shown.got, shown.expected)} (on {shown.label}); compare"
        f" your {quantity} with the equation by hand"
    )


def _ratio(case: Case):
    """c with got = c · expected, if there is one."""
    if not is_tensor(case.got) or case.got.shape != case.expected.shape:
        return None
    norm = case.expected.pow(2).sum()
    if norm == 0 or not torch.isfinite(case.got).all():
        return None
    c = ((case.got.to(F64) * case.expected).sum() / norm).item()
    return c if close(case.got, c * case.expected) else None


def _factor(cases: list, factors) -> tuple | None:
    """(headline, look_at) of the combination of known factors that explains
    got / expected on every case, or a plain 'off by c' when none does."""
    ratios = [_ratio(case) for case in cases]
    if any(r is None for r in ratios):
        return None
    for size in (1, 2, 3):
        for combo in itertools.combinations(list(factors) + [SIGN], size):
            values = []
            for case in cases:
                product = 1.0
                for factor in combo:
                    v = factor.value(case.dims)
                    product = None if v is None or product is None else product * v
                values.append(product)
            if all(
                v is not None and abs(r - v) <= 1e-6 * abs(v)
                for r, v in zip(ratios, values)
            ):
                look = next((f.look_at for f in combo if f.look_at), "")
                return "; and ".join(f.headline for f in combo), look
    if all(abs(r - ratios[0]) <= 1e-6 * abs(ratios[0]) for r in ratios):
        return (
            (
                f"off by a constant factor: got = {ratios[0]:.4g} × expected (cannot"
                " tell which factor)"
            ),
            "",
        )
    ratio_text = ", ".join(f"{r:.4g}" for r in ratios)
    return (
        (
            "off by a factor that changes with the shapes (got / expected ="
            f" {ratio_text} on the cases tried; cannot tell which)"
        ),
        "",
    )


def autograd(function, *tensors):
    """The value of function(*tensors) and its gradients w.r.t. every tensor."""
    with torch.enable_grad():
        leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
        value = function(*leaves)
        return (value.detach() if is_tensor(value) else value), leaves


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)
