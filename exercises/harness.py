"""The harness: how a student's file is loaded and its methods are called.

- the sandbox: the file imported under a name of its own, the homework's rule
  (no torch.nn, torch.optim, torch.autograd, nor .backward() of a tensor)
  read from the file and enforced while its code runs, every exception blamed
  on the method whose code raised it;
- the drivers: the call sequences every exercise goes through, where stale
  state and in-place edits show (forward then backward twice; forward,
  backward, forward on other numbers, backward; an earlier forward's input).

What each exercise must compute is the graders' business (exercises/graders/);
how the graders are run, timed and reported is the runner's (check.py).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import linecache
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch

from exercises.catalogue import BY_NAME, EXERCISES, find_function
from exercises.outcomes import Failed, HomeworkRule, Todo, Wait
from exercises.compare import close, copy, fmt, fmt_pair, is_tensor, shorten, unchanged

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------
# The sandbox: loading the file, and the homework's rule
# ---------------------------------------------------------------------------


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


FORBIDDEN = ("torch.nn", "torch.optim", "torch.autograd", "torch.func")


def _forbidden(dotted: str) -> str:
    return next((m for m in FORBIDDEN if dotted == m or dotted.startswith(m + ".")), "")


def _dotted(node) -> str:
    """'torch.nn.functional' for the expression torch.nn.functional, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return ".".join([node.id] + parts) if isinstance(node, ast.Name) else ""


def forbidden_uses(source: str) -> list:
    """(line, what) for every import or use of what the homework forbids in
    `source`: a forbidden module, a name imported from one, requires_grad."""
    tree = ast.parse(source)
    names, found = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name):
                    found.setdefault(node.lineno, _forbidden(alias.name))
                    if alias.asname:
                        names[alias.asname] = _forbidden(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                what = _forbidden(f"{node.module}.{alias.name}")
                if what:
                    found.setdefault(node.lineno, what)
                    names[alias.asname or alias.name] = what
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _forbidden(_dotted(node)):
            found.setdefault(node.lineno, _forbidden(_dotted(node)))
        elif isinstance(node, ast.Attribute) and node.attr in (
            "requires_grad",
            "requires_grad_",
        ):
            found.setdefault(node.lineno, node.attr)
        elif isinstance(node, ast.Name) and node.id in names:
            found.setdefault(node.lineno, names[node.id])
    return sorted(found.items())


def rule_breaks(path) -> tuple:
    """({exercise name: (line, what, source line)}, [(line, what) outside every
    exercise]) for the file at `path`."""
    source = Path(path).read_text(encoding="utf-8")
    tree, lines = ast.parse(source), source.splitlines()
    spans = {}
    for exercise in EXERCISES:
        try:
            function = find_function(tree, exercise.name)
        except LookupError:
            continue
        spans[exercise.name] = (function.lineno, function.end_lineno)
    inside, outside = {}, []
    for line, what in forbidden_uses(source):
        owner = next((name for name, (a, b) in spans.items() if a <= line <= b), None)
        if owner is None:
            outside.append((line, what))
        elif owner not in inside:
            inside[owner] = (line, what, lines[line - 1].strip())
    return inside, outside


CHECKER_FILES = {str(HERE / name) for name in ("harness.py", "compare.py", "check.py")}
GRADERS_DIR = str(HERE / "graders")
TORCH_DIR = str(Path(torch.__file__).resolve().parent)


def _called_by_the_checker() -> bool:
    """Whether the code that called into torch's autograd (the first frame
    outside torch and this guard) is the checker's own, not the student's."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(TORCH_DIR):
        frame = frame.f_back
    if frame is None:
        return True
    filename = frame.f_code.co_filename
    return filename in CHECKER_FILES or filename.startswith(GRADERS_DIR)


def _guarded(original, what):
    def guard(*args, **kwargs):
        if not _called_by_the_checker():
            raise HomeworkRule(what)
        return original(*args, **kwargs)

    return guard


@contextlib.contextmanager
def homework_rule():
    """While it lasts, autograd called from the student's code raises HomeworkRule
    (the checker's own oracles still use it)."""
    targets = [
        (torch.Tensor, "backward", "autograd (.backward() of a tensor)"),
        (torch.Tensor, "requires_grad_", "autograd (requires_grad_)"),
        (torch.autograd, "grad", "torch.autograd"),
        (torch.autograd, "backward", "torch.autograd"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    for (owner, name, what), (_, _, original) in zip(targets, originals):
        setattr(owner, name, _guarded(original, what))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


# ---------------------------------------------------------------------------
# Calling the student's code; an exception is blamed on the method that raised it
# ---------------------------------------------------------------------------


def student(function, *args, **kwargs):
    """Call the student's code; NotImplementedError means the exercise is TODO."""
    try:
        with torch.no_grad():
            return function(*args, **kwargs)
    except NotImplementedError as error:
        raise Todo(str(error)) from error


def forward(module, *inputs):
    """The student's forward itself (never `module(...)`, whose checks may run
    the layers some other way)."""
    return student(module.forward, *inputs)


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


_OWNERS: dict = {}  # code object of an exercise method -> its qualified name


def learn_owners(mod) -> None:
    """Remember the code of every exercise method of the graded module."""
    _OWNERS.clear()
    for exercise in EXERCISES:
        class_name, method = exercise.name.split(".")
        function = getattr(getattr(mod, class_name, None), method, None)
        code = getattr(function, "__code__", None)
        if code is not None:
            _OWNERS[code] = exercise.name


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
    return next(
        cls.__name__ for cls in type(error).__mro__ if not cls.__name__.startswith("_")
    )


MEMORY_HINT = (
    "ran out of the memory the checker allows each exercise: an endless "
    "loop that keeps making tensors?"
)


def error_text(error: BaseException) -> str:
    """'RuntimeError: the first line of its message', whole (shortened only at a
    word, with …, past 200 characters)."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, MemoryError) or "can't allocate memory" in message:
        message = f"{MEMORY_HINT} ({shorten(message, 100)})" if message else MEMORY_HINT
    return f"{error_kind(error)}: {shorten(message)}"


def line_text(error: BaseException) -> str:
    """' (line 12: return x.mm(w))' for the exercise line that raised, or ''."""
    where = where_raised(error)
    return f" (line {where[1]}: {where[2]})" if where and where[2] else ""


def crashed(
    what: str,
    error: Exception,
    case: str,
    look_at: str = "",
    quantity: str = "",
    expected=None,
) -> Failed:
    example = [f"on {case}:"]
    if quantity and expected is not None:
        example += [
            f"  expected {quantity} = {fmt(expected)}",
            f"  got      {quantity}: {error_kind(error)} raised",
        ]
    else:
        example += [
            "  expected a result, no exception",
            f"  got      {error_kind(error)} raised",
        ]
    return Failed(
        f"{what} raised {error_text(error)}{line_text(error)}", look_at, example
    )


def missing_attribute(error: BaseException):
    """The name of the attribute an AttributeError says is missing, or None."""
    if not isinstance(error, AttributeError):
        return None
    name = getattr(error, "name", None)
    if name:
        return name
    match = re.search(r"attribute '(\w+)'", str(error)) or re.search(
        r"'(\w+)'", str(error)
    )
    return match.group(1) if match else None


def set_by(before: dict, module) -> set:
    """The attributes of `module` added or rebound since
    `before = dict(vars(module))`."""
    return {
        key
        for key, value in vars(module).items()
        if key not in before or before[key] is not value
    }


def blame_backward_crash(error, label, forward_set, look, quantity="", expected=None):
    """The Failed (or Wait) for a backward that raised after a forward that set
    the attributes `forward_set`."""
    missing = missing_attribute(error)
    if missing is not None or "before forward" in str(error):
        if not forward_set:
            raise Wait(
                "needs its forward to save what backward reads: the forward "
                "sets nothing on self"
            )
        if missing is not None and missing not in forward_set:
            names = sorted(forward_set)
            guess = difflib.get_close_matches(missing, names, n=1)
            hint = f" — a typo for self.{guess[0]}?" if guess else ""
            shown = ", ".join(f"self.{name}" for name in names)
            example = [f"on {label}: forward set {shown}"]
            if quantity and expected is not None:
                example += [
                    f"  expected {quantity} = {fmt(expected)}",
                    f"  got      {quantity}: AttributeError raised",
                ]
            raise Failed(
                f"backward reads self.{missing}, which forward never sets{hint}"
                f"{line_text(error)}",
                look,
                example,
            )
    raise crashed("backward", error, label, look, quantity, expected)


# ---------------------------------------------------------------------------
# The drivers: forward, then backward twice; what a call changed in place
# ---------------------------------------------------------------------------


def mutated(name: str, before, after, what: str, look: str = "") -> Failed:
    expected, got = fmt_pair(before, after)
    whose = "the layer's" if name.startswith(("weight", "bias")) else "the caller's"
    return Failed(
        f"{what} changed {whose} {name} in place (an in-place op such as "
        "add_, clamp_, mul_, -= or [...] = on it)",
        look
        or "use the out-of-place form (s.clamp(min=0), not s.clamp_(min=0)); nothing "
        "may change a caller's tensor",
        [
            f"  expected {name} after the call = {expected} (unchanged)",
            f"  got      {name} after the call = {got}",
        ],
    )


def check_not_mutated(name: str, before, after, what: str, look: str = "") -> None:
    if is_tensor(before) and not unchanged(before, after):
        raise mutated(name, before, after, what, look)


def _saved_tensors(module, skip_ids: set) -> dict:
    """Copies of the tensors `module` holds (what forward saved), but not its
    parameters and gradients."""
    return {
        key: value.clone()
        for key, value in vars(module).items()
        if is_tensor(value) and id(value) not in skip_ids
    }


def _param_ids(module) -> set:
    try:
        return {id(tensor) for pair in module.param() for tensor in pair}
    except Exception:
        return set()


TWICE = "a second backward after the same forward gives a different result"


@dataclass
class Trial:
    """What one forward and two backward calls did."""

    module: object
    output: object
    first: object = None
    second: object = None
    error: BaseException | None = None  # what the first backward raised
    forward_set: set = field(default_factory=set)


def trial(
    name,
    module,
    inputs: tuple,
    grad,
    backward,
    probe,
    label,
    look,
    names=("s",),
    quantity="∂ℓ/∂s",
    expected=None,
    output_name="x",
) -> Trial:
    """Run forward on `inputs`, then `backward(module, a copy of grad)` twice.
    Raise Todo or Wait when the forward cannot run; raise Failed when backward
    changes a caller's tensor (an input, the gradient it was given, the tensor
    forward returned) or when the two backward calls disagree, naming what
    forward saved that backward changed."""
    before = dict(vars(module))
    copies = [copy(x) for x in inputs]
    output = forward_or_wait(name, module, inputs, probe)
    forward_set = set_by(before, module)
    output_copy = copy(output)
    saved = _saved_tensors(module, _param_ids(module))
    record = Trial(module, output, forward_set=forward_set)
    try:
        grad_in = copy(grad)
        record.first = copy(student(backward, module, grad_in))
    except Todo:
        raise
    except Exception as error:
        record.error = error
        return record
    check_not_mutated("grad_output", grad, grad_in, "backward", look)
    check_callers(module, inputs, copies, names, output, output_copy, output_name, look)
    try:
        record.second = copy(student(backward, module, copy(grad)))
    except Exception as error:
        raise Failed(
            f"a second backward after the same forward raised {error_text(error)}"
            f"{line_text(error)}: backward must leave what forward saved as it was",
            look,
            [
                f"on {label}:",
                f"  expected {quantity} = {fmt(record.first)} (as the first call)",
                f"  got      {quantity}: {error_kind(error)} raised",
            ],
        ) from None
    if is_tensor(record.first) and not (
        is_tensor(record.second) and unchanged(record.first, record.second)
    ):
        changed = [
            key
            for key, value in saved.items()
            if not unchanged(value, vars(module).get(key))
        ]
        right = (
            expected
            if expected is not None and not close(record.second, expected)
            else record.first
        )  # either way, not what the second call gave
        shown_expected, shown_got = fmt_pair(right, record.second)
        example = [
            f"on {label}, calling backward twice after one forward:",
            f"  expected {quantity} (second call) = {shown_expected}",
            f"  got      {quantity} (second call) = {shown_got}",
        ]
        if not changed:
            raise Failed(
                f"{TWICE}, though no tensor forward saved changed: backward must "
                "compute from what the last forward saved, and nothing else (does "
                "it draw something random, or keep a count?)",
                look,
                example,
            )
        what = ", ".join(f"self.{key}" for key in changed)
        raise Failed(
            f"{TWICE}: backward changes {what} in place (an in-place op such as *=, "
            "-=, mul_ or [...] = on a saved tensor, or on a name for it like p = "
            f"self.{changed[0]}); work on a new tensor",
            look,
            example,
        )
    return record


def check_callers(
    module, inputs, copies, names, output, output_copy, output_name, look
):
    """Raise Failed when a call changed one of the caller's `inputs` (compared
    with their `copies`) or the tensor forward returned."""
    for name, x, before in zip(names, inputs, copies):
        check_not_mutated(name, before, x, "backward", look)
    if is_tensor(output) and not unchanged(output_copy, output):
        owners = [key for key, value in vars(module).items() if value is output]
        held = f", which forward saved as self.{owners[0]}" if owners else ""
        expected, got = fmt_pair(output_copy, output)
        raise Failed(
            "backward changed, in place, the tensor forward returned: the "
            f"caller's {output_name}{held} (an in-place op such as mul_, *= or "
            "-= on it); compute the result as a new tensor",
            look,
            [
                f"  expected {output_name} after backward = {expected} (unchanged)",
                f"  got      {output_name} after backward = {got}",
            ],
        )


def forward_or_wait(name, module, inputs: tuple, probe):
    """Run the forward a backward exercise needs. If that forward is TODO, the
    backward is TODO too when it still raises NotImplementedError by itself
    (probe), else it waits for the forward."""
    try:
        return forward(module, *inputs)
    except Todo:
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
    forward_name = BY_NAME[name].forward if name in BY_NAME else None
    forward_name = forward_name or name.split(".")[0] + ".forward"
    which = (
        f"exercise {BY_NAME[forward_name].number} ({forward_name})"
        if forward_name in BY_NAME
        else forward_name
    )
    if error is None:
        return f"needs {which} first: backward is tested after a forward"
    return f"needs {which} to run first (it raised {error_kind(error)})"


def backward_crashed(
    record: Trial, errors: list, label, look, quantity, expected
) -> bool:
    """True when the first backward raised. A missing attribute is diagnosed at once
    (a typo, or a forward that saves nothing); any other error is noted in `errors`,
    so that the cases that ran are diagnosed first (a product that runs only on
    square shapes), as `judge` does."""
    if record.error is None:
        return False
    if missing_attribute(record.error) is not None or "before forward" in str(
        record.error
    ):
        blame_backward_crash(
            record.error, label, record.forward_set, look, quantity, expected
        )
    errors.append((label, record.error))
    return True


def saves_for_backward(
    make, inputs: list, backward, look: str, compare=True, names=("backward's result",)
) -> None:
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
                module.forward(*x)
            sets.append(set_by(before, module))
        with torch.no_grad():
            return [copy(r) for r in backward(module)], sets

    try:
        fresh, (forward_set,) = run(inputs[-1:])
    except (NotImplementedError, HomeworkRule):
        return  # backward's own TODO or FAIL
    except Exception as error:
        _saves_nothing(make, inputs[-1], error)
        return
    if not compare:
        return
    try:
        again, sets = run(inputs)
    except Exception:
        return
    if len(fresh) != len(again) or not all(_same(a, b) for a, b in zip(fresh, again)):
        if sets[-1]:
            return  # the last forward did save something: not forward's fault alone
        k = next(k for k, (a, b) in enumerate(zip(fresh, again)) if not _same(a, b))
        expected, got = fmt_pair(fresh[k], again[k])
        name = names[k] if k < len(names) else names[0]
        raise Failed(
            "backward used what an earlier forward saved: forward must save its "
            "input (or output) again at every call, not only the first time",
            "the line of forward that stores the input/output on self",
            [
                "backward after a forward on other numbers, then the forward tested:",
                f"  expected {name} = {expected}",
                f"  got      {name} = {got}",
            ],
        )


def _same(a, b) -> bool:
    return (a is None and b is None) or (
        is_tensor(a) and is_tensor(b) and a.shape == b.shape and torch.allclose(a, b)
    )


def _saves_nothing(make, inputs, error) -> None:
    """Raise Failed when backward raised for want of what a forward that sets
    nothing on self should have saved."""
    where = where_raised(error)
    module = make()
    before = dict(vars(module))
    try:
        with torch.no_grad():
            module.forward(*inputs)
    except Exception:
        return
    in_backward = where is None or where[0].endswith((".backward", ".step"))
    finds_nothing = (
        missing_attribute(error) is not None
        or "before forward" in str(error)
        or "NoneType" in str(error)
    )
    if in_backward and finds_nothing and not set_by(before, module):
        raise Failed(
            "forward does not save what backward reads: it sets nothing on self, "
            f"and backward then raised {error_text(error)}",
            "forward must store what backward needs on self, e.g. "
            "self.input = x, under the name backward reads",
            [
                "  expected after forward: self.<name> = what backward needs",
                "  got      after forward: nothing set on self",
            ],
        ) from None


STALE = (
    "right on a new module, wrong after a forward and a backward on other numbers: "
    "backward keeps something from its first call (a value computed once and kept "
    "on self?); compute it at every call from what the last forward saved"
)


def after_other_numbers(
    module, calls: list, quantity: str, look: str, label: str, headline: str = STALE
):
    """Run each (inputs, backward) of `calls` in turn on one instance: forward on
    the inputs, then `backward(module)`; the last call's result must equal its
    expected value. `calls` holds (inputs, backward, expected) triples; the
    graders run this after the fresh cases passed, so a difference here is
    state kept from an earlier call."""
    got = None
    for step, (inputs, backward, expected) in enumerate(calls, start=1):
        try:
            forward(module, *inputs)
            got = copy(student(backward, module))
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed(
                f"call {step} of forward → backward → forward → backward on one "
                f"module ({label}): it",
                error,
                label,
                look,
                quantity,
                expected,
            ) from None
        if not close(got, expected):
            shown_expected, shown_got = fmt_pair(expected, got)
            raise Failed(
                headline,
                look,
                [
                    (
                        f"on {label}: forward and backward, then forward and backward"
                        f" on other numbers (call {step}):"
                    ),
                    f"  expected {quantity} = {shown_expected}",
                    f"  got      {quantity} = {shown_got}",
                ],
            )
    return got
