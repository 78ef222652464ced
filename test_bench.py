"""Tests of bench.py: the smoke test (it runs, its float64 equivalence check passes, its table has
every row), the fast variant's subclasses (each computes what the textbook file computes), the
order of the interleaved repeats, and the numbers the docs take from bench.py (the README's are
checked in test_readme.py).

No timing is asserted here (timings belong to the benchmark, not to tests).
"""
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

import bench
import minimlp

ROOT = Path(__file__).resolve().parent


@pytest.mark.slow  # a minute or more on a loaded 2-core machine
def test_bench_quick_runs_and_checks_equivalence(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench.py", "--quick", "--out", str(tmp_path / "table.md"),
         "--json", str(tmp_path / "bench.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]  # the benchmark ran to the end
    assert "equivalence (float64)" in result.stdout, "both frameworks were checked to agree"
    assert "fast variant vs textbook file" in result.stdout, "the fast variant was checked too"
    table = (tmp_path / "table.md").read_text()
    for case in ("batch 1 ", "batch 1000", "784-1024-1024-10", "aten ops per step"):
        assert case in table, f"the table has the row {case!r}"
    rows = [line for line in table.splitlines() if line.startswith("| disk net")]
    fast_rows = [row for row in rows if "fast variant" in row]
    assert len(fast_rows) == len(bench.DISK_BATCHES), "a fast-variant row per batch size"
    key = [row for row in fast_rows if "batch 100 " in row]
    assert len(key) == 1 and "≤ 0.45" in key[0], "the fast variant's row at batch 100, target"
    textbook = [row for row in rows if "textbook file" in row and "batch 100 " in row]
    assert len(textbook) == 1 and "≤ 0.75" in textbook[0], "the textbook row at batch 100, target"
    for label, textbook_line, fast_line in bench.IDIOMS.values():  # the lesson's table
        row = [line for line in table.splitlines() if line.startswith(f"| {label} | ")]
        assert len(row) == 1 and row[0].endswith(f"| {textbook_line} | {fast_line} |"), label
    assert "**fast variant**: all four" in table


def _twins(idioms, dtype=torch.float64):
    """The disk net with the textbook classes and with the fast ones, same weights."""
    textbook = bench.Trainer(bench.disk_model(), "mse", 0.1, dtype)
    fast = bench.Trainer(bench.disk_model(), "mse", 0.1, dtype, idioms=idioms)
    return textbook, fast


def test_the_fast_variant_is_built_of_the_fast_subclasses():
    _, fast = _twins(bench.FAST)
    assert type(fast.model) is bench.FastSequential
    assert type(fast.loss) is bench.FastMSELoss and type(fast.opt) is bench.FastSGD
    kinds = Counter(type(module) for module in fast.model)
    assert kinds == {minimlp.Dense: 4, bench.FastReLU: 3, bench.FastSigmoid: 1}
    textbook, _ = _twins(())
    assert type(textbook.model) is minimlp.Sequential and type(textbook.opt) is minimlp.SGD


@pytest.mark.parametrize("idioms", [(idiom,) for idiom in bench.IDIOMS] + [bench.FAST],
                         ids=[*bench.IDIOMS, "all four"])
def test_each_idiom_trains_to_the_textbook_file_s_weights(idioms):
    # float64, one epoch at batch 10 (100 steps): equal up to rounding
    x, y = bench.disk_data(200, torch.float64)
    batches = bench.slice_batches(x, y, 10)
    textbook, fast = _twins(idioms)
    textbook.minimlp(batches)
    fast.minimlp(batches)
    ours, theirs = [w for w, _ in fast.model.param()], [w for w, _ in textbook.model.param()]
    assert bench.max_abs_diff(ours, theirs) < 1e-12  # the same numbers, not faster wrong ones
    assert bench.max_abs_diff(theirs, [w for w, _ in _twins(())[0].model.param()]) > 1e-3  # trained


def test_fast_relu_and_sigmoid_compute_the_textbook_values_at_the_edges():
    s = torch.tensor([[-800.0, -1.0, 0.0, 1e-300, 2.0, 800.0]], dtype=torch.float64)
    grad = torch.arange(1.0, 7.0, dtype=torch.float64).view(1, 6)
    for textbook, fast in ((minimlp.ReLU(), bench.FastReLU()),
                           (minimlp.Sigmoid(), bench.FastSigmoid())):
        assert torch.allclose(fast.forward(s), textbook.forward(s), rtol=1e-15, atol=0)
        assert torch.allclose(fast.backward(grad), textbook.backward(grad), rtol=1e-15, atol=0)
    relu = bench.FastReLU()
    relu.forward(s)
    assert relu.backward(grad).tolist() == [[0.0, 0.0, 0.0, 4.0, 5.0, 6.0]]  # σ'(0) = 0


def test_fast_sgd_with_momentum_or_weight_decay_takes_the_textbook_step():
    for settings in ({"momentum": 0.9}, {"weight_decay": 0.01}):
        w1, w2 = torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
        g = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
        textbook = minimlp.SGD([(w1, g)], lr=0.1, **settings)
        fast = bench.FastSGD([(w2, g)], lr=0.1, **settings)
        for _ in range(3):
            textbook.step()
            fast.step()
        assert torch.equal(w1, w2), settings


def test_fast_sgd_raising_momentum_later_starts_from_the_gradient_as_torch_optim_does():
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    reference = torch.optim.SGD([w], lr=0.1, momentum=0.0)
    ours_w, ours_g = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    fast = bench.FastSGD([(ours_w, ours_g)], lr=0.1)
    for step, momentum in enumerate((0.0, 0.0, 0.9, 0.9)):
        reference.param_groups[0]["momentum"] = fast.momentum = momentum
        gradient = torch.tensor([1.0 + step, -1.0], dtype=torch.float64)
        w.grad = gradient.clone()
        ours_g.copy_(gradient)
        reference.step()
        fast.step()
        assert torch.allclose(ours_w, w.detach(), rtol=1e-15, atol=0), step


def test_fast_sequential_and_loss_skip_the_checks_and_nothing_else():
    textbook, fast = _twins(bench.FAST)
    x, y = bench.disk_data(7, torch.float64)
    assert torch.equal(fast.model(x), textbook.model(x))
    assert torch.equal(fast.loss(fast.model(x), y), textbook.loss(textbook.model(x), y))
    assert torch.equal(fast.model.backward(fast.loss.backward()),
                       textbook.model.backward(textbook.loss.backward()))
    with pytest.raises(TypeError):  # the textbook file checks the input at model(x) ...
        textbook.model(x.numpy())
    with pytest.raises(AttributeError):  # ... the fast variant trusts it, and torch complains
        fast.model(x.numpy())


@pytest.mark.parametrize("n", range(1, 10))
def test_interleaved_orders_put_every_contender_in_every_place_after_every_other(n):
    orders = bench.balanced_orders(list(range(n)))
    assert len(orders) == (2 * n if n % 2 else n)
    assert all(sorted(order) == list(range(n)) for order in orders)
    places = Counter((name, place) for order in orders for place, name in enumerate(order))
    after = Counter(pair for order in orders for pair in zip(order, order[1:]))
    assert len(places) == n * n and len(set(places.values())) == 1  # each place equally often
    assert len(after) == n * (n - 1) and len(set(after.values())) <= 1  # each predecessor too


def test_the_op_counts_the_performance_page_states():
    # deterministic, unlike timings: ops per step of the textbook file with each idiom alone
    ops = {name: sum(counts.values()) for name, counts in bench.bench_ops().items()}
    saved = {idiom: ops["minimlp"] - ops[f"+{idiom}"] for idiom in bench.IDIOMS}
    assert saved == {"relu": 0, "sigmoid": 4, "sgd": 24, "checks": 0}
    assert ops["minimlp"] - ops["fast"] == 28
    page = " ".join((ROOT / "docs" / "performance.md").read_text().split())
    assert "saves four ops per step" in page and "24 per step for the disk net's 8" in page
