"""What the project knows about each exercise, in one place.

Every exercise is one method of `minimlp.py` (every forward, backward and
step), found by its qualified name. For each, this module holds:

- `task`: what the derive-level skeleton says the method must compute, from
  what, and the shapes (never how: no equation of a gradient);
- `hint`: the equation the checker's "look at:" shows at the guided level
  (and at the derive level with --hint);
- `section`: the heading of docs/backprop.md that derives it, which "look at:"
  names at the derive level;
- its planted mistakes (`PLANTED`, at the end): a wrong method written as a
  student would write it, and the words the checker's diagnosis must contain.

Its grader is the function of `exercises/graders/` registered under the same
name. `make_skeletons.py` (the skeletons), `check.py` (the checker) and
`test_exercises.py` (the tests) all read this module; nothing else lists the
exercises. Standard library only: the skeleton generator runs without torch.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

SAVE = "Save on self what your backward will need."
PAGE = "docs/backprop.md"


@dataclass(frozen=True)
class Exercise:
    number: int  # its position, from 1: the order of the file and of the docs page
    name: str  # "Dense.backward", the method's qualified name in minimlp.py
    task: str  # the derive level's text
    hint: str  # the guided level's "look at:" equation
    section: str  # the heading of docs/backprop.md that derives it

    @property
    def forward(self) -> str | None:
        """The forward a backward is graded after ("Dense.forward"), or None."""
        owner, method = self.name.split(".")
        return f"{owner}.forward" if method == "backward" else None


_TABLE = [
    (
        "Dense.forward",
        "Dense",
        "Return s = x wᵀ + b for x (N, in), with w = self.weight (out, in) and b ="
        " self.bias (out,); s is (N, out). " + SAVE,
        "s = x wᵀ + b: x (N, in), w (out, in), b (out,) added to every row",
    ),
    (
        "Dense.backward",
        "Dense",
        (
            "grad_output is ∂ℓ/∂s (N, out), for the s of the last forward. Add ∂ℓ/∂w"
            " (out, in) into self.grad_weight and ∂ℓ/∂b (out,) into self.grad_bias, in"
            " place (gradients add up until zero_grad), and return ∂ℓ/∂x (N, in)."
            " Derive one entry of each, then write it for the whole batch."
        ),
        "∂ℓ/∂w += (∂ℓ/∂s)ᵀ x; ∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ; ∂ℓ/∂x = (∂ℓ/∂s) w",
    ),
    (
        "ReLU.forward",
        "ReLU",
        "Return x = max(0, s), entry by entry; s and x are (N, C). " + SAVE,
        "x = max(0, s), entry by entry",
    ),
    (
        "ReLU.backward",
        "ReLU",
        (
            "grad_output is ∂ℓ/∂x (N, C), for the x = max(0, s) of the last forward."
            " Return ∂ℓ/∂s (N, C)."
        ),
        "σ'(s) = 1 where s > 0, else 0 (0 at s = 0 too); ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)",
    ),
    (
        "Tanh.forward",
        "Tanh",
        "Return x = tanh(s), entry by entry; s and x are (N, C). " + SAVE,
        "x = tanh(s)",
    ),
    (
        "Tanh.backward",
        "Tanh",
        (
            "grad_output is ∂ℓ/∂x (N, C), for the x = tanh(s) of the last forward."
            " Return ∂ℓ/∂s (N, C), using what forward already computed."
        ),
        (
            "σ'(s) = 1 − tanh²(s) = 1 − x², with x the output saved by forward; "
            "∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)"
        ),
    ),
    (
        "Sigmoid.forward",
        "Sigmoid",
        "Return x = σ(s) = 1 / (1 + e⁻ˢ), entry by entry; s and x are (N, C). It must"
        " be finite, never NaN, for every s (try s = ±1000). " + SAVE,
        "x = 1 / (1 + e⁻ˢ); for s → −∞ it gives 1 / (1 + inf) = 0, never NaN",
    ),
    (
        "Sigmoid.backward",
        "Sigmoid",
        (
            "grad_output is ∂ℓ/∂x (N, C), for the x = σ(s) of the last forward. Return"
            " ∂ℓ/∂s (N, C), using what forward already computed."
        ),
        (
            "σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), with x the output saved by forward; "
            "∂ℓ/∂s = ∂ℓ/∂x ⊙ x (1 − x)"
        ),
    ),
    ("Identity.forward", "Identity", "Return x = s.", "x = s"),
    (
        "Identity.backward",
        "Identity",
        "grad_output is ∂ℓ/∂x; return ∂ℓ/∂s.",
        "σ'(s) = 1, so ∂ℓ/∂s = ∂ℓ/∂x",
    ),
    (
        "Softmax.forward",
        "Softmax: a Jacobian-vector product",
        "Return x (N, C) with xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row of s (N, C). It must"
        " stay finite for large scores (try s = 1000). " + SAVE,
        (
            "xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row; subtract the row's maximum m first, "
            "e^(sᵢ − m) / Σⱼ e^(sⱼ − m), so that no exponent overflows"
        ),
    ),
    (
        "Softmax.backward",
        "Softmax: a Jacobian-vector product",
        (
            "grad_output is ∂ℓ/∂x (N, C), for the x = softmax(s) of the last forward."
            " Return ∂ℓ/∂s (N, C). Every xᵢ of a row depends on every sⱼ of that row."
        ),
        (
            "∂ℓ/∂sⱼ = xⱼ (gⱼ − Σᵢ gᵢ xᵢ) with g = ∂ℓ/∂x: the sum Σᵢ gᵢ xᵢ is over the"
            " classes of each row, one number per row, (N, 1)"
        ),
    ),
    (
        "Dropout.forward",
        "Dropout",
        "In training (self.training): zero each entry of x (N, C) with probability p ="
        " self.p, drawing anew at every call (with self.generator), and scale the"
        " entries kept so that each keeps its mean. In eval mode: return x as it is. "
        + SAVE,
        (
            "training: output = x ⊙ m, mᵢ = 1 / (1 − p) with probability 1 − p, else 0,"
            " a new m at every forward, drawn with self.generator; eval mode:"
            " output = x"
        ),
    ),
    (
        "Dropout.backward",
        "Dropout",
        (
            "grad_output is ∂ℓ/∂(output) (N, C), for the last forward. Return ∂ℓ/∂x"
            " (N, C)."
        ),
        (
            "∂ℓ/∂x = ∂ℓ/∂(output) ⊙ m, with the mask m of the last forward (m = 1 after"
            " a forward in eval mode)"
        ),
    ),
    (
        "Sequential.forward",
        "The chain rule, backwards",
        "Return the output of the modules in self.modules applied in turn to x, the"
        " first one first. " + SAVE,
        (
            "x⁽ˡ⁾ = module l (x⁽ˡ⁻¹⁾) for l = 1 … L: the output of each module is the"
            " input of the next; return x⁽ᴸ⁾"
        ),
    ),
    (
        "Sequential.backward",
        "The chain rule, backwards",
        (
            "grad_output is ∂ℓ/∂x⁽ᴸ⁾, the gradient of the network's output (what the"
            " loss's backward returns). Every module must add its parameter gradients;"
            " return ∂ℓ/∂x⁽⁰⁾, of the shape of the input."
        ),
        (
            "backpropagation: for each module from the last to the first, grad = "
            "module.backward(grad); return the last grad, ∂ℓ/∂x⁽⁰⁾"
        ),
    ),
    (
        "MSELoss.forward",
        "Mean squared error",
        "Return ℓ, a 0-dim tensor: the mean (self.reduction == 'mean') or the sum"
        " ('sum') of (x − y)² over all the entries of the prediction x (N, C) and the"
        " target y of the same shape. " + SAVE,
        "d = x − y; ℓ = (1/M) Σ d² (mean, M = N·C entries) or ℓ = Σ d² (sum)",
    ),
    (
        "MSELoss.backward",
        "Mean squared error",
        (
            "Return ∂ℓ/∂x (N, C), for the prediction x of the last forward. (A loss's"
            " backward takes no argument: it starts backpropagation.)"
        ),
        "∂ℓ/∂x = 2d / M (mean, M = N·C entries) or ∂ℓ/∂x = 2d (sum), d = x − y",
    ),
    (
        "CrossEntropyLoss.forward",
        "Softmax and cross-entropy, fused",
        "logits are the scores s (N, C), target the class indices y (N,). Return ℓ ="
        " −(1/N) Σₙ log softmax(sₙ)[yₙ], a 0-dim tensor. It must stay finite for large"
        " logits (try s = 1000). " + SAVE,
        (
            "ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ] for the logits s, with log softmax(s)ᵢ ="
            " sᵢ − m − log Σⱼ e^(sⱼ − m), m the row's maximum; one entry per row, at"
            " [range(N), y]"
        ),
    ),
    (
        "CrossEntropyLoss.backward",
        "Softmax and cross-entropy, fused",
        (
            "Return ∂ℓ/∂s (N, C), for the logits s of the last forward: derive it"
            " through softmax and log together."
        ),
        "∂ℓ/∂s = (softmax(s) − onehot(y)) / N, s the logits, N the batch size",
    ),
    (
        "SGD.step",
        "SGD with momentum",
        (
            "Update every pair (w, ∂ℓ/∂w) of self.params once, in place, as the class"
            " docstring says: weight decay λ = self.weight_decay, momentum μ ="
            " self.momentum with a velocity per parameter in self.velocity (0 before"
            " the first step), learning rate η = self.lr read at every step. Never"
            " change a gradient."
        ),
        (
            "g = ∂ℓ/∂w + λ w; v ← μ v + g (v = 0 before the first step); w ← w − η v,"
            " in place"
        ),
    ),
    (
        "Adam.step",
        "Adam",
        (
            "Update every pair (w, ∂ℓ/∂w) of self.params once, in place, with Adam"
            " (Kingma & Ba 2015, Algorithm 1): running means self.m of the gradient and"
            " self.v of its square, both corrected for their start at 0; the step count"
            " self.t; β₁, β₂ = self.betas, ε = self.eps, η = self.lr; weight decay λ ="
            " self.weight_decay added to the gradient first. Never change a gradient."
        ),
        (
            "g = ∂ℓ/∂w + λ w; m ← β₁ m + (1 − β₁) g; v ← β₂ v + (1 − β₂) g ⊙ g; m̂ = m"
            " / (1 − β₁ᵗ); v̂ = v / (1 − β₂ᵗ); w ← w − η m̂ / (√v̂ + ε), t counted from"
            " 1, once per step()"
        ),
    ),
]

# The exercises, in the order of the file and of the docs page (docs/exercises.md).
EXERCISES = tuple(
    Exercise(number, name, task, hint, section)
    for number, (name, section, task, hint) in enumerate(_TABLE, start=1)
)
NAMES = tuple(exercise.name for exercise in EXERCISES)
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def find_function(tree: ast.Module, qualified_name: str) -> ast.FunctionDef:
    """The `def` of `Class.method` (or of a module-level function `name`) in `tree`."""
    *classes, name = qualified_name.split(".")
    body = tree.body
    for class_name in classes:
        found = [
            n for n in body if isinstance(n, ast.ClassDef) and n.name == class_name
        ]
        if not found:
            raise LookupError(f"no class {class_name!r} for {qualified_name}")
        body = found[0].body
    found = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == name]
    if not found:
        raise LookupError(f"no function {qualified_name}")
    return found[0]


# ---------------------------------------------------------------------------
# Planted mistakes
#
# A mistake is planted in a copy of minimlp.py by putting methods written the
# way a student writes them onto its classes. They keep their own state
# (self.saved_x), so they do not depend on how minimlp.py names what it saves.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    label: str  # the mistake, in a few words
    exercise: str  # the exercise that must FAIL, and no other
    words: str  # words the diagnosis (its headline) must contain
    patches: (
        object  # {"Class.method": function}, or a function of the module giving one
    )


# Right methods, as a student would write them; the mistakes below change one thing.


def dense_forward(self, x):
    self.saved_x = x
    return x.mm(self.weight.t()) + self.bias


def dense_backward(self, grad_output):
    self.grad_weight += grad_output.t().mm(self.saved_x)
    self.grad_bias += grad_output.sum(0)
    return grad_output.mm(self.weight)


def with_dense_forward(backward):
    """A Dense.backward, beside a right forward of the same student."""
    return {"Dense.forward": dense_forward, "Dense.backward": backward}


def saving_forward(function):
    """An activation's right forward that saves its input s and output x."""

    def forward(self, s):
        self.saved_s, self.saved_x = s, function(s)
        return self.saved_x

    return forward


def softmax(s):
    exps = (s - s.amax(1, keepdim=True)).exp()
    return exps / exps.sum(1, keepdim=True)


def softmax_backward(self, g):
    return self.saved_x * (g - (g * self.saved_x).sum(1, keepdim=True))


ACTIVATION_FUNCTIONS = {
    "ReLU": lambda s: s.clamp(min=0),
    "Tanh": lambda s: s.tanh(),
    "Sigmoid": lambda s: (-s).exp().add(1).reciprocal(),
    "Softmax": softmax,
}


def activation(kind, backward, forward=None):
    return {
        f"{kind}.forward": forward or saving_forward(ACTIVATION_FUNCTIONS[kind]),
        f"{kind}.backward": backward,
    }


def relu_forward_saving_output(self, s):
    self.output = s.clamp(min=0)
    return self.output


def mse_forward(self, prediction, target):
    self.saved_d = prediction - target
    total = (self.saved_d**2).sum()
    return total / self.saved_d.numel() if self.reduction == "mean" else total


def mse_scale(self):
    return 2.0 / self.saved_d.numel() if self.reduction == "mean" else 2.0


def mse_backward(self):
    return mse_scale(self) * self.saved_d


def mse(backward, forward=mse_forward):
    return {"MSELoss.forward": forward, "MSELoss.backward": backward}


def ce_forward(self, logits, target):
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    self.saved_p, self.saved_y = log_p.exp(), target.long()
    return -log_p.gather(1, self.saved_y.view(-1, 1)).mean()


def ce_onehot(self):
    zeros = self.saved_p.new_zeros(self.saved_p.shape)
    return zeros.scatter_(1, self.saved_y.view(-1, 1), 1.0)


def ce_backward(self):
    return (self.saved_p - ce_onehot(self)) / len(self.saved_p)


def cross_entropy(backward=ce_backward, forward=ce_forward):
    return {"CrossEntropyLoss.forward": forward, "CrossEntropyLoss.backward": backward}


def ce_forward_indexed(columns):
    """Cross-entropy's forward picking the true classes by indexing: [range(N), y]
    (right) or [:, y] (an (N, N) block: every row at every target)."""

    def forward(self, logits, target):
        shifted = logits - logits.amax(dim=1, keepdim=True)
        log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        self.saved_p, self.saved_y = log_p.exp(), target.long()
        rows = slice(None) if columns else range(len(logits))
        return -log_p[rows, target].mean()

    return forward


def dropout_forward(form="right"):
    def forward(self, x):
        if not self.training and form == "eval_keeps_mask":
            if not hasattr(
                self, "saved_m"
            ):  # the mistake: a mask of ones only the first time
                self.saved_m = 1.0
            return x
        if not self.training and form != "eval_drops":
            self.saved_m = 1.0
            return x
        keep_probability = self.p if form == "keep_p" else 1 - self.p
        generator = None if form == "no_generator" else self.generator
        keep = x.new_empty(x.shape).bernoulli_(keep_probability, generator=generator)
        self.saved_m = keep if form == "unscaled" else keep / (1 - self.p)
        return x * self.saved_m

    return forward


def dropout_forward_eval_saves_nothing(self, x):
    """Right in both modes, but in eval mode it saves nothing for backward."""
    if not self.training:
        return x
    keep = x.new_empty(x.shape).bernoulli_(1 - self.p, generator=self.generator)
    self.saved_m = keep / (1 - self.p)
    return x * self.saved_m


def dropout_backward(self, g):
    return g * self.saved_m


def dropout(backward=dropout_backward, form="right"):
    forward = form if callable(form) else dropout_forward(form)
    return {"Dropout.forward": forward, "Dropout.backward": backward}


def sequential_forward(form="right"):
    def forward(self, x):
        modules = list(reversed(list(self))) if form == "reversed" else list(self)
        output = x
        for module in modules:
            output = module.forward(x if form == "same_input" else output)
        return output

    return forward


def sequential_backward(form="right"):
    def backward(self, grad_output):
        modules = list(self) if form == "forward_order" else list(reversed(list(self)))
        incoming = grad_output
        for module in modules:
            incoming = module.backward(
                grad_output if form == "same_gradient" else incoming
            )
        return None if form == "no_return" else incoming

    return backward


def optimizer(kind, step):
    """An optimizer of the student's own: the reference constructor still runs
    (and validates), and the settings and (value, gradient) pairs are kept where
    `step` finds them, with its own state."""

    def patch(module):
        cls = getattr(module, kind)
        original = cls.__init__
        defaults = {
            "SGD": dict(momentum=0.0, weight_decay=0.0),
            "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
        }

        def __init__(self, params, **settings):
            params = list(params)
            original(self, params, **settings)
            self.settings = {**defaults[kind], **settings}
            self.pairs, self.state_of = params, {}

        return {f"{kind}.__init__": __init__, f"{kind}.step": step}

    return patch


def sgd_step(form="right"):
    def step(self):
        momentum, decay = self.settings["momentum"], self.settings["weight_decay"]
        for index, (value, grad) in enumerate(self.pairs):
            g = (
                grad.add_(value, alpha=decay)
                if form == "decay_in_place"
                else grad + decay * value
            )
            if form == "decay_after_momentum":
                g = grad
            if momentum:
                v = self.state_of.get(index)
                if form == "ema":
                    v = (
                        (1 - momentum) * g
                        if v is None
                        else momentum * v + (1 - momentum) * g
                    )
                elif form == "lr_in_v":
                    v = -self.lr * g if v is None else momentum * v - self.lr * g
                elif form == "momentum_sign":
                    v = g.clone() if v is None else g - momentum * v
                else:
                    v = g.clone() if v is None else momentum * v + g
                self.state_of[index] = v
                g = v
            if form == "decay_after_momentum":
                g = g + decay * value
            if form == "lr_in_v" and momentum:
                value += g
            elif form == "sign":
                value += self.lr * g
            elif form == "rebind":
                value = (
                    value - self.lr * g
                )  # noqa: F841 (the mistake: a new local tensor)
            elif form == "odd":
                value -= 1.01 * self.lr * g  # a mistake the checker has no name for
            else:
                value -= self.lr * g

    return step


def adam_step(form="right"):
    def step(self):
        (beta1, beta2), eps = self.settings["betas"], self.settings["eps"]
        decay = self.settings["weight_decay"]
        self.t = getattr(self, "t", 0)
        if form != "t_per_param":
            self.t += 1
        for index, (value, grad) in enumerate(self.pairs):
            if form == "t_per_param":
                self.t += 1
            g = grad + decay * value
            m, v = self.state_of.get(index, (0 * g, 0 * g))
            m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
            self.state_of[index] = (m, v)
            t = self.t + 1 if form == "t_ahead" else self.t
            if form != "no_bias_correction":
                m, v = m / (1 - beta1**t), v / (1 - beta2**t)
            denominator = (
                (v + eps).sqrt()
                if form == "eps_inside"
                else v + eps if form == "no_sqrt" else v.sqrt() + eps
            )
            value -= self.lr * m / denominator

    return step


# The mistakes, per exercise.


def _dense_backward_parts(weight=None, bias=None, returned=None):
    """A Dense.backward with one of its three lines replaced (each a function of
    (self, g)); the others are right."""

    def backward(self, g):
        if weight is None:
            self.grad_weight += g.t().mm(self.saved_x)
        else:
            weight(self, g)
        if bias is None:
            self.grad_bias += g.sum(0)
        else:
            bias(self, g)
        return returned(self, g) if returned else g.mm(self.weight)

    return with_dense_forward(backward)


def _bias_grad_keeping_its_axis(self, g):
    self.grad_bias += g.sum(0, keepdim=True)


def _dense_forward_saving_once(self, x):
    if not hasattr(self, "saved_x"):
        self.saved_x = x
    return x.mm(self.weight.t()) + self.bias


def _dense_forward_transposing_in_place(self, x):
    self.saved_x = x
    return x.mm(self.weight.t_()) + self.bias


def _relu_forward_in_place(self, s):
    self.saved_s = s.clone()
    return s.clamp_(min=0)


def _tanh_forward_in_place(self, s):
    self.saved_x = s.tanh_()
    return self.saved_x


def _relu_backward_zeroing_grad_output(self, g):
    g[self.saved_s <= 0] = 0.0
    return g


def _sigmoid_backward_caching(self, g):
    """σ′ computed at the first call and kept: wrong after the next forward."""
    if not hasattr(self, "derivative"):
        self.derivative = self.saved_x * (1 - self.saved_x)
    return g * self.derivative


def _softmax_backward_by_autograd(self, g):
    import torch

    with torch.enable_grad():
        s = self.saved_s.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(softmax(s), s, g)
    return grad


def _tensor_backward_in_mse(self):
    import torch

    with torch.enable_grad():
        x = self.saved_x.detach().requires_grad_(True)
        ((x - self.saved_y) ** 2).mean().backward()
    return x.grad


def _mse_forward_keeping_inputs(self, prediction, target):
    self.saved_x, self.saved_y = prediction, target
    return mse_forward(self, prediction, target)


def _ce_backward_in_place(self):
    """The common idiom p[range(N), y] -= 1, on the tensor forward saved."""
    p = self.saved_p
    p[range(len(p)), self.saved_y] -= 1
    return p / len(p)


def _mse_backward_in_place(self):
    self.saved_d *= mse_scale(self)
    return self.saved_d


def _ce_forward_without_the_row_max(self, logits, target):
    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    self.saved_p, self.saved_y = p, target.long()
    return -p.log().gather(1, self.saved_y.view(-1, 1)).mean()


def _dropout_backward_new_mask(self, g):
    keep = g.new_empty(g.shape).bernoulli_(1 - self.p)
    return g * keep / (1 - self.p)


def _dropout_forward_rounding(self, x):
    """Keeps with probability p, and scales as x / (1 − p) * keep: output / x
    takes values that differ in the last bits."""
    if not self.training:
        self.saved_m = 1.0
        return x
    keep = x.new_empty(x.shape).bernoulli_(self.p, generator=self.generator)
    self.saved_m = keep / (1 - self.p)
    return x / (1 - self.p) * keep


def _loop_forever(*args):
    while True:
        pass


def _grow_forever(self, grad_output):
    kept = []
    while True:
        kept.append(grad_output.new_zeros(1_000_000))


_SOFTMAX_FORWARD = saving_forward(softmax)

PLANTED = (
    # Dense
    Planted(
        "dense forward without bias",
        "Dense.forward",
        "bias b is missing",
        {
            "Dense.forward": lambda self, x: x.mm(self.weight.t()),
            "Dense.backward": dense_backward,
        },
    ),
    Planted(
        "dense forward saves nothing",
        "Dense.forward",
        "does not save what backward reads",
        {
            "Dense.forward": lambda self, x: x.mm(self.weight.t()) + self.bias,
            "Dense.backward": dense_backward,
        },
    ),
    Planted(
        "dense forward saves only once",
        "Dense.forward",
        "earlier forward",
        {"Dense.forward": _dense_forward_saving_once, "Dense.backward": dense_backward},
    ),
    Planted(
        "dense forward transposes the weight in place",
        "Dense.forward",
        "changed the layer's weight w in place",
        {
            "Dense.forward": _dense_forward_transposing_in_place,
            "Dense.backward": dense_backward,
        },
    ),
    Planted(
        "bias grad is a mean",
        "Dense.backward",
        "mean over the batch, not the sum",
        _dense_backward_parts(bias=lambda self, g: self.grad_bias.add_(g.mean(0))),
    ),
    Planted(
        "bias grad is one row",
        "Dense.backward",
        "only the first row",
        _dense_backward_parts(bias=lambda self, g: self.grad_bias.add_(g[0])),
    ),
    Planted(
        "bias grad summed over the outputs",
        "Dense.backward",
        "wrong axis",
        _dense_backward_parts(bias=lambda self, g: self.grad_bias.add_(g.sum(1))),
    ),
    Planted(
        "bias grad keeps its axis and is rebound",
        "Dense.backward",
        "keeps the summed axis (keepdim) and is replaced by a new tensor",
        _dense_backward_parts(
            bias=lambda self, g: setattr(
                self, "grad_bias", self.grad_bias + g.sum(0, keepdim=True)
            )
        ),
    ),
    Planted(
        "bias grad keeps its axis",
        "Dense.backward",
        "keeps the summed axis (keepdim)",
        _dense_backward_parts(bias=_bias_grad_keeping_its_axis),
    ),
    Planted(
        "weight grad transposed",
        "Dense.backward",
        "transposed",
        _dense_backward_parts(
            weight=lambda self, g: self.grad_weight.add_(self.saved_x.t().mm(g))
        ),
    ),
    Planted(
        "weight grad assigned, not accumulated",
        "Dense.backward",
        "assigned (=), not accumulated (+=)",
        _dense_backward_parts(
            weight=lambda self, g: setattr(self, "grad_weight", g.t().mm(self.saved_x))
        ),
    ),
    Planted(
        "bias grad copied in, not accumulated",
        "Dense.backward",
        "assigned (=), not accumulated (+=)",
        _dense_backward_parts(bias=lambda self, g: self.grad_bias.copy_(g.sum(0))),
    ),
    Planted(
        "weight grad rebound",
        "Dense.backward",
        "replaced by a new tensor",
        _dense_backward_parts(
            weight=lambda self, g: setattr(
                self, "grad_weight", self.grad_weight + g.t().mm(self.saved_x)
            )
        ),
    ),
    Planted(
        "weight grad sign flipped",
        "Dense.backward",
        "sign is flipped",
        _dense_backward_parts(
            weight=lambda self, g: self.grad_weight.sub_(g.t().mm(self.saved_x))
        ),
    ),
    Planted(
        "input grad uses w transposed",
        "Dense.backward",
        "uses wᵀ instead of w",
        _dense_backward_parts(returned=lambda self, g: g.mm(self.weight.t())),
    ),
    Planted(
        "dense backward typo",
        "Dense.backward",
        "self.saved_xx",
        _dense_backward_parts(
            weight=lambda self, g: self.grad_weight.add_(g.t().mm(self.saved_xx))
        ),
    ),
    Planted(
        "dense backward loops forever",
        "Dense.backward",
        "an endless loop?",
        with_dense_forward(_loop_forever),
    ),
    # ReLU
    Planted(
        "relu forward in place",
        "ReLU.forward",
        "changed the caller's s in place",
        activation(
            "ReLU",
            lambda self, g: g * (self.saved_s > 0),
            forward=_relu_forward_in_place,
        ),
    ),
    Planted(
        "relu forward typo",
        "ReLU.forward",
        "forward raised AttributeError",
        {
            "ReLU.forward": lambda self, s: s.clmap(min=0),
            "ReLU.backward": lambda self, g: g,
        },
    ),
    Planted(
        "relu backward changes grad_output",
        "ReLU.backward",
        "changed the caller's grad_output in place",
        activation("ReLU", _relu_backward_zeroing_grad_output),
    ),
    Planted(
        "relu backward without the chain rule",
        "ReLU.backward",
        "multiply it by the incoming",
        activation("ReLU", lambda self, g: (self.saved_s > 0).to(g.dtype)),
    ),
    Planted(
        "relu mask x >= 0 (always true)",
        "ReLU.backward",
        "x >= 0 is always true",
        activation("ReLU", lambda self, g: g * (self.saved_x >= 0)),
    ),
    Planted(
        "relu mask s >= 0 (1 at the kink)",
        "ReLU.backward",
        "σ'(0) = 0",
        activation("ReLU", lambda self, g: g * (self.saved_s >= 0)),
    ),
    Planted(
        "relu mask from grad_output > 0",
        "ReLU.backward",
        "taken from the incoming gradient (grad_output > 0)",
        activation("ReLU", lambda self, g: g * (g > 0)),
    ),
    Planted(
        "relu backward typo self.outptu",
        "ReLU.backward",
        "backward reads self.outptu, which forward never sets — a typo for"
        " self.output?",
        {
            "ReLU.forward": relu_forward_saving_output,
            "ReLU.backward": lambda self, g: g * (self.outptu > 0),
        },
    ),
    # Tanh
    Planted(
        "tanh derivative from the input",
        "Tanh.backward",
        "from the input s instead of the output x",
        activation("Tanh", lambda self, g: g * (1 - self.saved_s**2)),
    ),
    Planted(
        "tanh applied again to the saved output",
        "Tanh.backward",
        "tanh is applied again to the saved output",
        activation("Tanh", lambda self, g: g * (1 - self.saved_x.tanh() ** 2)),
    ),
    Planted(
        "tanh backward with an odd power",
        "Tanh.backward",
        "of ∂ℓ/∂s differ",
        activation("Tanh", lambda self, g: g * (1 - self.saved_x**3)),
    ),
    Planted(
        "tanh forward in place",
        "Tanh.forward",
        "changed the caller's s in place",
        activation(
            "Tanh",
            lambda self, g: g * (1 - self.saved_x**2),
            forward=_tanh_forward_in_place,
        ),
    ),
    # Identity
    Planted(
        "identity forward returns nothing",
        "Identity.forward",
        "forward returned None",
        {"Identity.forward": lambda self, s: None},
    ),
    Planted(
        "identity backward flips the sign",
        "Identity.backward",
        "the sign is flipped",
        {"Identity.backward": lambda self, g: -g},
    ),
    # Sigmoid
    Planted(
        "sigmoid forward overflows",
        "Sigmoid.forward",
        "NaN or inf for large |s|",
        activation(
            "Sigmoid",
            lambda self, g: g * self.saved_x * (1 - self.saved_x),
            forward=saving_forward(lambda s: s.exp() / (1 + s.exp())),
        ),
    ),
    Planted(
        "sigmoid derivative from the input",
        "Sigmoid.backward",
        "s (1 − s)",
        activation("Sigmoid", lambda self, g: g * self.saved_s * (1 - self.saved_s)),
    ),
    Planted(
        "sigmoid applied again to the saved output",
        "Sigmoid.backward",
        "σ is applied again to the saved output",
        activation(
            "Sigmoid",
            lambda self, g: (lambda x: g * x * (1 - x))(
                1 / (1 + (-self.saved_x).exp())
            ),
        ),
    ),
    Planted(
        "sigmoid backward keeps σ′ of its first call",
        "Sigmoid.backward",
        "keeps something from its first call",
        activation("Sigmoid", _sigmoid_backward_caching),
    ),
    # Softmax
    Planted(
        "softmax forward without the row maximum",
        "Softmax.forward",
        "NaN or inf for large |s|",
        {
            "Softmax.forward": saving_forward(
                lambda s: s.exp() / s.exp().sum(1, keepdim=True)
            ),
            "Softmax.backward": softmax_backward,
        },
    ),
    Planted(
        "softmax forward subtracts the row maximum without keepdim",
        "Softmax.forward",
        "row maxima are laid along the wrong axis",
        {
            "Softmax.forward": saving_forward(
                lambda s: (s - s.amax(1)).exp()
                / (s - s.amax(1)).exp().sum(1, keepdim=True)
            ),
            "Softmax.backward": softmax_backward,
        },
    ),
    Planted(
        "softmax backward diagonal only",
        "Softmax.backward",
        "only the diagonal",
        {
            "Softmax.forward": _SOFTMAX_FORWARD,
            "Softmax.backward": lambda self, g: g * self.saved_x * (1 - self.saved_x),
        },
    ),
    Planted(
        "softmax row sum without keepdim",
        "Softmax.backward",
        "keepdim=True",
        {
            "Softmax.forward": _SOFTMAX_FORWARD,
            "Softmax.backward": lambda self, g: (
                self.saved_x * (g - (g * self.saved_x).sum(dim=1))
            ),
        },
    ),
    Planted(
        "softmax backward edits its saved output in place (x.mul_)",
        "Softmax.backward",
        "the tensor forward returned",
        {
            "Softmax.forward": _SOFTMAX_FORWARD,
            "Softmax.backward": lambda self, g: (
                self.saved_x.mul_(g - (g * self.saved_x).sum(1, keepdim=True))
            ),
        },
    ),
    Planted(
        "softmax backward by torch.autograd",
        "Softmax.backward",
        "the homework's rule",
        {
            "Softmax.forward": _SOFTMAX_FORWARD,
            "Softmax.backward": _softmax_backward_by_autograd,
        },
    ),
    # Dropout
    Planted(
        "dropout forward does not scale",
        "Dropout.forward",
        "not scaled by 1 / (1 − p)",
        dropout(form="unscaled"),
    ),
    Planted(
        "dropout forward keeps with probability p",
        "Dropout.forward",
        "kept with probability p",
        dropout(form="keep_p"),
    ),
    Planted(
        "dropout forward keeps with probability p, scaled as x / (1 − p) * keep",
        "Dropout.forward",
        "kept with probability p",
        dropout(form=_dropout_forward_rounding),
    ),
    Planted(
        "dropout forward drops in eval mode",
        "Dropout.forward",
        "in eval mode",
        dropout(form="eval_drops"),
    ),
    Planted(
        "dropout forward ignores its generator",
        "Dropout.forward",
        "ignores self.generator",
        dropout(form="no_generator"),
    ),
    Planted(
        "dropout backward passes the gradient through",
        "Dropout.backward",
        "returned ∂ℓ/∂(output) unchanged",
        dropout(lambda self, g: g),
    ),
    Planted(
        "dropout backward draws a new mask",
        "Dropout.backward",
        "new random mask",
        dropout(_dropout_backward_new_mask),
    ),
    Planted(
        "dropout eval forward leaves the training mask",
        "Dropout.backward",
        "the mask of an earlier forward in training",
        dropout(form="eval_keeps_mask"),
    ),
    Planted(
        "dropout backward reads a mask its eval forward never set",
        "Dropout.backward",
        "in eval mode",
        dropout(form=dropout_forward_eval_saves_nothing),
    ),
    # Sequential
    Planted(
        "sequential forward runs last to first",
        "Sequential.forward",
        "last to first",
        {"Sequential.forward": sequential_forward("reversed")},
    ),
    Planted(
        "sequential forward gives every module x",
        "Sequential.forward",
        "every module gets the network's input",
        {"Sequential.forward": sequential_forward("same_input")},
    ),
    Planted(
        "sequential in forward order",
        "Sequential.backward",
        "first to last",
        {"Sequential.backward": sequential_backward("forward_order")},
    ),
    Planted(
        "sequential passes the same gradient",
        "Sequential.backward",
        "same incoming gradient",
        {"Sequential.backward": sequential_backward("same_gradient")},
    ),
    Planted(
        "sequential returns nothing",
        "Sequential.backward",
        "returned None",
        {"Sequential.backward": sequential_backward("no_return")},
    ),
    Planted(
        "sequential backward loops forever",
        "Sequential.backward",
        "an endless loop?",
        {"Sequential.backward": _loop_forever},
    ),
    # MSELoss
    Planted(
        "mse forward without 1/M",
        "MSELoss.forward",
        "no 1/M",
        mse(
            mse_backward,
            lambda self, p, y: (setattr(self, "saved_d", p - y), ((p - y) ** 2).sum())[
                1
            ],
        ),
    ),
    Planted(
        "mse forward divides by N",
        "MSELoss.forward",
        "divided by N (the rows) instead of M",
        mse(
            mse_backward,
            lambda self, p, y: (
                setattr(self, "saved_d", p - y),
                ((p - y) ** 2).sum() / (p.shape[0] if self.reduction == "mean" else 1),
            )[1],
        ),
    ),
    Planted(
        "mse forward returns a Python float",
        "MSELoss.forward",
        "ℓ is a float, not a tensor",
        mse(mse_backward, lambda self, p, y: float(mse_forward(self, p, y))),
    ),
    Planted(
        "mse backward without the 2",
        "MSELoss.backward",
        "the 2 is missing",
        mse(lambda self: mse_scale(self) / 2 * self.saved_d),
    ),
    Planted(
        "mse backward without 1/M",
        "MSELoss.backward",
        "no 1/M",
        mse(lambda self: 2 * self.saved_d),
    ),
    Planted(
        "mse backward sign flipped",
        "MSELoss.backward",
        "sign is flipped",
        mse(lambda self: -mse_scale(self) * self.saved_d),
    ),
    Planted(
        "mse backward scales its saved difference in place",
        "MSELoss.backward",
        "backward changes self.saved_d in place",
        mse(_mse_backward_in_place),
    ),
    Planted(
        "mse backward by tensor.backward()",
        "MSELoss.backward",
        "the homework's rule",
        mse(_tensor_backward_in_mse, _mse_forward_keeping_inputs),
    ),
    # CrossEntropyLoss
    Planted(
        "cross-entropy forward without the row maximum",
        "CrossEntropyLoss.forward",
        "inf or NaN for large logits",
        cross_entropy(forward=_ce_forward_without_the_row_max),
    ),
    Planted(
        "cross-entropy forward sums over the batch",
        "CrossEntropyLoss.forward",
        "no 1/N",
        cross_entropy(forward=lambda self, z, y: ce_forward(self, z, y) * len(z)),
    ),
    Planted(
        "cross-entropy forward indexes log_p[:, y]",
        "CrossEntropyLoss.forward",
        "[:, y]",
        cross_entropy(forward=ce_forward_indexed(columns=True)),
    ),
    Planted(
        "cross-entropy without 1/N",
        "CrossEntropyLoss.backward",
        "no 1/N",
        cross_entropy(lambda self: self.saved_p - ce_onehot(self)),
    ),
    Planted(
        "cross-entropy divided by p.numel()",
        "CrossEntropyLoss.backward",
        "divided by N·C",
        cross_entropy(
            lambda self: (self.saved_p - ce_onehot(self)) / self.saved_p.numel()
        ),
    ),
    Planted(
        "cross-entropy sign flipped",
        "CrossEntropyLoss.backward",
        "sign is flipped",
        cross_entropy(
            lambda self: (ce_onehot(self) - self.saved_p) / len(self.saved_p)
        ),
    ),
    Planted(
        "cross-entropy without the onehot",
        "CrossEntropyLoss.backward",
        "onehot(y) is missing",
        cross_entropy(lambda self: self.saved_p / len(self.saved_p)),
    ),
    Planted(
        "cross-entropy backward p[range(N), y] -= 1 on the saved softmax",
        "CrossEntropyLoss.backward",
        "backward changes self.saved_p in place",
        cross_entropy(_ce_backward_in_place),
    ),
    # SGD
    Planted(
        "sgd momentum as a moving average",
        "SGD.step",
        "v ← μ v + (1 − μ) g",
        optimizer("SGD", sgd_step("ema")),
    ),
    Planted(
        "sgd momentum with lr inside",
        "SGD.step",
        "v ← μ v − η g",
        optimizer("SGD", sgd_step("lr_in_v")),
    ),
    Planted(
        "sgd momentum with the wrong sign",
        "SGD.step",
        "v ← g − μ v",
        optimizer("SGD", sgd_step("momentum_sign")),
    ),
    Planted(
        "sgd weight decay added after the momentum",
        "SGD.step",
        "weight decay is added after the momentum",
        optimizer("SGD", sgd_step("decay_after_momentum")),
    ),
    Planted(
        "sgd goes up the gradient",
        "SGD.step",
        "up the gradient",
        optimizer("SGD", sgd_step("sign")),
    ),
    Planted(
        "sgd weight decay changes the gradient",
        "SGD.step",
        "changed a gradient tensor in place",
        optimizer("SGD", sgd_step("decay_in_place")),
    ),
    Planted(
        "sgd rebinds the parameter",
        "SGD.step",
        "did not change the parameters",
        optimizer("SGD", sgd_step("rebind")),
    ),
    Planted(
        "sgd with a mistake nobody named",
        "SGD.step",
        "after step 1, every entry of w differs",
        optimizer("SGD", sgd_step("odd")),
    ),
    # Adam
    Planted(
        "adam without bias correction",
        "Adam.step",
        "no bias correction",
        optimizer("Adam", adam_step("no_bias_correction")),
    ),
    Planted(
        "adam counts steps per parameter",
        "Adam.step",
        "once per parameter",
        optimizer("Adam", adam_step("t_per_param")),
    ),
    Planted(
        "adam eps inside the root",
        "Adam.step",
        "inside the square root",
        optimizer("Adam", adam_step("eps_inside")),
    ),
    Planted(
        "adam without the square root of v̂",
        "Adam.step",
        "square root of v̂ is missing",
        optimizer("Adam", adam_step("no_sqrt")),
    ),
    Planted(
        "adam bias correction one step ahead",
        "Adam.step",
        "one step ahead",
        optimizer("Adam", adam_step("t_ahead")),
    ),
)
PLANTED_BY_LABEL = {planted.label: planted for planted in PLANTED}
