"""SGD.step and Adam.step: three steps on three parameters (the learning rate
halved before the third), compared with PyTorch's update rules on several
settings; a wrong trajectory is matched against the forms students write."""

from __future__ import annotations

import torch

from exercises.catalogue import BY_NAME
from exercises.compare import close, fmt, fmt_pair, differing
from exercises.graders import grades
from exercises.graders.judge import randn, t
from exercises.harness import Failed, Todo, crashed, student


def optimizer_problem():
    """Initial values and the gradients of three steps, for three parameters;
    the 2×2 one has numbers you can follow by hand."""
    values = [t([[1, -2], [0.5, 3]]), randn(3, seed=300), randn(1, 4, seed=301)]
    grads = [
        [t([[0.5, -1], [2, 0.25]]), randn(3, seed=310), randn(1, 4, seed=311)],
        [t([[-1, 0.5], [1, 1]]), randn(3, seed=320), randn(1, 4, seed=321)],
        [t([[0.25, 2], [-0.5, 1]]), randn(3, seed=330), randn(1, 4, seed=331)],
    ]
    return values, grads


def run_optimizer(make, values, grads, lrs):
    """The trajectory (values after each step) of the student's optimizer."""
    values = [v.clone() for v in values]
    gradients = [torch.zeros_like(v) for v in values]
    optimizer = student(make, list(zip(values, gradients)))
    trajectory = []
    for step, (step_grads, lr) in enumerate(zip(grads, lrs), start=1):
        optimizer.lr = lr
        for gradient, new in zip(gradients, step_grads):
            gradient.copy_(new)
        student(optimizer.step)
        for gradient, new in zip(gradients, step_grads):
            if not torch.equal(gradient, new):
                before, after = fmt_pair(new, gradient)
                raise Failed(
                    "step() changed a gradient tensor in place (e.g. grad.add_(...) "
                    "for weight decay): use an out-of-place grad + λ w",
                    "g = ∂ℓ/∂w + λ w as a new tensor; step() never changes the"
                    " gradients",
                    [
                        f"  expected the gradient after step() = {before} (unchanged)",
                        f"  got      the gradient after step() = {after}",
                    ],
                )
        trajectory.append([v.clone() for v in values])
    return trajectory


def torch_trajectory(cls, values, grads, lrs, **settings):
    """The trajectory torch.optim's `cls` takes (the oracle the tests hold the
    checker's own `sgd_form`/`adam_form("pytorch", ...)` to)."""
    params = [v.clone().requires_grad_(True) for v in values]
    optimizer = cls(params, lr=lrs[0], **settings)
    trajectory = []
    for step_grads, lr in zip(grads, lrs):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for p, gradient in zip(params, step_grads):
            p.grad = gradient.clone()
        optimizer.step()
        trajectory.append([p.detach().clone() for p in params])
    return trajectory


def sgd_form(form, values, grads, lrs, lr, momentum=0.0, weight_decay=0.0):
    """SGD as a student might write it; form 'pytorch' is the right one."""
    values = [v.clone() for v in values]
    velocity = [None] * len(values)
    trajectory = []
    for step_grads, lr in zip(grads, lrs):
        for i, (w, g) in enumerate(zip(values, step_grads)):
            decay = 0.0 if form == "wd_ignored" else weight_decay
            d = g - decay * w if form == "wd_sign" else g + decay * w
            if form in ("wd_decoupled", "wd_no_lr", "wd_after_momentum"):
                d = g
            mu = 0.0 if form == "no_momentum" else momentum
            if mu:
                if form == "ema":
                    velocity[i] = (
                        (1 - mu) * d
                        if velocity[i] is None
                        else mu * velocity[i] + (1 - mu) * d
                    )
                elif form == "lr_in_v":
                    velocity[i] = (
                        -lr * d if velocity[i] is None else mu * velocity[i] - lr * d
                    )
                elif form == "momentum_sign":
                    velocity[i] = (
                        d.clone() if velocity[i] is None else d - mu * velocity[i]
                    )
                else:
                    velocity[i] = (
                        d.clone() if velocity[i] is None else mu * velocity[i] + d
                    )
                d = velocity[i]
            if form == "wd_after_momentum":
                d = d + weight_decay * w
            if form == "lr_in_v" and mu:
                w += d
            elif form == "sign":
                w += lr * d
            else:
                w -= lr * d
            if form == "wd_decoupled":
                w -= lr * weight_decay * w
            if form == "wd_no_lr":
                w -= weight_decay * w
        trajectory.append([v.clone() for v in values])
    return trajectory


def adam_form(
    form, values, grads, lrs, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0
):
    """Adam as a student might write it; form 'pytorch' is the right one."""
    beta1, beta2 = (betas[1], betas[0]) if form == "betas_swapped" else betas
    values = [v.clone() for v in values]
    m = [torch.zeros_like(v) for v in values]
    v2 = [torch.zeros_like(v) for v in values]
    trajectory, t_count = [], 0
    for step_grads, lr in zip(grads, lrs):
        if form != "t_per_param":
            t_count += 1
        t_used = t_count + 1 if form == "t_ahead" else t_count
        for i, (w, g) in enumerate(zip(values, step_grads)):
            if form == "t_per_param":
                t_count += 1
            d = g if form in ("adamw", "wd_ignored") else g + weight_decay * w
            m[i] = beta1 * m[i] + (d if form == "no_one_minus" else (1 - beta1) * d)
            v2[i] = beta2 * v2[i] + (1 - beta2) * d * d
            if form == "t_per_param":
                t_used = t_count
            m_hat = (
                m[i]
                if form in ("no_bias_correction", "only_v")
                else m[i] / (1 - beta1**t_used)
            )
            v_hat = (
                v2[i]
                if form in ("no_bias_correction", "only_m")
                else v2[i] / (1 - beta2**t_used)
            )
            denominator = (
                (v_hat + eps).sqrt()
                if form == "eps_inside"
                else v_hat + eps if form == "no_sqrt" else v_hat.sqrt() + eps
            )
            step = lr * m_hat / denominator
            w += step if form == "sign" else -step
            if form == "adamw":
                w -= lr * weight_decay * w
        trajectory.append([v.clone() for v in values])
    return trajectory


SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, momentum=0.9, weight_decay=0.1),
]
SGD_FORMS = [
    ("sign", "the step goes up the gradient: w ← w − η g, with a minus", "w ← w − η v"),
    (
        "ema",
        (
            "momentum in the form v ← μ v + (1 − μ) g; this API (as PyTorch) uses v ← μ"
            " v + g, with v = g at the first step"
        ),
        "v ← μ v + g; w ← w − η v",
    ),
    (
        "lr_in_v",
        (
            "momentum in the form v ← μ v − η g, w ← w + v: the same as PyTorch's while"
            " η is constant, but not when lr changes between steps; PyTorch keeps η out"
            " of v"
        ),
        "v ← μ v + g; w ← w − η v",
    ),
    ("no_momentum", "momentum is ignored", "v ← μ v + g; w ← w − η v"),
    (
        "momentum_sign",
        (
            "momentum has the wrong sign: v ← g − μ v; the velocity keeps its "
            "direction, v ← μ v + g"
        ),
        "v ← μ v + g; w ← w − η v",
    ),
    (
        "wd_after_momentum",
        (
            "weight decay is added after the momentum (w ← w − η (v + λ w)): "
            "λ w goes into the gradient first, g = ∂ℓ/∂w + λ w, and then v ← μ v + g"
        ),
        "g = ∂ℓ/∂w + λ w, then v ← μ v + g, then w ← w − η v",
    ),
    ("wd_ignored", "weight decay is ignored", "g = ∂ℓ/∂w + λ w (before momentum)"),
    ("wd_sign", "weight decay has the wrong sign: g = ∂ℓ/∂w + λ w", "g = ∂ℓ/∂w + λ w"),
    (
        "wd_decoupled",
        (
            "weight decay is applied outside momentum (w ← w − ηλw apart): this "
            "API (as PyTorch's SGD) adds λw to the gradient before momentum"
        ),
        "g = ∂ℓ/∂w + λ w, then v ← μ v + g",
    ),
    (
        "wd_no_lr",
        "weight decay is not multiplied by the learning rate (w ← w − λw)",
        "g = ∂ℓ/∂w + λ w, then w ← w − η v",
    ),
]
ADAM_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, betas=(0.8, 0.95), eps=0.1),
]
ADAM_FORMS = [
    (
        "no_bias_correction",
        "no bias correction: m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ) are missing",
        "m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)",
    ),
    (
        "only_m",
        "only m is bias-corrected: v̂ = v / (1 − β₂ᵗ) is missing",
        "v̂ = v / (1 − β₂ᵗ)",
    ),
    (
        "only_v",
        "only v is bias-corrected: m̂ = m / (1 − β₁ᵗ) is missing",
        "m̂ = m / (1 − β₁ᵗ)",
    ),
    (
        "t_per_param",
        (
            "the step count t grows once per parameter, not once per step(): "
            "count steps outside the loop over parameters"
        ),
        "t ← t + 1, once per step()",
    ),
    (
        "sign",
        "the step goes up the gradient: w ← w − η m̂ / (√v̂ + ε), with a minus",
        "w ← w − η m̂ / (√v̂ + ε)",
    ),
    (
        "eps_inside",
        "ε is inside the square root: √(v̂ + ε) instead of √v̂ + ε",
        "w ← w − η m̂ / (√v̂ + ε)",
    ),
    (
        "no_sqrt",
        (
            "the square root of v̂ is missing: the step divides by √v̂ + ε, v̂ being a "
            "running mean of g²"
        ),
        "w ← w − η m̂ / (√v̂ + ε)",
    ),
    (
        "t_ahead",
        (
            "the bias correction is one step ahead: at the first step t = 1, so m̂ = m"
            " / (1 − β₁¹); you divide by 1 − β^(t+1) (t counted from 1 and increased"
            " before it is used, or starting at 1 instead of 0)"
        ),
        "m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), t = 1 at the first step()",
    ),
    ("no_one_minus", "m ← β₁ m + g: the (1 − β₁) is missing", "m ← β₁ m + (1 − β₁) g"),
    (
        "betas_swapped",
        "β₁ and β₂ are swapped",
        "m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g²",
    ),
    (
        "adamw",
        "weight decay is decoupled (AdamW's w ← w − ηλw): Adam adds λw to the gradient",
        "g = ∂ℓ/∂w + λ w, before m and v",
    ),
    ("wd_ignored", "weight decay is ignored", "g = ∂ℓ/∂w + λ w, before m and v"),
]


@grades("SGD.step", "Adam.step")
def grade_optimizer(mod, name):
    kind = name.split(".")[0]
    settings_list, forms = (
        (SGD_SETTINGS, SGD_FORMS) if kind == "SGD" else (ADAM_SETTINGS, ADAM_FORMS)
    )
    simulate = sgd_form if kind == "SGD" else adam_form
    values, grads = optimizer_problem()
    for settings in settings_list:
        lrs = [
            settings["lr"],
            settings["lr"],
            settings["lr"] / 2,
        ]  # lr changed before step 3
        make = lambda pairs: getattr(mod, kind)(pairs, **settings)  # noqa: E731
        try:
            got = run_optimizer(make, values, grads, lrs)
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed(
                f"{kind}(..., {_settings_text(settings)})",
                error,
                "3 parameters",
                BY_NAME[f"{kind}.step"].hint,
            ) from None
        # PyTorch's update rule, as torch.optim computes it (test_exercises.py checks
        # that on every setting; building a torch.optim optimizer here would cost
        # every run 2 s of imports)
        expected = simulate("pytorch", values, grads, lrs, **settings)
        if not _same_trajectory(got, expected):
            _diagnose_optimizer(
                kind, settings, values, grads, lrs, got, expected, forms, simulate
            )
        again = run_optimizer(make, values, grads, lrs)
        if not _same_trajectory(again, expected):
            _diagnose_optimizer(
                kind,
                settings,
                values,
                grads,
                lrs,
                again,
                expected,
                [],
                simulate,
                SHARED.format(kind=kind),
            )


SHARED = (
    "a second {kind} made with the same settings takes other steps than the first: "
    "the state of the first (its velocity, m, v or t) is kept where a new optimizer "
    "finds it (on the class, or in a name outside the class) instead of on self"
)


def _same_trajectory(got, expected) -> bool:
    return all(
        close(a, b)
        for step_a, step_b in zip(got, expected)
        for a, b in zip(step_a, step_b)
    )


def _settings_text(settings):
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def _diagnose_optimizer(
    kind, settings, values, grads, lrs, got, expected, forms, simulate, unknown=""
):
    step = next(
        k
        for k, (a, b) in enumerate(zip(got, expected))
        if not all(close(x, y) for x, y in zip(a, b))
    )
    index = next(
        i for i, (a, b) in enumerate(zip(got[step], expected[step])) if not close(a, b)
    )
    shown_expected, shown_got = fmt_pair(expected[step][index], got[step][index])
    which = (
        "the 2×2 parameter"
        if index == 0
        else f"parameter {index} (of shape {tuple(values[index].shape)})"
    )
    where = (
        [
            (
                f"with {kind}(params, {_settings_text(settings)}), lr {lrs[-1]} at step"
                f" 3; {which}"
            ),
            f"  w₀ = {fmt(values[index])}",
        ]
        + [f"  g{k + 1} = {fmt(grads[k][index])}" for k in range(step + 1)]
        + [
            f"  expected w after step {step + 1} = {shown_expected}",
            f"  got      w after step {step + 1} = {shown_got}",
        ]
    )
    look = BY_NAME[f"{kind}.step"].hint
    if all(torch.equal(a, b) for a, b in zip(got[-1], values)):
        raise Failed(
            "step() did not change the parameters: update them in place "
            "(w -= ...); w = w - ... only rebinds a local name",
            "w ← w − η (...), in place on the tensors of model.param()",
            where,
        )
    finite = all(torch.isfinite(v).all() for v in got[step])
    if not finite:
        raise Failed(
            "NaN or inf in the parameters"
            + (
                " (a division by zero: if the step count t starts at 0, 1 − βᵗ is 0;"
                " count from 1)"
                if kind == "Adam"
                else ""
            ),
            look,
            where,
        )
    for key, headline, form_look in forms:
        alternative = simulate(key, values, grads, lrs, **settings)
        if all(
            close(a, b)
            for step_a, step_b in zip(got, alternative)
            for a, b in zip(step_a, step_b)
        ):
            raise Failed(headline, form_look, where)
    if unknown:
        raise Failed(unknown, look, where)
    raise Failed(
        f"not a mistake this checker knows: after step {step + 1}, "
        + differing("w", got[step][index], expected[step][index]),
        look,
        where,
    )
