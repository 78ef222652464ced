"""Sequential.forward and Sequential.backward, graded on small modules of the
checker's own (x ↦ x A, correct by construction) that log what they receive,
so that a Sequential is graded without the student's Dense or activations."""

from __future__ import annotations

from exercises.catalogue import BY_NAME
from exercises.compare import close, copy, differing, fmt_pair, is_tensor
from exercises.graders import grades
from exercises.graders.judge import randn
from exercises.harness import (
    Failed,
    Todo,
    after_other_numbers,
    blame_backward_crash,
    check_not_mutated,
    crashed,
    error_kind,
    forward,
    saves_for_backward,
    trial,
)


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
                raise ValueError(
                    f"module {name} got a gradient of shape "
                    f"{tuple(grad_output.shape)}, the shape of its output is "
                    f"{(self.x.shape[0], matrix.shape[1])}"
                )
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
    matrices = [
        randn(a, b, seed=100 + 10 * case_index + k)
        for k, (a, b) in enumerate(zip(widths, widths[1:]))
    ]
    modules = [_linear_module(mod, k + 1, m, log) for k, m in enumerate(matrices)]
    x = randn(n, widths[0], seed=200 + case_index)
    g = randn(n, widths[-1], seed=210 + case_index)
    return mod.Sequential(*modules), matrices, x, g


@grades("Sequential.forward")
def grade_forward(mod, name):
    look = BY_NAME[name].hint
    for case_index, (label, widths, n) in enumerate(sequential_cases()):
        log = []
        model, matrices, x, g = _sequential(mod, case_index, widths, n, log)
        x_copy = x.clone()
        expected = x
        for matrix in matrices:
            expected = expected @ matrix
        try:
            got = copy(forward(model, x))
        except (Todo, Failed):
            raise
        except Exception as error:
            raise crashed("forward", error, label, look, "x⁽ᴸ⁾", expected) from None
        check_not_mutated("x", x_copy, x, "forward")
        calls = [entry[1] for entry in log if entry[0] == "forward"]
        where = [
            f"on {label}: forward was called on modules {calls or 'none'} (counting "
            f"from 1), expected {list(range(1, len(matrices) + 1))}"
        ]
        if close(got, expected):
            continue
        shown_expected, shown_got = fmt_pair(expected, got)
        lines = where + [
            f"  expected x⁽ᴸ⁾ = {shown_expected}",
            f"  got      x⁽ᴸ⁾ = {shown_got}",
        ]
        inputs = [entry[2] for entry in log if entry[0] == "forward"]
        if got is None:
            raise Failed(
                "forward returned None: it must return the last module's output",
                look,
                lines,
            )
        if close(got, x):
            raise Failed(
                "forward returned its input unchanged: it must return the last "
                "module's output",
                look,
                lines,
            )
        if calls and calls[0] != 1:
            raise Failed(
                "the modules are run last to first: forward goes from the first "
                "module to the last",
                look,
                lines,
            )
        if len(inputs) > 1 and all(close(given, x) for given in inputs):
            raise Failed(
                "every module gets the network's input x⁽⁰⁾: pass each module the "
                "output of the one before it (x = module(x))",
                look,
                lines,
            )
        if calls != list(range(1, len(matrices) + 1)):
            raise Failed("not every module is run once, in order", look, lines)
        raise Failed(
            f"forward returns the wrong tensor: {differing('x⁽ᴸ⁾', got, expected)}",
            look,
            lines,
        )
    log = []
    model, matrices, x, g = _sequential(mod, 1, [2, 3, 4, 2], 3, log)
    saves_for_backward(
        lambda: _sequential(mod, 1, [2, 3, 4, 2], 3, [])[0],
        [(x,)],
        lambda m: [m.backward(g.clone())],
        look,
        compare=False,
    )


@grades("Sequential.backward")
def grade_backward(mod, name):
    look = BY_NAME[name].hint
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

        record = trial(
            name,
            model,
            (x,),
            g,
            backward,
            lambda: _sequential(mod, case_index, widths, n, [])[0].backward(g.clone()),
            label,
            look,
            ("x",),
            "∂ℓ/∂x⁽⁰⁾",
            grad,
            "x⁽ᴸ⁾",
        )
        first_calls = [
            entry
            for entry in log[: marks[0] if marks else len(log)]
            if entry[0] != "forward"
        ]
        _diagnose_sequential(
            first_calls,
            expected_log,
            record.first,
            grad,
            g,
            record.error,
            label,
            look,
            record.forward_set,
        )
    model, matrices, x, g = _sequential(mod, 1, [2, 3, 4, 2], 3, [])
    x2, g2 = randn(*x.shape, seed=230), randn(*g.shape, seed=231)
    after_other_numbers(
        model,
        [
            ((x,), lambda m: m.backward(g.clone()), _back(g, matrices)),
            ((x2,), lambda m: m.backward(g2.clone()), _back(g2, matrices)),
        ],
        "∂ℓ/∂x⁽⁰⁾",
        look,
        "3 modules, widths 2→3→4→2, N=3",
    )


def _back(grad, matrices):
    """∂ℓ/∂x⁽⁰⁾ through the checker's modules x ↦ x A, for ∂ℓ/∂x⁽ᴸ⁾ = grad."""
    for matrix in reversed(matrices):
        grad = grad @ matrix.T
    return grad


def _diagnose_sequential(
    log, expected_log, got, expected, g, error, label, look, forward_set
):
    names = [name for name, _ in log]
    order = [name for name, _ in expected_log]
    where = [
        f"on {label}: backward was called on modules {names or 'none'} (counting from "
        f"1), expected {order}"
    ]
    shown_expected, shown_got = fmt_pair(expected, got)
    result = [
        f"  expected ∂ℓ/∂x⁽⁰⁾ = {shown_expected}",
        "  got      ∂ℓ/∂x⁽⁰⁾ = "
        + (f"{error_kind(error)} raised" if error else shown_got),
    ]
    if not log:
        if error is not None:
            blame_backward_crash(error, label, forward_set, look, "∂ℓ/∂x⁽⁰⁾", expected)
        raise Failed("no module's backward was called", look, where + result)
    if names[0] != order[0]:
        if names[0] == order[-1]:
            raise Failed(
                "the modules are run first to last: backward must go from the last "
                "module to the first (reversed)",
                look,
                where + result,
            )
        raise Failed(
            f"backward starts with module {names[0]}; it must start with the last "
            f"one, module {order[0]}",
            look,
            where + result,
        )
    for (name, received), (wanted_name, wanted) in zip(log, expected_log):
        if name != wanted_name:
            raise Failed(
                "the modules' backward calls are in the wrong order",
                look,
                where + result,
            )
        if not close(received, wanted):
            same = (
                is_tensor(received) and received.shape == g.shape and close(received, g)
            )
            shown_wanted, shown_received = fmt_pair(wanted, received)
            raise Failed(
                (
                    "every module gets the same incoming gradient: pass each module the"
                    " result of the module after it (grad = module.backward(grad))"
                    if same
                    else f"module {name} gets the wrong incoming gradient"
                ),
                look,
                [
                    f"on {label}:",
                    f"  expected module {name} to get {shown_wanted}",
                    f"  got      module {name} got {shown_received}",
                ],
            )
    if len(names) > len(order):
        raise Failed(
            "a module's backward is called more than once", look, where + result
        )
    if len(names) < len(order):
        missing = order[len(names) :]
        raise Failed(
            f"the backward of module(s) {missing} (counting from 1) is never called: "
            "the loop must visit every module",
            look,
            where + result,
        )
    if error is not None:
        raise crashed("backward", error, label, look, "∂ℓ/∂x⁽⁰⁾", expected)
    if got is None:
        raise Failed(
            "backward returned None: it must return ∂ℓ/∂x⁽⁰⁾, what the first "
            "module's backward returns",
            look,
            [f"on {label}:"] + result,
        )
    if not close(got, expected):
        hint = (
            "backward returned the incoming gradient unchanged"
            if close(got, g)
            else (
                "backward returns the wrong tensor: return what the first module's "
                "backward returned"
            )
        )
        raise Failed(hint, look, [f"on {label}:"] + result)
