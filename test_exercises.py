"""The exercise track: the skeletons are fresh, and the checker's verdicts are right.

Sections, in order:
- the catalogue: every forward, backward and step is an exercise, with a grader,
  a derive-level task and a section of docs/backprop.md that exists;
- the skeletons: generated, fresh, solvable (solved as the reference, they pass
  and train the disk problem), and at each level keeping what they should;
- the planted mistakes (exercises/catalogue.py's PLANTED): each FAILs on its own
  exercise with its diagnosis, no other exercise fails, and right but unusual code
  passes;
- the command line: usage without a file, the level's "look at", results streamed,
  an endless loop or a memory hog stopped, the homework's rule;
- the docs page: its samples and its list of diagnoses are the checker's output.

Each planted mistake is put into a copy of the reference module, written the way
a student would write it (a method monkeypatched onto the class).
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from exercises import check, harness
from exercises.catalogue import (
    BY_NAME,
    EXERCISES,
    NAMES,
    PAGE,
    PLANTED,
    PLANTED_BY_LABEL,
    find_function,
)
from exercises.graders import GRADERS
from exercises.graders import optimizers
from exercises.make_skeletons import (
    GIVEAWAY,
    SHAPE_HINT,
    TARGETS,
    guided_comments,
    make_skeleton,
)

ROOT = Path(__file__).resolve().parent
CHECKER = ROOT / "exercises" / "check.py"
SKELETONS = dict(TARGETS)
RUN_LIMIT = 240  # seconds for any run of the checker in a test (a hang stalls CI)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def patched(patches) -> object:
    """minimlp.py, loaded anew, with `patches` ({"Dense.backward": function}, or a
    function of the module that gives them) put onto its classes."""
    module = harness.load(ROOT / "minimlp.py")
    for qualified, function in (
        patches(module) if callable(patches) else patches
    ).items():
        class_name, method = qualified.split(".")
        setattr(getattr(module, class_name), method, function)
    return module


def grade(patches=None, level="guided") -> dict:
    """The checker's results for minimlp.py with `patches`, by exercise name."""
    results = check.grade(patched(patches or {}), level)
    return {result.name: result for result in results}


@functools.lru_cache(maxsize=None)
def planted_results(label: str, level: str = "guided") -> dict:
    return grade(PLANTED_BY_LABEL[label].patches, level)


def run_checker(*args, timeout=RUN_LIMIT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def with_methods(
    tmp_path: Path, methods: dict, header: str = "", name="student.py"
) -> Path:
    """A copy of minimlp.py with the methods named in `methods` replaced by the
    given `def` texts (written at column 0), and `header` lines after its
    docstring: a file as a student would hand it in."""
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    spans = []
    for qualified, text in methods.items():
        function = find_function(tree, qualified)
        indent = " " * function.col_offset
        spans.append(
            (
                function.lineno,
                function.end_lineno,
                textwrap.indent(textwrap.dedent(text).strip() + "\n", indent),
            )
        )
    for first, last, new in sorted(spans, reverse=True):
        lines[first - 1 : last] = [new]
    docstring_end = tree.body[0].end_lineno
    lines[docstring_end:docstring_end] = [header + "\n"] if header else []
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------


def test_every_forward_backward_and_step_of_minimlp_is_an_exercise_with_a_grader():
    tree = ast.parse((ROOT / "minimlp.py").read_text(encoding="utf-8"))
    methods = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in (
                    "forward",
                    "backward",
                    "step",
                ):
                    code = [
                        n
                        for n in item.body
                        if not (
                            isinstance(n, ast.Expr)
                            and isinstance(n.value, ast.Constant)
                        )
                    ]
                    abstract = (
                        len(code) == 1
                        and isinstance(code[0], ast.Raise)
                        and "NotImplementedError" in ast.dump(code[0])
                    )
                    if (
                        not abstract
                    ):  # the base classes' forward only says "implement me"
                        methods.append(f"{node.name}.{item.name}")
    assert sorted(methods) == sorted(NAMES)
    assert set(GRADERS) == set(NAMES)  # a grader per exercise, found by its name
    assert [e.number for e in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    for exercise in EXERCISES:
        assert exercise.task and exercise.hint and exercise.section, exercise.name


def test_each_exercise_points_to_a_section_of_the_derivation_page_that_exists():
    page = (ROOT / PAGE).read_text(encoding="utf-8")
    headings = {
        line.lstrip("#").strip()
        for line in page.splitlines()
        if re.match(r"#{1,4} ", line)
    }
    missing = {e.name: e.section for e in EXERCISES if e.section not in headings}
    assert not missing, f"{PAGE} has no heading for {missing}"


def test_every_exercise_has_a_planted_mistake_and_each_plant_a_real_exercise():
    assert {planted.exercise for planted in PLANTED} == set(NAMES)
    assert len({p.label for p in PLANTED}) == len(PLANTED)


# ---------------------------------------------------------------------------
# The skeletons
# ---------------------------------------------------------------------------


def solved(level: str, done=None) -> str:
    """The skeleton of `level` with the body of every exercise (or of those in
    `done`) taken from minimlp.py: what a student who solved them as the
    reference does would have."""
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS[level].read_text(encoding="utf-8")
    tree, student_tree = ast.parse(source), ast.parse(skeleton)
    lines, reference = skeleton.splitlines(keepends=True), source.splitlines(
        keepends=True
    )
    spans = []
    for name in NAMES if done is None else done:
        mine, theirs = find_function(student_tree, name), find_function(tree, name)
        spans.append(
            (
                mine.lineno,
                mine.end_lineno,
                reference[theirs.lineno - 1 : theirs.end_lineno],
            )
        )
    for first, last, new in sorted(spans, reverse=True):
        lines[first - 1 : last] = new
    return "".join(lines)


def test_reference_passes_every_exercise():
    results = list(grade().values())
    assert [r.status for r in results] == ["PASS"] * len(EXERCISES), check.report(
        results
    )


@pytest.mark.parametrize("level", sorted(SKELETONS))
def test_each_skeleton_solved_as_the_reference_passes_and_trains(level, tmp_path):
    path = tmp_path / f"solved_{level}.py"
    path.write_text(solved(level), encoding="utf-8")
    module = harness.load(path)
    results = check.grade(module, check.level_of(path))
    assert [r.status for r in results] == ["PASS"] * len(EXERCISES), check.report(
        results
    )
    # a finished skeleton is a working framework: it learns the disk problem
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(500, 2, generator=generator)
    y = ((x - 0.5).pow(2).sum(1, keepdim=True) < 1 / (2 * torch.pi)).float()
    model = module.Sequential(
        module.Dense(2, 25, generator=generator),
        module.ReLU(),
        module.Dense(25, 1, generator=generator),
        module.Sigmoid(),
    )
    history = module.fit(
        model,
        module.MSELoss(),
        module.SGD(model.param(), lr=0.5, momentum=0.9),
        x,
        y,
        epochs=60,
        batch_size=50,
        generator=generator,
    )
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]  # training went well
    assert history.train_acc[-1] > 0.85


@pytest.mark.parametrize("level", sorted(SKELETONS))
def test_fresh_skeleton_is_todo_everywhere(level):
    results = check.grade(harness.load(SKELETONS[level]), level)
    assert [r.status for r in results] == ["TODO"] * len(EXERCISES), check.report(
        results
    )


def test_skeletons_are_not_stale():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    for level, path in SKELETONS.items():
        assert path.read_text(encoding="utf-8") == make_skeleton(
            source, level
        ), f"{path.name} is stale: run python exercises/make_skeletons.py"


def _exercise_text(text: str, name: str) -> str:
    function = find_function(ast.parse(text), name)
    return "\n".join(text.splitlines()[function.lineno - 1 : function.end_lineno])


def test_guided_skeleton_keeps_the_equations_and_drops_the_code_and_its_hints():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS["guided"].read_text(encoding="utf-8")
    tree, student_tree = ast.parse(source), ast.parse(skeleton)
    for exercise in EXERCISES:
        name = exercise.name
        original, replaced = find_function(tree, name), find_function(
            student_tree, name
        )
        code = [
            node
            for node in replaced.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        ]
        assert len(code) == 1 and isinstance(
            code[0], ast.Raise
        ), f"{name}: only the raise"
        assert f'"exercise {exercise.number}: {name}"' in ast.get_source_segment(
            skeleton, code[0]
        )
        assert ast.get_docstring(replaced) == ast.get_docstring(original), name
        kept = _exercise_text(skeleton, name)
        for comment in [
            line.split("#", 1)[1] for line in kept.splitlines() if "#" in line
        ]:
            assert not GIVEAWAY.search(comment), f"{name}: {comment!r} gives code away"
            assert not SHAPE_HINT.search(comment.strip()), f"{name}: {comment!r}"
        for line in source.splitlines()[original.lineno - 1 : original.end_lineno]:
            comment = line.split("#", 1)[1] if "#" in line else ""
            if (
                comment
                and not GIVEAWAY.search(comment)
                and not SHAPE_HINT.search(comment.strip())
            ):
                assert comment.strip() in kept, f"{name}: {line.strip()!r} must stay"
    # everything outside the exercises is unchanged: a finished skeleton works
    outside = [
        n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    ]
    assert outside == [
        n.name
        for n in student_tree.body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef))
    ]


def test_guided_level_drops_a_sentence_that_names_code_and_keeps_its_equation():
    comments = [
        " x = 1 / (1 + e⁻ˢ), computed by torch's sigmoid in one op (8 % faster). Both",
        " are finite for every s",
        " (N, in) @ (in, out) -> (N, out)",
        "   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)",
        " σ'(s) = 1 where s > 0, else 0. As x ≥ 0, that is sign(x): `g * x.sign()`",
    ]
    assert guided_comments(comments, "") == [
        "# x = 1 / (1 + e⁻ˢ). Both are finite for every s\n",
        "#   ∂xᵢ/∂sⱼ = xᵢ (δᵢⱼ − xⱼ)\n",
        "# σ'(s) = 1 where s > 0, else 0.\n",
    ]


def test_derive_skeleton_says_what_to_compute_and_keeps_nothing_of_the_solution():
    source = (ROOT / "minimlp.py").read_text(encoding="utf-8")
    skeleton = SKELETONS["derive"].read_text(encoding="utf-8")
    for exercise in EXERCISES:
        kept = _exercise_text(skeleton, exercise.name)
        assert (
            '"""' not in kept
        ), f"{exercise.name}: the derive level keeps no docstring"
        for line in _exercise_text(source, exercise.name).splitlines()[1:]:
            code, _, comment = line.partition("#")
            # no line of the solution, no comment of a backward or step (its equations)
            texts = [code.strip()] + (
                [comment.strip()] if not exercise.name.endswith(".forward") else []
            )
            for text in texts:
                if len(text) > 12 and not text.startswith('"""'):
                    assert (
                        text not in kept
                    ), f"{exercise.name}: {text!r} is the reference's"
        assert exercise.task.split()[0] in kept
        if exercise.name.endswith(".backward"):  # the result of a backward is derived
            assert not re.search(r"∂ℓ/∂\S+ =", exercise.task), exercise.name


# ---------------------------------------------------------------------------
# Planted mistakes: each FAILs on its own exercise, named
# ---------------------------------------------------------------------------


def _example_differs(details: list) -> bool:
    """Some line 'expected ...' is followed by a 'got ...' that says something else."""
    for line, following in zip(details, details[1:]):
        a, b = line.strip(), following.strip()
        if a.startswith("expected") and b.startswith("got"):
            if a[len("expected") :].strip() != b[len("got") :].strip():
                return True
    return False


def _assert_only(results: dict, exercise: str, words: str, example=True) -> None:
    result = results[exercise]
    text = "\n".join(result.lines())
    assert result.status == "FAIL", f"{exercise} should FAIL, got:\n{text}"
    assert words in result.headline, f"{exercise}: expected {words!r} in:\n{text}"
    others = [
        r
        for r in results.values()
        if r.status not in ("PASS", "WAIT") and r.name != exercise
    ]
    assert not others, "other exercises fail because of it:\n" + "\n".join(
        "\n".join(r.lines()) for r in others
    )
    # every FAIL says what to look at, and an example whose expected and got differ
    assert (
        result.details
        and result.details[0].startswith("look at: ")
        and len(result.details[0]) > len("look at: ") + 3
    ), f"no 'look at:'\n{text}"
    if example:
        assert _example_differs(
            result.details
        ), f"no example with a different got\n{text}"
    assert "cannot tell" not in text, text
    assert "…" not in result.headline, f"a headline cut short:\n{text}"


NO_EXAMPLE = ("the homework's rule", "an endless loop?")


@pytest.mark.parametrize(
    "planted", [p for p in PLANTED if p.words not in NO_EXAMPLE], ids=lambda p: p.label
)
def test_planted_mistake_is_diagnosed(planted):
    _assert_only(planted_results(planted.label), planted.exercise, planted.words)


@pytest.mark.parametrize(
    "planted",
    [p for p in PLANTED if p.words == "the homework's rule"],
    ids=lambda p: p.label,
)
def test_autograd_in_a_students_method_fails_naming_the_homework_rule(planted):
    results = planted_results(planted.label)
    _assert_only(results, planted.exercise, "the homework's rule", example=False)
    assert "(line " in results[planted.exercise].headline  # the line that used it


@pytest.mark.slow
@pytest.mark.parametrize(
    "planted",
    [p for p in PLANTED if p.words == "an endless loop?"],
    ids=lambda p: p.label,
)
def test_an_endless_loop_fails_on_its_exercise_with_its_line(planted):
    results = planted_results(planted.label)
    _assert_only(results, planted.exercise, "an endless loop?", example=False)
    assert f"longer than {check.TIME_LIMIT:g} s" in results[planted.exercise].headline
    assert "(line " in results[planted.exercise].headline  # where it was looping


def test_the_homework_rule_leaves_the_checkers_own_autograd_alone():
    """While grading, autograd is refused to the student's code only: the oracles
    still run, and afterwards torch is as it was."""
    backward = torch.Tensor.backward
    results = planted_results("softmax backward by torch.autograd")
    assert results["Softmax.forward"].status == "PASS"  # its oracle used autograd
    assert torch.Tensor.backward is backward
    x = torch.ones(2, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_histogram_of_output_over_x_never_repeats_a_value():
    results = planted_results(
        "dropout forward keeps with probability p, scaled as x / (1 − p) * keep"
    )
    line = next(
        line
        for line in results["Dropout.forward"].details
        if "takes the values" in line
    )
    values = re.findall(r"(-?[\d.]+(?:e-?\d+)?) \(\d+%\)", line)
    assert len(values) == len(set(values)) >= 2, line


def test_reference_on_the_derive_level_points_to_sections_not_equations():
    results = planted_results("softmax backward diagonal only", "derive")
    details = results["Softmax.backward"].details
    assert (
        details[0]
        == "look at: docs/backprop.md, section “Softmax: a Jacobian-vector "
        "product” (--hint shows the equation)"
    ), details
    assert not any("Σᵢ gᵢ xᵢ" in line for line in details)
    hinted = check.grade(
        patched(PLANTED_BY_LABEL["softmax backward diagonal only"].patches),
        "derive",
        hint=True,
    )
    hint_details = next(r for r in hinted if r.name == "Softmax.backward").details
    assert hint_details[0] == f"look at: {BY_NAME['Softmax.backward'].hint}"
    assert "Softmax: a Jacobian-vector product" in hint_details[1]


def test_right_student_implementations_pass():
    """The planted mistakes' right counterparts pass: the checker does not
    depend on the names the reference uses for what it saves."""
    from exercises import catalogue as c

    patches = {
        "Dense.forward": c.dense_forward,
        "Dense.backward": c.dense_backward,
        "Sequential.backward": c.sequential_backward(),
        "Sequential.forward": c.sequential_forward(),
        "Softmax.forward": c.saving_forward(c.softmax),
        "Softmax.backward": c.softmax_backward,
    }
    patches.update(c.mse(c.mse_backward))
    patches.update(c.cross_entropy())
    patches.update(c.cross_entropy(forward=c.ce_forward_indexed(columns=False)))
    patches.update(
        c.activation("Sigmoid", lambda self, g: g * self.saved_x * (1 - self.saved_x))
    )
    patches.update(c.activation("ReLU", lambda self, g: g * (self.saved_s > 0)))
    patches.update(c.dropout())
    results = grade(patches)
    assert all(r.status == "PASS" for r in results.values()), check.report(
        list(results.values())
    )
    for kind, step in (("SGD", c.sgd_step()), ("Adam", c.adam_step())):
        assert grade(c.optimizer(kind, step))[f"{kind}.step"].status == "PASS"


def test_right_styles_that_work_in_place_on_their_own_tensors_pass():
    """In-place work on a tensor the method made itself (a buffer, addmm_, an
    explicit Jacobian) is not a mistake: only a caller's or a saved tensor counts."""
    from exercises import catalogue as c

    def dense_backward_in_place(self, g):
        self.grad_weight.addmm_(g.t(), self.saved_x)
        self.grad_bias.add_(g.sum(0))
        result = g.mm(self.weight)
        result.mul_(1.0)
        return result

    def softmax_backward_jacobian(self, g):
        x = self.saved_x
        jacobian = x.unsqueeze(2) * (
            torch.eye(x.shape[1], dtype=x.dtype) - x.unsqueeze(1)
        )
        return jacobian.transpose(1, 2).bmm(g.unsqueeze(2)).squeeze(2)

    def mse_backward_buffer(self):
        out = self.saved_d.clone()
        out *= c.mse_scale(self)
        return out

    results = grade(
        {
            "Dense.forward": c.dense_forward,
            "Dense.backward": dense_backward_in_place,
            "Softmax.forward": c.saving_forward(c.softmax),
            "Softmax.backward": softmax_backward_jacobian,
            "MSELoss.forward": c.mse_forward,
            "MSELoss.backward": mse_backward_buffer,
        }
    )
    assert all(r.status == "PASS" for r in results.values()), check.report(
        list(results.values())
    )


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_the_checkers_optimizer_rules_are_torch_optims(kind):
    """The checker grades steps against its own copy of PyTorch's update rules
    (torch.optim costs 2 s of imports at its first use); on every setting it
    tries, that copy takes the very trajectory torch.optim takes."""
    settings_list = (
        optimizers.SGD_SETTINGS if kind == "SGD" else optimizers.ADAM_SETTINGS
    )
    simulate = optimizers.sgd_form if kind == "SGD" else optimizers.adam_form
    values, grads = optimizers.optimizer_problem()
    for settings in settings_list:
        lrs = [settings["lr"], settings["lr"], settings["lr"] / 2]
        rest = {k: v for k, v in settings.items() if k != "lr"}
        ours = simulate("pytorch", values, grads, lrs, **settings)
        theirs = optimizers.torch_trajectory(
            getattr(torch.optim, kind), values, grads, lrs, **rest
        )
        assert all(
            torch.allclose(a, b, rtol=1e-12, atol=1e-14)
            for step_a, step_b in zip(ours, theirs)
            for a, b in zip(step_a, step_b)
        )


def test_backward_waits_for_a_broken_forward_instead_of_failing():
    """A forward that saves nothing: its own exercise FAILs, its backward WAITs."""
    results = planted_results("dense forward saves nothing")
    assert results["Dense.forward"].status == "FAIL"
    assert results["Dense.backward"].status == "WAIT"
    assert "exercise 1" in results["Dense.backward"].headline


def test_an_exception_is_reported_on_the_method_that_raised_it_with_its_line():
    results = planted_results("relu backward typo self.outptu")
    assert results["ReLU.forward"].status == "PASS", "\n".join(
        results["ReLU.forward"].lines()
    )
    backward = results["ReLU.backward"]
    assert "(line " in backward.headline and "self.outptu" in backward.headline
    typo = planted_results("relu forward typo")
    assert (
        typo["ReLU.forward"].status == "FAIL"
        and "clmap" in typo["ReLU.forward"].headline
    )
    assert typo["ReLU.backward"].status == "WAIT"


def test_a_long_error_message_is_never_cut_inside_a_word():
    error = RuntimeError(
        "mat1 and mat2 shapes cannot be multiplied " + "(2x3 and 2x2) " * 30
    )
    text = harness.error_text(error)
    assert text.endswith(" …") and text[:-2].endswith("2x2)"), text
    short = harness.error_text(
        ValueError(
            "Expected size for first two dimensions of batch2 "
            "tensor to be: [2, 3] but got: [2, 2]."
        )
    )
    assert short.endswith("[2, 2]."), short


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_without_a_file_the_checker_prints_its_usage_and_the_skeleton_to_copy():
    done = run_checker()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "usage:" in done.stdout and "cp exercises/minimlp_derive.py" in done.stdout
    assert "exercises/minimlp_guided.py" in done.stdout and "TODO" not in done.stdout


def test_without_torch_the_checker_says_to_install_it_first():
    code = (
        "import runpy, sys; sys.modules['torch'] = None; "
        f"runpy.run_path({str(CHECKER)!r}, run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_LIMIT
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "needs torch" in done.stderr and "install it first" in done.stderr


SLOW_BUT_RIGHT = {
    "Dense.forward": (
        """
        def forward(self, x):
            print("Dense.forward got", tuple(x.shape))
            self.input = x
            s = x.new_zeros(x.shape[0], self.weight.shape[0])
            for n in range(x.shape[0]):
                for o in range(self.weight.shape[0]):
                    total = self.bias[o]
                    for i in range(x.shape[1]):
                        total = total + x[n, i] * self.weight[o, i]
                    s[n, o] = total
            return s
        """
    ),
    "Dense.backward": (
        """
        def backward(self, grad_output):
            print("Dense.backward")
            x = self.input
            grad_input = x.new_zeros(x.shape)
            for n in range(x.shape[0]):
                for o in range(self.weight.shape[0]):
                    self.grad_bias[o] += grad_output[n, o]
                    for i in range(x.shape[1]):
                        self.grad_weight[o, i] += grad_output[n, o] * x[n, i]
                        grad_input[n, i] += grad_output[n, o] * self.weight[o, i]
            return grad_input
        """
    ),
    "Dropout.forward": (
        """
        def forward(self, x):
            print("Dropout.forward, training:", self.training)
            mask = x.new_ones(x.shape)
            if self.training:
                for n in range(x.shape[0]):
                    for c in range(x.shape[1]):
                        draw = x.new_empty(1).uniform_(generator=self.generator).item()
                        mask[n, c] = 0.0 if draw < self.p else 1 / (1 - self.p)
            self.mask = mask
            return x * mask
        """
    ),
    "Dropout.backward": (
        """
        def backward(self, grad_output):
            print("Dropout.backward")
            return grad_output * self.mask
        """
    ),
}


@pytest.mark.slow
def test_right_but_slow_code_that_prints_passes_within_the_time_limit(tmp_path):
    """Python loops over every entry (Dense and a Dropout that draws one entry at a
    time) and prints in every call: all PASS, and the prints do not get in the
    checker's way."""
    path = with_methods(tmp_path, SLOW_BUT_RIGHT)
    done = run_checker(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASS") == len(EXERCISES), done.stdout
    assert "Dense.forward got" in done.stderr  # the student's prints are shown


LOOPING = {
    "Dense.backward": (
        """
        def backward(self, grad_output):
            while True:
                pass
        """
    ),
    "Sequential.backward": (
        """
        def backward(self, grad_output):
            kept = []
            while True:
                kept.append(grad_output * 1)
        """
    ),
    "Softmax.forward": (
        """
        def forward(self, s):
            total = 0
            while total >= 0:
                total += 1
            return s
        """
    ),
    "SGD.step": (
        """
        def step(self):
            while True:  # deaf to the alarm: the process is stopped from outside
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """
    ),
}


@pytest.mark.slow
def test_an_endless_loop_fails_within_the_limit_and_every_other_exercise_is_graded(
    tmp_path,
):
    limit = 2
    path = with_methods(tmp_path, LOOPING)
    started = time.monotonic()
    done = run_checker(path, "--time-limit", limit)
    took = time.monotonic() - started
    lines = done.stdout.splitlines()
    for name in LOOPING:
        line = next(line for line in lines if f" {name} " in line)
        assert (
            "FAIL" in line
            and f"took longer than {limit} s — an endless loop?" in line + lines[
                lines.index(line) + 1
            ]
        ), done.stdout
    # Softmax.backward is not run after its forward never ended; Dense.forward and
    # Sequential.forward, whose check that forward saves what backward needs runs
    # the looping backward, wait for it
    waiting = ["Softmax.backward", "Dense.forward", "Sequential.forward"]
    for name in waiting:
        line = next(line for line in lines if f" {name} " in line)
        assert "WAIT" in line, done.stdout
    passed = [line for line in lines if line.split()[2:3] == ["PASS"]]
    assert len(passed) == len(EXERCISES) - len(LOOPING) - len(waiting), done.stdout
    assert done.returncode == 1
    # each loop costs its limit (the alarm), and a stop and restart at most
    assert took < 60 + (len(LOOPING) + 2) * (limit + check.GRACE), took


@pytest.mark.slow
def test_a_loop_that_eats_memory_is_stopped_by_the_memory_limit(tmp_path):
    path = with_methods(
        tmp_path,
        {
            "Dense.backward": (
                """
        def backward(self, grad_output):
            kept = []
            while True:
                kept.append(grad_output.new_zeros(10_000_000))
        """
            )
        },
    )
    done = run_checker(path, "--time-limit", 30)
    line = next(line for line in done.stdout.splitlines() if " Dense.backward " in line)
    assert "FAIL" in line, done.stdout
    if sys.platform.startswith("linux"):  # RLIMIT_AS is enforced there
        assert "ran out of the memory" in done.stdout, done.stdout
    assert done.stdout.count("PASS") == len(EXERCISES) - 1


@pytest.mark.slow
def test_results_are_printed_as_soon_as_each_is_graded(tmp_path):
    """The line of exercise 1 arrives long before an endless loop in the last
    exercise has used up its time limit."""
    path = with_methods(
        tmp_path,
        {
            "Adam.step": (
                """
        def step(self):
            while True:
                pass
        """
            )
        },
    )
    process = subprocess.Popen(
        [sys.executable, str(CHECKER), "--time-limit", "6", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    watchdog = threading.Timer(RUN_LIMIT, process.kill)  # a hung read ends too
    watchdog.start()
    try:
        arrived = {}
        started = time.monotonic()
        for line in process.stdout:  # each line as the checker prints it
            arrived[line.split()[1] if line[:2].strip().isdigit() else line] = (
                time.monotonic() - started
            )
        process.wait(timeout=RUN_LIMIT)
    finally:
        watchdog.cancel()
        process.kill()
    assert "Adam.step" in arrived and "Dense.forward" in arrived, arrived
    assert arrived["Adam.step"] - arrived["Dense.forward"] > 5, arrived


def test_forbidden_torch_modules_in_a_students_file_fail_naming_the_rule(tmp_path):
    path = with_methods(
        tmp_path,
        {
            "Softmax.forward": (
                """
            def forward(self, s):
                self.output = F.softmax(s, dim=1)
                return self.output
            """
            ),
            "SGD.step": (
                """
            def step(self):
                for w, grad in self.params:
                    w -= self.lr * grad
                torch.optim.SGD
            """
            ),
        },
        header="import torch\nimport torch.nn.functional as F",
    )
    done = run_checker(path)
    lines = done.stdout.splitlines()
    softmax = next(line for line in lines if " Softmax.forward " in line)
    assert "FAIL" in softmax and "uses torch.nn" in softmax, done.stdout
    assert "the homework's rule" in done.stdout
    sgd = next(line for line in lines if " SGD.step " in line)
    assert "FAIL" in sgd and "torch.optim" in sgd, done.stdout
    assert "imports or uses torch.nn" in done.stdout  # the import line itself, noted
    assert done.returncode == 1


def test_derive_level_names_the_section_and_hint_shows_the_equation(tmp_path):
    path = tmp_path / "derive.py"
    # a deliberately wrong stub: no diagnosis fits, so only "look at" could tell
    wrong = solved("derive").replace(
        "grad_output * (1 - self.output ** 2)", "grad_output * (1 - self.output ** 3)"
    )
    assert wrong != solved("derive")
    path.write_text(wrong, encoding="utf-8")
    done = run_checker(path)
    assert "derive level" in done.stdout.splitlines()[0]
    assert (
        "look at: docs/backprop.md, section “Tanh” (--hint shows the equation)"
        in done.stdout
    ), done.stdout
    assert "1 − x²" not in done.stdout
    hinted = run_checker("--hint", path)
    assert "1 − x²" in hinted.stdout and "derived in docs/backprop.md" in hinted.stdout


@pytest.mark.slow
def test_a_full_run_on_the_reference_and_the_skeletons():
    reference = run_checker(ROOT / "minimlp.py")
    assert reference.returncode == 0, reference.stdout + reference.stderr
    assert reference.stdout.count("PASS") == len(EXERCISES)
    for path in SKELETONS.values():
        skeleton = run_checker(path)
        assert skeleton.returncode == 1
        assert skeleton.stdout.count("TODO") == len(EXERCISES)


# ---------------------------------------------------------------------------
# The docs page: its samples and its list of diagnoses are the checker's output
# ---------------------------------------------------------------------------

DOCS = ROOT / "docs" / "exercises.md"
SAMPLE = re.compile(
    r"^( *)(<!-- sample: (.*?) -->\n)\1```text\n(.*?)\1```", re.S | re.M
)
SKELETON_SAMPLE = re.compile(
    r"^( *)(<!-- skeleton: (\S+) (\S+) -->\n)\1```python\n(.*?)\1```", re.S | re.M
)
DIAGNOSES = re.compile(r"(<!-- diagnoses -->\n)(.*?)(<!-- /diagnoses -->)", re.S)


def sample_output(label: str, tmp: Path) -> str:
    """What the docs page shows for a sample: "progress" is the derive skeleton with
    exercises 1-4 and 6 solved, and the bias gradient taken as a mean; any other
    label is a planted mistake, shown as the checker prints its FAIL at the derive
    level."""
    if label == "progress":
        done = [
            "Dense.forward",
            "Dense.backward",
            "ReLU.forward",
            "ReLU.backward",
            "Tanh.backward",
        ]
        path = tmp / "progress.py"
        path.write_text(solved("derive", done), encoding="utf-8")
        module = harness.load(path)
        for qualified, function in PLANTED_BY_LABEL[
            "bias grad is a mean"
        ].patches.items():
            setattr(module.Dense, qualified.split(".")[1], function)
        return check.report(check.grade(module, "derive"))
    results = planted_results(label, "derive").values()
    return "\n".join(next(r for r in results if r.status == "FAIL").lines())


def skeleton_sample(level: str, name: str) -> str:
    return textwrap.dedent(
        _exercise_text(SKELETONS[level].read_text(encoding="utf-8"), name)
    )


def _markdown(text: str) -> str:
    """A diagnosis as Markdown: characters Markdown reads as markup escaped."""
    return re.sub(r"([\\`*_\[\]>|])", r"\\\1", text).replace("<", "&lt;")


def _without_lines(headline: str) -> str:
    """The headline with each ' (line 12: code)' as ' (line N: …)': the line
    numbers are minimlp.py's of the day."""
    start = headline.find(" (line ")
    if start < 0:
        return headline
    depth, end = 0, start + 1
    for end in range(start + 1, len(headline)):
        depth += {"(": 1, ")": -1}.get(headline[end], 0)
        if depth == 0:
            break
    return headline[:start] + " (line N: …)" + _without_lines(headline[end + 1 :])


def diagnoses_list() -> str:
    """Every planted mistake's diagnosis, by exercise, each exercise's list folded
    (a diagnosis gives the answer away)."""
    blocks = []
    for exercise in EXERCISES:
        planted = [p for p in PLANTED if p.exercise == exercise.name]
        if not planted:
            continue
        lines = [
            (
                f'??? note "{exercise.number}. {exercise.name}: {len(planted)} '
                f'{"diagnosis" if len(planted) == 1 else "diagnoses"}"'
            ),
            "",
        ]
        for p in planted:
            headline = planted_results(p.label)[exercise.name].headline
            headline = _without_lines(headline)
            lines.append(f"    - {_markdown(p.label)}: *{_markdown(headline)}*")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n"


def test_docs_samples_are_the_real_output(tmp_path):
    """docs/exercises.md shows the checker's output; each sample must be what
    the checker prints today (python test_exercises.py rewrites them)."""
    page = DOCS.read_text(encoding="utf-8")
    samples = SAMPLE.findall(page)
    assert any(label == "progress" for _, _, label, _ in samples)
    for indent, _, label, shown in samples:
        shown = _outdented(shown, indent).rstrip("\n")
        assert shown == sample_output(label, tmp_path), label


def test_docs_skeleton_excerpts_are_the_real_skeletons():
    page = DOCS.read_text(encoding="utf-8")
    found = SKELETON_SAMPLE.findall(page)
    assert {level for _, _, level, _, _ in found} == set(
        SKELETONS
    ), "a sample of each level"
    for indent, _, level, name, shown in found:
        assert _outdented(shown, indent).rstrip("\n") == skeleton_sample(level, name)


def test_docs_list_every_diagnosis_folded():
    """The Exercises page lists the diagnosis of every planted mistake, as the
    checker words it today, inside folded blocks."""
    page = DOCS.read_text(encoding="utf-8")
    found = DIAGNOSES.search(page)
    assert found, "docs/exercises.md has no <!-- diagnoses --> list"
    assert found.group(2) == diagnoses_list(), "run python test_exercises.py"
    assert all(
        line.startswith(("??? note", "    - ")) or not line
        for line in found.group(2).splitlines()
    )


def _outdented(text: str, indent: str) -> str:
    """`text` without the `indent` its lines have inside a folded block."""
    return "".join(line[len(indent):] if line.startswith(indent) else line
                   for line in text.splitlines(keepends=True))


def _indented(text: str, indent: str) -> str:
    return textwrap.indent(text, indent) if indent else text


def update_docs() -> None:
    """Rewrite the samples and the diagnoses of docs/exercises.md."""
    import tempfile

    page = DOCS.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        page = SAMPLE.sub(
            lambda m: m.group(1)
            + m.group(2)
            + m.group(1)
            + "```text\n"
            + _indented(sample_output(m.group(3), Path(tmp)) + "\n", m.group(1))
            + m.group(1)
            + "```",
            page,
        )
    page = SKELETON_SAMPLE.sub(
        lambda m: m.group(1)
        + m.group(2)
        + m.group(1)
        + "```python\n"
        + _indented(skeleton_sample(m.group(3), m.group(4)) + "\n", m.group(1))
        + m.group(1)
        + "```",
        page,
    )
    page = DIAGNOSES.sub(lambda m: m.group(1) + diagnoses_list() + m.group(3), page)
    DOCS.write_text(page, encoding="utf-8")
    print(f"rewrote the samples and diagnoses of {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    update_docs()
