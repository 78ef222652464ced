"""Grade the minimlp exercises, and say what is wrong with the ones that fail.

    python exercises/check.py                 # the guided skeleton, exercises/minimlp_student.py
    python exercises/check.py my_minimlp.py   # your copy, of either level

FILE is imported as a module and each exercise is run through the public API
(`Dense(...)`, `layer(x)`, `layer.backward(g)`, `loss(prediction, target)`,
`SGD(pairs, ...)`, `opt.step()`) in float64, on several shapes (a 2×2 case,
a batch of one, non-square layers, large inputs), against an oracle:
torch.autograd for the gradients, and for the optimizer steps PyTorch's update
rules (which test_exercises.py holds to torch.optim). The checker is a test
harness, not part of the framework, so it may use autograd.

Every backward is called twice after one forward (the two results must
agree), and the caller's tensors (the inputs, the gradient given to backward,
the tensor forward returned) are compared before and after every call: an
in-place edit of something forward saved is caught and named. An exception
is reported on the method that raised it, with its line.

One line per exercise: PASS, TODO (still raises NotImplementedError), WAIT
(cannot be graded until an earlier exercise passes: a backward needs its
forward), or FAIL with a diagnosis read from the numbers (never from your
source, except the line an exception came from), the equation to look at, and
an example of expected and got. Exit status 0 only when every exercise passes.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import itertools
import linecache
import re
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

try:
    import torch
except ModuleNotFoundError:  # the first thing a fresh machine runs into
    sys.exit("exercises/check.py needs torch, and this Python has none: install it first, "
             "as the README's Get started says\n"
             "(python -m pip install torch==2.13.0 --index-url "
             "https://download.pytorch.org/whl/cpu), then run the checker again")

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = HERE / "minimlp_student.py"
F64 = torch.float64


def _make_student():
    """The numbered list lives in make_student.py (standard library only)."""
    spec = importlib.util.spec_from_file_location("_minimlp_make_student", HERE / "make_student.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXERCISES = _make_student().EXERCISES
NUMBER = {name: index for index, name in enumerate(EXERCISES, start=1)}

# The equation each exercise computes, shown as "look at:" when no more precise
# line applies (in the notation of minimlp.py's comments).
LOOK = {
    "Dense.forward": "s = x wᵀ + b: x (N, in), w (out, in), b (out,) added to every row",
    "Dense.backward": "∂ℓ/∂w += (∂ℓ/∂s)ᵀ x; ∂ℓ/∂b += Σₙ (∂ℓ/∂s)ₙ; ∂ℓ/∂x = (∂ℓ/∂s) w",
    "ReLU.forward": "x = max(0, s), entry by entry",
    "ReLU.backward": "σ'(s) = 1 where s > 0, else 0; ∂ℓ/∂s = ∂ℓ/∂x ⊙ σ'(s)",
    "Tanh.forward": "x = tanh(s)",
    "Tanh.backward": "σ'(s) = 1 − tanh²(s) = 1 − x², with x the output saved by forward; "
                     "∂ℓ/∂s = ∂ℓ/∂x ⊙ (1 − x²)",
    "Sigmoid.forward": "x = 1 / (1 + e⁻ˢ); for s → −∞ it gives 1 / (1 + inf) = 0, never NaN",
    "Sigmoid.backward": "σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), with x the output saved by "
                        "forward; ∂ℓ/∂s = ∂ℓ/∂x ⊙ x (1 − x)",
    "Identity.forward": "x = s",
    "Identity.backward": "σ'(s) = 1, so ∂ℓ/∂s = ∂ℓ/∂x",
    "Softmax.forward": "xᵢ = e^sᵢ / Σⱼ e^sⱼ over each row; subtract the row's maximum m "
                       "first, e^(sᵢ − m) / Σⱼ e^(sⱼ − m), so that no exponent overflows",
    "Softmax.backward": "∂ℓ/∂sⱼ = xⱼ (gⱼ − Σᵢ gᵢ xᵢ) with g = ∂ℓ/∂x: the sum Σᵢ gᵢ xᵢ is "
                        "over the classes of each row, one number per row, (N, 1)",
    "Dropout.forward": "training: output = x ⊙ m, mᵢ = 1 / (1 − p) with probability 1 − p, "
                       "else 0, a new m at every forward; eval mode: output = x",
    "Dropout.backward": "∂ℓ/∂x = ∂ℓ/∂(output) ⊙ m, with the mask m of the last forward",
    "Sequential.forward": "x⁽ˡ⁾ = module l (x⁽ˡ⁻¹⁾) for l = 1 … L: the output of each "
                          "module is the input of the next; return x⁽ᴸ⁾",
    "Sequential.backward": "backpropagation: for each module from the last to the first, "
                           "grad = module.backward(grad); return the last grad, ∂ℓ/∂x⁽⁰⁾",
    "MSELoss.forward": "d = x − y; ℓ = (1/M) Σ d² (mean, M = N·C entries) or ℓ = Σ d² (sum)",
    "MSELoss.backward": "∂ℓ/∂x = 2d / M (mean, M = N·C entries) or ∂ℓ/∂x = 2d (sum), "
                        "d = x − y",
    "CrossEntropyLoss.forward": "ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ] for the logits s, with "
                                "log softmax(s)ᵢ = sᵢ − m − log Σⱼ e^(sⱼ − m), m the row's "
                                "maximum",
    "CrossEntropyLoss.backward": "∂ℓ/∂s = (softmax(s) − onehot(y)) / N, s the logits, "
                                 "N the batch size",
    "SGD.step": "g = ∂ℓ/∂w + λ w; v ← μ v + g (v = 0 before the first step); w ← w − η v, "
                "in place",
    "Adam.step": "g = ∂ℓ/∂w + λ w; m ← β₁ m + (1 − β₁) g; v ← β₂ v + (1 − β₂) g ⊙ g; "
                 "m̂ = m / (1 − β₁ᵗ); v̂ = v / (1 − β₂ᵗ); w ← w − η m̂ / (√v̂ + ε), t counted "
                 "from 1, once per step()",
}

# The forward whose output a backward exercise is graded after.
FORWARD_OF = {name: name.split(".")[0] + ".forward" for name in EXERCISES
              if name.endswith(".backward") and name.split(".")[0] + ".forward" in NUMBER}


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


# ---------------------------------------------------------------------------
# Which method raised: an exception is blamed on the exercise whose code raised it
# ---------------------------------------------------------------------------

_OWNERS: dict = {}  # code object of an exercise method -> its qualified name


def _learn_owners(mod) -> None:
    """Remember the code of every exercise method of the graded module."""
    _OWNERS.clear()
    for name in EXERCISES:
        class_name, method = name.split(".")
        function = getattr(getattr(mod, class_name, None), method, None)
        code = getattr(function, "__code__", None)
        if code is not None:
            _OWNERS[code] = name


def where_raised(error: BaseException):
    """(exercise name, line number, source line) of the innermost exercise method
    in the traceback of `error`, or None when no exercise's code raised it."""
    found, tb = None, error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code in _OWNERS:
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            found = (_OWNERS[code], tb.tb_lineno, line)
        tb = tb.tb_next
    return found


def error_kind(error: BaseException) -> str:
    """The name of the error's class, or of its first public base class
    (a private `_MissingAttribute(AttributeError)` reads AttributeError)."""
    return next(cls.__name__ for cls in type(error).__mro__ if not cls.__name__.startswith("_"))


def error_text(error: BaseException) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{error_kind(error)}: {message}"[:160]


def line_text(error: BaseException) -> str:
    """' (line 12: return x.mm(w))' for the exercise line that raised, or ''."""
    where = where_raised(error)
    return f" (line {where[1]}: {where[2]})" if where and where[2] else ""


def crashed(what: str, error: Exception, case: str, look_at: str = "",
            quantity: str = "", expected=None) -> Failed:
    example = [f"on {case}:"]
    if quantity and expected is not None:
        example += [f"  expected {quantity} = {fmt(expected)}",
                    f"  got      {quantity}: {error_kind(error)} raised"]
    else:
        example += ["  expected a result, no exception",
                    f"  got      {error_kind(error)} raised"]
    return Failed(f"{what} raised {error_text(error)}{line_text(error)}"[:260], look_at,
                  example)


def missing_attribute(error: BaseException):
    """The name of the attribute an AttributeError says is missing, or None."""
    if not isinstance(error, AttributeError):
        return None
    name = getattr(error, "name", None)
    if name:
        return name
    match = re.search(r"attribute '(\w+)'", str(error)) or re.search(r"'(\w+)'", str(error))
    return match.group(1) if match else None


def set_by(before: dict, module) -> set:
    """The attributes of `module` added or rebound since `before = dict(vars(module))`."""
    return {key for key, value in vars(module).items()
            if key not in before or before[key] is not value}


def blame_backward_crash(error, label, forward_set, look, quantity="", expected=None):
    """The Failed (or Wait) for a backward that raised after a forward that set
    the attributes `forward_set`."""
    missing = missing_attribute(error)
    saved_nothing = not forward_set
    if missing is not None or "before forward" in str(error):
        if saved_nothing:
            raise Wait("needs its forward to save what backward reads: the forward "
                       "sets nothing on self")
        if missing is not None and missing not in forward_set:
            names = sorted(forward_set)
            guess = difflib.get_close_matches(missing, names, n=1)
            hint = f" — a typo for self.{guess[0]}?" if guess else ""
            shown = ", ".join(f"self.{name}" for name in names)
            example = [f"on {label}: forward set {shown}"]
            if quantity and expected is not None:
                example += [f"  expected {quantity} = {fmt(expected)}",
                            f"  got      {quantity}: AttributeError raised"]
            raise Failed(f"backward reads self.{missing}, which forward never sets{hint}"
                         f"{line_text(error)}", look, example)
    raise crashed("backward", error, label, look, quantity, expected)


# ---------------------------------------------------------------------------
# Comparing numbers, and reading a mistake from them
# ---------------------------------------------------------------------------


def is_tensor(value) -> bool:
    return isinstance(value, torch.Tensor)


def close(got, expected) -> bool:
    return (is_tensor(got) and got.shape == expected.shape
            and bool(torch.isfinite(got).all() or not torch.isfinite(expected).all())
            and torch.allclose(got.to(F64), expected.to(F64), rtol=1e-6, atol=1e-9,
                               equal_nan=True))


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "None"
    if not is_tensor(value):
        text = " ".join(repr(value).split())
        return f"{text[:120]} (a {type(value).__name__}, not a tensor)"
    if value.dim() == 0:
        number = value.item()
        return f"{number + 0.0:.{digits}g}" if isinstance(number, float) else str(number)
    if value.dim() > 2 or value.numel() > 12:
        return f"a tensor of shape {tuple(value.shape)}"
    return "[" + ", ".join(fmt(row, digits) for row in value) + "]"


def fmt_pair(expected, got) -> tuple:
    """`expected` and `got` as text, with enough digits that two different values
    never print the same."""
    if (is_tensor(expected) and is_tensor(got) and expected.shape == got.shape
            and expected.numel() > 12 and expected.dim() > 0):
        difference = (got.to(F64) - expected.to(F64)).abs().nan_to_num(nan=float("inf"))
        flat, index = int(difference.argmax()), []
        for size in reversed(got.shape):
            flat, position = divmod(flat, size)
            index.insert(0, position)
        where = f"a tensor of shape {tuple(got.shape)} with {index_text(index)} = "
        return tuple(where + text
                     for text in fmt_pair(expected[tuple(index)], got[tuple(index)]))
    for digits in (4, 6, 8, 12, 17):
        a, b = fmt(expected, digits), fmt(got, digits)
        if a != b:
            return a, b
    return a, b


def index_text(index) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


def differing(quantity: str, got, expected) -> str:
    """Which entries of `got` differ from `expected`, and by how much, e.g.
    '2 of 4 entries of ∂ℓ/∂s differ (row 1 only): ∂ℓ/∂s[1, 0] is 0.5, expected -2; ...'."""
    if not (is_tensor(got) and got.shape == expected.shape):
        return ""
    got, expected = got.to(F64), expected.to(F64)
    if got.dim() == 0:
        return (f"{quantity} is {got.item():.6g}, expected {expected.item():.6g} "
                f"(a difference of {(got - expected).abs().item():.3g})")
    bad = ~torch.isclose(got, expected, rtol=1e-6, atol=1e-9, equal_nan=True)
    where = bad.nonzero().tolist()
    if not where:
        return ""
    total = got.numel()
    pattern = ""
    if got.dim() == 2 and len(where) < total:
        rows, columns = {i for i, _ in where}, {j for _, j in where}
        if len(rows) == 1 and got.shape[0] > 1:
            pattern = f" (row {rows.pop()} only)"
        elif len(columns) == 1 and got.shape[1] > 1:
            pattern = f" (column {columns.pop()} only)"
    difference = (got - expected).abs().nan_to_num(nan=float("inf"))
    flat, worst_index = int(difference.argmax()), []
    for size in reversed(got.shape):
        flat, position = divmod(flat, size)
        worst_index.insert(0, position)
    shown = where[:2] + ([worst_index] if worst_index not in where[:2] else [])
    parts = [f"{quantity}{index_text(i)} is {got[tuple(i)].item():.6g}, expected "
             f"{expected[tuple(i)].item():.6g}" for i in shown]
    count = (f"every entry of {quantity} differs" if len(where) == total
             else f"{len(where)} of {total} entries of {quantity} differ")
    return (f"{count}{pattern}, by up to {difference.max().item():.3g}: " + "; ".join(parts))


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
    expected, got = fmt_pair(case.expected, case.got)
    lines = [f"example ({case.label}{note}):"]
    lines += [f"  {name} = {fmt(value)}" for name, value in case.inputs]
    lines += [f"  expected {quantity} = {expected}", f"  got      {quantity} = {got}"]
    if expected.startswith("a tensor of shape") and got.startswith("a tensor of shape"):
        lines.append("  " + differing(quantity, case.got, case.expected))
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
    also = [f"(and on {label} it raised {error_text(error)[:100]})" for label, error in errors[:1]]

    def fail(headline, where=look_at, case=shown):
        raise Failed(headline, where,
                     example(case, quantity, "" if case is not shown else note) + also)

    if any(case.got is None for case in cases):
        fail(none_message or f"{quantity} is None",
             case=next(case for case in cases if case.got is None))
    if any(not is_tensor(case.got) for case in cases):
        odd = next(case for case in cases if not is_tensor(case.got))
        fail(f"{quantity} is a {type(odd.got).__name__}, not a tensor", case=odd)
    for case in failing:
        if (case.got.shape == case.expected.shape and not torch.isfinite(case.got).all()
                and torch.isfinite(case.expected).all()):
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
    fail(f"not a mistake this checker knows: {differing(quantity, shown.got, shown.expected)} "
         f"(on {shown.label}); compare your {quantity} with the equation by hand")


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
    return value.detach().clone() if is_tensor(value) else value


def unchanged(before, after) -> bool:
    """Two tensors with the same shape and entries (NaN equal to NaN)."""
    return (is_tensor(before) and is_tensor(after) and before.shape == after.shape
            and bool(((before == after) | (before.isnan() & after.isnan())).all()))


# ---------------------------------------------------------------------------
# A forward, then two backward calls: the checks every exercise shares
# ---------------------------------------------------------------------------


def mutated(name: str, before, after, what: str, look: str = "") -> Failed:
    expected, got = fmt_pair(before, after)
    whose = "the layer's" if name.startswith(("weight", "bias")) else "the caller's"
    return Failed(f"{what} changed {whose} {name} in place (an in-place op such as "
                  f"add_, clamp_, mul_, -= or [...] = on it)",
                  look or "use the out-of-place form (s.clamp(min=0), not s.clamp_(min=0)); "
                  "nothing may change a caller's tensor",
                  [f"  expected {name} after the call = {expected} (unchanged)",
                   f"  got      {name} after the call = {got}"])


def check_not_mutated(name: str, before, after, what: str, look: str = "") -> None:
    if is_tensor(before) and not unchanged(before, after):
        raise mutated(name, before, after, what, look)


def _saved_tensors(module, skip_ids: set) -> dict:
    """Copies of the tensors `module` holds (what forward saved), but not its
    parameters and gradients."""
    return {key: value.clone() for key, value in vars(module).items()
            if is_tensor(value) and id(value) not in skip_ids}


def _param_ids(module) -> set:
    try:
        return {id(tensor) for pair in module.param() for tensor in pair}
    except Exception:
        return set()


@dataclass
class Trial:
    """What one forward and two backward calls did."""
    module: object
    output: object
    first: object = None
    second: object = None
    error: BaseException | None = None    # what the first backward raised
    forward_set: set = field(default_factory=set)


def trial(results, name, module, inputs: tuple, grad, backward, probe, label, look,
          names=("s",), quantity="∂ℓ/∂s", expected=None, output_name="x") -> Trial:
    """Run forward on `inputs`, then `backward(module, a copy of grad)` twice.
    Raise Todo or Wait when the forward cannot run; raise Failed when backward
    changes a caller's tensor (an input, the gradient it was given, the tensor
    forward returned) or when the two backward calls disagree, naming what
    forward saved that backward changed."""
    before = dict(vars(module))
    copies = [_copy(x) for x in inputs]
    output = forward_or_wait(results, name, module, inputs, probe)
    forward_set = set_by(before, module)
    output_copy = _copy(output)
    saved = _saved_tensors(module, _param_ids(module))
    record = Trial(module, output, forward_set=forward_set)
    try:
        grad_in = _copy(grad)
        record.first = _copy(student(backward, module, grad_in))
    except Todo:
        raise
    except Exception as error:
        record.error = error
        return record
    check_not_mutated("grad_output", grad, grad_in, "backward", look)
    _check_callers(module, inputs, copies, names, output, output_copy, output_name, look)
    try:
        record.second = _copy(student(backward, module, _copy(grad)))
    except Exception as error:
        raise Failed(f"a second backward after the same forward raised {error_text(error)}"
                     f"{line_text(error)}: backward must leave what forward saved as it was",
                     look, [f"on {label}:", f"  expected {quantity} = {fmt(record.first)} "
                            f"(as the first call)", f"  got      {quantity}: "
                            f"{error_kind(error)} raised"]) from None
    if is_tensor(record.first) and not (is_tensor(record.second)
                                        and unchanged(record.first, record.second)):
        changed = [key for key, copy in saved.items() if not unchanged(copy, vars(module).get(key))]
        what = (", ".join(f"self.{key}" for key in changed) if changed else "what forward saved")
        right = (expected if expected is not None and not close(record.second, expected)
                 else record.first)  # either way, not what the second call gave
        shown_expected, shown_got = fmt_pair(right, record.second)
        raise Failed(f"a second backward after the same forward gives a different result: "
                     f"backward changes {what} in place (an in-place op such as *=, -=, mul_ "
                     f"or [...] = on a saved tensor, or on a name for it like p = "
                     f"self.{changed[0] if changed else 'output'}); work on a new tensor",
                     look, [f"on {label}, calling backward twice after one forward:",
                            f"  expected {quantity} (second call) = {shown_expected}",
                            f"  got      {quantity} (second call) = {shown_got}"])
    return record


def _check_callers(module, inputs, copies, names, output, output_copy, output_name, look):
    for name, x, copy in zip(names, inputs, copies):
        check_not_mutated(name, copy, x, "backward", look)
    if is_tensor(output) and not unchanged(output_copy, output):
        owners = [key for key, value in vars(module).items() if value is output]
        held = f", which forward saved as self.{owners[0]}" if owners else ""
        expected, got = fmt_pair(output_copy, output)
        raise Failed(f"backward changed, in place, the tensor forward returned: the "
                     f"caller's {output_name}{held} (an in-place op such as mul_, *= or "
                     f"-= on it); compute the result as a new tensor", look,
                     [f"  expected {output_name} after backward = {expected} (unchanged)",
                      f"  got      {output_name} after backward = {got}"])


def forward_or_wait(results, name, module, inputs: tuple, probe):
    """Run the forward a backward exercise needs. If that forward is TODO, the
    backward is TODO too when it still raises NotImplementedError by itself
    (probe), else it waits for the forward."""
    try:
        with torch.no_grad():
            return module(*inputs)
    except NotImplementedError:
        try:
            with torch.no_grad():
                probe()
        except NotImplementedError:
            raise Todo() from None
        except Exception:
            pass
        raise Wait(_wait_text(name)) from None
    except Exception as error:
        raise Wait(_wait_text(name, error)) from None


def _wait_text(name: str, error: Exception | None = None) -> str:
    forward = FORWARD_OF.get(name, name.split(".")[0] + ".forward")
    number = NUMBER.get(forward)
    which = f"exercise {number} ({forward})" if number else forward
    if error is None:
        return f"needs {which} first: backward is tested after a forward"
    return f"needs {which} to run first (it raised {error_kind(error)})"


def backward_crashed(record: Trial, errors: list, label, look, quantity, expected) -> bool:
    """True when the first backward raised. A missing attribute is diagnosed at once
    (a typo, or a forward that saves nothing); any other error is noted in `errors`,
    so that the cases that ran are diagnosed first (a product that runs only on
    square shapes), as `judge` does."""
    if record.error is None:
        return False
    if missing_attribute(record.error) is not None or "before forward" in str(record.error):
        blame_backward_crash(record.error, label, record.forward_set, look, quantity, expected)
    errors.append((label, record.error))
    return True


def saves_for_backward(make, inputs: list, backward, look: str, compare=True,
                       names=("backward's result",)) -> None:
    """Raise Failed when forward does not save (or does not update) what
    backward reads. `backward(module)` returns the tensors it produced.
    Inconclusive (returns) when backward is TODO or fails on its own: a
    backward that reads a name forward never set is that backward's FAIL."""
    def run(xs):
        module = make()
        sets = []
        for x in xs:
            before = dict(vars(module))
            with torch.no_grad():
                module(*x)
            sets.append(set_by(before, module))
        with torch.no_grad():
            return [_copy(r) for r in backward(module)], sets
    try:
        fresh, (forward_set,) = run(inputs[-1:])
    except NotImplementedError:
        return
    except Exception as error:
        where = where_raised(error)
        module = make()
        before = dict(vars(module))
        try:
            with torch.no_grad():
                module(*inputs[-1])
        except Exception:
            return
        in_backward = where is None or where[0].endswith((".backward", ".step"))
        finds_nothing = (missing_attribute(error) is not None or "before forward" in str(error)
                         or "NoneType" in str(error))
        if in_backward and finds_nothing and not set_by(before, module):
            raise Failed("forward does not save what backward reads: it sets nothing on self, "
                         f"and backward then raised {error_text(error)}",
                         "forward must store what backward needs on self, e.g. "
                         "self.input = x, under the name backward reads",
                         [f"  expected after forward: self.<name> = what backward needs",
                          f"  got      after forward: nothing set on self"]) from None
        return
    if not compare:
        return
    try:
        again, sets = run(inputs)
    except Exception:
        return
    if len(fresh) != len(again) or not all(
            (a is None and b is None) or (is_tensor(a) and is_tensor(b) and a.shape == b.shape
                                          and torch.allclose(a, b))
            for a, b in zip(fresh, again)):
        if sets[-1]:
            return  # the last forward did save something: not forward's fault alone
        k = next(k for k, (a, b) in enumerate(zip(fresh, again))
                 if not (is_tensor(a) and is_tensor(b) and a.shape == b.shape
                         and torch.allclose(a, b)))
        expected, got = fmt_pair(fresh[k], again[k])
        name = names[k] if k < len(names) else names[0]
        raise Failed("backward used what an earlier forward saved: forward must save its "
                     "input (or output) again at every call, not only the first time",
                     "the line of forward that stores the input/output on self",
                     ["backward after a forward on other numbers, then the forward tested:",
                      f"  expected {name} = {expected}", f"  got      {name} = {got}"])


# ---------------------------------------------------------------------------
# Dense
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
    look = LOOK["Dense.forward"]
    cases, errors = [], []
    for label, x, w, b, _ in dense_cases():
        layer, x_before = make_dense(mod, w, b), x.clone()
        ok, got = attempt(errors, label, layer, x)
        if not ok:
            continue
        check_not_mutated("x", x_before, x, "forward")
        check_not_mutated("weight w", w, layer.weight, "forward")
        check_not_mutated("bias b", b, layer.bias, "forward")
        alts = {"no_bias": x @ w.T, "minus_b": x @ w.T - b}
        if w.shape[0] == w.shape[1]:
            alts["w_not_t"] = x @ w + b
        cases.append(Case(label, _copy(got), x @ w.T + b, {}, alts, [("x", x), ("w", w), ("b", b)]))
    judge("s", cases, [
        Mistake("no_bias", "the bias b is missing", look),
        Mistake("w_not_t", "multiplied by w instead of wᵀ", look),
        Mistake("minus_b", "the bias is subtracted", look),
    ], [], look, "forward returned None: it must return s", errors=errors, what="forward")
    _, x, w, b, g = next(dense_cases())
    saves_for_backward(lambda: make_dense(mod, w, b), [(x + 1,), (x,)],
                       lambda m: dense_backward_outputs(m, g), look,
                       names=("∂ℓ/∂x", "grad_weight", "grad_bias"))


def grade_dense_backward(mod, results):
    name, look = "Dense.backward", LOOK["Dense.backward"]
    cases = {"return": [], "grad_weight": [], "grad_bias": []}
    errors, kept = [], []
    for label, x, w, b, g in dense_cases():
        layer = make_dense(mod, w, b)
        x_copy = x.clone()
        before = dict(vars(layer))
        s = forward_or_wait(results, name, layer, (x,),
                            lambda: make_dense(mod, w, b).backward(g.clone()))
        forward_set, s_copy = set_by(before, layer), _copy(s)
        pairs = list(layer.param())
        g_in = g.clone()
        ok, returned = attempt(errors, label, layer.backward, g_in)
        if not ok:
            if missing_attribute(errors[-1][1]) or "before forward" in str(errors[-1][1]):
                blame_backward_crash(errors[-1][1], label, forward_set, look,
                                     "∂ℓ/∂x", g @ w)
            continue
        check_not_mutated("grad_output", g, g_in, "backward", look)
        check_not_mutated("weight w", w, layer.weight, "backward", look)
        check_not_mutated("bias b", b, layer.bias, "backward", look)
        _check_callers(layer, (x,), (x_copy,), ("x",), s, s_copy, "s", look)
        inputs = [("x", x), ("w", w), ("∂ℓ/∂s", g)]
        square = w.shape[0] == w.shape[1]
        cases["return"].append(Case(label, _copy(returned), g @ w, {},
                                    {"w_t": g @ w.T} if square else {}, inputs))
        n = {"N": g.shape[0]}
        cases["grad_weight"].append(Case(label, _copy(layer.grad_weight), g.T @ x, n, {
            "transposed": x.T @ g, "one_row": g[:1].T @ x[:1]}, inputs))
        cases["grad_bias"].append(Case(label, _copy(layer.grad_bias), g.sum(0), n, {
            "mean": g.mean(0), "first_row": g[0], "last_row": g[-1], "rows": g,
            "outputs": g.sum(1)}, inputs))
        kept.append((label, layer, pairs, x, g, _copy(returned)))
    _judge_dense(cases, errors)
    for label, layer, pairs, x, g, returned in kept:
        _check_accumulates(layer, pairs, x, g, label, returned)


def _check_accumulates(layer, pairs, x, g, label, returned):
    """A second backward without zero_grad returns the same ∂ℓ/∂x and adds to
    the gradients, in the very tensors that param() handed out (an optimizer
    holds those)."""
    look = LOOK["Dense.backward"]
    try:
        again = _copy(student(layer.backward, g.clone()))
    except Exception as error:
        raise Failed(f"a second backward (without zero_grad) raised {error_text(error)}"
                     f"{line_text(error)}", look,
                     [f"on {label}:", f"  expected ∂ℓ/∂x = {fmt(returned)} (as the first call)",
                      f"  got      ∂ℓ/∂x: {error_kind(error)} raised"]) from None
    for (_, held), attribute, once in zip(pairs, ("grad_weight", "grad_bias"),
                                          (g.T @ x, g.sum(0))):
        got = getattr(layer, attribute)
        expected, shown = fmt_pair(2 * once, got)
        lines = [f"after two backward calls without zero_grad ({label}):",
                 f"  expected {attribute} = {expected}", f"  got      {attribute} = {shown}"]
        if held is not got:
            expected, shown = fmt_pair(2 * once, held)
            lines = [f"after two backward calls without zero_grad ({label}), in the tensor "
                     f"that param() handed out:", f"  expected {attribute} = {expected}",
                     f"  got      {attribute} = {shown}"]
        where = (f"∂ℓ/∂{attribute[5]} += ...: add into the tensor in place "
                 f"(self.{attribute} += ... or .add_); zero_grad() is what resets it")
        if close(got, once):
            raise Failed(f"{attribute} is assigned (=), not accumulated (+=): after two backward "
                         "calls without zero_grad it holds only the last one", where, lines)
        if held is not got:
            raise Failed(f"{attribute} is replaced by a new tensor (self.{attribute} = ...) "
                         "instead of added into in place: an optimizer holding "
                         "model.param() never sees it", where, lines)
        if not close(got, 2 * once):
            raise Failed(f"{attribute} is wrong after a second backward without zero_grad: "
                         "does backward change what forward saved?", where, lines)
    if not close(again, returned):
        expected, shown = fmt_pair(returned, again)
        raise Failed("a second backward after the same forward gives a different ∂ℓ/∂x: "
                     "backward changes what forward saved in place", look,
                     [f"on {label}, calling backward twice after one forward:",
                      f"  expected ∂ℓ/∂x (second call) = {expected}",
                      f"  got      ∂ℓ/∂x (second call) = {shown}"])


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
# Activations: ReLU, Tanh, Sigmoid, Identity, Softmax
# ---------------------------------------------------------------------------


def activation_cases(big: bool = False):
    yield "2×2", t([[0.5, -1], [2, -0.25]]), t([[1, -2], [0.5, 3]])
    for seed, shape in enumerate([(1, 3), (4, 5), (3, 2)]):
        yield f"shape {shape}", 2 * randn(*shape, seed=40 + seed), randn(*shape, seed=50 + seed)
    if big:
        yield "large |s|", t([[800, -800], [40, -40]]), t([[1, 1], [1, 1]])


def _softmax(s):
    return torch.softmax(s, dim=1)


ACTIVATIONS = {
    "ReLU": dict(
        f=lambda s: s.clamp(min=0),
        forward_mistakes=[("min", lambda s: s.clamp(max=0), "max(0, s) is the positive part: "
                           "you kept the negative one")],
        backward_mistakes=[
            ("inverted", lambda s, g: g * (s < 0), "the mask is inverted: σ'(s) is 1 where s > 0"),
            ("times_s", lambda s, g: g * s.clamp(min=0), "multiplied by x = max(0, s) instead "
             "of the derivative σ'(s) (1 where s > 0, else 0)"),
            ("grad_mask", lambda s, g: g * (g > 0), "the mask is taken from the incoming "
             "gradient (grad_output > 0): σ'(s) depends on the forward's s, 1 where s > 0 "
             "(equally, where the saved output x > 0), whatever the sign of ∂ℓ/∂x"),
        ]),
    "Tanh": dict(
        f=torch.tanh,
        forward_mistakes=[],
        backward_mistakes=[
            ("from_input", lambda s, g: g * (1 - s * s), "the derivative is taken from the "
             "input s instead of the output x: σ'(s) = 1 − tanh²(s) = 1 − x², not 1 − s²"),
            ("twice", lambda s, g: g * (1 - s.tanh().tanh() ** 2), "tanh is applied again to "
             "the saved output: x is already tanh(s), so σ'(s) = 1 − x², not 1 − tanh²(x)"),
            ("no_square", lambda s, g: g * (1 - s.tanh()), "1 − x instead of 1 − x²"),
            ("value", lambda s, g: g * s.tanh(), "multiplied by tanh(s) instead of its "
             "derivative 1 − tanh²(s)"),
        ]),
    "Sigmoid": dict(
        f=torch.sigmoid,
        forward_mistakes=[("minus", lambda s: torch.sigmoid(-s), "the sign of the exponent: "
                           "x = 1 / (1 + e⁻ˢ), you computed 1 / (1 + eˢ)")],
        backward_mistakes=[
            ("from_input", lambda s, g: g * s * (1 - s), "the derivative is taken from the "
             "input s instead of the output x: σ'(s) = σ(s) (1 − σ(s)) = x (1 − x), not s (1 − s)"),
            ("twice", lambda s, g: g * s.sigmoid().sigmoid() * (1 - s.sigmoid().sigmoid()),
             "σ is applied again to the saved output: x is already σ(s), so σ'(s) = x (1 − x), "
             "not σ(x) (1 − σ(x))"),
            ("value", lambda s, g: g * torch.sigmoid(s), "multiplied by σ(s) instead of its "
             "derivative σ(s)(1 − σ(s))"),
        ]),
    "Identity": dict(f=lambda s: s, forward_mistakes=[], backward_mistakes=[]),
    "Softmax": dict(
        f=_softmax,
        forward_mistakes=[
            ("dim0", lambda s: torch.softmax(s, dim=0), "the softmax is taken over the batch "
             "(dim 0) instead of over each row's classes (dim 1)"),
            ("exp_only", lambda s: s.exp(), "e^s is not divided by the row's sum Σⱼ e^sⱼ"),
            ("all_sum", lambda s: s.exp() / s.exp().sum(), "divided by the sum over the whole "
             "batch: each row is divided by its own sum Σⱼ e^sⱼ"),
        ]),
}
ACTIVATION_NAN = ("NaN or inf for large |s| (e^s overflows to inf, and inf/inf is NaN): use a "
                  "form that stays finite: 1 / (1 + e⁻ˢ) for Sigmoid, tanh(s) for Tanh, the "
                  "row's maximum subtracted first for Softmax")


def grade_activation_forward(mod, results, kind):
    spec, name = ACTIVATIONS[kind], f"{kind}.forward"
    look = LOOK[name]
    cases, errors = [], []
    for label, s, g in activation_cases(big=kind != "ReLU"):
        module, s_before = getattr(mod, kind)(), s.clone()
        ok, got = attempt(errors, label, module, s)
        if not ok:
            continue
        check_not_mutated("s", s_before, s, "forward")
        alts = {key: f(s) for key, f, _ in spec["forward_mistakes"]}
        if kind == "Softmax" and s.shape[0] == s.shape[1]:
            alts["no_keepdim"] = s.exp() / s.exp().sum(1)
            shifted = (s - s.amax(1)).exp()
            alts["max_no_keepdim"] = shifted / shifted.sum(1, keepdim=True)
        cases.append(Case(label, _copy(got), spec["f"](s), {}, alts, [("s", s)]))
    mistakes = [Mistake(key, text, look) for key, _, text in spec["forward_mistakes"]]
    mistakes.append(Mistake("max_no_keepdim", "the row maxima are laid along the wrong axis: "
                            "the maximum over dim 1 without keeping that axis has shape "
                            "(N,), which broadcasts along each row; subtract a column, "
                            "shape (N, 1)", look))
    mistakes.append(Mistake("no_keepdim", "the row sums are laid along the wrong axis: "
                            ".sum(dim=1) gives shape (N,), which broadcasts along each row; "
                            "keep a column, shape (N, 1)", look))
    judge("x", cases, mistakes, [], look, "forward returned None: it must return x",
          ACTIVATION_NAN, errors=errors, what="forward")
    _, s, g = next(activation_cases())
    saves_for_backward(getattr(mod, kind), [(s + 1,), (s,)], lambda m: [m.backward(g.clone())],
                       look)


def _autograd_vjp(kind, s, g):
    functions = {"ReLU": torch.relu, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid,
                 "Identity": lambda z: z * 1, "Softmax": _softmax}
    _, (leaf,) = autograd(lambda z: (functions[kind](z) * g).sum().backward(), s)
    return leaf.grad.detach()


def grade_activation_backward(mod, results, kind):
    name = f"{kind}.backward"
    spec = ACTIVATIONS[kind]
    look = LOOK[name]
    make = getattr(mod, kind)
    cases, errors = [], []
    for label, s, g in activation_cases(big=kind == "Softmax"):
        expected = _autograd_vjp(kind, s, g)
        record = trial(results, name, make(), (s,), g, lambda m, grad: m.backward(grad),
                       lambda: make().backward(g.clone()), label, look, ("s",), "∂ℓ/∂s",
                       expected)
        if backward_crashed(record, errors, label, look, "∂ℓ/∂s", expected):
            continue
        shown = [("s", s), ("∂ℓ/∂x", g)] if kind != "Softmax" else [
            ("s", s), ("x = softmax(s)", _softmax(s)), ("∂ℓ/∂x", g)]
        cases.append(Case(label, record.first, expected, {},
                          _backward_alts(kind, spec, s, g, expected), shown))
    judge("∂ℓ/∂s", cases, _backward_mistakes(kind, spec, look), [], look,
          "backward returned None: it must return ∂ℓ/∂s", ACTIVATION_NAN, errors=errors,
          what="backward")


def _backward_alts(kind, spec, s, g, expected):
    if kind == "Softmax":
        x = _softmax(s)
        alts = {"diagonal": g * x * (1 - x), "no_cross": g * x,
                "unweighted": x * (g - g.sum(1, keepdim=True)),
                "batch_dim": x * (g - (g * x).sum(0, keepdim=True)),
                "no_x": g - (g * x).sum(1, keepdim=True)}
        if s.shape[0] == s.shape[1]:  # .sum(dim=1) without keepdim broadcasts along the rows
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
            Mistake("diagonal", "only the diagonal of the softmax Jacobian, x(1 − x): every "
                    "output depends on every input, so the off-diagonal −xᵢxⱼ terms count too",
                    look),
            Mistake("no_cross", "g ⊙ x: the −x xᵀ part of the Jacobian is missing", look),
            Mistake("unweighted", "the sum over the row is Σⱼ gⱼ; it must be the dot product "
                    "Σⱼ gⱼ xⱼ", look),
            Mistake("batch_dim", "the dot product g · x is summed over the batch (dim 0) "
                    "instead of the classes of each row (dim 1)", look),
            Mistake("no_x", "the leading x ⊙ is missing", look),
            Mistake("no_keepdim", "the row sums g · x are laid along the wrong axis: "
                    ".sum(dim=1) gives shape (N,), which broadcasts along each row; keep it a "
                    "column with .sum(dim=1, keepdim=True), shape (N, 1)", look),
        ]
    mistakes = [Mistake(key, text, look) for key, _, text in spec["backward_mistakes"]]
    if kind != "Identity":
        mistakes.append(Mistake("local_only", "returned the local derivative σ'(s) alone: "
                                "multiply it by the incoming ∂ℓ/∂x (the chain rule)", look))
        mistakes.append(Mistake("all_ones", "returned ∂ℓ/∂x unchanged, as if σ'(s) were 1 "
                                "everywhere" + (" (x = max(0, s) is never negative, so a test "
                                                "x >= 0 is always true: test x > 0)"
                                                if kind == "ReLU" else ""), look))
    return mistakes


# ---------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------


def dropout_input(n=200, c=50, seed=400):
    """Entries in [1, 2]: none is 0, so output / x shows the mask."""
    return 1 + torch.rand(n, c, generator=torch.Generator().manual_seed(seed), dtype=F64)


def make_dropout(mod, p, seed=0):
    return mod.Dropout(p, generator=torch.Generator().manual_seed(seed))


def _mask_text(ratio) -> str:
    """How the entries of output / x look: which values, how often."""
    values = ratio.unique()
    if len(values) > 4:
        return f"{len(values)} different values of output / x"
    shares = [f"{v.item():.4g} ({(ratio == v).double().mean().item():.0%})" for v in values]
    return "output / x takes the values " + ", ".join(shares)


def grade_dropout_forward(mod, results):
    look = LOOK["Dropout.forward"]
    for p in (0.3, 0.5, 0.0):
        x = dropout_input()
        x_copy, label = x.clone(), f"p={p}, x of shape {tuple(x.shape)} in training mode"
        module = make_dropout(mod, p)
        try:
            out = _copy(student(module, x))
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed("forward", error, label, look) from None
        check_not_mutated("x", x_copy, x, "forward")
        if not is_tensor(out) or out.shape != x.shape:
            raise Failed(f"forward returned {fmt(out)}: it must return a tensor of the shape of x",
                         look, [f"on {label}:", f"  expected a tensor of shape {tuple(x.shape)}",
                                f"  got      {fmt(out)}"])
        ratio = out / x
        kept = (ratio != 0).double().mean().item()
        scale = 1 / (1 - p)
        scaled = torch.isclose(ratio, torch.tensor(scale, dtype=F64))
        right_values = bool(((ratio == 0) | scaled).all())
        expected_text = (f"output / x is 0 or 1 / (1 − p) = {scale:.4g}, about "
                         f"{1 - p:.0%} of entries kept")
        got_text = f"{_mask_text(ratio)}; {kept:.1%} kept"
        example = [f"on {label}:", f"  expected {expected_text}", f"  got      {got_text}"]
        if p > 0 and right_values and abs(kept - p) < 0.05 and abs(p - 0.5) > 0.1:
            raise Failed("each entry is kept with probability p: p is the probability of "
                         "dropping (zeroing) an entry, 1 − p of keeping it", look, example)
        if p > 0 and not right_values:
            values = ratio[ratio != 0]
            if values.numel() and torch.allclose(values, torch.ones_like(values)):
                headline = ("the kept entries are not scaled by 1 / (1 − p): inverted dropout "
                            "scales them in training, so that eval mode needs no rescaling")
            elif values.numel() and torch.allclose(values, torch.full_like(values, 1 - p)):
                headline = "the kept entries are scaled by (1 − p); it must be 1 / (1 − p)"
            elif values.numel() and torch.allclose(values, torch.full_like(values, 1 / p)):
                headline = "the kept entries are scaled by 1 / p; it must be 1 / (1 − p)"
            else:
                headline = "output / x must be 0 (dropped) or 1 / (1 − p) (kept) in every entry"
            raise Failed(headline, look, example)
        if abs(kept - (1 - p)) > 0.05:
            raise Failed(f"{kept:.1%} of the entries are kept; with p = {p} about {1 - p:.0%} "
                         "should be: each entry is kept with probability 1 − p", look, example)
        if p > 0:
            again = _copy(student(module, x))
            if is_tensor(again) and torch.equal(again, out):
                raise Failed("the same mask at every forward: draw a new one at each call",
                             look, [f"on {label}, two forward calls:",
                                    "  expected two different masks",
                                    "  got      the same mask twice"])
    x = dropout_input(4, 3)
    module = make_dropout(mod, 0.5)
    module.eval()
    try:
        out = _copy(student(module, x))
    except (Todo, Failed):
        raise
    except Exception as error:
        raise crashed("forward in eval mode", error, "p=0.5, eval mode", look) from None
    if not close(out, x):
        expected, got = fmt_pair(x, out)
        raise Failed("in eval mode (module.eval(), self.training is False) forward must "
                     "return x as it is", look, ["on p=0.5, eval mode:", f"  x = {fmt(x)}",
                                                 f"  expected output = {expected}",
                                                 f"  got      output = {got}"])
    saves_for_backward(lambda: make_dropout(mod, 0.5), [(dropout_input(3, 4),)],
                       lambda m: [m.backward(torch.ones(3, 4, dtype=F64))], look, compare=False)


def grade_dropout_backward(mod, results):
    name, look = "Dropout.backward", LOOK["Dropout.backward"]
    cases, errors = [], []
    for p, training, (n, c) in ((0.5, True, (2, 3)), (0.3, True, (4, 5)), (0.5, False, (2, 3))):
        x, g = dropout_input(n, c, seed=410 + n), randn(n, c, seed=420 + n)
        module = make_dropout(mod, p)
        module.train(training)
        label = f"p={p}, N={n}, C={c}" + ("" if training else ", eval mode")
        record = trial(results, name, module, (x,), g, lambda m, grad: m.backward(grad),
                       lambda: make_dropout(mod, p).backward(g.clone()), label, look, ("x",),
                       "∂ℓ/∂x", None, "output")
        mask = record.output / x if is_tensor(record.output) else torch.ones_like(x)
        expected = g * mask
        if backward_crashed(record, errors, label, look, "∂ℓ/∂x", expected):
            continue
        alts = {"through": g, "unscaled": g * (mask != 0), "scaled_only": g / (1 - p)}
        got = record.first
        if (training and is_tensor(got) and got.shape == g.shape
                and not close(got, expected) and bool(torch.isfinite(got).all())):
            ratio = got / g
            scale = torch.tensor(1 / (1 - p), dtype=F64)
            if bool(((ratio.abs() < 1e-12) | torch.isclose(ratio, scale)).all()):
                alts["new_mask"] = got
        cases.append(Case(label, got, expected, {}, alts,
                          [("x", x), ("output (forward)", record.output), ("∂ℓ/∂(output)", g)]))
    judge("∂ℓ/∂x", cases, [
        Mistake("through", "returned ∂ℓ/∂(output) unchanged: the entries forward dropped must "
                "get 0 and the kept ones the factor 1 / (1 − p), the mask m of the last forward",
                look),
        Mistake("unscaled", "the kept entries are not scaled by 1 / (1 − p): ∂ℓ/∂x = "
                "∂ℓ/∂(output) ⊙ m, and m holds that factor", look),
        Mistake("scaled_only", "scaled by 1 / (1 − p) everywhere: the dropped entries must get 0",
                look),
        Mistake("new_mask", "backward uses a new random mask: it must use the mask of the last "
                "forward (save it)", look),
    ], [], look, "backward returned None: it must return ∂ℓ/∂x", errors=errors, what="backward")


# ---------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------


def _linear_module(mod, name, matrix, log):
    """A tiny module of the checker's own (x ↦ x A), correct by construction,
    so Sequential is graded without your Dense or activations."""

    class Linear(mod.Module):
        def forward(self, x):
            log.append(("forward", name, x.clone()))
            self.x = x
            return x @ matrix

        def backward(self, grad_output, *args, **kwargs):
            log.append((name, grad_output.clone()))
            if grad_output.shape != (self.x.shape[0], matrix.shape[1]):
                raise ValueError(f"module {name} got a gradient of shape "
                                 f"{tuple(grad_output.shape)}, the shape of its output is "
                                 f"{(self.x.shape[0], matrix.shape[1])}")
            return grad_output @ matrix.T

        def _check_input(self, x):
            pass

        def __repr__(self):
            return f"Linear{name}"

    return Linear()


def sequential_cases():
    yield "3 modules, widths 2→2→2→2, N=2", [2, 2, 2, 2], 2
    yield "3 modules, widths 2→3→4→2, N=3", [2, 3, 4, 2], 3
    yield "1 module, N=1", [3, 2], 1


def _sequential(mod, case_index, widths, n, log):
    matrices = [randn(a, b, seed=100 + 10 * case_index + k)
                for k, (a, b) in enumerate(zip(widths, widths[1:]))]
    modules = [_linear_module(mod, k + 1, m, log) for k, m in enumerate(matrices)]
    x = randn(n, widths[0], seed=200 + case_index)
    g = randn(n, widths[-1], seed=210 + case_index)
    return mod.Sequential(*modules), matrices, x, g


def grade_sequential_forward(mod, results):
    look = LOOK["Sequential.forward"]
    for case_index, (label, widths, n) in enumerate(sequential_cases()):
        log = []
        model, matrices, x, g = _sequential(mod, case_index, widths, n, log)
        x_copy = x.clone()
        expected = x
        for matrix in matrices:
            expected = expected @ matrix
        try:
            got = _copy(student(model, x))
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed("forward", error, label, look, "x⁽ᴸ⁾", expected) from None
        check_not_mutated("x", x_copy, x, "forward")
        calls = [entry[1] for entry in log if entry[0] == "forward"]
        where = [f"on {label}: forward was called on modules {calls or 'none'} (counting "
                 f"from 1), expected {list(range(1, len(matrices) + 1))}"]
        if close(got, expected):
            continue
        shown_expected, shown_got = fmt_pair(expected, got)
        lines = where + [f"  expected x⁽ᴸ⁾ = {shown_expected}", f"  got      x⁽ᴸ⁾ = {shown_got}"]
        inputs = [entry[2] for entry in log if entry[0] == "forward"]
        if got is None:
            raise Failed("forward returned None: it must return the last module's output", look,
                         lines)
        if close(got, x):
            raise Failed("forward returned its input unchanged: it must return the last "
                         "module's output", look, lines)
        if calls and calls[0] != 1:
            raise Failed("the modules are run last to first: forward goes from the first "
                         "module to the last", look, lines)
        if len(inputs) > 1 and all(close(given, x) for given in inputs):
            raise Failed("every module gets the network's input x⁽⁰⁾: pass each module the "
                         "output of the one before it (x = module(x))", look, lines)
        if calls != list(range(1, len(matrices) + 1)):
            raise Failed("not every module is run once, in order", look, lines)
        raise Failed(f"forward returns the wrong tensor: {differing('x⁽ᴸ⁾', got, expected)}",
                     look, lines)
    log = []
    model, matrices, x, g = _sequential(mod, 1, [2, 3, 4, 2], 3, log)
    saves_for_backward(lambda: _sequential(mod, 1, [2, 3, 4, 2], 3, [])[0], [(x,)],
                       lambda m: [m.backward(g.clone())], look, compare=False)


def grade_sequential_backward(mod, results):
    name, look = "Sequential.backward", LOOK["Sequential.backward"]
    for case_index, (label, widths, n) in enumerate(sequential_cases()):
        log = []
        model, matrices, x, g = _sequential(mod, case_index, widths, n, log)
        expected_log, grad = [], g
        for k in reversed(range(len(matrices))):
            expected_log.append((k + 1, grad))
            grad = grad @ matrices[k].T
        marks = []

        def backward(m, gradient):
            result = m.backward(gradient)
            marks.append(len(log))
            return result
        record = trial(results, name, model, (x,), g, backward,
                       lambda: _sequential(mod, case_index, widths, n, [])[0].backward(g.clone()),
                       label, look, ("x",), "∂ℓ/∂x⁽⁰⁾", grad, "x⁽ᴸ⁾")
        first_calls = [entry for entry in log[:marks[0] if marks else len(log)]
                       if entry[0] != "forward"]
        _diagnose_sequential(first_calls, expected_log, record.first, grad, g, record.error,
                             label, look, record.forward_set)


def _diagnose_sequential(log, expected_log, got, expected, g, error, label, look, forward_set):
    names = [name for name, _ in log]
    order = [name for name, _ in expected_log]
    where = [f"on {label}: backward was called on modules {names or 'none'} (counting from "
             f"1), expected {order}"]
    shown_expected, shown_got = fmt_pair(expected, got)
    result = [f"  expected ∂ℓ/∂x⁽⁰⁾ = {shown_expected}",
              f"  got      ∂ℓ/∂x⁽⁰⁾ = " + (f"{error_kind(error)} raised" if error else shown_got)]
    if not log:
        if error is not None:
            blame_backward_crash(error, label, forward_set, look, "∂ℓ/∂x⁽⁰⁾", expected)
        raise Failed("no module's backward was called", look, where + result)
    if names[0] != order[0]:
        if names[0] == order[-1]:
            raise Failed("the modules are run first to last: backward must go from the last "
                         "module to the first (reversed)", look, where + result)
        raise Failed(f"backward starts with module {names[0]}; it must start with the last "
                     f"one, module {order[0]}", look, where + result)
    for (name, received), (wanted_name, wanted) in zip(log, expected_log):
        if name != wanted_name:
            raise Failed("the modules' backward calls are in the wrong order", look,
                         where + result)
        if not close(received, wanted):
            same = is_tensor(received) and received.shape == g.shape and close(received, g)
            shown_wanted, shown_received = fmt_pair(wanted, received)
            raise Failed("every module gets the same incoming gradient: pass each module the "
                         "result of the module after it (grad = module.backward(grad))"
                         if same else f"module {name} gets the wrong incoming gradient", look,
                         [f"on {label}:", f"  expected module {name} to get {shown_wanted}",
                          f"  got      module {name} got {shown_received}"])
    if len(names) > len(order):
        raise Failed("a module's backward is called more than once", look, where + result)
    if len(names) < len(order):
        missing = order[len(names):]
        raise Failed(f"the backward of module(s) {missing} (counting from 1) is never called: "
                     "the loop must visit every module", look, where + result)
    if error is not None:
        raise crashed("backward", error, label, look, "∂ℓ/∂x⁽⁰⁾", expected)
    if got is None:
        raise Failed("backward returned None: it must return ∂ℓ/∂x⁽⁰⁾, what the first "
                     "module's backward returns", look, [f"on {label}:"] + result)
    if not close(got, expected):
        hint = ("backward returned the incoming gradient unchanged" if close(got, g)
                else "backward returns the wrong tensor: return what the first module's "
                "backward returned")
        raise Failed(hint, look, [f"on {label}:"] + result)


# ---------------------------------------------------------------------------
# Losses
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


def _loss_forward_cases(cases_of, look, expected_of, alts_of, dims_of, inputs_of):
    """Run a loss's forward on every case of `cases_of()`; the Cases to judge and
    the errors raised."""
    cases, errors = [], []
    for label, x, y, loss in cases_of():
        x_before, y_before = x.clone(), y.clone()
        ok, got = attempt(errors, label, loss, x, y)
        if not ok:
            continue
        check_not_mutated("prediction", x_before, x, "forward")
        check_not_mutated("target", y_before, y, "forward")
        if is_tensor(got) and got.dim() != 0 and got.numel() != 1:
            expected, shown = fmt_pair(expected_of(loss, x, y), got)
            raise Failed(f"the loss has shape {tuple(got.shape)}: it must be one number, a "
                         "0-dim tensor (.sum() or .mean() returns one)", look,
                         [f"on {label}:", f"  expected ℓ = {expected}", f"  got      ℓ = {shown}"])
        cases.append(Case(label, _copy(got).reshape(()) if is_tensor(got) else got,
                          expected_of(loss, x, y), dims_of(loss, x), alts_of(loss, x, y),
                          inputs_of(x, y)))
    return cases, errors


def _mse_expected(loss, x, y):
    total = ((x - y) ** 2).sum()
    return total / x.numel() if loss.reduction == "mean" else total


def _mse_case_list(mod):
    def cases():
        for reduction, label, x, y in mse_cases():
            yield f"{label}, reduction={reduction!r}", x, y, mod.MSELoss(reduction=reduction)
    return cases


def grade_mse_forward(mod, results):
    look = LOOK["MSELoss.forward"]
    cases, errors = _loss_forward_cases(
        _mse_case_list(mod), look, _mse_expected,
        lambda loss, x, y: {"rmse": _mse_expected(loss, x, y).sqrt(),
                            "l1": (x - y).abs().sum() / (x.numel() if loss.reduction == "mean"
                                                         else 1)},
        lambda loss, x: _mse_dims(loss.reduction, x), lambda x, y: [("x", x), ("y", y)])
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
    saves_for_backward(lambda: mod.MSELoss(), [(x + 1, y), (x, y)],
                       lambda loss: [loss.backward()], look)


def loss_trial(results, name, loss, x, y, look, quantity, expected, label):
    return trial(results, name, loss, (x, y), None, lambda m, _: m.backward(),
                 lambda: type(loss)().backward(), label, look, ("prediction", "target"),
                 quantity, expected, "ℓ")


def grade_mse_backward(mod, results):
    name, look = "MSELoss.backward", LOOK["MSELoss.backward"]
    cases, errors = [], []
    for reduction, label, x, y in mse_cases():
        label = f"{label}, reduction={reduction!r}"
        expected = 2 * (x - y) / (x.numel() if reduction == "mean" else 1)
        record = loss_trial(results, name, mod.MSELoss(reduction=reduction), x, y, look,
                            "∂ℓ/∂x", expected, label)
        if backward_crashed(record, errors, label, look, "∂ℓ/∂x", expected):
            continue
        cases.append(Case(label, record.first, expected, _mse_dims(reduction, x),
                          {"flat": expected.reshape(-1)}, [("x", x), ("y", y)]))
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
        raise failure


def ce_cases(large: bool = True):
    yield "N=2, C=2", t([[1, -1], [0.5, 2]]), torch.tensor([0, 0])
    for seed, (n, c) in enumerate([(1, 3), (4, 3), (3, 5)]):
        yield (f"N={n}, C={c}", 2 * randn(n, c, seed=80 + seed),
               torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(90 + seed)))
    if large:
        yield ("large logits, N=2, C=3", t([[1000, -1000, 0], [0, 999, 1000]]),
               torch.tensor([2, 1]))


def _ce_expected(z, y):
    return torch.nn.functional.cross_entropy(z, y)


def grade_cross_entropy_forward(mod, results):
    look = LOOK["CrossEntropyLoss.forward"]

    def cases_of():
        for label, z, y in ce_cases():
            yield label, z, y, mod.CrossEntropyLoss()

    def alts(loss, z, y):
        n = len(z)
        log_p = torch.log_softmax(z, dim=1)
        return {"dim0": -torch.log_softmax(z, dim=0).gather(1, y.view(-1, 1)).mean(),
                "no_log": -torch.softmax(z, dim=1).gather(1, y.view(-1, 1)).mean(),
                "all_classes": -log_p.sum() / n,
                "mean_all": -log_p.gather(1, y.view(-1, 1)).sum() / z.numel()}

    cases, errors = _loss_forward_cases(
        cases_of, look, lambda loss, z, y: _ce_expected(z, y), alts,
        lambda loss, z: {"N": z.shape[0], "C": z.shape[1]},
        lambda z, y: [("s (logits)", z), ("y", y)])
    judge("ℓ", cases, [
        Mistake("dim0", "the softmax is taken over the batch (dim 0) instead of the classes "
                "(dim 1)", look),
        Mistake("no_log", "the log is missing: ℓ = −(1/N) Σₙ log softmax(sₙ)[yₙ]", look),
        Mistake("all_classes", "every class of each row is summed: only the true class yₙ's "
                "entry counts", look),
        Mistake("mean_all", "divided by N·C (all entries) instead of N", look),
    ], [
        Factor("no 1/N: ℓ is the mean over the batch, not the sum", lambda d: d["N"]),
        Factor("divided by C (the classes) instead of N (the batch)",
               lambda d: d["N"] / d["C"]),
    ], look, "forward returned None: it must return ℓ",
        "ℓ is inf or NaN for large logits: e^s overflows to inf. Subtract each row's maximum "
        "m first: log Σⱼ e^sⱼ = m + log Σⱼ e^(sⱼ − m), every exponent ≤ 0 (log-sum-exp)",
        errors=errors, what="forward")
    _, z, y = next(ce_cases())
    saves_for_backward(lambda: mod.CrossEntropyLoss(), [(z + 1, torch.tensor([1, 0])), (z, y)],
                       lambda loss: [loss.backward()], look)


def grade_cross_entropy_backward(mod, results):
    name, look = "CrossEntropyLoss.backward", LOOK["CrossEntropyLoss.backward"]
    cases, errors = [], []
    for label, z, y in ce_cases():
        n, c = z.shape
        p, onehot = torch.softmax(z, dim=1), torch.nn.functional.one_hot(y, c).to(F64)
        _, (leaf,) = autograd(lambda v: _ce_expected(v, y).backward(), z)
        expected = leaf.grad.detach()
        record = loss_trial(results, name, mod.CrossEntropyLoss(), z, y, look, "∂ℓ/∂s",
                            expected, label)
        if backward_crashed(record, errors, label, look, "∂ℓ/∂s", expected):
            continue
        cases.append(Case(label, record.first, expected, {"N": n, "C": c}, {
            "no_onehot": p / n, "only_onehot": -onehot / n,
            "softmax_dim0": (torch.softmax(z, dim=0) - onehot) / n},
            [("s (logits)", z), ("y", y)]))
    judge("∂ℓ/∂s", cases, [
        Mistake("no_onehot", "the − onehot(y) is missing: softmax(s) / N", look),
        Mistake("only_onehot", "the softmax(s) is missing: −onehot(y) / N", look),
        Mistake("softmax_dim0", "the softmax is taken over the batch (dim 0) instead of the "
                "classes (dim 1)", look),
    ], [
        Factor("no 1/N: the loss is a mean over the batch, so its gradient is divided by N",
               lambda d: d["N"]),
        Factor("divided by N twice (or by N²)", lambda d: 1 / d["N"]),
        Factor("divided by C (the classes) instead of N (the batch)", lambda d: d["N"] / d["C"]),
    ], look, "backward returned None: it must return ∂ℓ/∂s",
        "∂ℓ/∂s has NaN or inf for large logits: the softmax overflows (e^1000 is inf in "
        "float64); subtract each row's maximum before exponentiating", errors=errors,
        what="backward")


# ---------------------------------------------------------------------------
# Optimizers
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
                before, after = fmt_pair(new, gradient)
                raise Failed("step() changed a gradient tensor in place (e.g. grad.add_(...) "
                             "for weight decay): use an out-of-place grad + λ w",
                             "g = ∂ℓ/∂w + λ w as a new tensor; step() never changes the gradients",
                             [f"  expected the gradient after step() = {before} (unchanged)",
                              f"  got      the gradient after step() = {after}"])
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
        t_used = t_count + 1 if form == "t_ahead" else t_count
        for i, (w, g) in enumerate(zip(values, step_grads)):
            if form == "t_per_param":
                t_count += 1
            d = g if form in ("adamw", "wd_ignored") else g + weight_decay * w
            m[i] = beta1 * m[i] + (d if form == "no_one_minus" else (1 - beta1) * d)
            v2[i] = beta2 * v2[i] + (1 - beta2) * d * d
            if form == "t_per_param":
                t_used = t_count
            m_hat = m[i] if form in ("no_bias_correction", "only_v") else m[i] / (1 - beta1 ** t_used)
            v_hat = v2[i] if form in ("no_bias_correction", "only_m") else v2[i] / (1 - beta2 ** t_used)
            denominator = ((v_hat + eps).sqrt() if form == "eps_inside"
                           else v_hat + eps if form == "no_sqrt" else v_hat.sqrt() + eps)
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
    ("no_sqrt", "the square root of v̂ is missing: the step divides by √v̂ + ε, v̂ being a "
     "running mean of g²", "w ← w − η m̂ / (√v̂ + ε)"),
    ("t_ahead", "the bias correction is one step ahead: at the first step t = 1, so "
     "m̂ = m / (1 − β₁¹); you divide by 1 − β^(t+1) (t counted from 1 and increased before "
     "it is used, or starting at 1 instead of 0)", "m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ), "
     "t = 1 at the first step()"),
    ("no_one_minus", "m ← β₁ m + g: the (1 − β₁) is missing", "m ← β₁ m + (1 − β₁) g"),
    ("betas_swapped", "β₁ and β₂ are swapped", "m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g²"),
    ("adamw", "weight decay is decoupled (AdamW's w ← w − ηλw): Adam adds λw to the gradient",
     "g = ∂ℓ/∂w + λ w, before m and v"),
    ("wd_ignored", "weight decay is ignored", "g = ∂ℓ/∂w + λ w, before m and v"),
]


def grade_optimizer(mod, results, kind):
    settings_list, forms = (SGD_SETTINGS, SGD_FORMS) if kind == "SGD" else (ADAM_SETTINGS, ADAM_FORMS)
    simulate = sgd_form if kind == "SGD" else adam_form
    values, grads = optimizer_problem()
    for settings in settings_list:
        lrs = [settings["lr"], settings["lr"], settings["lr"] / 2]  # lr changed before step 3
        make = lambda pairs: getattr(mod, kind)(pairs, **settings)  # noqa: E731
        try:
            got = run_optimizer(make, values, grads, lrs)
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed(f"{kind}(..., {_settings_text(settings)})", error, "3 parameters",
                          LOOK[f"{kind}.step"]) from None
        # PyTorch's update rule, as torch.optim computes it (test_exercises.py checks
        # that on every setting; building a torch.optim optimizer here would cost
        # every run 2 s of imports)
        expected = simulate("pytorch", values, grads, lrs, **settings)
        if all(close(a, b) for step_a, step_b in zip(got, expected) for a, b in zip(step_a, step_b)):
            continue
        _diagnose_optimizer(kind, settings, values, grads, lrs, got, expected, forms, simulate)


def _settings_text(settings):
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def _diagnose_optimizer(kind, settings, values, grads, lrs, got, expected, forms, simulate):
    step = next(k for k, (a, b) in enumerate(zip(got, expected))
                if not all(close(x, y) for x, y in zip(a, b)))
    index = next(i for i, (a, b) in enumerate(zip(got[step], expected[step])) if not close(a, b))
    shown_expected, shown_got = fmt_pair(expected[step][index], got[step][index])
    which = "the 2×2 parameter" if index == 0 else f"parameter {index} (of shape {tuple(values[index].shape)})"
    where = [f"with {kind}(params, {_settings_text(settings)}), lr {lrs[-1]} at step 3; "
             f"{which}",
             f"  w₀ = {fmt(values[index])}"] + [
             f"  g{k + 1} = {fmt(grads[k][index])}" for k in range(step + 1)] + [
             f"  expected w after step {step + 1} = {shown_expected}",
             f"  got      w after step {step + 1} = {shown_got}"]
    look = LOOK[f"{kind}.step"]
    if all(torch.equal(a, b) for a, b in zip(got[-1], values)):
        raise Failed("step() did not change the parameters: update them in place "
                     "(w -= ...); w = w - ... only rebinds a local name",
                     "w ← w − η (...), in place on the tensors of model.param()", where)
    finite = all(torch.isfinite(v).all() for v in got[step])
    if not finite:
        raise Failed("NaN or inf in the parameters" + (
            " (a division by zero: if the step count t starts at 0, 1 − βᵗ is 0; count from 1)"
            if kind == "Adam" else ""), look, where)
    for key, headline, form_look in forms:
        alternative = simulate(key, values, grads, lrs, **settings)
        if all(close(a, b) for step_a, step_b in zip(got, alternative) for a, b in zip(step_a, step_b)):
            raise Failed(headline, form_look, where)
    raise Failed(f"not a mistake this checker knows: after step {step + 1}, " + differing(
        "w", got[step][index], expected[step][index]), look, where)


# ---------------------------------------------------------------------------
# Running every exercise
# ---------------------------------------------------------------------------

GRADERS = {
    "Dense.forward": grade_dense_forward,
    "Dense.backward": grade_dense_backward,
    "Dropout.forward": grade_dropout_forward,
    "Dropout.backward": grade_dropout_backward,
    "Sequential.forward": grade_sequential_forward,
    "Sequential.backward": grade_sequential_backward,
    "MSELoss.forward": grade_mse_forward,
    "MSELoss.backward": grade_mse_backward,
    "CrossEntropyLoss.forward": grade_cross_entropy_forward,
    "CrossEntropyLoss.backward": grade_cross_entropy_backward,
    "SGD.step": lambda m, r: grade_optimizer(m, r, "SGD"),
    "Adam.step": lambda m, r: grade_optimizer(m, r, "Adam"),
}
for _kind in ACTIVATIONS:
    GRADERS[f"{_kind}.forward"] = lambda m, r, kind=_kind: grade_activation_forward(m, r, kind)
    GRADERS[f"{_kind}.backward"] = lambda m, r, kind=_kind: grade_activation_backward(m, r, kind)


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


def grade_one(module, results: dict, number: int, name: str) -> Result:
    forward = FORWARD_OF.get(name)
    try:
        GRADERS[name](module, results)
        return Result(number, name, "PASS")
    except Todo:
        return Result(number, name, "TODO")
    except (Wait, Failed) as stop:
        if forward is not None and results[NUMBER[forward]].status == "FAIL":
            return Result(number, name, "WAIT",
                          f"fix exercise {NUMBER[forward]} ({forward}) first")
        if isinstance(stop, Wait):
            return Result(number, name, "WAIT", str(stop))
        failure = stop
        look = failure.look_at or LOOK.get(name, "")
        details = [f"look at: {look}"] if look else []
        return Result(number, name, "FAIL", failure.headline, details + failure.example)
    except Exception as error:  # a bug of the student's that broke the harness itself
        where = where_raised(error)
        if where is not None and where[0] != name:
            return Result(number, name, "WAIT", f"needs exercise {NUMBER[where[0]]} "
                          f"({where[0]}) to run first (it raised {error_kind(error)})")
        return Result(number, name, "FAIL", f"raised {error_text(error)}{line_text(error)}",
                      [f"look at: {LOOK.get(name, '')}", "on the checker's first case:",
                       "  expected a result, no exception",
                       f"  got      {error_kind(error)} raised"])


def grade(module) -> list:
    """A Result for every exercise, in order."""
    _learn_owners(module)
    results = {}
    for number, name in enumerate(EXERCISES, start=1):
        results[number] = grade_one(module, results, number, name)
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
                        help="your copy of a skeleton (default: exercises/minimlp_student.py)")
    args = parser.parse_args(argv)
    try:
        module = load(args.file)
    except Exception as error:
        print(f"cannot import {args.file}: {error_kind(error)}: {error}")
        return 2
    results = grade(module)
    print(report(results))
    return 0 if all(result.status == "PASS" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
