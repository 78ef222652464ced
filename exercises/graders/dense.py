"""Dense.forward and Dense.backward: s = x wᵀ + b, and its three gradients."""

from __future__ import annotations

import re

from exercises.catalogue import BY_NAME
from exercises.compare import close, copy, fmt, fmt_pair, is_tensor
from exercises.graders import grades
from exercises.graders.judge import Case, Factor, Mistake, judge, randn, t
from exercises.harness import (
    Failed,
    STALE,
    after_other_numbers,
    attempt,
    blame_backward_crash,
    check_callers,
    check_not_mutated,
    crashed,
    error_kind,
    error_text,
    forward_or_wait,
    line_text,
    missing_attribute,
    saves_for_backward,
    set_by,
    student,
)

F64_SHAPES = [(1, 3, 2), (4, 3, 5), (3, 2, 2), (2, 4, 4)]


def dense_cases():
    """(label, x, w, b, g): a hand-checkable 2×2 case, then random ones."""
    yield (
        "N=2, in=2, out=2",
        t([[1, 2], [3, -1]]),
        t([[1, -1], [0.5, 2]]),
        t([0.5, -1]),
        t([[1, -2], [0.5, 3]]),
    )
    for seed, (n, i, o) in enumerate(F64_SHAPES):
        yield (
            f"N={n}, in={i}, out={o}",
            randn(n, i, seed=seed),
            randn(o, i, seed=10 + seed),
            randn(o, seed=20 + seed),
            randn(n, o, seed=30 + seed),
        )


def make_dense(mod, w, b):
    layer = mod.Dense(w.shape[1], w.shape[0], dtype=w.dtype)
    layer.weight.copy_(w)
    layer.bias.copy_(b)
    return layer


@grades("Dense.forward")
def grade_forward(mod, name):
    look = BY_NAME[name].hint
    cases, errors = [], []
    for label, x, w, b, _ in dense_cases():
        layer, x_before = make_dense(mod, w, b), x.clone()
        ok, got = attempt(errors, label, layer.forward, x)
        if not ok:
            continue
        check_not_mutated("x", x_before, x, "forward")
        check_not_mutated("weight w", w, layer.weight, "forward")
        check_not_mutated("bias b", b, layer.bias, "forward")
        alts = {"no_bias": x @ w.T, "minus_b": x @ w.T - b}
        if w.shape[0] == w.shape[1]:
            alts["w_not_t"] = x @ w + b
        cases.append(
            Case(
                label, copy(got), x @ w.T + b, {}, alts, [("x", x), ("w", w), ("b", b)]
            )
        )
    judge(
        "s",
        cases,
        [
            Mistake("no_bias", "the bias b is missing", look),
            Mistake("w_not_t", "multiplied by w instead of wᵀ", look),
            Mistake("minus_b", "the bias is subtracted", look),
        ],
        [],
        look,
        "forward returned None: it must return s",
        errors=errors,
        what="forward",
    )
    _, x, w, b, g = next(dense_cases())
    saves_for_backward(
        lambda: make_dense(mod, w, b),
        [(x + 1,), (x,)],
        lambda m: [m.backward(g.clone()), m.grad_weight, m.grad_bias],
        look,
        names=("∂ℓ/∂x", "grad_weight", "grad_bias"),
    )


@grades("Dense.backward")
def grade_backward(mod, name):
    look = BY_NAME[name].hint
    cases = {"return": [], "grad_weight": [], "grad_bias": []}
    errors, kept = [], []
    for label, x, w, b, g in dense_cases():
        layer = make_dense(mod, w, b)
        x_copy = x.clone()
        before = dict(vars(layer))
        s = forward_or_wait(
            name, layer, (x,), lambda: make_dense(mod, w, b).backward(g.clone())
        )
        forward_set, s_copy = set_by(before, layer), copy(s)
        pairs = list(layer.param())
        g_in = g.clone()
        ok, returned = attempt(errors, label, layer.backward, g_in)
        if not ok:
            error = errors[-1][1]
            if missing_attribute(error) or "before forward" in str(error):
                blame_backward_crash(error, label, forward_set, look, "∂ℓ/∂x", g @ w)
            _bias_keeps_its_axis(error, label, g)
            continue
        check_not_mutated("grad_output", g, g_in, "backward", look)
        check_not_mutated("weight w", w, layer.weight, "backward", look)
        check_not_mutated("bias b", b, layer.bias, "backward", look)
        check_callers(layer, (x,), (x_copy,), ("x",), s, s_copy, "s", look)
        _bias_shape(layer, pairs, label, g)
        inputs = [("x", x), ("w", w), ("∂ℓ/∂s", g)]
        square = w.shape[0] == w.shape[1]
        cases["return"].append(
            Case(
                label,
                copy(returned),
                g @ w,
                {},
                {"w_t": g @ w.T} if square else {},
                inputs,
            )
        )
        n = {"N": g.shape[0]}
        cases["grad_weight"].append(
            Case(
                label,
                copy(layer.grad_weight),
                g.T @ x,
                n,
                {"transposed": x.T @ g, "one_row": g[:1].T @ x[:1]},
                inputs,
            )
        )
        cases["grad_bias"].append(
            Case(
                label,
                copy(layer.grad_bias),
                g.sum(0),
                n,
                {
                    "mean": g.mean(0),
                    "first_row": g[0],
                    "last_row": g[-1],
                    "rows": g,
                    "outputs": g.sum(1),
                },
                inputs,
            )
        )
        kept.append((label, layer, pairs, x, g, copy(returned)))
    _judge_dense(cases, errors)
    for label, layer, pairs, x, g, returned in kept:
        _check_accumulates(layer, pairs, x, g, label, returned, look)
    _after_other_numbers(mod, look)


BIAS_LOOK = "∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ: the sum of ∂ℓ/∂s over the N rows of the batch"
KEEPDIM = (
    "the bias gradient keeps the summed axis (keepdim): Σₙ (∂ℓ/∂s)ₙ has shape "
    "(out,), like grad_bias, not (1, out)"
)
BOTH = (
    "the bias gradient keeps the summed axis (keepdim) and is replaced by a new tensor:"
    " Σₙ (∂ℓ/∂s)ₙ has shape (out,), not (1, out); and self.grad_bias = ... rebinds the"
    " name instead of adding into the tensor in place (+=), so an optimizer holding"
    " model.param() never sees it"
)
REBOUND = (
    "is replaced by a new tensor (self.grad_bias = ...) instead of added into in "
    "place (+=): an optimizer holding model.param() never sees it"
)


def _bias_keeps_its_axis(error, label, g) -> None:
    """A `grad_bias += (a sum that kept its axis)` raises torch's broadcast error:
    say which axis it is."""
    out = g.shape[1]
    if re.search(
        rf"shape \[{out}\] doesn't match the broadcast shape \[1, {out}\]", str(error)
    ):
        raise Failed(
            f"{KEEPDIM}; adding it into grad_bias raised {error_text(error)}"
            f"{line_text(error)}",
            BIAS_LOOK,
            [
                f"on {label}:",
                f"  expected grad_bias of shape ({out},)",
                f"  got      {error_kind(error)} raised",
            ],
        )


def _bias_shape(layer, pairs, label, g) -> None:
    """grad_bias of shape (1, out), with the right sum: keepdim, named (and the
    rebinding that let it change shape, named apart)."""
    got, expected = layer.grad_bias, g.sum(0)
    if not (
        is_tensor(got)
        and got.shape == (1, len(expected))
        and close(got.reshape(-1), expected)
    ):
        return
    headline = BOTH if got is not pairs[1][1] else KEEPDIM
    shown_expected, shown_got = fmt_pair(expected, got)
    raise Failed(
        headline,
        BIAS_LOOK,
        [
            f"on {label}:",
            f"  expected grad_bias = {shown_expected}",
            f"  got      grad_bias = {shown_got}",
        ],
    )


def _check_accumulates(layer, pairs, x, g, label, returned, look):
    """A second backward without zero_grad returns the same ∂ℓ/∂x and adds to
    the gradients, in the very tensors that param() handed out (an optimizer
    holds those)."""
    try:
        again = copy(student(layer.backward, g.clone()))
    except Exception as error:
        raise Failed(
            f"a second backward (without zero_grad) raised {error_text(error)}"
            f"{line_text(error)}",
            look,
            [
                f"on {label}:",
                f"  expected ∂ℓ/∂x = {fmt(returned)} (as the first call)",
                f"  got      ∂ℓ/∂x: {error_kind(error)} raised",
            ],
        ) from None
    for (_, held), attribute, once in zip(
        pairs, ("grad_weight", "grad_bias"), (g.T @ x, g.sum(0))
    ):
        got = getattr(layer, attribute)
        expected, shown = fmt_pair(2 * once, got)
        lines = [
            f"after two backward calls without zero_grad ({label}):",
            f"  expected {attribute} = {expected}",
            f"  got      {attribute} = {shown}",
        ]
        if held is not got:
            expected, shown = fmt_pair(2 * once, held)
            lines = [
                (
                    f"after two backward calls without zero_grad ({label}), in the"
                    " tensor that param() handed out:"
                ),
                f"  expected {attribute} = {expected}",
                f"  got      {attribute} = {shown}",
            ]
        where = (
            f"∂ℓ/∂{attribute[5]} += ...: add into the tensor in place "
            f"(self.{attribute} += ... or .add_); zero_grad() is what resets it"
        )
        if close(got, once):
            raise Failed(
                f"{attribute} is assigned (=), not accumulated (+=): after two "
                "backward calls without zero_grad it holds only the last one",
                where,
                lines,
            )
        if held is not got:
            raise Failed(
                f"{attribute} " + REBOUND.replace("grad_bias", attribute), where, lines
            )
        if not close(got, 2 * once):
            raise Failed(
                f"{attribute} is wrong after a second backward without zero_grad: "
                "does backward change what forward saved?",
                where,
                lines,
            )
    if not close(again, returned):
        expected, shown = fmt_pair(returned, again)
        raise Failed(
            "a second backward after the same forward gives a different ∂ℓ/∂x: "
            "backward changes what forward saved in place",
            look,
            [
                f"on {label}, calling backward twice after one forward:",
                f"  expected ∂ℓ/∂x (second call) = {expected}",
                f"  got      ∂ℓ/∂x (second call) = {shown}",
            ],
        )


def _after_other_numbers(mod, look):
    """forward → backward → forward (other x) → backward on one layer: the
    second ∂ℓ/∂x is the second call's, and the gradients hold the sum of both."""
    label, x, w, b, g = list(dense_cases())[2]
    x2, g2 = randn(*x.shape, seed=7), randn(*g.shape, seed=8)
    layer = make_dense(mod, w, b)
    after_other_numbers(
        layer,
        [
            ((x,), lambda m: m.backward(g.clone()), g @ w),
            ((x2,), lambda m: m.backward(g2.clone()), g2 @ w),
        ],
        "∂ℓ/∂x",
        look,
        label,
    )
    for attribute, expected in (
        ("grad_weight", g.T @ x + g2.T @ x2),
        ("grad_bias", g.sum(0) + g2.sum(0)),
    ):
        if not close(getattr(layer, attribute), expected):
            shown_expected, shown_got = fmt_pair(expected, getattr(layer, attribute))
            raise Failed(
                STALE,
                look,
                [
                    (
                        f"on {label}: forward and backward, then forward and backward"
                        " on other numbers, without zero_grad:"
                    ),
                    (
                        f"  expected {attribute} = {shown_expected} (the sum of both"
                        " calls')"
                    ),
                    f"  got      {attribute} = {shown_got}",
                ],
            )


def _judge_dense(cases, errors):
    look_w = "∂ℓ/∂w += (∂ℓ/∂s)ᵀ x: (out, N) @ (N, in) -> (out, in)"
    look_x = "∂ℓ/∂x = (∂ℓ/∂s) w: (N, out) @ (out, in) -> (N, in)"
    n_factor = [
        Factor(
            "divided by N (the batch size): the gradient is a sum over the batch, "
            "not a mean (the loss already holds any 1/N)",
            lambda d: 1 / d["N"],
        )
    ]
    judge(
        "grad_weight",
        cases["grad_weight"],
        [
            Mistake(
                "transposed",
                "the weight gradient is transposed: xᵀ (∂ℓ/∂s) instead of (∂ℓ/∂s)ᵀ x",
                look_w,
            ),
            Mistake(
                "one_row",
                "the weight gradient uses only one sample (row) of the batch",
                look_w,
            ),
        ],
        n_factor,
        look_w,
        errors=errors,
        crash=False,
    )
    judge(
        "grad_bias",
        cases["grad_bias"],
        [
            Mistake(
                "mean",
                "the bias gradient is the mean over the batch, not the sum",
                BIAS_LOOK,
            ),
            Mistake(
                "first_row",
                "the bias gradient uses only the first row of ∂ℓ/∂s, "
                "not the sum over the batch",
                BIAS_LOOK,
            ),
            Mistake(
                "last_row",
                "the bias gradient uses only the last row of ∂ℓ/∂s, "
                "not the sum over the batch",
                BIAS_LOOK,
            ),
            Mistake(
                "rows",
                "the bias gradient is not summed over the batch (it has one row per "
                "sample)",
                BIAS_LOOK,
            ),
            Mistake(
                "outputs",
                "the bias gradient is summed over the wrong axis: over the outputs "
                "(dim 1) instead of the batch (dim 0)",
                BIAS_LOOK,
            ),
        ],
        n_factor,
        BIAS_LOOK,
        errors=errors,
        crash=False,
    )
    judge(
        "∂ℓ/∂x (the returned tensor)",
        cases["return"],
        [
            Mistake("w_t", "∂ℓ/∂x uses wᵀ instead of w", look_x),
        ],
        [],
        look_x,
        "backward returned None: it must return ∂ℓ/∂x = (∂ℓ/∂s) w",
        errors=errors,
        crash=False,
    )
    if errors:
        label, error = errors[0]
        raise crashed(
            "backward",
            error,
            label,
            "the shape of each product: ∂ℓ/∂w: (out, N) @ "
            "(N, in) -> (out, in); ∂ℓ/∂b: sum over the N rows -> (out,); ∂ℓ/∂x: "
            "(N, out) @ (out, in) -> (N, in)",
        )
