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
    self.saved_p = shifted.exp() / shifted.exp().sum(dim=1, keepdim=True)
    self.saved_y = target.long()
    return -(self.saved_p.log().gather(1, self.saved_y.view(-1, 1))).mean()


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
            if form != "no_bias_correction":
                m, v = m / (1 - beta1 ** self.t), v / (1 - beta2 ** self.t)
            denominator = (v + eps).sqrt() if form == "eps_inside" else v.sqrt() + eps
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
]

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
]


def _assert_only(results: dict, exercise: str, words: str) -> None:
    result = results[exercise]
    text = "\n".join(result.lines())
    assert result.status == "FAIL", f"{exercise} should FAIL, got:\n{text}"
    assert words in result.headline, f"{exercise}: expected a diagnosis with {words!r}, got:\n{text}"
    others = [r for r in results.values() if r.status not in ("PASS", "WAIT") and r.name != exercise]
    assert not others, "other exercises fail because of it:\n" + "\n".join(
        "\n".join(r.lines()) for r in others)
    # the FAIL shows the maths to look at or a numeric example
    assert result.details, f"{exercise}: a FAIL must come with an example\n{text}"


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reference_passes_every_exercise():
    results = grade()
    assert [r.status for r in results.values()] == ["PASS"] * len(make_student.EXERCISES), \
        check.report(list(results.values()))


def test_fresh_skeleton_is_todo_everywhere_and_exits_nonzero():
    module = check.load(EXERCISES_DIR / "minimlp_student.py")
    results = check.grade(module)
    assert [r.status for r in results] == ["TODO"] * len(make_student.EXERCISES), check.report(results)
    assert check.main([str(EXERCISES_DIR / "minimlp_student.py")]) == 1


def test_skeleton_is_not_stale():
    committed = (EXERCISES_DIR / "minimlp_student.py").read_text(encoding="utf-8")
    fresh = make_student.make_student((ROOT / "minimlp.py").read_text(encoding="utf-8"))
    assert committed == fresh, "exercises/minimlp_student.py is stale: run python exercises/make_student.py"


def test_skeleton_keeps_the_equations_and_drops_the_code():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = (EXERCISES_DIR / "minimlp_student.py").read_text(encoding="utf-8")
    import ast
    tree, student_tree = ast.parse(source), ast.parse(skeleton)
    for number, name in enumerate(make_student.EXERCISES, start=1):
        original = make_student.find_function(tree, name)
        replaced = make_student.find_function(student_tree, name)
        code = [node for node in replaced.body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert len(code) == 1 and isinstance(code[0], ast.Raise), f"{name}: only the raise is left"
        assert f'"exercise {number}: {name}"' in ast.get_source_segment(skeleton, code[0])
        assert ast.get_docstring(replaced) == ast.get_docstring(original), f"{name}: docstring kept"
        lines = source.splitlines()[original.lineno - 1:original.end_lineno]
        comments = [line.split("#", 1)[1] for line in lines if line.strip().startswith("#")]
        kept = "\n".join(skeleton.splitlines()[replaced.lineno - 1:replaced.end_lineno])
        for comment in comments:
            assert comment in kept, f"{name}: the comment {comment!r} must stay"
    # everything outside the exercises is unchanged: a finished skeleton is a working framework
    outside = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert outside == [n.name for n in student_tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


@pytest.mark.parametrize("label, patches, exercise, words", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_mistake_is_diagnosed(label, patches, exercise, words):
    _assert_only(grade(patches), exercise, words)


@pytest.mark.parametrize("label, kind, step, words", OPTIMIZER_PLANTS, ids=[p[0] for p in OPTIMIZER_PLANTS])
def test_planted_optimizer_mistake_is_diagnosed(label, kind, step, words):
    _assert_only(grade_optimizer(kind, step), f"{kind}.step", words)


def test_a_right_student_implementation_passes():
    """The planted mistakes' right counterparts pass: the checker does not
    depend on the names the reference uses for what it saves."""
    patches = {"Dense.forward": dense_forward, "Dense.backward": dense_backward,
               "MSELoss.forward": mse_forward,
               "MSELoss.backward": lambda self: mse_scale(self) * self.saved_d,
               "CrossEntropyLoss.forward": ce_forward,
               "CrossEntropyLoss.backward": lambda self: (self.saved_p - ce_onehot(self)) / self.saved_p.shape[0],
               "Sequential.backward": sequential_backward("right")}
    patches.update(activation("Sigmoid", lambda self, g: g * self.saved_x * (1 - self.saved_x)))
    results = grade(patches)
    assert all(r.status == "PASS" for r in results.values()), check.report(list(results.values()))
    for kind, step in (("SGD", sgd_step("right")), ("Adam", adam_step("right"))):
        assert grade_optimizer(kind, step)[f"{kind}.step"].status == "PASS"


def test_backward_waits_for_a_broken_forward_instead_of_failing():
    """A forward that saves nothing: its own exercise FAILs, its backward WAITs."""
    results = grade({"Dense.forward": lambda self, x: x.mm(self.weight.t()) + self.bias,
                     "Dense.backward": dense_backward})
    assert results["Dense.forward"].status == "FAIL"
    assert results["Dense.backward"].status == "WAIT"
    assert "exercise 1" in results["Dense.backward"].headline


def test_docs_sample_is_the_real_output():
    """docs/exercises.md shows the checker's output for a planted mistake; it
    must be what the checker prints today."""
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- sample: (.*?) -->\n```text\n(.*?)```", page, re.S)
    assert match, "docs/exercises.md has a sample of the checker's output"
    planted = {p[0]: p[1] for p in PLANTED}[match.group(1)]
    results = grade(planted)
    assert match.group(2).rstrip("\n") == check.report(list(results.values()))


@pytest.mark.slow
def test_command_line_on_the_reference_and_the_skeleton():
    run = [sys.executable, str(EXERCISES_DIR / "check.py")]
    reference = subprocess.run(run + [str(ROOT / "minimlp.py")], capture_output=True, text=True)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert reference.stdout.count("PASS") == len(make_student.EXERCISES)
    skeleton = subprocess.run(run, capture_output=True, text=True)
    assert skeleton.returncode == 1
    assert skeleton.stdout.count("TODO") == len(make_student.EXERCISES)
    stale = subprocess.run([sys.executable, str(EXERCISES_DIR / "make_student.py"), "--check"],
                           capture_output=True, text=True)
    assert stale.returncode == 0, stale.stdout


def test_docs_skeleton_excerpt_is_the_real_skeleton():
    """The exercise shown on docs/exercises.md is the committed skeleton's."""
    import ast
    import textwrap
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- skeleton: (\S+) -->\n```python\n(.*?)```", page, re.S)
    assert match, "docs/exercises.md shows one exercise of the skeleton"
    skeleton = (EXERCISES_DIR / "minimlp_student.py").read_text(encoding="utf-8")
    function = make_student.find_function(ast.parse(skeleton), match.group(1))
    source = "\n".join(skeleton.splitlines()[function.lineno - 1:function.end_lineno])
    assert match.group(2).rstrip("\n") == textwrap.dedent(source)
