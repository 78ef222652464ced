"""Grade the minimlp exercises, and say what is wrong with the ones that fail.

    python exercises/check.py                 # the skeleton, exercises/minimlp_student.py
    python exercises/check.py my_minimlp.py   # your copy

FILE is imported as a module and each exercise is run through the public API
(`Dense(...)`, `layer(x)`, `layer.backward(g)`, `loss(prediction, target)`,
`SGD(pairs, ...)`, `opt.step()`) in float64, on several shapes (a 2×2 case,
a batch of one, non-square layers), against an oracle: torch.autograd for the
gradients and torch.optim for the optimizer steps. The checker is a test
harness, not part of the framework, so it may use them.

One line per exercise: PASS, TODO (still raises NotImplementedError), WAIT
(cannot be graded until an earlier exercise passes: a backward needs its
forward), or FAIL with a diagnosis read from the numbers (never from your
source), the equation to look at, and a 2×2 example of expected and got.
Exit status 0 only when every exercise passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "minimlp_student.py"
F64 = torch.float64


def _exercise_names() -> tuple:
    """The numbered list lives in make_student.py (standard library only)."""
    spec = importlib.util.spec_from_file_location("_minimlp_make_student", HERE / "make_student.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EXERCISES


EXERCISES = _exercise_names()
NUMBER = {name: index for index, name in enumerate(EXERCISES, start=1)}


# ---------------------------------------------------------------------------
# Results and the ways a grade ends
# ---------------------------------------------------------------------------


@dataclass
class Result:
    number: int
    name: str
    status: str  # PASS, TODO, WAIT or FAIL
    headline: str = ""
    details: list = field(default_factory=list)

    def lines(self, width: int = 88) -> list:
        """The result as lines of at most `width` characters (the headline on the
        first line, wrapped; the details below it, indented)."""
        first = f"{self.number:>2}  {self.name:<26}{self.status}"
        if self.headline:
            first += f"  {self.headline}"
        lines = textwrap.wrap(first, width, subsequent_indent=" " * 6)
        for detail in self.details:
            indent = " " * (6 + len(detail) - len(detail.lstrip()))
            lines += textwrap.wrap(detail.strip(), width, initial_indent=indent,
                                   subsequent_indent=indent + "    ", break_long_words=False,
                                   break_on_hyphens=False)
        return lines


class Todo(Exception):
    """The exercise still raises NotImplementedError."""


class Wait(Exception):
    """The exercise cannot be graded before an earlier one passes."""


class Failed(Exception):
    def __init__(self, headline: str, look_at: str = "", example: list | None = None):
        super().__init__(headline)
        self.headline, self.look_at, self.example = headline, look_at, example or []


def student(function, *args, **kwargs):
    """Call the student's code; NotImplementedError means the exercise is TODO."""
    try:
        with torch.no_grad():
            return function(*args, **kwargs)
    except NotImplementedError as error:
        raise Todo(str(error)) from error


def attempt(errors: list, label: str, function, *args):
    """`(True, student(function, *args))`, or `(False, None)` after noting in `errors`
    that this case raised; a TODO (NotImplementedError) still propagates."""
    try:
        return True, student(function, *args)
    except Todo:
        raise
    except Exception as error:
        errors.append((label, error))
        return False, None


def crashed(what: str, error: Exception, case: str, look_at: str = "") -> Failed:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return Failed(f"{what} raised {type(error).__name__}: {message}"[:200],
                  look_at, [f"on {case}"])


# ---------------------------------------------------------------------------
# Comparing numbers, and reading a mistake from them
# ---------------------------------------------------------------------------


def is_tensor(value) -> bool:
    return isinstance(value, torch.Tensor)


def close(got, expected) -> bool:
    return (is_tensor(got) and got.shape == expected.shape
            and bool(torch.isfinite(got).all() or not torch.isfinite(expected).all())
            and torch.allclose(got.to(F64), expected, rtol=1e-6, atol=1e-9))


def fmt(value) -> str:
    if value is None:
        return "None"
    if not is_tensor(value):
        return repr(value)
    if value.dim() == 0:
        return f"{value.item():.4g}"
    if value.dim() > 2 or value.numel() > 12:
        return f"a tensor of shape {tuple(value.shape)}"
    return "[" + ", ".join(fmt(row) for row in value) + "]"


@dataclass
class Case:
    label: str      # "N=2, in=2, out=2"
    got: object     # the student's tensor (or None)
    expected: torch.Tensor
    dims: dict      # the sizes the factors depend on
    alts: dict = field(default_factory=dict)      # mistake key -> what that mistake gives
    inputs: list = field(default_factory=list)    # (name, tensor) shown in the example


@dataclass
class Mistake:
    key: str
    headline: str
    look_at: str


@dataclass
class Factor:
    """A multiplier a mistake puts on the right answer, as a function of the sizes."""
    headline: str
    value: object   # callable(dims) -> float, or None where it does not apply
    look_at: str = ""


SIGN = Factor("the sign is flipped", lambda d: -1.0)


def example(case: Case, quantity: str, note: str = "") -> list:
    lines = [f"example ({case.label}{note}):"]
    lines += [f"  {name} = {fmt(value)}" for name, value in case.inputs]
    lines += [f"  expected {quantity} = {fmt(case.expected)}",
              f"  got      {quantity} = {fmt(case.got)}"]
    return lines


def judge(quantity: str, cases: list, mistakes=(), factors=(), look_at: str = "",
          none_message: str = "", nan_message: str = "", errors=(), what: str = "",
          crash: bool = True) -> None:
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
    also = [f"(and on {label} it raised {type(error).__name__}: "
            f"{str(error).strip().splitlines()[0][:100] if str(error).strip() else ''})"
            for label, error in errors[:1]]

    def fail(headline, where=look_at, case=shown):
        raise Failed(headline, where,
                     example(case, quantity, "" if case is not shown else note) + also)

    if any(case.got is None for case in cases):
        fail(none_message or f"{quantity} is None")
    if any(not is_tensor(case.got) for case in cases):
        odd = next(case.got for case in cases if not is_tensor(case.got))
        fail(f"{quantity} is a {type(odd).__name__}, not a tensor")
    for case in failing:
        if not torch.isfinite(case.got).all() and torch.isfinite(case.expected).all():
            fail(nan_message or f"{quantity} has NaN or inf entries where the answer is finite",
                 case=case)
    for mistake in mistakes:
        matched = [case for case in cases if mistake.key in case.alts
                   and case.got.shape == case.alts[mistake.key].shape]
        if (matched and any(case in failing for case in matched)
                and all(close(case.got, case.alts[mistake.key]) for case in matched)):
            fail(mistake.headline, mistake.look_at or look_at,
                 next(case for case in cases if case in failing and case in matched))
    found = _factor(cases, factors)
    if found is not None:
        fail(found[0], found[1] or look_at)
    if any(case.got.shape != case.expected.shape for case in failing):
        case = next(case for case in failing if case.got.shape != case.expected.shape)
        flipped = tuple(case.got.shape) == tuple(case.expected.shape)[::-1] and case.got.dim() == 2
        fail(f"{quantity} has shape {tuple(case.got.shape)}, expected "
             f"{tuple(case.expected.shape)}" + (" (transposed)" if flipped else ""), case=case)
    fail(f"cannot tell what is wrong: the numbers match none of the mistakes this "
         f"checker knows; compare your {quantity} with the equation by hand")


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
            if all(v is not None and abs(r - v) <= 1e-6 * abs(v) for r, v in zip(ratios, values)):
                look = next((f.look_at for f in combo if f.look_at), "")
                return "; and ".join(f.headline for f in combo), look
    if all(abs(r - ratios[0]) <= 1e-6 * abs(ratios[0]) for r in ratios):
        return (f"off by a constant factor: got = {ratios[0]:.4g} × expected (cannot tell "
                f"which factor)", "")
    ratio_text = ", ".join(f"{r:.4g}" for r in ratios)
    return (f"off by a factor that changes with the shapes (got / expected = {ratio_text} "
            f"on the cases tried; cannot tell which)", "")


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


def _copy(value):
    return value.clone() if is_tensor(value) else value


def unchanged(before: torch.Tensor, after: torch.Tensor) -> bool:
    return torch.equal(before, after)


# ---------------------------------------------------------------------------
# Forward and backward of a module: the shared machinery
# ---------------------------------------------------------------------------


def forward_or_wait(results: dict, module, x, backward_name: str, probe):
    """Run the forward a backward exercise needs. If that forward is TODO, the
    backward is TODO too when it still raises NotImplementedError by itself
    (probe), else it waits for the forward."""
    try:
        with torch.no_grad():
            return module(x)
    except NotImplementedError:
        try:
            with torch.no_grad():
                probe()
        except NotImplementedError:
            raise Todo() from None
        except Exception:
            pass
        raise Wait(_wait_text(backward_name)) from None
    except Exception as error:
        raise Wait(_wait_text(backward_name, error)) from None


def _forward_of(name: str) -> str:
    return name.split(".")[0] + ".forward"


def _wait_text(backward_name: str, error: Exception | None = None) -> str:
    forward = _forward_of(backward_name)
    number = NUMBER.get(forward)
    which = f"exercise {number} ({forward})" if number else forward
    if error is None:
        return f"needs {which} first: backward is tested after a forward"
    return f"needs {which} to run first (it raised {type(error).__name__})"


def saves_for_backward(make, inputs: list, grad_output, backward) -> None:
    """Raise Failed when forward does not save (or does not update) what
    backward reads. `backward(module, g)` returns the tensors it produced.
    Inconclusive (returns) when backward is TODO or fails on its own."""
    def run(xs):
        module = make()
        for x in xs:
            with torch.no_grad():
                module(*x) if isinstance(x, tuple) else module(x)
        with torch.no_grad():
            return [r.clone() if is_tensor(r) else r for r in backward(module, grad_output)]
    try:
        fresh = run(inputs[-1:])
    except NotImplementedError:
        return
    except Exception as error:
        text = str(error)
        if "NoneType" in text or "before forward" in text or "has no attribute" in text:
            raise Failed("forward does not save what backward reads (backward found "
                         f"nothing after a forward: {type(error).__name__}: {text[:120]})",
                         "forward must store what backward needs on self, e.g. "
                         "self.input = x, under the name backward reads") from None
        return
    try:
        again = run(inputs)
    except Exception:
        return
    if len(fresh) != len(again) or not all(
            (a is None and b is None) or (is_tensor(a) and is_tensor(b) and a.shape == b.shape
                                          and torch.allclose(a, b))
            for a, b in zip(fresh, again)):
        raise Failed("backward used what an earlier forward saved: forward must save its "
                     "input (or output) again at every call, not only the first time",
                     "the line of forward that stores the input/output on self")


def check_not_mutated(name: str, before: torch.Tensor, after: torch.Tensor, what: str) -> None:
    if not unchanged(before, after):
        raise Failed(f"{what} changed the caller's {name} in place (an in-place op such as "
                     f"add_, clamp_, mul_ or [...] = on it)",
                     "use the out-of-place form (s.clamp(min=0), not s.clamp_(min=0)); "
                     "nothing may change a caller's tensor",
                     [f"  {name} before = {fmt(before)}", f"  {name} after  = {fmt(after)}"])


# ---------------------------------------------------------------------------
# 1-2. Dense
# ---------------------------------------------------------------------------

DENSE_SHAPES = [(1, 3, 2), (4, 3, 5), (3, 2, 2), (2, 4, 4)]


def dense_cases():
    """(label, x, w, b, g): a hand-checkable 2×2 case, then random ones."""
    yield ("N=2, in=2, out=2", t([[1, 2], [3, -1]]), t([[1, -1], [0.5, 2]]),
           t([0.5, -1]), t([[1, -2], [0.5, 3]]))
    for seed, (n, i, o) in enumerate(DENSE_SHAPES):
        yield (f"N={n}, in={i}, out={o}", randn(n, i, seed=seed), randn(o, i, seed=10 + seed),
               randn(o, seed=20 + seed), randn(n, o, seed=30 + seed))


def make_dense(mod, w, b):
    layer = mod.Dense(w.shape[1], w.shape[0], dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
    return layer


def dense_backward_outputs(layer, g):
    result = layer.backward(g)
    return [result, layer.grad_weight, layer.grad_bias]


def grade_dense_forward(mod, results):
    look = "s = x wᵀ + b: (N, in) @ (in, out) -> (N, out), b added to every row"
    cases, errors = [], []
    for label, x, w, b, _ in dense_cases():
        layer, x_before = make_dense(mod, w, b), x.clone()
        ok, got = attempt(errors, label, layer, x)
        if not ok:
            continue
        check_not_mutated("x", x_before, x, "forward")
        alts = {"no_bias": x @ w.T, "minus_b": x @ w.T - b}
        if w.shape[0] == w.shape[1]:
            alts["w_not_t"] = x @ w + b
        cases.append(Case(label, got, x @ w.T + b, {}, alts, [("x", x), ("w", w), ("b", b)]))
    judge("s", cases, [
        Mistake("no_bias", "the bias b is missing", look),
        Mistake("w_not_t", "multiplied by w instead of wᵀ", look),
        Mistake("minus_b", "the bias is subtracted", look),
    ], [], look, "forward returned None: it must return s", errors=errors, what="forward")
    _, x, w, b, g = list(dense_cases())[2]
    saves_for_backward(lambda: make_dense(mod, w, b), [x + 1, x], g, dense_backward_outputs)


def grade_dense_backward(mod, results):
    name = "Dense.backward"
    cases = {"return": [], "grad_weight": [], "grad_bias": []}
    errors, kept = [], []
    for label, x, w, b, g in dense_cases():
        layer = make_dense(mod, w, b)
        forward_or_wait(results, layer, x, name,
                        lambda: make_dense(mod, w, b).backward(g.clone()))
        pairs = list(layer.param())
        g_in = g.clone()
        ok, returned = attempt(errors, label, layer.backward, g_in)
        if not ok:
            continue
        check_not_mutated("grad_output", g, g_in, "backward")
        inputs = [("x", x), ("w", w), ("∂ℓ/∂s", g)]
        square = w.shape[0] == w.shape[1]
        cases["return"].append(Case(label, returned, g @ w, {},
                                    {"w_t": g @ w.T} if square else {}, inputs))
        cases["grad_weight"].append(Case(label, _copy(layer.grad_weight), g.T @ x, {"N": g.shape[0]}, {
            "transposed": x.T @ g, "one_row": g[:1].T @ x[:1]}, inputs))
        cases["grad_bias"].append(Case(label, _copy(layer.grad_bias), g.sum(0), {"N": g.shape[0]}, {
            "mean": g.mean(0), "first_row": g[0], "last_row": g[-1], "rows": g,
            "outputs": g.sum(1)}, inputs))
        kept.append((label, layer, pairs, x, g))
    try:
        _judge_dense(cases, errors)
        for label, layer, pairs, x, g in kept:
            _check_accumulates(layer, pairs, x, g, label)
    except Failed:
        if results[NUMBER["Dense.forward"]].status == "FAIL":
            raise Wait("fix exercise 1 (Dense.forward) first") from None
        raise


def _check_accumulates(layer, pairs, x, g, label):
    """A second backward without zero_grad adds to the gradients, in the very
    tensors that param() handed out (an optimizer holds those)."""
    try:
        with torch.no_grad():
            layer.backward(g.clone())
    except Exception as error:
        raise crashed("a second backward (without zero_grad)", error, label) from None
    for (_, held), attribute, once in zip(pairs, ("grad_weight", "grad_bias"),
                                          (g.T @ x, g.sum(0))):
        got = getattr(layer, attribute)
        shown = [f"after two backward calls without zero_grad ({label}):",
                 f"  expected {attribute} = {fmt(2 * once)}", f"  got      {attribute} = {fmt(got)}"]
        look = (f"∂ℓ/∂{attribute[5]} += ...: add into the tensor in place "
                f"(self.{attribute} += ... or .add_); zero_grad() is what resets it")
        if close(got, once):
            raise Failed(f"{attribute} is assigned (=), not accumulated (+=): after two backward "
                         "calls without zero_grad it holds only the last one", look, shown)
        if held is not got:
            raise Failed(f"{attribute} is replaced by a new tensor (self.{attribute} = ...) "
                         "instead of added into in place: an optimizer holding "
                         "model.param() never sees it", look, shown)
        if not close(got, 2 * once):
            raise Failed(f"{attribute} is wrong after a second backward without zero_grad: "
                         "does backward change what forward saved?", look, shown)

def _judge_dense(cases, errors):
    look_w = "∂ℓ/∂w += (∂ℓ/∂s)ᵀ x: (out, N) @ (N, in) -> (out, in)"
    look_b = "∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ: the sum of ∂ℓ/∂s over the N rows of the batch"
    look_x = "∂ℓ/∂x = (∂ℓ/∂s) w: (N, out) @ (out, in) -> (N, in)"
    n_factor = [Factor("divided by N (the batch size): the gradient is a sum over the batch, "
                       "not a mean (the loss already holds any 1/N)", lambda d: 1 / d["N"])]
    judge("grad_weight", cases["grad_weight"], [
        Mistake("transposed", "the weight gradient is transposed: xᵀ (∂ℓ/∂s) instead of "
                "(∂ℓ/∂s)ᵀ x", look_w),
        Mistake("one_row", "the weight gradient uses only one sample (row) of the batch", look_w),
    ], n_factor, look_w, errors=errors, crash=False)
    judge("grad_bias", cases["grad_bias"], [
        Mistake("mean", "the bias gradient is the mean over the batch, not the sum", look_b),
        Mistake("first_row", "the bias gradient uses only the first row of ∂ℓ/∂s, "
                "not the sum over the batch", look_b),
        Mistake("last_row", "the bias gradient uses only the last row of ∂ℓ/∂s, "
                "not the sum over the batch", look_b),
        Mistake("rows", "the bias gradient is not summed over the batch (it has one row per "
                "sample)", look_b),
        Mistake("outputs", "the bias gradient is summed over the wrong axis: over the outputs "
                "(dim 1) instead of the batch (dim 0)", look_b),
    ], n_factor, look_b, errors=errors, crash=False)
    judge("∂ℓ/∂x (the returned tensor)", cases["return"], [
        Mistake("w_t", "∂ℓ/∂x uses wᵀ instead of w", look_x),
    ], [], look_x, "backward returned None: it must return ∂ℓ/∂x = (∂ℓ/∂s) w",
        errors=errors, crash=False)
    if errors:
        label, error = errors[0]
        raise crashed("backward", error, label, "the shape of each product: ∂ℓ/∂w: (out, N) @ "
                      "(N, in) -> (out, in); ∂ℓ/∂b: sum over the N rows -> (out,); ∂ℓ/∂x: "
                      "(N, out) @ (out, in) -> (N, in)")


# ---------------------------------------------------------------------------
# 3-9. Activations
# ---------------------------------------------------------------------------


def activation_cases(big: bool = False):
    yield "2×2", t([[0.5, -1], [2, -0.25]]), t([[1, -2], [0.5, 3]])
    for seed, shape in enumerate([(1, 3), (4, 5), (3, 2)]):
        yield f"shape {shape}", 2 * randn(*shape, seed=40 + seed), randn(*shape, seed=50 + seed)
    if big:
        yield "large |s|", t([[800, -800], [40, -40]]), t([[1, 1], [1, 1]])


ACTIVATIONS = {
    "ReLU": dict(
        f=lambda s: s.clamp(min=0),
        look_forward="x = max(0, s), entry by entry",
        look_backward="σ'(s) = 1 where s > 0, else 0; ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)",
        forward_mistakes=[("min", lambda s: s.clamp(max=0), "max(0, s) is the positive part: "
                           "you kept the negative one")],
        backward_mistakes=[
            ("inverted", lambda s, g: g * (s < 0), "the mask is inverted: σ'(s) is 1 where s > 0"),
            ("times_s", lambda s, g: g * s.clamp(min=0), "multiplied by x = max(0, s) instead "
             "of the derivative σ'(s) (1 where s > 0, else 0)"),
        ]),
    "Tanh": dict(
        f=torch.tanh,
        look_forward="x = tanh(s)",
        look_backward="σ'(s) = 1 − tanh²(s) = 1 − x², with x the output saved by forward",
        forward_mistakes=[],
        backward_mistakes=[
            ("from_input", lambda s, g: g * (1 - s * s), "the derivative is taken from the "
             "input s instead of the output x: σ'(s) = 1 − tanh²(s) = 1 − x², not 1 − s²"),
            ("no_square", lambda s, g: g * (1 - s.tanh()), "1 − x instead of 1 − x²"),
            ("value", lambda s, g: g * s.tanh(), "multiplied by tanh(s) instead of its "
             "derivative 1 − tanh²(s)"),
        ]),
    "Sigmoid": dict(
        f=torch.sigmoid,
        look_forward="x = 1 / (1 + e⁻ˢ); for s → −∞ it gives 1 / (1 + inf) = 0, never NaN",
        look_backward="σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), with x the output saved by forward",
        forward_mistakes=[("minus", lambda s: torch.sigmoid(-s), "the sign of the exponent: "
                           "x = 1 / (1 + e⁻ˢ), you computed 1 / (1 + eˢ)")],
        backward_mistakes=[
            ("from_input", lambda s, g: g * s * (1 - s), "the derivative is taken from the "
             "input s instead of the output x: σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), not s (1 − s)"),
            ("value", lambda s, g: g * torch.sigmoid(s), "multiplied by σ(s) instead of its "
             "derivative σ(s)(1 − σ(s))"),
        ]),
}


def grade_activation_forward(mod, results, kind):
    spec = ACTIVATIONS[kind]
    look = spec["look_forward"]
    cases, errors = [], []
    for label, s, g in activation_cases(big=kind != "ReLU"):
        module, s_before = getattr(mod, kind)(), s.clone()
        ok, got = attempt(errors, label, module, s)
        if not ok:
            continue
        check_not_mutated("s", s_before, s, "forward")
        alts = {key: f(s) for key, f, _ in spec["forward_mistakes"]}
        cases.append(Case(label, got, spec["f"](s), {}, alts, [("s", s)]))
    mistakes = [Mistake(key, text, look) for key, _, text in spec["forward_mistakes"]]
    judge("x", cases, mistakes, [], look, "forward returned None: it must return x",
          "NaN or inf for large |s| (e^(s) overflows to inf, and inf/inf is NaN): use a "
          "form that stays finite, e.g. 1 / (1 + e⁻ˢ) for Sigmoid, s.tanh() for Tanh",
          errors=errors, what="forward")
    _, s, g = next(activation_cases())
    saves_for_backward(getattr(mod, kind), [s + 1, s], g, lambda m, g: [m.backward(g)])


def grade_activation_backward(mod, results, kind):
    name = f"{kind}.backward"
    spec = ACTIVATIONS.get(kind, {})
    look = spec.get("look_backward", "")
    make = getattr(mod, kind)
    cases, errors = [], []
    for label, s, g in activation_cases():
        module = make()
        forward_or_wait(results, module, s, name, lambda: make().backward(g.clone()))
        g_in = g.clone()
        ok, got = attempt(errors, label, module.backward, g_in)
        if not ok:
            continue
        check_not_mutated("grad_output", g, g_in, "backward")
        try:
            again = student(module.backward, g.clone())
        except Exception:
            again = None
        if is_tensor(got) and not (is_tensor(again) and torch.equal(got, again)):
            raise Failed("a second backward after the same forward gives a different result: "
                         "backward changes what forward saved (an in-place op on it)", look,
                         [f"on {label}: first {fmt(got)}, second {fmt(again)}"])
        expected = _autograd_vjp(kind, s, g)
        alts = {key: f(s, g) for key, f, _ in spec.get("backward_mistakes", [])}
        alts["local_only"] = expected / g
        alts["all_ones"] = g
        cases.append(Case(label, got, expected, {}, alts, [("s", s), ("∂ℓ/∂x", g)]))
    mistakes = [Mistake(key, text, look) for key, _, text in spec.get("backward_mistakes", [])]
    mistakes.append(Mistake("local_only", "returned the local derivative σ'(s) alone: multiply "
                            "it by the incoming ∂ℓ/∂x (the chain rule)", look))
    mistakes.append(Mistake("all_ones", "returned ∂ℓ/∂x unchanged, as if σ'(s) were 1 "
                            "everywhere" + (" (x = max(0, s) is never negative, so a test "
                                            "x >= 0 is always true: test x > 0)"
                                            if kind == "ReLU" else ""), look))
    try:
        judge("∂ℓ/∂s", cases, mistakes, [], look, "backward returned None: it must return ∂ℓ/∂s",
              errors=errors, what="backward")
    except Failed:
        forward = _forward_of(name)
        if forward in NUMBER and results[NUMBER[forward]].status == "FAIL":
            raise Wait(f"fix exercise {NUMBER[forward]} ({forward}) first") from None
        raise


def _autograd_vjp(kind, s, g):
    functions = {"ReLU": torch.relu, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid,
                 "Softmax": lambda z: torch.softmax(z, dim=1)}
    _, (leaf,) = autograd(lambda z: (functions[kind](z) * g).sum().backward(), s)
    return leaf.grad.detach()


def grade_softmax_backward(mod, results):
    look = ("∂ℓ/∂sⱼ = xⱼ (gⱼ − Σᵢ gᵢ xᵢ) with g = ∂ℓ/∂x: the sum Σᵢ gᵢ xᵢ is over the "
            "classes of each row, one number per row, (N, 1)")
    cases, errors = [], []
    for label, s, g in activation_cases():
        module = mod.Softmax()
        try:
            with torch.no_grad():
                x = module(s)
        except Exception as error:
            raise crashed("Softmax.forward (not an exercise)", error, label) from None
        g_in = g.clone()
        ok, got = attempt(errors, label, module.backward, g_in)
        if not ok:
            continue
        check_not_mutated("grad_output", g, g_in, "backward")
        x = torch.softmax(s, dim=1)
        alts = {"diagonal": g * x * (1 - x), "no_cross": g * x,
                "unweighted": x * (g - g.sum(1, keepdim=True)),
                "batch_dim": x * (g - (g * x).sum(0, keepdim=True)),
                "no_x": g - (g * x).sum(1, keepdim=True)}
        if s.shape[0] == s.shape[1]:  # .sum(dim=1) without keepdim broadcasts along the rows
            alts["no_keepdim"] = x * (g - (g * x).sum(1))
        cases.append(Case(label, got, _autograd_vjp("Softmax", s, g), {}, alts,
                          [("s", s), ("x = softmax(s)", x), ("∂ℓ/∂x", g)]))
    judge("∂ℓ/∂s", cases, [
        Mistake("diagonal", "only the diagonal of the softmax Jacobian, x(1 − x): every output "
                "depends on every input, so the off-diagonal −xᵢxⱼ terms count too", look),
        Mistake("no_cross", "g ⊙ x: the −x xᵀ part of the Jacobian is missing", look),
        Mistake("unweighted", "the sum over the row is Σⱼ gⱼ; it must be the dot product "
                "Σⱼ gⱼ xⱼ", look),
        Mistake("batch_dim", "the dot product g · x is summed over the batch (dim 0) instead of "
                "the classes of each row (dim 1)", look),
        Mistake("no_x", "the leading x ⊙ is missing", look),
        Mistake("no_keepdim", "the row sums g · x are laid along the wrong axis: .sum(dim=1) "
                "gives shape (N,), which broadcasts along each row; keep it a column with "
                ".sum(dim=1, keepdim=True), shape (N, 1)", look),
    ], [], look, "backward returned None: it must return ∂ℓ/∂s", errors=errors,
        what="backward")


# ---------------------------------------------------------------------------
# 10-12. Losses
# ---------------------------------------------------------------------------

MSE_SHAPES = [(1, 1), (3, 1), (4, 3), (2, 5)]


def mse_cases():
    for reduction in ("mean", "sum"):
        yield reduction, "N=2, C=2", t([[1, 2], [0.5, -1]]), t([[0, 2.5], [1, 1]])
        for seed, (n, c) in enumerate(MSE_SHAPES):
            yield (reduction, f"N={n}, C={c}", randn(n, c, seed=60 + seed),
                   randn(n, c, seed=70 + seed))


def _mse_dims(reduction, x):
    n, c = x.shape
    return {"N": n, "C": c, "M": n * c, "reduction": reduction}


def _when(reduction, value):
    """A factor that only the given reduction has (1 on the cases of the other)."""
    return lambda d: value(d) if d["reduction"] == reduction else 1.0


def grade_mse_forward(mod, results):
    look = "d = x − y; ℓ = (1/M) Σ d² (mean, M = N·C entries) or ℓ = Σ d² (sum)"
    cases, errors = [], []
    for reduction, label, x, y in mse_cases():
        loss, x_before, y_before = mod.MSELoss(reduction=reduction), x.clone(), y.clone()
        ok, got = attempt(errors, f"{label}, reduction={reduction!r}", loss, x, y)
        if not ok:
            continue
        check_not_mutated("prediction", x_before, x, "forward")
        check_not_mutated("target", y_before, y, "forward")
        total = ((x - y) ** 2).sum()
        expected = total / x.numel() if reduction == "mean" else total
        alts = {"rmse": expected.sqrt(), "l1": (x - y).abs().sum() / (x.numel() if reduction == "mean" else 1)}
        if is_tensor(got) and got.dim() != 0:
            raise Failed(f"the loss has shape {tuple(got.shape)}: it must be one number, a "
                         "0-dim tensor (.sum() returns one)", look,
                         [f"on {label}, reduction={reduction!r}: got {fmt(got)}"])
        cases.append(Case(f"{label}, reduction={reduction!r}", got, expected,
                          _mse_dims(reduction, x), alts, [("x", x), ("y", y)]))
    judge("ℓ", cases, [
        Mistake("rmse", "the square root of the loss: ℓ has no √", look),
        Mistake("l1", "|x − y| instead of (x − y)²", look),
    ], [
        Factor("no 1/M: reduction='mean' divides the sum by M, the number of entries",
               _when("mean", lambda d: d["M"])),
        Factor("divided by N (the rows) instead of M = N·C (all entries), as PyTorch's mean",
               _when("mean", lambda d: d["C"])),
        Factor("divided by M although reduction='sum'", _when("sum", lambda d: 1 / d["M"])),
        Factor("divided by N although reduction='sum'", _when("sum", lambda d: 1 / d["N"])),
        Factor("a factor ½ in front: this loss is (x − y)², no ½", lambda d: 0.5),
    ], look, "forward returned None: it must return ℓ", errors=errors, what="forward")
    _, label, x, y = next(mse_cases())
    saves_for_backward(lambda: mod.MSELoss(), [(x + 1, y), (x, y)], None,
                       lambda loss, _: [loss.backward()])


def grade_mse_backward(mod, results):
    name = "MSELoss.backward"
    look = "∂ℓ/∂x = 2d / M (mean, M = N·C entries) or ∂ℓ/∂x = 2d (sum), d = x − y"
    cases, errors = [], []
    for reduction, label, x, y in mse_cases():
        loss = mod.MSELoss(reduction=reduction)
        forward_or_wait(results, lambda p: loss(p, y), x, name,
                        lambda: mod.MSELoss(reduction=reduction).backward())
        ok, got = attempt(errors, f"{label}, reduction={reduction!r}", loss.backward)
        if not ok:
            continue
        try:
            again = student(loss.backward)
        except Exception:
            again = None
        if is_tensor(got) and not (is_tensor(again) and torch.equal(got, again)):
            raise Failed("a second backward after the same forward gives a different result: "
                         "backward changes what forward saved (an in-place op on it)", look,
                         [f"on {label}: first {fmt(got)}, second {fmt(again)}"])
        expected = 2 * (x - y) / (x.numel() if reduction == "mean" else 1)
        cases.append(Case(f"{label}, reduction={reduction!r}", got, expected,
                          _mse_dims(reduction, x), {"flat": expected.reshape(-1)},
                          [("x", x), ("y", y)]))
    try:
        judge("∂ℓ/∂x", cases, [
            Mistake("flat", "∂ℓ/∂x is flattened: it must have the shape of the prediction", look),
        ], [
            Factor("the 2 is missing (the derivative of d² is 2d)", lambda d: 0.5),
            Factor("an extra factor 2", lambda d: 2.0),
            Factor("no 1/M: reduction='mean' divides by M, the number of entries",
                   _when("mean", lambda d: d["M"])),
            Factor("divided by N (the rows) instead of M = N·C (all entries)",
                   _when("mean", lambda d: d["C"])),
            Factor("divided by M although reduction='sum'", _when("sum", lambda d: 1 / d["M"])),
            Factor("divided by N although reduction='sum'", _when("sum", lambda d: 1 / d["N"])),
        ], look, "backward returned None: it must return ∂ℓ/∂x", errors=errors, what="backward")
    except Failed as failure:
        if failure.headline == "the sign is flipped":
            failure.headline = "the sign is flipped: d = x − y (prediction minus target)"
        if results[NUMBER["MSELoss.forward"]].status == "FAIL":
            raise Wait("fix exercise 10 (MSELoss.forward) first") from None
        raise failure


def ce_cases():
    yield "N=2, C=2", t([[1, -1], [0.5, 2]]), torch.tensor([0, 0])
    for seed, (n, c) in enumerate([(1, 3), (4, 3), (3, 5)]):
        yield (f"N={n}, C={c}", 2 * randn(n, c, seed=80 + seed),
               torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(90 + seed)))


def grade_cross_entropy_backward(mod, results):
    look = "∂ℓ/∂x = (softmax(x) − onehot(y)) / N, x the logits, N the batch size"
    cases, errors = [], []
    for label, z, y in ce_cases():
        loss = mod.CrossEntropyLoss()
        try:
            with torch.no_grad():
                loss(z, y)
        except Exception as error:
            raise crashed("CrossEntropyLoss.forward (not an exercise)", error, label) from None
        ok, got = attempt(errors, label, loss.backward)
        if not ok:
            continue
        n, c = z.shape
        p, onehot = torch.softmax(z, dim=1), torch.nn.functional.one_hot(y, c).to(F64)
        _, (leaf,) = autograd(lambda v: torch.nn.functional.cross_entropy(v, y).backward(), z)
        cases.append(Case(label, got, leaf.grad.detach(), {"N": n, "C": c}, {
            "no_onehot": p / n, "only_onehot": -onehot / n,
            "softmax_dim0": (torch.softmax(z, dim=0) - onehot) / n}, [("x (logits)", z), ("y", y)]))
    judge("∂ℓ/∂x", cases, [
        Mistake("no_onehot", "the − onehot(y) is missing: softmax(x) / N", look),
        Mistake("only_onehot", "the softmax(x) is missing: −onehot(y) / N", look),
        Mistake("softmax_dim0", "the softmax is taken over the batch (dim 0) instead of the "
                "classes (dim 1)", look),
    ], [
        Factor("no 1/N: the loss is a mean over the batch, so its gradient is divided by N",
               lambda d: d["N"]),
        Factor("divided by N twice (or by N²)", lambda d: 1 / d["N"]),
        Factor("divided by C (the classes) instead of N (the batch)", lambda d: d["N"] / d["C"]),
    ], look, "backward returned None: it must return ∂ℓ/∂x", errors=errors, what="backward")


# ---------------------------------------------------------------------------
# 13. Sequential
# ---------------------------------------------------------------------------


def _linear_module(mod, name, matrix, log):
    """A tiny module of the checker's own (x ↦ x A), correct by construction,
    so Sequential.backward is graded without your Dense or activations."""

    class Linear(mod.Module):
        def forward(self, x):
            self.x = x
            return x @ matrix

        def backward(self, grad_output, *args, **kwargs):
            log.append((name, grad_output.clone()))
            if grad_output.shape != (self.x.shape[0], matrix.shape[1]):
                raise ValueError(f"module {name} got a gradient of shape "
                                 f"{tuple(grad_output.shape)}, the shape of its output is "
                                 f"{(self.x.shape[0], matrix.shape[1])}")
            return grad_output @ matrix.T

        def __repr__(self):
            return f"Linear{name}"

    return Linear()


def sequential_cases():
    yield "3 modules, widths 2→2→2→2, N=2", [2, 2, 2, 2], 2
    yield "3 modules, widths 2→3→4→2, N=3", [2, 3, 4, 2], 3
    yield "1 module, N=1", [3, 2], 1


def grade_sequential_backward(mod, results):
    look = ("backpropagation: for each module from the last to the first, grad = "
            "module.backward(grad); return the last grad, ∂ℓ/∂x⁽⁰⁾")
    for case_index, (label, widths, n) in enumerate(sequential_cases()):
        log = []
        matrices = [randn(a, b, seed=100 + 10 * case_index + k)
                    for k, (a, b) in enumerate(zip(widths, widths[1:]))]
        modules = [_linear_module(mod, k + 1, m, log) for k, m in enumerate(matrices)]
        model = mod.Sequential(*modules)
        x, g = randn(n, widths[0], seed=200 + case_index), randn(n, widths[-1], seed=210 + case_index)
        with torch.no_grad():
            model(x)
        expected_log, grad = [], g
        for k in reversed(range(len(modules))):
            expected_log.append((k + 1, grad))
            grad = grad @ matrices[k].T
        try:
            got = student(model.backward, g.clone())
            error = None
        except Todo:
            raise
        except Exception as caught:
            got, error = None, caught
        _diagnose_sequential(log, expected_log, got, grad, g, error, label, look)


def _diagnose_sequential(log, expected_log, got, expected, g, error, label, look):
    names = [name for name, _ in log]
    order = [name for name, _ in expected_log]
    where = [f"on {label}: backward was called on modules {names or 'none'} (counting from "
             f"1), expected {order}"]
    if not log:
        raise Failed("no module's backward was called", look, where)
    if names[0] != order[0]:
        if names[0] == order[-1]:
            raise Failed("the modules are run first to last: backward must go from the last "
                         "module to the first (reversed)", look, where)
        raise Failed(f"backward starts with module {names[0]}; it must start with the last "
                     f"one, module {order[0]}", look, where)
    for (name, received), (wanted_name, wanted) in zip(log, expected_log):
        if name != wanted_name:
            raise Failed("the modules' backward calls are in the wrong order", look, where)
        if not close(received, wanted):
            same = is_tensor(received) and received.shape == g.shape and close(received, g)
            raise Failed("every module gets the same incoming gradient: pass each module the "
                         "result of the module after it (grad = module.backward(grad))"
                         if same else f"module {name} gets the wrong incoming gradient", look,
                         [f"on {label}:", f"  expected module {name} to get {fmt(wanted)}",
                          f"  it got {fmt(received)}"])
    if len(names) > len(order):
        raise Failed("a module's backward is called more than once", look, where)
    if len(names) < len(order):
        missing = order[len(names):]
        raise Failed(f"the backward of module(s) {missing} (counting from 1) is never called: "
                     "the loop must visit every module", look, where)
    if error is not None:
        raise crashed("backward", error, label, look)
    if got is None:
        raise Failed("backward returned None: it must return ∂ℓ/∂x⁽⁰⁾, what the first "
                     "module's backward returns", look, [f"on {label}"])
    if not close(got, expected):
        hint = ("backward returned the incoming gradient unchanged" if close(got, g)
                else "backward returns the wrong tensor: return what the first module's "
                "backward returned")
        raise Failed(hint, look, [f"on {label}:", f"  expected {fmt(expected)}",
                                  f"  got      {fmt(got)}"])


# ---------------------------------------------------------------------------
# 14-15. Optimizers
# ---------------------------------------------------------------------------


def optimizer_problem():
    """Initial values and the gradients of three steps, for three parameters;
    the 2×2 one has numbers you can follow by hand."""
    values = [t([[1, -2], [0.5, 3]]), randn(3, seed=300), randn(1, 4, seed=301)]
    grads = [[t([[0.5, -1], [2, 0.25]]), randn(3, seed=310), randn(1, 4, seed=311)],
             [t([[-1, 0.5], [1, 1]]), randn(3, seed=320), randn(1, 4, seed=321)],
             [t([[0.25, 2], [-0.5, 1]]), randn(3, seed=330), randn(1, 4, seed=331)]]
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
                raise Failed("step() changed a gradient tensor in place (e.g. grad.add_(...) "
                             "for weight decay): use an out-of-place grad + λ w",
                             "g = ∂ℓ/∂w + λ w as a new tensor; step() never changes the gradients",
                             [f"  gradient before = {fmt(new)}", f"  gradient after  = {fmt(gradient)}"])
        trajectory.append([v.clone() for v in values])
    return trajectory


def torch_trajectory(cls, values, grads, lrs, **settings):
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
            if form in ("wd_decoupled", "wd_no_lr"):
                d = g
            mu = 0.0 if form == "no_momentum" else momentum
            if mu:
                if form == "ema":
                    velocity[i] = (1 - mu) * d if velocity[i] is None else mu * velocity[i] + (1 - mu) * d
                elif form == "lr_in_v":
                    velocity[i] = -lr * d if velocity[i] is None else mu * velocity[i] - lr * d
                else:
                    velocity[i] = d.clone() if velocity[i] is None else mu * velocity[i] + d
                d = velocity[i]
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


def adam_form(form, values, grads, lrs, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam as a student might write it; form 'pytorch' is the right one."""
    beta1, beta2 = (betas[1], betas[0]) if form == "betas_swapped" else betas
    values = [v.clone() for v in values]
    m = [torch.zeros_like(v) for v in values]
    v2 = [torch.zeros_like(v) for v in values]
    trajectory, t_count = [], 0
    for step_grads, lr in zip(grads, lrs):
        if form != "t_per_param":
            t_count += 1
        for i, (w, g) in enumerate(zip(values, step_grads)):
            if form == "t_per_param":
                t_count += 1
            d = g if form in ("adamw", "wd_ignored") else g + weight_decay * w
            m[i] = beta1 * m[i] + (d if form == "no_one_minus" else (1 - beta1) * d)
            v2[i] = beta2 * v2[i] + (1 - beta2) * d * d
            m_hat = m[i] if form in ("no_bias_correction", "only_v") else m[i] / (1 - beta1 ** t_count)
            v_hat = v2[i] if form in ("no_bias_correction", "only_m") else v2[i] / (1 - beta2 ** t_count)
            denominator = (v_hat + eps).sqrt() if form == "eps_inside" else v_hat.sqrt() + eps
            step = lr * m_hat / denominator
            w += step if form == "sign" else -step
            if form == "adamw":
                w -= lr * weight_decay * w
        trajectory.append([v.clone() for v in values])
    return trajectory


SGD_SETTINGS = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, weight_decay=0.1),
                dict(lr=0.1, momentum=0.9, weight_decay=0.1)]
SGD_FORMS = [
    ("sign", "the step goes up the gradient: w ← w − η g, with a minus",
     "w ← w − η v"),
    ("ema", "momentum in the form v ← μ v + (1 − μ) g; this API (as PyTorch) uses v ← μ v + g, "
     "with v = g at the first step", "v ← μ v + g; w ← w − η v"),
    ("lr_in_v", "momentum in the form v ← μ v − η g, w ← w + v: the same as PyTorch's while η "
     "is constant, but not when lr changes between steps; PyTorch keeps η out of v",
     "v ← μ v + g; w ← w − η v"),
    ("no_momentum", "momentum is ignored", "v ← μ v + g; w ← w − η v"),
    ("wd_ignored", "weight decay is ignored", "g = ∂ℓ/∂w + λ w (before momentum)"),
    ("wd_sign", "weight decay has the wrong sign: g = ∂ℓ/∂w + λ w", "g = ∂ℓ/∂w + λ w"),
    ("wd_decoupled", "weight decay is applied outside momentum (w ← w − ηλw apart): this "
     "API (as PyTorch's SGD) adds λw to the gradient before momentum", "g = ∂ℓ/∂w + λ w, then v ← μ v + g"),
    ("wd_no_lr", "weight decay is not multiplied by the learning rate (w ← w − λw)",
     "g = ∂ℓ/∂w + λ w, then w ← w − η v"),
]
ADAM_SETTINGS = [dict(lr=0.1), dict(lr=0.1, weight_decay=0.1),
                 dict(lr=0.1, betas=(0.8, 0.95), eps=0.1)]
ADAM_FORMS = [
    ("no_bias_correction", "no bias correction: m̂ = m / (1 − β₁ᵗ) and v̂ = v / (1 − β₂ᵗ) are "
     "missing", "m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)"),
    ("only_m", "only m is bias-corrected: v̂ = v / (1 − β₂ᵗ) is missing",
     "v̂ = v / (1 − β₂ᵗ)"),
    ("only_v", "only v is bias-corrected: m̂ = m / (1 − β₁ᵗ) is missing",
     "m̂ = m / (1 − β₁ᵗ)"),
    ("t_per_param", "the step count t grows once per parameter, not once per step(): "
     "count steps outside the loop over parameters", "t ← t + 1, once per step()"),
    ("sign", "the step goes up the gradient: w ← w − η m̂ / (√v̂ + ε), with a minus",
     "w ← w − η m̂ / (√v̂ + ε)"),
    ("eps_inside", "ε is inside the square root: √(v̂ + ε) instead of √v̂ + ε",
     "w ← w − η m̂ / (√v̂ + ε)"),
    ("no_one_minus", "m ← β₁ m + g: the (1 − β₁) is missing", "m ← β₁ m + (1 − β₁) g"),
    ("betas_swapped", "β₁ and β₂ are swapped", "m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g²"),
    ("adamw", "weight decay is decoupled (AdamW's w ← w − ηλw): Adam adds λw to the gradient",
     "g = ∂ℓ/∂w + λ w, before m and v"),
    ("wd_ignored", "weight decay is ignored", "g = ∂ℓ/∂w + λ w, before m and v"),
]


def grade_optimizer(mod, results, kind):
    cls_torch = torch.optim.SGD if kind == "SGD" else torch.optim.Adam
    settings_list, forms = (SGD_SETTINGS, SGD_FORMS) if kind == "SGD" else (ADAM_SETTINGS, ADAM_FORMS)
    simulate = sgd_form if kind == "SGD" else adam_form
    values, grads = optimizer_problem()
    for settings in settings_list:
        lrs = [settings["lr"], settings["lr"], settings["lr"] / 2]  # lr changed before step 3
        rest = {k: v for k, v in settings.items() if k != "lr"}
        make = lambda pairs: getattr(mod, kind)(pairs, **settings)  # noqa: E731
        try:
            got = run_optimizer(make, values, grads, lrs)
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed(f"{kind}(..., {_settings_text(settings)})", error, "3 parameters") from None
        expected = torch_trajectory(cls_torch, values, grads, lrs, **rest)
        if all(close(a, b) for step_a, step_b in zip(got, expected) for a, b in zip(step_a, step_b)):
            continue
        _diagnose_optimizer(kind, settings, values, grads, lrs, got, expected, forms, simulate)


def _settings_text(settings):
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def _diagnose_optimizer(kind, settings, values, grads, lrs, got, expected, forms, simulate):
    step = next(k for k, (a, b) in enumerate(zip(got, expected))
                if not all(close(x, y) for x, y in zip(a, b)))
    where = [f"with {kind}(params, {_settings_text(settings)}), lr {lrs[-1]} at step 3; "
             f"the 2×2 parameter",
             f"  w₀ = {fmt(values[0])}"] + [
             f"  g{k + 1} = {fmt(grads[k][0])}" for k in range(step + 1)] + [
             f"  expected w after step {step + 1} = {fmt(expected[step][0])}",
             f"  got      w after step {step + 1} = {fmt(got[step][0])}"]
    if all(torch.equal(a, b) for a, b in zip(got[-1], values)):
        raise Failed("step() did not change the parameters: update them in place "
                     "(w -= ..., w.add_(...)); w = w - ... only rebinds a local name",
                     "w ← w − η (...), in place on the tensors of model.param()", where)
    finite = all(torch.isfinite(v).all() for v in got[step])
    if not finite:
        raise Failed("NaN or inf in the parameters" + (
            " (a division by zero: if the step count t starts at 0, 1 − βᵗ is 0; count from 1)"
            if kind == "Adam" else ""), "", where)
    for key, headline, look in forms:
        alternative = simulate(key, values, grads, lrs, **settings)
        if all(close(a, b) for step_a, step_b in zip(got, alternative) for a, b in zip(step_a, step_b)):
            raise Failed(headline, look, where)
    raise Failed("cannot tell what is wrong: the steps match none of the mistakes this checker "
                 "knows", "", where)


# ---------------------------------------------------------------------------
# Running every exercise
# ---------------------------------------------------------------------------

GRADERS = {
    "Dense.forward": grade_dense_forward,
    "Dense.backward": grade_dense_backward,
    "ReLU.forward": lambda m, r: grade_activation_forward(m, r, "ReLU"),
    "ReLU.backward": lambda m, r: grade_activation_backward(m, r, "ReLU"),
    "Tanh.forward": lambda m, r: grade_activation_forward(m, r, "Tanh"),
    "Tanh.backward": lambda m, r: grade_activation_backward(m, r, "Tanh"),
    "Sigmoid.forward": lambda m, r: grade_activation_forward(m, r, "Sigmoid"),
    "Sigmoid.backward": lambda m, r: grade_activation_backward(m, r, "Sigmoid"),
    "Softmax.backward": grade_softmax_backward,
    "MSELoss.forward": grade_mse_forward,
    "MSELoss.backward": grade_mse_backward,
    "CrossEntropyLoss.backward": grade_cross_entropy_backward,
    "Sequential.backward": grade_sequential_backward,
    "SGD.step": lambda m, r: grade_optimizer(m, r, "SGD"),
    "Adam.step": lambda m, r: grade_optimizer(m, r, "Adam"),
}


def load(path) -> object:
    """Import the file at `path` as a new module with a name of its own."""
    path = Path(path).resolve()
    name = f"minimlp_checked_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def grade(module) -> list:
    """A Result for every exercise, in order."""
    results = {}
    for number, name in enumerate(EXERCISES, start=1):
        try:
            GRADERS[name](module, results)
            result = Result(number, name, "PASS")
        except Todo:
            result = Result(number, name, "TODO")
        except Wait as wait:
            result = Result(number, name, "WAIT", str(wait))
        except Failed as failure:
            details = [f"look at: {failure.look_at}"] if failure.look_at else []
            result = Result(number, name, "FAIL", failure.headline, details + failure.example)
        except Exception as error:  # a bug of the student's that broke the harness itself
            result = Result(number, name, "FAIL", f"raised {type(error).__name__}: {error}"[:200])
        results[number] = result
    return [results[number] for number in sorted(results)]


def report(results: list) -> str:
    lines = []
    for result in results:
        lines += result.lines()
    passed = sum(result.status == "PASS" for result in results)
    lines.append(f"{passed}/{len(results)} exercises pass")
    following = next((r for r in results if r.status != "PASS"), None)
    if following is not None:
        lines[-1] += f"; next: exercise {following.number} ({following.name})"
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Grade the minimlp exercises in FILE.")
    parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE),
                        help="your copy of the skeleton (default: exercises/minimlp_student.py)")
    args = parser.parse_args(argv)
    try:
        module = load(args.file)
    except Exception as error:
        print(f"cannot import {args.file}: {type(error).__name__}: {error}")
        return 2
    results = grade(module)
    print(report(results))
    return 0 if all(result.status == "PASS" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
