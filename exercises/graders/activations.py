"""The activations' forward and backward: ReLU, Tanh, Sigmoid, Identity and
Softmax, each on a hand-checkable case, random ones, the kink s = 0 and large
|s|; each backward also after a forward and backward on other numbers."""

from __future__ import annotations

import torch

from exercises.catalogue import BY_NAME
from exercises.compare import copy
from exercises.graders import grades
from exercises.graders.judge import Case, Mistake, autograd, judge, randn, t
from exercises.harness import (
    after_other_numbers,
    attempt,
    backward_crashed,
    check_not_mutated,
    saves_for_backward,
    trial,
)

KINDS = ("ReLU", "Tanh", "Sigmoid", "Identity", "Softmax")


def activation_cases(big: bool = False):
    yield "2×2", t([[0.5, -1], [2, -0.25]]), t([[1, -2], [0.5, 3]])
    for seed, shape in enumerate([(1, 3), (4, 5), (3, 2)]):
        yield (
            f"shape {shape}",
            2 * randn(*shape, seed=40 + seed),
            randn(*shape, seed=50 + seed),
        )
    yield (
        "s = 0 in places (ReLU's kink)",
        t([[0, -1.5, 0], [2, 0, -0.5]]),
        t([[1, -2, 0.5], [3, -1, 2]]),
    )
    if big:
        yield "large |s|", t([[800, -800], [40, -40]]), t([[1, 1], [1, 1]])


def _softmax(s):
    return torch.softmax(s, dim=1)


ACTIVATIONS = {
    "ReLU": dict(
        f=lambda s: s.clamp(min=0),
        forward_mistakes=[
            (
                "min",
                lambda s: s.clamp(max=0),
                "max(0, s) is the positive part: you kept the negative one",
            )
        ],
        backward_mistakes=[
            (
                "inverted",
                lambda s, g: g * (s < 0),
                "the mask is inverted: σ'(s) is 1 where s > 0",
            ),
            (
                "at_zero",
                lambda s, g: g * (s >= 0),
                (
                    "the mask is 1 at s = 0 (s >= 0): σ'(0) = 0 "
                    "here, the mask is 1 only where s > 0 (equally, where x > 0)"
                ),
            ),
            (
                "times_s",
                lambda s, g: g * s.clamp(min=0),
                (
                    "multiplied by x = max(0, s) instead "
                    "of the derivative σ'(s) (1 where s > 0, else 0)"
                ),
            ),
            (
                "grad_mask",
                lambda s, g: g * (g > 0),
                (
                    "the mask is taken from the incoming gradient (grad_output > 0):"
                    " σ'(s) depends on the forward's s, 1 where s > 0 (equally, where"
                    " the saved output x > 0), whatever the sign of ∂ℓ/∂x"
                ),
            ),
        ],
    ),
    "Tanh": dict(
        f=torch.tanh,
        forward_mistakes=[],
        backward_mistakes=[
            (
                "from_input",
                lambda s, g: g * (1 - s * s),
                (
                    "the derivative is taken from the input s instead of the output x:"
                    " σ'(s) = 1 − tanh²(s) = 1 − x², not 1 − s²"
                ),
            ),
            (
                "twice",
                lambda s, g: g * (1 - s.tanh().tanh() ** 2),
                (
                    "tanh is applied again to the saved output: x is already tanh(s),"
                    " so σ'(s) = 1 − x², not 1 − tanh²(x)"
                ),
            ),
            ("no_square", lambda s, g: g * (1 - s.tanh()), "1 − x instead of 1 − x²"),
            (
                "value",
                lambda s, g: g * s.tanh(),
                "multiplied by tanh(s) instead of its derivative 1 − tanh²(s)",
            ),
        ],
    ),
    "Sigmoid": dict(
        f=torch.sigmoid,
        forward_mistakes=[
            (
                "minus",
                lambda s: torch.sigmoid(-s),
                (
                    "the sign of the exponent: "
                    "x = 1 / (1 + e⁻ˢ), you computed 1 / (1 + eˢ)"
                ),
            )
        ],
        backward_mistakes=[
            (
                "from_input",
                lambda s, g: g * s * (1 - s),
                (
                    "the derivative is taken from the input s instead of the output x:"
                    " σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), not s (1 − s)"
                ),
            ),
            (
                "twice",
                lambda s, g: g * s.sigmoid().sigmoid() * (1 - s.sigmoid().sigmoid()),
                (
                    "σ is applied again to the saved output: x is already σ(s), so"
                    " σ'(s) = x (1 − x), not σ(x) (1 − σ(x))"
                ),
            ),
            (
                "value",
                lambda s, g: g * torch.sigmoid(s),
                "multiplied by σ(s) instead of its derivative σ(s)(1 − σ(s))",
            ),
        ],
    ),
    "Identity": dict(f=lambda s: s, forward_mistakes=[], backward_mistakes=[]),
    "Softmax": dict(
        f=_softmax,
        forward_mistakes=[
            (
                "dim0",
                lambda s: torch.softmax(s, dim=0),
                (
                    "the softmax is taken over the batch "
                    "(dim 0) instead of over each row's classes (dim 1)"
                ),
            ),
            (
                "exp_only",
                lambda s: s.exp(),
                "e^s is not divided by the row's sum Σⱼ e^sⱼ",
            ),
            (
                "all_sum",
                lambda s: s.exp() / s.exp().sum(),
                (
                    "divided by the sum over the whole "
                    "batch: each row is divided by its own sum Σⱼ e^sⱼ"
                ),
            ),
        ],
    ),
}
ACTIVATION_NAN = (
    "NaN or inf for large |s| (e^s overflows to inf, and inf/inf is NaN): use a "
    "form that stays finite: 1 / (1 + e⁻ˢ) for Sigmoid, tanh(s) for Tanh, the "
    "row's maximum subtracted first for Softmax"
)


@grades(*(f"{kind}.forward" for kind in KINDS))
def grade_forward(mod, name):
    kind, look = name.split(".")[0], BY_NAME[name].hint
    spec = ACTIVATIONS[kind]
    cases, errors = [], []
    for label, s, g in activation_cases(big=kind != "ReLU"):
        module, s_before = getattr(mod, kind)(), s.clone()
        ok, got = attempt(errors, label, module.forward, s)
        if not ok:
            continue
        check_not_mutated("s", s_before, s, "forward")
        alts = {key: f(s) for key, f, _ in spec["forward_mistakes"]}
        if kind == "Softmax" and s.shape[0] == s.shape[1]:
            alts["no_keepdim"] = s.exp() / s.exp().sum(1)
            shifted = (s - s.amax(1)).exp()
            alts["max_no_keepdim"] = shifted / shifted.sum(1, keepdim=True)
        cases.append(Case(label, copy(got), spec["f"](s), {}, alts, [("s", s)]))
    mistakes = [Mistake(key, text, look) for key, _, text in spec["forward_mistakes"]]
    mistakes.append(
        Mistake(
            "max_no_keepdim",
            "the row maxima are laid along the wrong axis: "
            "the maximum over dim 1 without keeping that axis has shape "
            "(N,), which broadcasts along each row; subtract a column, "
            "shape (N, 1)",
            look,
        )
    )
    mistakes.append(
        Mistake(
            "no_keepdim",
            "the row sums are laid along the wrong axis: "
            ".sum(dim=1) gives shape (N,), which broadcasts along each row; "
            "keep a column, shape (N, 1)",
            look,
        )
    )
    judge(
        "x",
        cases,
        mistakes,
        [],
        look,
        "forward returned None: it must return x",
        ACTIVATION_NAN,
        errors=errors,
        what="forward",
    )
    _, s, g = next(activation_cases())
    saves_for_backward(
        getattr(mod, kind), [(s + 1,), (s,)], lambda m: [m.backward(g.clone())], look
    )


def _autograd_vjp(kind, s, g):
    functions = {
        "ReLU": torch.relu,
        "Tanh": torch.tanh,
        "Sigmoid": torch.sigmoid,
        "Identity": lambda z: z * 1,
        "Softmax": _softmax,
    }
    _, (leaf,) = autograd(lambda z: (functions[kind](z) * g).sum().backward(), s)
    return leaf.grad.detach()


@grades(*(f"{kind}.backward" for kind in KINDS))
def grade_backward(mod, name):
    kind, look = name.split(".")[0], BY_NAME[name].hint
    spec = ACTIVATIONS[kind]
    make = getattr(mod, kind)
    cases, errors = [], []
    for label, s, g in activation_cases(big=kind == "Softmax"):
        expected = _autograd_vjp(kind, s, g)
        record = trial(
            name,
            make(),
            (s,),
            g,
            lambda m, grad: m.backward(grad),
            lambda: make().backward(g.clone()),
            label,
            look,
            ("s",),
            "∂ℓ/∂s",
            expected,
        )
        if backward_crashed(record, errors, label, look, "∂ℓ/∂s", expected):
            continue
        shown = (
            [("s", s), ("∂ℓ/∂x", g)]
            if kind != "Softmax"
            else [("s", s), ("x = softmax(s)", _softmax(s)), ("∂ℓ/∂x", g)]
        )
        cases.append(
            Case(
                label,
                record.first,
                expected,
                {},
                _backward_alts(kind, spec, s, g, expected),
                shown,
            )
        )
    judge(
        "∂ℓ/∂s",
        cases,
        _backward_mistakes(kind, spec, look),
        [],
        look,
        "backward returned None: it must return ∂ℓ/∂s",
        ACTIVATION_NAN,
        errors=errors,
        what="backward",
    )
    _, s, g = next(activation_cases())
    s2, g2 = s.flip(0) + 0.75, g.flip(1)
    after_other_numbers(
        make(),
        [
            ((s,), lambda m: m.backward(g.clone()), _autograd_vjp(kind, s, g)),
            ((s2,), lambda m: m.backward(g2.clone()), _autograd_vjp(kind, s2, g2)),
        ],
        "∂ℓ/∂s",
        look,
        "2×2",
    )


def _backward_alts(kind, spec, s, g, expected):
    if kind == "Softmax":
        x = _softmax(s)
        alts = {
            "diagonal": g * x * (1 - x),
            "no_cross": g * x,
            "unweighted": x * (g - g.sum(1, keepdim=True)),
            "batch_dim": x * (g - (g * x).sum(0, keepdim=True)),
            "no_x": g - (g * x).sum(1, keepdim=True),
        }
        if (
            s.shape[0] == s.shape[1]
        ):  # .sum(dim=1) without keepdim broadcasts along the rows
            alts["no_keepdim"] = x * (g - (g * x).sum(1))
        return alts
    alts = {key: f(s, g) for key, f, _ in spec["backward_mistakes"]}
    if kind != "Identity":
        alts["local_only"] = expected / g
        alts["all_ones"] = g
    return alts


def _backward_mistakes(kind, spec, look):
    if kind == "Softmax":
        return [
            Mistake(
                "diagonal",
                "only the diagonal of the softmax Jacobian, x(1 − x): every output"
                " depends on every input, so the off-diagonal −xᵢxⱼ terms count too",
                look,
            ),
            Mistake(
                "no_cross", "g ⊙ x: the −x xᵀ part of the Jacobian is missing", look
            ),
            Mistake(
                "unweighted",
                "the sum over the row is Σⱼ gⱼ; it must be the dot product Σⱼ gⱼ xⱼ",
                look,
            ),
            Mistake(
                "batch_dim",
                "the dot product g · x is summed over the batch (dim 0) "
                "instead of the classes of each row (dim 1)",
                look,
            ),
            Mistake("no_x", "the leading x ⊙ is missing", look),
            Mistake(
                "no_keepdim",
                "the row sums g · x are laid along the wrong axis: .sum(dim=1) gives"
                " shape (N,), which broadcasts along each row; keep it a column with"
                " .sum(dim=1, keepdim=True), shape (N, 1)",
                look,
            ),
        ]
    mistakes = [Mistake(key, text, look) for key, _, text in spec["backward_mistakes"]]
    if kind != "Identity":
        mistakes.append(
            Mistake(
                "local_only",
                "returned the local derivative σ'(s) alone: "
                "multiply it by the incoming ∂ℓ/∂x (the chain rule)",
                look,
            )
        )
        mistakes.append(
            Mistake(
                "all_ones",
                "returned ∂ℓ/∂x unchanged, as if σ'(s) were 1 everywhere"
                + (
                    " (x = max(0, s) is never negative, so a test "
                    "x >= 0 is always true: test x > 0)"
                    if kind == "ReLU"
                    else ""
                ),
                look,
            )
        )
    return mistakes
