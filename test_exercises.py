"""The exercise track: the skeleton is fresh, and the checker's verdicts are right.

Each classic mistake is planted in a copy of the reference module, written the
way a student would write it (a method monkeypatched onto the class), and must
get FAIL with its diagnosis on its own exercise, while no other exercise fails
because of it. The planted methods keep their own state (`self.saved_x`), so
they do not depend on how minimlp.py names what it saves.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent
EXERCISES_DIR = ROOT / "exercises"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check = _load("minimlp_exercise_checker", EXERCISES_DIR / "check.py")
make_student = _load("minimlp_exercise_maker", EXERCISES_DIR / "make_student.py")


def grade(patches: dict | None = None) -> dict:
    """The checker's results for minimlp.py with `patches` ({"Dense.backward": function})."""
    module = check.load(ROOT / "minimlp.py")
    for qualified, function in (patches or {}).items():
        class_name, method = qualified.split(".")
        setattr(getattr(module, class_name), method, function)
    return {result.name: result for result in check.grade(module)}


# ---------------------------------------------------------------------------
# Student implementations: a right one of each exercise, then the mistakes
# ---------------------------------------------------------------------------


def dense_forward(self, x):
    self.saved_x = x
    return x.mm(self.weight.t()) + self.bias


def dense_backward(self, grad_output):
    self.grad_weight += grad_output.t().mm(self.saved_x)
    self.grad_bias += grad_output.sum(0)
    return grad_output.mm(self.weight)


def with_dense_forward(backward):
    """A Dense.backward mistake, planted beside a right forward of the same student."""
    return {"Dense.forward": dense_forward, "Dense.backward": backward}


def saving_forward(function):
    """An activation's right forward that saves its input s and output x."""
    def forward(self, s):
        self.saved_s, self.saved_x = s, function(s)
        return self.saved_x
    return forward


def activation(kind, backward, forward=None):
    functions = {"ReLU": lambda s: s.clamp(min=0), "Tanh": lambda s: s.tanh(),
                 "Sigmoid": lambda s: (-s).exp().add(1).reciprocal()}
    return {f"{kind}.forward": forward or saving_forward(functions[kind]),
            f"{kind}.backward": backward}


def mse_forward(self, prediction, target):
    self.saved_d = prediction - target
    total = (self.saved_d ** 2).sum()
    return total / self.saved_d.numel() if self.reduction == "mean" else total


def mse_scale(self):
    return 2.0 / self.saved_d.numel() if self.reduction == "mean" else 2.0


def ce_forward(self, logits, target):
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    self.saved_p, self.saved_y = log_p.exp(), target.long()
    return -log_p.gather(1, self.saved_y.view(-1, 1)).mean()


def ce_onehot(self):
    return self.saved_p.new_zeros(self.saved_p.shape).scatter_(1, self.saved_y.view(-1, 1), 1.0)


def optimizer(kind, step):
    """An optimizer step of the student's own, with its own state; the reference
    constructor still runs (and validates), and the patched one keeps the
    hyperparameters and the (value, gradient) pairs where `step` finds them."""
    def patch(module):
        cls = getattr(module, kind)
        original = cls.__init__
        signature = inspect.signature(original)

        def __init__(self, params, *args, **kwargs):
            params = list(params)
            original(self, params, *args, **kwargs)
            bound = signature.bind(self, params, *args, **kwargs)
            bound.apply_defaults()
            self.settings, self.pairs, self.state_of = dict(bound.arguments), params, {}
        return {f"{kind}.__init__": __init__, f"{kind}.step": step}
    return patch


def grade_optimizer(kind, step):
    module = check.load(ROOT / "minimlp.py")
    for qualified, function in optimizer(kind, step)(module).items():
        class_name, method = qualified.split(".")
        setattr(getattr(module, class_name), method, function)
    return {result.name: result for result in check.grade(module)}


def sgd_step(form):
    def step(self):
        momentum, decay = self.settings["momentum"], self.settings["weight_decay"]
        for index, (value, grad) in enumerate(self.pairs):
            g = grad.add(value, alpha=decay) if form != "decay_in_place" else grad.add_(value, alpha=decay)
            if momentum:
                v = self.state_of.get(index)
                if form == "ema":
                    v = (1 - momentum) * g if v is None else momentum * v + (1 - momentum) * g
                elif form == "lr_in_v":
                    v = -self.lr * g if v is None else momentum * v - self.lr * g
                else:
                    v = g.clone() if v is None else momentum * v + g
                self.state_of[index] = v
                g = v
            if form == "lr_in_v" and momentum:
                value += g
            elif form == "sign":
                value += self.lr * g
            elif form == "rebind":
                value = value - self.lr * g  # noqa: F841 (the mistake: a new local tensor)
            elif form == "odd":
                value -= 1.01 * self.lr * g  # a mistake the checker has no name for
            else:
                value -= self.lr * g
    return step


def adam_step(form):
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
                m, v = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            denominator = ((v + eps).sqrt() if form == "eps_inside"
                           else v + eps if form == "no_sqrt" else v.sqrt() + eps)
            value -= self.lr * m / denominator
    return step


def sequential_backward(form):
    def backward(self, grad_output, *args, **kwargs):
        modules = list(self) if form == "forward_order" else list(reversed(list(self)))
        incoming = grad_output
        for module in modules:
            result = module.backward(grad_output if form == "same_gradient" else incoming)
            incoming = result
        return None if form == "no_return" else incoming
    return backward


def softmax(s):
    return (s - s.amax(1, keepdim=True)).exp() / (s - s.amax(1, keepdim=True)).exp().sum(1, keepdim=True)


def relu_forward_saving_output(self, s):
    self.output = s.clamp(min=0)
    return self.output


def ce_backward_in_place(self):
    """The common idiom p[range(N), y] -= 1, on the tensor forward saved."""
    p = self.saved_p
    p[range(len(p)), self.saved_y] -= 1
    return p / len(p)


def mse_backward_in_place(self):
    self.saved_d *= mse_scale(self)
    return self.saved_d


def ce_forward_without_the_row_max(self, logits, target):
    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    self.saved_p, self.saved_y = p, target.long()
    return -p.log().gather(1, self.saved_y.view(-1, 1)).mean()


def dropout_forward(form="right"):
    def forward(self, x):
        if not self.training and form != "eval_drops":
            self.saved_m = 1.0
            return x
        keep_probability = self.p if form == "keep_p" else 1 - self.p
        keep = x.new_empty(x.shape).bernoulli_(keep_probability, generator=self.generator)
        self.saved_m = keep if form == "unscaled" else keep / (1 - self.p)
        return x * self.saved_m
    return forward


def dropout(backward, form="right"):
    return {"Dropout.forward": dropout_forward(form), "Dropout.backward": backward}


def sequential_forward(form):
    def forward(self, x):
        modules = list(reversed(list(self))) if form == "reversed" else list(self)
        output = x
        for module in modules:
            output = module.forward(x if form == "same_input" else output)
        return output
    return forward


# (id, patches, exercise that must FAIL, words its diagnosis must contain)
PLANTED = [
    # Dense
    ("dense forward without bias", {"Dense.forward": lambda self, x: x.mm(self.weight.t()),
                                    "Dense.backward": dense_backward},
     "Dense.forward", "bias b is missing"),
    ("dense forward saves nothing", {"Dense.forward": lambda self, x: x.mm(self.weight.t()) + self.bias,
                                     "Dense.backward": dense_backward},
     "Dense.forward", "does not save what backward reads"),
    ("dense forward saves only once", {
        "Dense.forward": lambda self, x: (setattr(self, "saved_x", getattr(self, "saved_x", x)),
                                          x.mm(self.weight.t()) + self.bias)[1],
        "Dense.backward": dense_backward},
     "Dense.forward", "earlier forward"),
    ("bias grad is a mean", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_x)), self.grad_bias.add_(g.mean(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "mean over the batch, not the sum"),
    ("bias grad is one row", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_x)), self.grad_bias.add_(g[0]),
        g.mm(self.weight))[-1]),
     "Dense.backward", "only the first row"),
    ("weight grad transposed", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(self.saved_x.t().mm(g)), self.grad_bias.add_(g.sum(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "transposed"),
    ("weight grad assigned, not accumulated", with_dense_forward(lambda self, g: (
        setattr(self, "grad_weight", g.t().mm(self.saved_x)), self.grad_bias.add_(g.sum(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "assigned (=), not accumulated (+=)"),
    ("bias grad copied in, not accumulated", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_x)), self.grad_bias.copy_(g.sum(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "assigned (=), not accumulated (+=)"),
    ("weight grad rebound", with_dense_forward(lambda self, g: (
        setattr(self, "grad_weight", self.grad_weight + g.t().mm(self.saved_x)),
        self.grad_bias.add_(g.sum(0)), g.mm(self.weight))[-1]),
     "Dense.backward", "replaced by a new tensor"),
    ("weight grad sign flipped", with_dense_forward(lambda self, g: (
        self.grad_weight.sub_(g.t().mm(self.saved_x)), self.grad_bias.add_(g.sum(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "sign is flipped"),
    ("input grad uses w transposed", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_x)), self.grad_bias.add_(g.sum(0)),
        g.mm(self.weight.t()))[-1]),
     "Dense.backward", "uses wᵀ instead of w"),
    # activations
    ("dense forward transposes the weight in place", {
        "Dense.forward": lambda self, x: (setattr(self, "saved_x", x),
                                          x.mm(self.weight.t_()) + self.bias)[1],
        "Dense.backward": dense_backward},
     "Dense.forward", "changed the layer's weight w in place"),
    ("relu forward in place", activation("ReLU", lambda self, g: g * (self.saved_s > 0), forward=(
        lambda self, s: (setattr(self, "saved_s", s.clone()), s.clamp_(min=0))[1])),
     "ReLU.forward", "changed the caller's s in place"),
    ("relu backward changes grad_output", activation("ReLU", lambda self, g: (
        g.__setitem__(self.saved_s <= 0, 0.0), g)[1]),
     "ReLU.backward", "changed the caller's grad_output in place"),
    ("relu backward without the chain rule", activation(
        "ReLU", lambda self, g: (self.saved_s > 0).to(g.dtype)),
     "ReLU.backward", "multiply it by the incoming"),
    ("relu mask x >= 0 (always true)", activation(
        "ReLU", lambda self, g: g * (self.saved_x >= 0)),
     "ReLU.backward", "x >= 0 is always true"),
    ("softmax row sum without keepdim", {"Softmax.backward": lambda self, g: (
        lambda x: x * (g - (g * x).sum(dim=1)))(self.saved_x), "Softmax.forward": saving_forward(
            lambda s: (s - s.amax(1, keepdim=True)).exp() / (s - s.amax(1, keepdim=True)).exp().sum(1, keepdim=True))},
     "Softmax.backward", "keepdim=True"),
    ("bias grad summed over the outputs", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_x)), self.grad_bias.add_(g.sum(1)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "wrong axis"),
    ("tanh derivative from the input", activation(
        "Tanh", lambda self, g: g * (1 - self.saved_s ** 2)),
     "Tanh.backward", "from the input s instead of the output x"),
    ("sigmoid derivative from the input", activation(
        "Sigmoid", lambda self, g: g * self.saved_s * (1 - self.saved_s)),
     "Sigmoid.backward", "s (1 − s)"),
    ("sigmoid forward overflows", activation(
        "Sigmoid", lambda self, g: g * self.saved_x * (1 - self.saved_x),
        forward=saving_forward(lambda s: s.exp() / (1 + s.exp()))),
     "Sigmoid.forward", "NaN or inf for large |s|"),
    ("softmax backward diagonal only", {"Softmax.backward": lambda self, g: (
        lambda x: g * x * (1 - x))(self.saved_x), "Softmax.forward": saving_forward(
            lambda s: (s - s.amax(1, keepdim=True)).exp() / (s - s.amax(1, keepdim=True)).exp().sum(1, keepdim=True))},
     "Softmax.backward", "only the diagonal"),
    # losses
    ("mse forward without 1/M", {"MSELoss.forward": lambda self, p, y: (
        setattr(self, "saved_d", p - y), ((p - y) ** 2).sum())[1],
        "MSELoss.backward": lambda self: mse_scale(self) * self.saved_d},
     "MSELoss.forward", "no 1/M"),
    ("mse forward divides by N", {"MSELoss.forward": lambda self, p, y: (
        setattr(self, "saved_d", p - y),
        ((p - y) ** 2).sum() / (p.shape[0] if self.reduction == "mean" else 1))[1],
        "MSELoss.backward": lambda self: mse_scale(self) * self.saved_d},
     "MSELoss.forward", "divided by N (the rows) instead of M"),
    ("mse backward without the 2", {"MSELoss.forward": mse_forward,
                                    "MSELoss.backward": lambda self: mse_scale(self) / 2 * self.saved_d},
     "MSELoss.backward", "the 2 is missing"),
    ("mse backward without 1/M", {"MSELoss.forward": mse_forward,
                                  "MSELoss.backward": lambda self: 2 * self.saved_d},
     "MSELoss.backward", "no 1/M"),
    ("mse backward sign flipped", {"MSELoss.forward": mse_forward,
                                   "MSELoss.backward": lambda self: -mse_scale(self) * self.saved_d},
     "MSELoss.backward", "sign is flipped"),
    ("cross-entropy without 1/N", {"CrossEntropyLoss.forward": ce_forward,
                                   "CrossEntropyLoss.backward": lambda self: self.saved_p - ce_onehot(self)},
     "CrossEntropyLoss.backward", "no 1/N"),
    ("cross-entropy sign flipped", {"CrossEntropyLoss.forward": ce_forward,
                                    "CrossEntropyLoss.backward": lambda self: (
                                        ce_onehot(self) - self.saved_p) / self.saved_p.shape[0]},
     "CrossEntropyLoss.backward", "sign is flipped"),
    ("cross-entropy without the onehot", {"CrossEntropyLoss.forward": ce_forward,
                                          "CrossEntropyLoss.backward": lambda self: self.saved_p / self.saved_p.shape[0]},
     "CrossEntropyLoss.backward", "onehot(y) is missing"),
    # Sequential
    ("sequential in forward order", {"Sequential.backward": sequential_backward("forward_order")},
     "Sequential.backward", "first to last"),
    ("sequential passes the same gradient", {"Sequential.backward": sequential_backward("same_gradient")},
     "Sequential.backward", "same incoming gradient"),
    ("sequential returns nothing", {"Sequential.backward": sequential_backward("no_return")},
     "Sequential.backward", "returned None"),
    # issue 17: in-place edits of what forward saved, named
    ("softmax backward edits its saved output in place (x.mul_)", {
        "Softmax.forward": saving_forward(softmax),
        "Softmax.backward": lambda self, g: self.saved_x.mul_(g - (g * self.saved_x).sum(1, keepdim=True))},
     "Softmax.backward", "the tensor forward returned"),
    ("cross-entropy backward p[range(N), y] -= 1 on the saved softmax", {
        "CrossEntropyLoss.forward": ce_forward, "CrossEntropyLoss.backward": ce_backward_in_place},
     "CrossEntropyLoss.backward", "backward changes self.saved_p in place"),
    ("mse backward scales its saved difference in place", {
        "MSELoss.forward": mse_forward, "MSELoss.backward": mse_backward_in_place},
     "MSELoss.backward", "backward changes self.saved_d in place"),
    # issue 17: an exception is blamed on the method that raised it
    ("relu backward typo self.outptu", {"ReLU.forward": relu_forward_saving_output,
                                         "ReLU.backward": lambda self, g: g * (self.outptu > 0)},
     "ReLU.backward", "backward reads self.outptu, which forward never sets — a typo for self.output?"),
    ("dense backward typo", with_dense_forward(lambda self, g: (
        self.grad_weight.add_(g.t().mm(self.saved_xx)), self.grad_bias.add_(g.sum(0)),
        g.mm(self.weight))[-1]),
     "Dense.backward", "self.saved_xx"),
    ("relu forward typo", {"ReLU.forward": lambda self, s: s.clmap(min=0),
                           "ReLU.backward": lambda self, g: g},
     "ReLU.forward", "forward raised AttributeError"),
    # issue 17: mistakes that got "cannot tell"
    ("relu mask from grad_output > 0", activation("ReLU", lambda self, g: g * (g > 0)),
     "ReLU.backward", "taken from the incoming gradient (grad_output > 0)"),
    ("sigmoid applied again to the saved output", activation(
        "Sigmoid", lambda self, g: (lambda x: g * x * (1 - x))(1 / (1 + (-self.saved_x).exp()))),
     "Sigmoid.backward", "σ is applied again to the saved output"),
    ("tanh applied again to the saved output", activation(
        "Tanh", lambda self, g: g * (1 - self.saved_x.tanh() ** 2)),
     "Tanh.backward", "tanh is applied again to the saved output"),
    # issue 17: cross-entropy's forward, Dropout, Softmax's forward, Sequential's forward
    ("cross-entropy forward without the row maximum", {
        "CrossEntropyLoss.forward": ce_forward_without_the_row_max,
        "CrossEntropyLoss.backward": lambda self: (self.saved_p - ce_onehot(self)) / len(self.saved_p)},
     "CrossEntropyLoss.forward", "inf or NaN for large logits"),
    ("cross-entropy forward sums over the batch", {
        "CrossEntropyLoss.forward": lambda self, z, y: ce_forward(self, z, y) * len(z),
        "CrossEntropyLoss.backward": lambda self: (self.saved_p - ce_onehot(self)) / len(self.saved_p)},
     "CrossEntropyLoss.forward", "no 1/N"),
    ("dropout backward passes the gradient through", dropout(lambda self, g: g),
     "Dropout.backward", "returned ∂ℓ/∂(output) unchanged"),
    ("dropout backward draws a new mask", dropout(lambda self, g: g * g.new_empty(g.shape).bernoulli_(
        1 - self.p, generator=torch.Generator().manual_seed(123)) / (1 - self.p)),
     "Dropout.backward", "new random mask"),
    ("dropout forward does not scale", dropout(lambda self, g: g * self.saved_m, "unscaled"),
     "Dropout.forward", "not scaled by 1 / (1 − p)"),
    ("dropout forward keeps with probability p", dropout(lambda self, g: g * self.saved_m, "keep_p"),
     "Dropout.forward", "kept with probability p"),
    ("dropout forward drops in eval mode", dropout(lambda self, g: g * self.saved_m, "eval_drops"),
     "Dropout.forward", "in eval mode"),
    ("softmax forward without the row maximum", {
        "Softmax.forward": saving_forward(lambda s: s.exp() / s.exp().sum(1, keepdim=True)),
        "Softmax.backward": lambda self, g: self.saved_x * (g - (g * self.saved_x).sum(1, keepdim=True))},
     "Softmax.forward", "NaN or inf for large |s|"),
    ("softmax forward subtracts the row maximum without keepdim", {
        "Softmax.forward": saving_forward(lambda s: (s - s.amax(1)).exp() / (s - s.amax(1)).exp().sum(1, keepdim=True)),
        "Softmax.backward": lambda self, g: self.saved_x * (g - (g * self.saved_x).sum(1, keepdim=True))},
     "Softmax.forward", "row maxima are laid along the wrong axis"),
    ("sequential forward runs last to first", {"Sequential.forward": sequential_forward("reversed")},
     "Sequential.forward", "last to first"),
    ("sequential forward gives every module x", {"Sequential.forward": sequential_forward("same_input")},
     "Sequential.forward", "every module gets the network's input"),
    ("mse forward returns a Python float", {
        "MSELoss.forward": lambda self, p, y: float(mse_forward(self, p, y)),
        "MSELoss.backward": lambda self: mse_scale(self) * self.saved_d},
     "MSELoss.forward", "ℓ is a float, not a tensor"),
    # issue 17: a mistake nobody named still says which entries differ, and by how much
    ("tanh backward with an odd power", activation("Tanh", lambda self, g: g * (1 - self.saved_x ** 3)),
     "Tanh.backward", "of ∂ℓ/∂s differ"),
]

PLANTED_BY_LABEL = {p[0]: p[1] for p in PLANTED}

OPTIMIZER_PLANTS = [
    ("sgd momentum as a moving average", "SGD", sgd_step("ema"), "v ← μ v + (1 − μ) g"),
    ("sgd momentum with lr inside", "SGD", sgd_step("lr_in_v"), "v ← μ v − η g"),
    ("sgd goes up the gradient", "SGD", sgd_step("sign"), "up the gradient"),
    ("sgd weight decay changes the gradient", "SGD", sgd_step("decay_in_place"),
     "changed a gradient tensor in place"),
    ("sgd rebinds the parameter", "SGD", sgd_step("rebind"), "did not change the parameters"),
    ("adam without bias correction", "Adam", adam_step("no_bias_correction"), "no bias correction"),
    ("adam counts steps per parameter", "Adam", adam_step("t_per_param"), "once per parameter"),
    ("adam eps inside the root", "Adam", adam_step("eps_inside"), "inside the square root"),
    ("adam without the square root of v̂", "Adam", adam_step("no_sqrt"), "square root of v̂ is missing"),
    ("adam bias correction one step ahead", "Adam", adam_step("t_ahead"), "one step ahead"),
    ("sgd with a mistake nobody named", "SGD", sgd_step("odd"), "after step 1, every entry of w differs"),
]


def _example_differs(details: list) -> bool:
    """Some line 'expected ...' is followed by a line 'got ...' that says something else."""
    for line, following in zip(details, details[1:]):
        a, b = line.strip(), following.strip()
        if a.startswith("expected") and b.startswith("got"):
            if a[len("expected"):].strip() != b[len("got"):].strip():
                return True
    return False


def _assert_only(results: dict, exercise: str, words: str) -> None:
    result = results[exercise]
    text = "\n".join(result.lines())
    assert result.status == "FAIL", f"{exercise} should FAIL, got:\n{text}"
    assert words in result.headline, f"{exercise}: expected a diagnosis with {words!r}, got:\n{text}"
    others = [r for r in results.values() if r.status not in ("PASS", "WAIT") and r.name != exercise]
    assert not others, "other exercises fail because of it:\n" + "\n".join(
        "\n".join(r.lines()) for r in others)
    # every FAIL shows the equation to look at, and an example whose expected and got differ
    assert result.details and result.details[0].startswith("look at: ") \
        and len(result.details[0]) > len("look at: ") + 3, f"{exercise}: no 'look at:'\n{text}"
    assert _example_differs(result.details), f"{exercise}: no example with a different got\n{text}"
    assert "cannot tell" not in text, text


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SKELETONS = {level: path for level, path in make_student.TARGETS.items()}


def solved(level: str, done=None) -> str:
    """The skeleton of `level` with the body of every exercise (or of those in
    `done`) taken from minimlp.py: what a student who solved them as the
    reference does would have."""
    import ast
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS[level].read_text(encoding="utf-8")
    tree, student_tree = ast.parse(source), ast.parse(skeleton)
    lines, reference = skeleton.splitlines(keepends=True), source.splitlines(keepends=True)
    spans = []
    for name in make_student.EXERCISES if done is None else done:
        mine, theirs = (make_student.find_function(student_tree, name),
                        make_student.find_function(tree, name))
        spans.append((mine.lineno, mine.end_lineno, reference[theirs.lineno - 1:theirs.end_lineno]))
    for first, last, new in sorted(spans, reverse=True):
        lines[first - 1:last] = new
    return "".join(lines)


def test_reference_passes_every_exercise():
    results = grade()
    assert [r.status for r in results.values()] == ["PASS"] * len(make_student.EXERCISES), \
        check.report(list(results.values()))


@pytest.mark.parametrize("level", sorted(SKELETONS))
def test_each_skeleton_solved_as_the_reference_passes_and_trains(level, tmp_path):
    path = tmp_path / f"solved_{level}.py"
    path.write_text(solved(level), encoding="utf-8")
    module = check.load(path)
    results = check.grade(module)
    assert [r.status for r in results] == ["PASS"] * len(make_student.EXERCISES), check.report(results)
    # a finished skeleton is a working framework: it learns the disk problem
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(500, 2, generator=generator)
    y = ((x - 0.5).pow(2).sum(1, keepdim=True) < 1 / (2 * torch.pi)).float()
    model = module.Sequential(module.Dense(2, 25, generator=generator), module.ReLU(),
                              module.Dense(25, 1, generator=generator), module.Sigmoid())
    history = module.fit(model, module.MSELoss(), module.SGD(model.param(), lr=0.5, momentum=0.9),
                         x, y, epochs=60, batch_size=50, generator=generator)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]  # training went well
    assert history.train_acc[-1] > 0.85


@pytest.mark.parametrize("level", sorted(SKELETONS))
def test_fresh_skeleton_is_todo_everywhere_and_exits_nonzero(level):
    module = check.load(SKELETONS[level])
    results = check.grade(module)
    assert [r.status for r in results] == ["TODO"] * len(make_student.EXERCISES), check.report(results)
    assert check.main([str(SKELETONS[level])]) == 1


def test_skeletons_are_not_stale():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    for level, path in SKELETONS.items():
        fresh = make_student.make_student(source, level)
        assert path.read_text(encoding="utf-8") == fresh, \
            f"{path.name} is stale: run python exercises/make_student.py"


def test_every_forward_backward_and_step_of_minimlp_is_an_exercise():
    import ast
    tree = ast.parse((ROOT / "minimlp.py").read_text(encoding="utf-8"))
    methods = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in ("forward", "backward", "step"):
                    code = [n for n in item.body if not (isinstance(n, ast.Expr)
                                                         and isinstance(n.value, ast.Constant))]
                    abstract = (len(code) == 1 and isinstance(code[0], ast.Raise)
                                and "NotImplementedError" in ast.dump(code[0]))
                    if not abstract:  # the base classes' forward only says "implement me"
                        methods.append(f"{node.name}.{item.name}")
    assert sorted(methods) == sorted(make_student.EXERCISES)
    assert set(make_student.TASKS) == set(make_student.EXERCISES) == set(check.LOOK)


def _exercise_text(text: str, name: str) -> str:
    import ast
    function = make_student.find_function(ast.parse(text), name)
    return "\n".join(text.splitlines()[function.lineno - 1:function.end_lineno])


def test_guided_skeleton_keeps_the_equations_and_drops_the_code_and_its_hints():
    import ast
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS["guided"].read_text(encoding="utf-8")
    tree, student_tree = ast.parse(source), ast.parse(skeleton)
    for number, name in enumerate(make_student.EXERCISES, start=1):
        original = make_student.find_function(tree, name)
        replaced = make_student.find_function(student_tree, name)
        code = [node for node in replaced.body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert len(code) == 1 and isinstance(code[0], ast.Raise), f"{name}: only the raise is left"
        assert f'"exercise {number}: {name}"' in ast.get_source_segment(skeleton, code[0])
        assert ast.get_docstring(replaced) == ast.get_docstring(original), f"{name}: docstring kept"
        kept = _exercise_text(skeleton, name)
        comments = [line.split("#", 1)[1] for line in kept.splitlines() if "#" in line]
        for comment in comments:  # no hint that hands over the code
            assert not make_student.GIVEAWAY.search(comment), f"{name}: {comment!r} gives code away"
            assert not make_student.SHAPE_HINT.search(comment.strip()), f"{name}: {comment!r}"
        lines = source.splitlines()[original.lineno - 1:original.end_lineno]
        for line in lines:  # every comment line of the reference without a hint stays
            if "#" in line and not make_student.GIVEAWAY.search(line.split("#", 1)[1]) \
                    and not make_student.SHAPE_HINT.search(line.split("#", 1)[1].strip()):
                assert line.split("#", 1)[1].strip() in kept, f"{name}: {line.strip()!r} must stay"
    # everything outside the exercises is unchanged: a finished skeleton is a working framework
    outside = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert outside == [n.name for n in student_tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def test_guided_level_drops_a_sentence_that_names_code_and_keeps_its_equation():
    comments = [" x = 1 / (1 + e⁻ˢ), computed by torch's sigmoid in one op (8 % faster). Both",
                " are finite for every s", " (N, in) @ (in, out) -> (N, out)",
                "   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)",
                " σ'(s) = 1 where s > 0, else 0. As x ≥ 0, that is sign(x): `g * x.sign()`"]
    assert make_student.guided_comments(comments, "") == [
        "# x = 1 / (1 + e⁻ˢ). Both are finite for every s\n",
        "#   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)\n",
        "# σ'(s) = 1 where s > 0, else 0.\n"]


def test_derive_skeleton_says_what_to_compute_and_keeps_nothing_of_the_solution():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS["derive"].read_text(encoding="utf-8")
    for name in make_student.EXERCISES:
        kept = _exercise_text(skeleton, name)
        reference = _exercise_text(source, name)
        assert '"""' not in kept, f"{name}: the derive level keeps no docstring"
        for line in reference.splitlines()[1:]:
            code, _, comment = line.partition("#")
            # no line of the solution, and no comment of a backward or step (its equations)
            texts = [code.strip()] + ([comment.strip()] if not name.endswith(".forward") else [])
            for text in texts:
                if len(text) > 12 and not text.startswith('"""'):
                    assert text not in kept, f"{name}: {text!r} is the reference's"
        assert make_student.TASKS[name].split()[0] in kept
        if name.endswith(".backward"):  # the result of a backward is derived, never given
            task = make_student.TASKS[name]
            assert not re.search(r"∂ℓ/∂\S+ =", task), f"{name}: the task gives the gradient away"


@pytest.mark.parametrize("label, patches, exercise, words", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_mistake_is_diagnosed(label, patches, exercise, words):
    _assert_only(grade(patches), exercise, words)


@pytest.mark.parametrize("label, kind, step, words", OPTIMIZER_PLANTS, ids=[p[0] for p in OPTIMIZER_PLANTS])
def test_planted_optimizer_mistake_is_diagnosed(label, kind, step, words):
    _assert_only(grade_optimizer(kind, step), f"{kind}.step", words)


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_the_checkers_optimizer_rules_are_torch_optims(kind):
    """The checker grades steps against its own copy of PyTorch's update rules
    (torch.optim costs 2 s of imports at its first use); on every setting it
    tries, that copy takes the very trajectory torch.optim takes."""
    settings_list = check.SGD_SETTINGS if kind == "SGD" else check.ADAM_SETTINGS
    simulate = check.sgd_form if kind == "SGD" else check.adam_form
    values, grads = check.optimizer_problem()
    for settings in settings_list:
        lrs = [settings["lr"], settings["lr"], settings["lr"] / 2]
        rest = {k: v for k, v in settings.items() if k != "lr"}
        ours = simulate("pytorch", values, grads, lrs, **settings)
        theirs = check.torch_trajectory(getattr(torch.optim, kind), values, grads, lrs, **rest)
        assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-14)
                   for step_a, step_b in zip(ours, theirs) for a, b in zip(step_a, step_b)), settings


def test_a_right_student_implementation_passes():
    """The planted mistakes' right counterparts pass: the checker does not
    depend on the names the reference uses for what it saves."""
    patches = {"Dense.forward": dense_forward, "Dense.backward": dense_backward,
               "MSELoss.forward": mse_forward,
               "MSELoss.backward": lambda self: mse_scale(self) * self.saved_d,
               "CrossEntropyLoss.forward": ce_forward,
               "CrossEntropyLoss.backward": lambda self: (self.saved_p - ce_onehot(self)) / self.saved_p.shape[0],
               "Sequential.backward": sequential_backward("right"),
               "Sequential.forward": sequential_forward("right"),
               "Softmax.forward": saving_forward(softmax),
               "Softmax.backward": lambda self, g: self.saved_x * (g - (g * self.saved_x).sum(1, keepdim=True))}
    patches.update(activation("Sigmoid", lambda self, g: g * self.saved_x * (1 - self.saved_x)))
    patches.update(dropout(lambda self, g: g * self.saved_m))
    results = grade(patches)
    assert all(r.status == "PASS" for r in results.values()), check.report(list(results.values()))
    for kind, step in (("SGD", sgd_step("right")), ("Adam", adam_step("right"))):
        assert grade_optimizer(kind, step)[f"{kind}.step"].status == "PASS"


def test_right_styles_that_work_in_place_on_their_own_tensors_pass():
    """In-place work on a tensor the method made itself (a buffer, addmm_, an
    explicit Jacobian) is not a mistake: only a caller's or a saved tensor counts."""
    def dense_backward_in_place(self, g):
        self.grad_weight.addmm_(g.t(), self.saved_x)
        self.grad_bias.add_(g.sum(0))
        result = g.mm(self.weight)
        result.mul_(1.0)
        return result

    def softmax_backward_jacobian(self, g):
        x = self.saved_x
        jacobian = x.unsqueeze(2) * (torch.eye(x.shape[1], dtype=x.dtype) - x.unsqueeze(1))
        return jacobian.transpose(1, 2).bmm(g.unsqueeze(2)).squeeze(2)

    def mse_backward_buffer(self):
        out = self.saved_d.clone()
        out *= mse_scale(self)
        return out

    results = grade({"Dense.forward": dense_forward, "Dense.backward": dense_backward_in_place,
                     "Softmax.forward": saving_forward(softmax),
                     "Softmax.backward": softmax_backward_jacobian,
                     "MSELoss.forward": mse_forward, "MSELoss.backward": mse_backward_buffer})
    assert all(r.status == "PASS" for r in results.values()), check.report(list(results.values()))


def test_backward_waits_for_a_broken_forward_instead_of_failing():
    """A forward that saves nothing: its own exercise FAILs, its backward WAITs."""
    results = grade({"Dense.forward": lambda self, x: x.mm(self.weight.t()) + self.bias,
                     "Dense.backward": dense_backward})
    assert results["Dense.forward"].status == "FAIL"
    assert results["Dense.backward"].status == "WAIT"
    assert "exercise 1" in results["Dense.backward"].headline


def test_an_exception_is_reported_on_the_method_that_raised_it_with_its_line():
    results = grade({"ReLU.forward": relu_forward_saving_output,
                     "ReLU.backward": lambda self, g: g * (self.outptu > 0)})
    assert results["ReLU.forward"].status == "PASS", "\n".join(results["ReLU.forward"].lines())
    backward = results["ReLU.backward"]
    assert "(line " in backward.headline and "self.outptu" in backward.headline, backward.headline
    typo = grade({"ReLU.forward": lambda self, s: s.clmap(min=0),
                  "ReLU.backward": lambda self, g: g})
    assert typo["ReLU.forward"].status == "FAIL" and "clmap" in typo["ReLU.forward"].headline
    assert typo["ReLU.backward"].status == "WAIT"


SAMPLE = re.compile(r"(<!-- sample: (.*?) -->\n```text\n)(.*?)(```)", re.S)
SKELETON_SAMPLE = re.compile(r"(<!-- skeleton: (\S+) (\S+) -->\n```python\n)(.*?)(```)", re.S)


def sample_output(label: str, tmp: Path) -> str:
    """What the docs page shows for a sample: "progress" is the guided skeleton
    with exercises 1-4 and 6 solved, and the bias gradient taken as a mean; any
    other label is a planted mistake, shown as the checker prints its FAIL."""
    if label == "progress":
        done = ["Dense.forward", "Dense.backward", "ReLU.forward", "ReLU.backward", "Tanh.backward"]
        path = tmp / "progress.py"
        path.write_text(solved("guided", done), encoding="utf-8")
        module = check.load(path)
        module.Dense.forward, module.Dense.backward = dense_forward, dict(PLANTED_BY_LABEL[
            "bias grad is a mean"])["Dense.backward"]
        return check.report(check.grade(module))
    results = grade(PLANTED_BY_LABEL[label]).values()
    return "\n".join(next(r for r in results if r.status == "FAIL").lines())


def skeleton_sample(level: str, name: str) -> str:
    import textwrap
    return textwrap.dedent(_exercise_text(SKELETONS[level].read_text(encoding="utf-8"), name))


def test_docs_samples_are_the_real_output(tmp_path):
    """docs/exercises.md shows the checker's output; each sample must be what
    the checker prints today (python test_exercises.py rewrites them)."""
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    samples = SAMPLE.findall(page)
    assert any(label == "progress" for _, label, _, _ in samples)
    for _, label, shown, _ in samples:
        assert shown.rstrip("\n") == sample_output(label, tmp_path), label


def test_docs_list_every_diagnosis_of_the_tests():
    """The Exercises page's table names the diagnosis of every planted mistake."""
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in page.splitlines() if line.startswith("|"))
    table = table.replace("\\|", "|")
    words = [p[3] for p in PLANTED] + [p[3] for p in OPTIMIZER_PLANTS]
    missing = [w for w in words if _key_words(w) and _key_words(w) not in table]
    assert not missing, f"docs/exercises.md does not list: {missing}"


def _key_words(words: str) -> str:
    """The part of a diagnosis the table quotes: the words before any name of a
    student's own attribute (self.saved_d), which the table cannot know."""
    return re.split(r"self\.\w+|\(line", words)[0].strip()


@pytest.mark.slow
def test_command_line_on_the_reference_and_the_skeletons():
    run = [sys.executable, str(EXERCISES_DIR / "check.py")]
    reference = subprocess.run(run + [str(ROOT / "minimlp.py")], capture_output=True, text=True)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert reference.stdout.count("PASS") == len(make_student.EXERCISES)
    for path in SKELETONS.values():
        skeleton = subprocess.run(run + [str(path)], capture_output=True, text=True)
        assert skeleton.returncode == 1
        assert skeleton.stdout.count("TODO") == len(make_student.EXERCISES)
    stale = subprocess.run([sys.executable, str(EXERCISES_DIR / "make_student.py"), "--check"],
                           capture_output=True, text=True)
    assert stale.returncode == 0, stale.stdout


def test_docs_skeleton_excerpts_are_the_real_skeletons():
    """The exercises shown on docs/exercises.md are the committed skeletons'."""
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    found = SKELETON_SAMPLE.findall(page)
    assert {level for _, level, _, _, _ in found} == set(SKELETONS), "a sample of each level"
    for _, level, name, shown, _ in found:
        assert shown.rstrip("\n") == skeleton_sample(level, name), (level, name)


def update_docs() -> None:
    """Rewrite the samples of docs/exercises.md from the skeletons and the checker."""
    import tempfile
    path = ROOT / "docs" / "exercises.md"
    page = path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        page = SAMPLE.sub(lambda m: m.group(1) + sample_output(m.group(2), Path(tmp)) + "\n"
                          + m.group(4), page)
    page = SKELETON_SAMPLE.sub(lambda m: m.group(1) + skeleton_sample(m.group(2), m.group(3))
                               + "\n" + m.group(5), page)
    path.write_text(page, encoding="utf-8")
    print(f"rewrote the samples of {path.relative_to(ROOT)}")


def test_without_torch_the_checker_says_to_install_it_first():
    code = ("import runpy, sys; sys.modules['torch'] = None; "
            f"runpy.run_path({str(EXERCISES_DIR / 'check.py')!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "needs torch" in done.stderr and "install it first" in done.stderr


if __name__ == "__main__":
    update_docs()
