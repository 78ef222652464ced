"""The losses' forward and backward: MSELoss (mean and sum) and
CrossEntropyLoss (logits of 1000 included), their factors told apart on
shapes where N, C and N·C differ; each backward also after a forward and
backward on other numbers."""

from __future__ import annotations

import torch

from exercises.catalogue import BY_NAME
from exercises.compare import copy, fmt_pair, is_tensor
from exercises.graders import grades
from exercises.compare import F64
from exercises.graders.judge import Case, Factor, Mistake, autograd, judge, randn, t
from exercises.harness import (
    Failed,
    after_other_numbers,
    attempt,
    backward_crashed,
    check_not_mutated,
    saves_for_backward,
    trial,
)

MSE_SHAPES = [(1, 1), (3, 1), (4, 3), (2, 5)]


def mse_cases():
    for reduction in ("mean", "sum"):
        yield reduction, "N=2, C=2", t([[1, 2], [0.5, -1]]), t([[0, 2.5], [1, 1]])
        for seed, (n, c) in enumerate(MSE_SHAPES):
            yield (
                reduction,
                f"N={n}, C={c}",
                randn(n, c, seed=60 + seed),
                randn(n, c, seed=70 + seed),
            )


def _mse_dims(reduction, x):
    n, c = x.shape
    return {"N": n, "C": c, "M": n * c, "reduction": reduction}


def _when(reduction, value):
    """A factor that only the given reduction has (1 on the cases of the other)."""
    return lambda d: value(d) if d["reduction"] == reduction else 1.0


def _loss_forward_cases(cases_of, look, expected_of, alts_of, dims_of, inputs_of):
    """Run a loss's forward on every case of `cases_of()`; the Cases to judge and
    the errors raised."""
    cases, errors = [], []
    for label, x, y, loss in cases_of():
        x_before, y_before = x.clone(), y.clone()
        ok, got = attempt(errors, label, loss.forward, x, y)
        if not ok:
            continue
        check_not_mutated("prediction", x_before, x, "forward")
        check_not_mutated("target", y_before, y, "forward")
        if is_tensor(got) and got.dim() != 0 and got.numel() != 1:
            expected, shown = fmt_pair(expected_of(loss, x, y), got)
            raise Failed(
                f"the loss has shape {tuple(got.shape)}: it must be one number, a "
                "0-dim tensor (.sum() or .mean() returns one)",
                look,
                [
                    f"on {label}:",
                    f"  expected ℓ = {expected}",
                    f"  got      ℓ = {shown}",
                ],
            )
        cases.append(
            Case(
                label,
                copy(got).reshape(()) if is_tensor(got) else got,
                expected_of(loss, x, y),
                dims_of(loss, x),
                alts_of(loss, x, y),
                inputs_of(x, y),
            )
        )
    return cases, errors


def _mse_expected(loss, x, y):
    total = ((x - y) ** 2).sum()
    return total / x.numel() if loss.reduction == "mean" else total


def _mse_case_list(mod):
    def cases():
        for reduction, label, x, y in mse_cases():
            yield (
                f"{label}, reduction={reduction!r}",
                x,
                y,
                mod.MSELoss(reduction=reduction),
            )

    return cases


@grades("MSELoss.forward")
def grade_mse_forward(mod, name):
    look = BY_NAME[name].hint
    cases, errors = _loss_forward_cases(
        _mse_case_list(mod),
        look,
        _mse_expected,
        lambda loss, x, y: {
            "rmse": _mse_expected(loss, x, y).sqrt(),
            "l1": (x - y).abs().sum() / (x.numel() if loss.reduction == "mean" else 1),
        },
        lambda loss, x: _mse_dims(loss.reduction, x),
        lambda x, y: [("x", x), ("y", y)],
    )
    judge(
        "ℓ",
        cases,
        [
            Mistake("rmse", "the square root of the loss: ℓ has no √", look),
            Mistake("l1", "|x − y| instead of (x − y)²", look),
        ],
        [
            Factor(
                "no 1/M: reduction='mean' divides the sum by M, the number of entries",
                _when("mean", lambda d: d["M"]),
            ),
            Factor(
                "divided by N (the rows) instead of M = N·C (all entries), as PyTorch's"
                " mean",
                _when("mean", lambda d: d["C"]),
            ),
            Factor(
                "divided by M although reduction='sum'",
                _when("sum", lambda d: 1 / d["M"]),
            ),
            Factor(
                "divided by N although reduction='sum'",
                _when("sum", lambda d: 1 / d["N"]),
            ),
            Factor("a factor ½ in front: this loss is (x − y)², no ½", lambda d: 0.5),
        ],
        look,
        "forward returned None: it must return ℓ",
        errors=errors,
        what="forward",
    )
    _, label, x, y = next(mse_cases())
    saves_for_backward(
        lambda: mod.MSELoss(),
        [(x + 1, y), (x, y)],
        lambda loss: [loss.backward()],
        look,
    )


def loss_trial(name, loss, x, y, look, quantity, expected, label):
    return trial(
        name,
        loss,
        (x, y),
        None,
        lambda m, _: m.backward(),
        lambda: type(loss)().backward(),
        label,
        look,
        ("prediction", "target"),
        quantity,
        expected,
        "ℓ",
    )


@grades("MSELoss.backward")
def grade_mse_backward(mod, name):
    look = BY_NAME[name].hint
    cases, errors = [], []
    for reduction, label, x, y in mse_cases():
        label = f"{label}, reduction={reduction!r}"
        expected = 2 * (x - y) / (x.numel() if reduction == "mean" else 1)
        record = loss_trial(
            name, mod.MSELoss(reduction=reduction), x, y, look, "∂ℓ/∂x", expected, label
        )
        if backward_crashed(record, errors, label, look, "∂ℓ/∂x", expected):
            continue
        cases.append(
            Case(
                label,
                record.first,
                expected,
                _mse_dims(reduction, x),
                {"flat": expected.reshape(-1)},
                [("x", x), ("y", y)],
            )
        )
    try:
        judge(
            "∂ℓ/∂x",
            cases,
            [
                Mistake(
                    "flat",
                    "∂ℓ/∂x is flattened: it must have the shape of the prediction",
                    look,
                ),
            ],
            [
                Factor("the 2 is missing (the derivative of d² is 2d)", lambda d: 0.5),
                Factor("an extra factor 2", lambda d: 2.0),
                Factor(
                    "no 1/M: reduction='mean' divides by M, the number of entries",
                    _when("mean", lambda d: d["M"]),
                ),
                Factor(
                    "divided by N (the rows) instead of M = N·C (all entries)",
                    _when("mean", lambda d: d["C"]),
                ),
                Factor(
                    "divided by M although reduction='sum'",
                    _when("sum", lambda d: 1 / d["M"]),
                ),
                Factor(
                    "divided by N although reduction='sum'",
                    _when("sum", lambda d: 1 / d["N"]),
                ),
            ],
            look,
            "backward returned None: it must return ∂ℓ/∂x",
            errors=errors,
            what="backward",
        )
    except Failed as failure:
        if failure.headline == "the sign is flipped":
            failure.headline = (
                "the sign is flipped: d = x − y (prediction minus target)"
            )
        raise failure
    _, label, x, y = list(mse_cases())[3]
    x2, y2 = x.flip(0) + 0.5, y.flip(1)
    after_other_numbers(
        mod.MSELoss(),
        [
            ((x, y), lambda loss: loss.backward(), 2 * (x - y) / x.numel()),
            ((x2, y2), lambda loss: loss.backward(), 2 * (x2 - y2) / x.numel()),
        ],
        "∂ℓ/∂x",
        look,
        f"{label}, reduction='mean'",
    )


def ce_cases(large: bool = True):
    yield "N=2, C=2", t([[1, -1], [0.5, 2]]), torch.tensor([0, 0])
    for seed, (n, c) in enumerate([(1, 3), (4, 3), (3, 5)]):
        yield (
            f"N={n}, C={c}",
            2 * randn(n, c, seed=80 + seed),
            torch.randint(
                0, c, (n,), generator=torch.Generator().manual_seed(90 + seed)
            ),
        )
    if large:
        yield (
            "large logits, N=2, C=3",
            t([[1000, -1000, 0], [0, 999, 1000]]),
            torch.tensor([2, 1]),
        )


def _ce_expected(z, y):
    return torch.nn.functional.cross_entropy(z, y)


COLUMNS = (
    "indexed with [:, y]: that takes column yₘ of every row, an (N, N) block, not one "
    "entry per row; the true classes are log_p[range(N), y], row n at column yₙ"
)


@grades("CrossEntropyLoss.forward")
def grade_cross_entropy_forward(mod, name):
    look = BY_NAME[name].hint

    def cases_of():
        for label, z, y in ce_cases():
            yield label, z, y, mod.CrossEntropyLoss()

    def alts(loss, z, y):
        n = len(z)
        log_p = torch.log_softmax(z, dim=1)
        return {
            "dim0": -torch.log_softmax(z, dim=0).gather(1, y.view(-1, 1)).mean(),
            "no_log": -torch.softmax(z, dim=1).gather(1, y.view(-1, 1)).mean(),
            "all_classes": -log_p.sum() / n,
            "mean_all": -log_p.gather(1, y.view(-1, 1)).sum() / z.numel(),
            "columns": -log_p[:, y].mean(),
            "columns_sum": -log_p[:, y].sum() / n,
        }

    cases, errors = _loss_forward_cases(
        cases_of,
        look,
        lambda loss, z, y: _ce_expected(z, y),
        alts,
        lambda loss, z: {"N": z.shape[0], "C": z.shape[1]},
        lambda z, y: [("s (logits)", z), ("y", y)],
    )
    judge(
        "ℓ",
        cases,
        [
            Mistake(
                "dim0",
                "the softmax is taken over the batch (dim 0) instead of the classes "
                "(dim 1)",
                look,
            ),
            Mistake(
                "no_log", "the log is missing: ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ]", look
            ),
            Mistake(
                "all_classes",
                "every class of each row is summed: only the true class yₙ's "
                "entry counts",
                look,
            ),
            Mistake("mean_all", "divided by N·C (all entries) instead of N", look),
            Mistake("columns", COLUMNS, look),
            Mistake("columns_sum", COLUMNS, look),
        ],
        [
            Factor(
                "no 1/N: ℓ is the mean over the batch, not the sum", lambda d: d["N"]
            ),
            Factor(
                "divided by C (the classes) instead of N (the batch)",
                lambda d: d["N"] / d["C"],
            ),
        ],
        look,
        "forward returned None: it must return ℓ",
        "ℓ is inf or NaN for large logits: e^s overflows to inf. Subtract each row's"
        " maximum m first: log Σⱼ e^sⱼ = m + log Σⱼ e^(sⱼ − m), every exponent ≤ 0"
        " (log-sum-exp)",
        errors=errors,
        what="forward",
    )
    _, z, y = next(ce_cases())
    saves_for_backward(
        lambda: mod.CrossEntropyLoss(),
        [(z + 1, torch.tensor([1, 0])), (z, y)],
        lambda loss: [loss.backward()],
        look,
    )


@grades("CrossEntropyLoss.backward")
def grade_cross_entropy_backward(mod, name):
    look = BY_NAME[name].hint
    cases, errors = [], []
    for label, z, y in ce_cases():
        n, c = z.shape
        p, onehot = torch.softmax(z, dim=1), torch.nn.functional.one_hot(y, c).to(F64)
        _, (leaf,) = autograd(lambda v: _ce_expected(v, y).backward(), z)
        expected = leaf.grad.detach()
        record = loss_trial(
            name, mod.CrossEntropyLoss(), z, y, look, "∂ℓ/∂s", expected, label
        )
        if backward_crashed(record, errors, label, look, "∂ℓ/∂s", expected):
            continue
        cases.append(
            Case(
                label,
                record.first,
                expected,
                {"N": n, "C": c},
                {
                    "no_onehot": p / n,
                    "only_onehot": -onehot / n,
                    "softmax_dim0": (torch.softmax(z, dim=0) - onehot) / n,
                },
                [("s (logits)", z), ("y", y)],
            )
        )
    judge(
        "∂ℓ/∂s",
        cases,
        [
            Mistake("no_onehot", "the − onehot(y) is missing: softmax(s) / N", look),
            Mistake("only_onehot", "the softmax(s) is missing: −onehot(y) / N", look),
            Mistake(
                "softmax_dim0",
                "the softmax is taken over the batch (dim 0) instead of the "
                "classes (dim 1)",
                look,
            ),
        ],
        [
            Factor(
                "no 1/N: the loss is a mean over the batch, so its gradient is divided"
                " by N",
                lambda d: d["N"],
            ),
            Factor(
                "divided by N·C (all the entries, as p.numel() counts them) instead of"
                " N (the batch)",
                lambda d: 1 / d["C"],
            ),
            Factor("divided by N twice (or by N²)", lambda d: 1 / d["N"]),
            Factor(
                "divided by C (the classes) instead of N (the batch)",
                lambda d: d["N"] / d["C"],
            ),
        ],
        look,
        "backward returned None: it must return ∂ℓ/∂s",
        "∂ℓ/∂s has NaN or inf for large logits: the softmax overflows (e^1000 is inf in"
        " float64); subtract each row's maximum before exponentiating",
        errors=errors,
        what="backward",
    )
    _, z, y = list(ce_cases())[2]
    z2, y2 = z.flip(0) * 0.5 + 1, y.flip(0)
    after_other_numbers(
        mod.CrossEntropyLoss(),
        [
            ((z, y), lambda loss: loss.backward(), _ce_gradient(z, y)),
            ((z2, y2), lambda loss: loss.backward(), _ce_gradient(z2, y2)),
        ],
        "∂ℓ/∂s",
        look,
        "N=4, C=3",
    )


def _ce_gradient(z, y):
    _, (leaf,) = autograd(lambda v: _ce_expected(v, y).backward(), z)
    return leaf.grad.detach()
