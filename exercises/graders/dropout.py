"""Dropout.forward and Dropout.backward: inverted dropout, its mask read from
output / x over a 100×40 input, and the mask a backward uses through
training → eval → training on one module."""

from __future__ import annotations

import torch

from exercises.catalogue import BY_NAME
from exercises.compare import F64, close, copy, fmt, fmt_pair, is_tensor
from exercises.graders import grades
from exercises.graders.judge import Case, Mistake, judge, randn
from exercises.harness import (
    Failed,
    Todo,
    backward_crashed,
    check_not_mutated,
    crashed,
    forward,
    missing_attribute,
    saves_for_backward,
    student,
    trial,
)


def dropout_input(n=100, c=40, seed=400):
    """Entries in [1, 2]: none is 0, so output / x shows the mask."""
    return 1 + torch.rand(
        n, c, generator=torch.Generator().manual_seed(seed), dtype=F64
    )


def make_dropout(mod, p, seed=0):
    return mod.Dropout(p, generator=torch.Generator().manual_seed(seed))


def mask_text(ratio) -> str:
    """How the entries of output / x look: which values, how often. Values that
    differ only by rounding count as one, and each is printed with the digits
    that tell it from the others."""
    values = []
    for value in ratio.unique().tolist():
        if not values or abs(value - values[-1][0]) > 1e-9 * max(1.0, abs(value)):
            values.append([value, 0])
        close_to = torch.isclose(
            ratio, torch.tensor(values[-1][0], dtype=ratio.dtype), rtol=1e-9, atol=0
        )
        values[-1][1] = close_to.double().mean().item()
    if len(values) > 4:
        return f"{len(values)} different values of output / x"
    for digits in (4, 6, 9, 12, 17):
        texts = [f"{value:.{digits}g}" for value, _ in values]
        if len(set(texts)) == len(texts):
            break
    shares = [f"{text} ({share:.0%})" for text, (_, share) in zip(texts, values)]
    return "output / x takes the values " + ", ".join(shares)


def _forward_or_fail(module, x, label, look):
    try:
        return copy(forward(module, x))
    except (Todo, Failed):
        raise
    except Exception as error:
        raise crashed("forward", error, label, look) from None


@grades("Dropout.forward")
def grade_forward(mod, name):
    look = BY_NAME[name].hint
    for p in (0.3, 0.5, 0.0):
        x = dropout_input()
        x_copy, label = (
            x.clone(),
            f"p={p}, x of shape {tuple(x.shape)} in training mode",
        )
        module = make_dropout(mod, p)
        out = _forward_or_fail(module, x, label, look)
        check_not_mutated("x", x_copy, x, "forward")
        _check_mask(out, x, p, label, look)
        if p > 0:
            again = copy(student(module.forward, x))
            if is_tensor(again) and torch.equal(again, out):
                raise Failed(
                    "the same mask at every forward: draw a new one at each call",
                    look,
                    [
                        f"on {label}, two forward calls:",
                        "  expected two different masks",
                        "  got      the same mask twice",
                    ],
                )
    _check_eval_mode(mod, look)
    _check_generator(mod, look)
    saves_for_backward(
        lambda: make_dropout(mod, 0.5),
        [(dropout_input(3, 4),)],
        lambda m: [m.backward(torch.ones(3, 4, dtype=F64))],
        look,
        compare=False,
    )


def _check_mask(out, x, p, label, look):
    if not is_tensor(out) or out.shape != x.shape:
        raise Failed(
            f"forward returned {fmt(out)}: it must return a tensor of the shape of x",
            look,
            [
                f"on {label}:",
                f"  expected a tensor of shape {tuple(x.shape)}",
                f"  got      {fmt(out)}",
            ],
        )
    ratio = out / x
    kept = (ratio != 0).double().mean().item()
    scale = 1 / (1 - p)
    scaled = torch.isclose(ratio, torch.tensor(scale, dtype=F64))
    right_values = bool(((ratio == 0) | scaled).all())
    expected_text = (
        f"output / x is 0 or 1 / (1 − p) = {scale:.4g}, about "
        f"{1 - p:.0%} of entries kept"
    )
    example = [
        f"on {label}:",
        f"  expected {expected_text}",
        f"  got      {mask_text(ratio)}; {kept:.1%} kept",
    ]
    if p > 0 and abs(kept - p) < 0.05 and abs(p - 0.5) > 0.1:
        raise Failed(
            "each entry is kept with probability p: p is the probability of "
            "dropping (zeroing) an entry, 1 − p of keeping it",
            look,
            example,
        )
    if p > 0 and not right_values:
        values = ratio[ratio != 0]
        if values.numel() and torch.allclose(values, torch.ones_like(values)):
            headline = (
                "the kept entries are not scaled by 1 / (1 − p): inverted dropout "
                "scales them in training, so that eval mode needs no rescaling"
            )
        elif values.numel() and torch.allclose(values, torch.full_like(values, 1 - p)):
            headline = "the kept entries are scaled by (1 − p); it must be 1 / (1 − p)"
        elif values.numel() and torch.allclose(values, torch.full_like(values, 1 / p)):
            headline = "the kept entries are scaled by 1 / p; it must be 1 / (1 − p)"
        else:
            headline = (
                "output / x must be 0 (dropped) or 1 / (1 − p) (kept) in every entry"
            )
        raise Failed(headline, look, example)
    if abs(kept - (1 - p)) > 0.05:
        raise Failed(
            f"{kept:.1%} of the entries are kept; with p = {p} about {1 - p:.0%} "
            "should be: each entry is kept with probability 1 − p",
            look,
            example,
        )


def _check_eval_mode(mod, look):
    x = dropout_input(4, 3)
    module = make_dropout(mod, 0.5)
    module.eval()
    out = _forward_or_fail(module, x, "p=0.5, eval mode", look)
    if not close(out, x):
        expected, got = fmt_pair(x, out)
        raise Failed(
            "in eval mode (module.eval(), self.training is False) forward must "
            "return x as it is",
            look,
            [
                "on p=0.5, eval mode:",
                f"  x = {fmt(x)}",
                f"  expected output = {expected}",
                f"  got      output = {got}",
            ],
        )


def _check_generator(mod, look):
    """Two Dropouts whose generators are seeded alike drop the same entries."""
    x = dropout_input(20, 10)
    first = copy(forward(make_dropout(mod, 0.5, seed=5), x))
    second = copy(forward(make_dropout(mod, 0.5, seed=5), x))
    if not torch.equal(first, second):
        dropped = [(out == 0).nonzero()[:3].tolist() for out in (first, second)]
        raise Failed(
            "the mask ignores self.generator: two Dropouts made with generators "
            "seeded alike must drop the same entries (draw with "
            "generator=self.generator)",
            look,
            [
                (
                    "on p=0.5, x (20, 10), Dropout(0.5,"
                    " generator=Generator().manual_seed(5)) twice:"
                ),
                f"  expected the same entries dropped, e.g. {dropped[0]}",
                f"  got      other entries dropped the second time, e.g. {dropped[1]}",
            ],
        )


EVAL_NEVER_SETS = (
    "in eval mode, backward reads self.{name}, which the forward in eval mode "
    "never sets: after a forward in eval mode (the identity) backward must "
    "return ∂ℓ/∂(output) unchanged — save a mask of 1 in eval mode too"
)
NEW_MASK = (
    "backward uses a new random mask: it must use the mask of the last forward "
    "(save it)"
)
EARLIER_MASK = (
    "backward used the mask of an earlier forward in training: after a forward "
    "in eval mode the mask is 1 (backward returns ∂ℓ/∂(output) unchanged), and "
    "each forward in training saves its own new mask"
)


@grades("Dropout.backward")
def grade_backward(mod, name):
    look = BY_NAME[name].hint
    cases, errors = [], []
    for p, training, (n, c) in (
        (0.5, True, (2, 3)),
        (0.3, True, (4, 5)),
        (0.5, False, (2, 3)),
    ):
        x, g = dropout_input(n, c, seed=410 + n), randn(n, c, seed=420 + n)
        module = make_dropout(mod, p)
        module.train(training)
        label = f"p={p}, N={n}, C={c}" + ("" if training else ", eval mode")
        try:
            record = trial(
                name,
                module,
                (x,),
                g,
                lambda m, grad: m.backward(grad),
                lambda: make_dropout(mod, p).backward(g.clone()),
                label,
                look,
                ("x",),
                "∂ℓ/∂x",
                None,
                "output",
            )
        except Failed as failure:
            if "no tensor forward saved changed" in failure.headline:
                failure.headline = NEW_MASK
            raise
        mask = record.output / x if is_tensor(record.output) else torch.ones_like(x)
        expected = g * mask
        if not training and missing_attribute(record.error):
            raise Failed(
                EVAL_NEVER_SETS.format(name=missing_attribute(record.error)),
                look,
                [
                    f"on {label}: a new Dropout, module.eval(), forward, backward:",
                    f"  expected ∂ℓ/∂x = {fmt(expected)} (∂ℓ/∂(output) as it is)",
                    "  got      ∂ℓ/∂x: AttributeError raised",
                ],
            )
        if backward_crashed(record, errors, label, look, "∂ℓ/∂x", expected):
            continue
        alts = {"through": g, "unscaled": g * (mask != 0), "scaled_only": g / (1 - p)}
        got = record.first
        if (
            training
            and is_tensor(got)
            and got.shape == g.shape
            and not close(got, expected)
            and bool(torch.isfinite(got).all())
        ):
            ratio = got / g
            scale = torch.tensor(1 / (1 - p), dtype=F64)
            if bool(((ratio.abs() < 1e-12) | torch.isclose(ratio, scale)).all()):
                alts["new_mask"] = got
        cases.append(
            Case(
                label,
                got,
                expected,
                {},
                alts,
                [("x", x), ("output (forward)", record.output), ("∂ℓ/∂(output)", g)],
            )
        )
    judge(
        "∂ℓ/∂x",
        cases,
        [
            Mistake(
                "through",
                "returned ∂ℓ/∂(output) unchanged: the entries forward dropped must get"
                " 0 and the kept ones the factor 1 / (1 − p), the mask m of the last"
                " forward",
                look,
            ),
            Mistake(
                "unscaled",
                "the kept entries are not scaled by 1 / (1 − p): ∂ℓ/∂x = "
                "∂ℓ/∂(output) ⊙ m, and m holds that factor",
                look,
            ),
            Mistake(
                "scaled_only",
                "scaled by 1 / (1 − p) everywhere: the dropped entries must get 0",
                look,
            ),
            Mistake("new_mask", NEW_MASK, look),
        ],
        [],
        look,
        "backward returned None: it must return ∂ℓ/∂x",
        errors=errors,
        what="backward",
    )
    _train_eval_train(mod, look)


def _train_eval_train(mod, look):
    """One module: forward and backward in training, in eval mode, in training
    again; each backward uses the mask of its own forward."""
    x, g = dropout_input(4, 5, seed=430), randn(4, 5, seed=431)
    module = make_dropout(mod, 0.5, seed=3)
    masks = []
    for step, training in enumerate((True, False, True), start=1):
        module.train(training)
        mode = "training" if training else "eval mode"
        label = (
            f"p=0.5, N=4, C=5, one module: training → eval → training, step {step}"
            f" ({mode})"
        )
        try:
            out = copy(forward(module, x))
            got = copy(student(module.backward, g.clone()))
        except (Todo, Failed):
            raise
        except Exception as error:
            if not training and missing_attribute(error):
                raise Failed(
                    EVAL_NEVER_SETS.format(name=missing_attribute(error)),
                    look,
                    [
                        f"on {label}:",
                        f"  expected ∂ℓ/∂x = {fmt(g)}",
                        "  got      ∂ℓ/∂x: AttributeError raised",
                    ],
                ) from None
            raise crashed("backward", error, label, look) from None
        masks.append(out / x if is_tensor(out) else torch.ones_like(x))
        expected = g * masks[-1]
        if close(got, expected):
            continue
        earlier = any(close(got, g * mask) for mask in masks[:-1])
        headline = (
            EARLIER_MASK
            if earlier
            else (
                "wrong after a forward and backward in another mode on the same module:"
                " backward must use the mask of the last forward (1 in eval mode)"
            )
        )
        shown_expected, shown_got = fmt_pair(expected, got)
        raise Failed(
            headline,
            look,
            [
                f"on {label}:",
                f"  expected ∂ℓ/∂x = {shown_expected}",
                f"  got      ∂ℓ/∂x = {shown_got}",
            ],
        )
