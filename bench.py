"""Benchmark minimlp against the same training loop written with torch.nn + autograd + torch.optim.

    python bench.py              # full run (about a minute on 2 cores), writes the two files below
    python bench.py --clock cpu  # the same, timing this thread's CPU time (for a busy machine)
    python bench.py --quick      # smoke test (< 30 s), prints the table, writes nothing
    python bench.py --threads 2  # let torch use 2 intra-op threads
    python bench.py --ops        # also list the aten ops of one training step, by name

What is compared
    Both sides train the same network, from the same initial weights (copied from the minimlp
    model into the torch one), on the same list of pre-sliced batches, doing the same things per
    step: zero_grad, forward, loss, backward, SGD step. One difference in work remains:
    minimlp's ``model.backward`` always returns dℓ/dx⁰, the gradient for the data (one more
    matrix product in the first layer), which torch skips since the data does not require grad.

    * the report's disk net 2-25-25-25-1 (ReLU hidden, Sigmoid out, MSE mean, SGD lr 0.1): one
      epoch of 1000 points at batch sizes 1, 10, 100, 1000, with the manual loop and with
      ``minimlp.fit`` (whose ratio shows the training helper's own overhead);
    * a compute-bound net 784-1024-1024-10 (ReLU, cross-entropy) at batch 256 in float32, also
      against a bare chain of ``torch.mm`` calls with the same shapes (the practical peak);
    * the number of aten ops dispatched per training step (disk net, batch 10), counted with a
      ``TorchDispatchMode``: at these sizes the time per step is mostly per-op overhead;
    * the *fast variant*: subclasses defined here, not in minimlp.py, that put back four speed
      idioms which the textbook file leaves out (ReLU's mask as ``sign(x)``, a fused
      ``s.sigmoid()``, SGD's ``w.add_(g, alpha=-lr)``, no input checks at ``model(x)`` and
      ``loss(prediction, target)``): the disk net with all four, and at batch 100 with each
      idiom alone, so that each one's gain is shown.

Method
    * Equivalence first. Float64 copies of every case are trained for one epoch (one step for
      the compute-bound net) by both frameworks; the first gradients and the final weights must
      agree to a relative 1e-10, else the benchmark stops with a message: timing two programs
      that compute different things would be meaningless. The fast variant is held to the same
      test, and its weights are compared with the textbook file's (largest absolute difference).
    * Interleaving. Each repeat times A, then B (then C ...), so that slow drifts of the machine
      (other processes, frequency changes) hit every contender alike instead of whichever ran
      during the bad second. The order changes from repeat to repeat (a balanced Latin square)
      because whoever runs right after another contender finds colder caches. Short epochs
      (large batches) are timed several at a time, so that one sample lasts ~10 ms or more.
    * Medians. We report the median over the repeats, which ignores the occasional repeat hit by
      an unrelated process, and the min–max range to show the spread. Every callable is run
      once untimed first (warm-up), and Python's garbage collector is paused while timing.
      Ratios of two contenders are also taken repeat by repeat (the two ran a moment apart),
      and their quartiles show how much a ratio moved during the run.
    * One thread by default. The disk net's matrices are 25 wide: more intra-op threads only
      add synchronisation and make the result depend on what else runs on the machine. One
      thread measures the per-step work and overhead of each framework, which is what differs
      between them. ``--threads N`` changes it (it applies to every case, compute-bound included).

Output: one table on stdout, the same table as Markdown (with the machine, torch version,
threads, date and command) in docs/performance_table.md, and every raw timing as JSON in
results/bench.json. Unlike minimlp.py, this script may use all of torch.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shlex
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import minimlp
import train
from train import generate_disk

ROOT = Path(__file__).resolve().parent
# The disk net is train.py's, built by train.build_model from its default settings
# (the report's 2-25-25-25-1: ReLU hidden layers, He init, a Sigmoid output for MSE)
DISK_SETTINGS = train.settings()
DISK_SIZES = tuple(train.cli.layer_sizes(DISK_SETTINGS))
DISK_BATCHES = (1, 10, 100, 1000)
DISK_POINTS = 1000
DISK_LR = 0.1
# Epochs per timing sample at each batch size: one sample should last ~10 ms or more.
DISK_EPOCHS_PER_SAMPLE = {1: 1, 10: 1, 100: 5, 1000: 25}
BIG_SIZES = (784, 1024, 1024, 10)
BIG_BATCH = 256
BIG_LR = 0.01
EQUIVALENCE_RTOL = 1e-10
# Targets on the median ratio minimlp / torch (same run). The textbook file has one, at
# batch 100: 0.75, what its input checks and textbook SGD step may cost; the fast variant (below), which puts the four speed idioms back, has the
# targets the file had while it carried them. The compute-bound net may cost 1.15:
# minimlp's first layer also computes dl/dx0, which torch skips for data that needs no
# gradient (1429.6 against 1224.1 million multiply-adds per step: 1.168).
TARGETS = {100: 0.75, "big": 1.15}
FAST_TARGETS = {1: 0.45, 10: 0.45, 100: 0.45, 1000: 0.75}
IDIOM_BATCH = 100  # the batch size at which each idiom is also timed alone

# "cpu" (this thread's CPU time) ignores the time other processes take from us on a busy
# machine; it is only meaningful with one thread, since torch's worker threads are not counted.
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


# ---------------------------------------------------------------------------
# The fast variant: four speed idioms, taught beside the file
#
# minimlp.py writes every line in its textbook form, the line that reads like
# the equation above it. The subclasses below put back, one idiom each, the
# forms a speed-minded reader would write instead. At the disk net's sizes
# (matrices 25 wide) a step is not bound by arithmetic: each tensor op costs a
# few microseconds of Python, dispatch and allocation whatever its size, so an
# idiom pays when it issues fewer ops, allocates fewer tensors, or runs less
# Python per step. Each keeps the numbers the textbook form computes, up to
# rounding (check_equivalence holds them to it).
# ---------------------------------------------------------------------------

class FastReLU(minimlp.ReLU):
    """ReLU whose backward multiplies by sign(x) instead of the mask (x > 0)."""

    def backward(self, grad_output):
        # σ'(s) = 1 where s > 0, else 0. As x = max(0, s) ≥ 0, that is sign(x): a float
        # tensor, so the product runs as a plain float kernel; (x > 0) is a bool tensor
        # that the product must convert entry by entry (a slower mixed-dtype kernel).
        return grad_output * self.output.sign()


class FastSigmoid(minimlp.Sigmoid):
    """Sigmoid by torch's fused kernel: one op instead of the formula's four."""

    def forward(self, s):
        # x = 1 / (1 + e⁻ˢ): (-s).exp(), + 1 and 1 / (...) each make a tensor; s.sigmoid()
        # computes the same in one op and one output
        self.output = s.sigmoid()
        return self.output


class FastSGD(minimlp.SGD):
    """Plain SGD (momentum and weight decay 0) as one in-place op per parameter.

    Any other setting takes the textbook step. The fast path keeps no velocity (v = g is
    not stored), so a momentum raised later starts from v = g, as torch.optim.SGD does.
    """

    def step(self):
        if self.momentum or self.weight_decay:
            super().step()
            return
        self.velocity = [0.0] * len(self.params)
        for w, grad in self.params:
            # w ← w − η g in one op, in place: the textbook step at μ = λ = 0,
            # g = ∂ℓ/∂w, v = μ v + g, `w -= lr * v`, builds three tensors and runs
            # four ops
            w.add_(grad, alpha=-self.lr)


class FastSequential(minimlp.Sequential):
    """A Sequential that trusts its input: `model(x)` runs the plain loop, unchecked."""

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        for module in self.modules:
            x = module.forward(x)
        self.output = x
        return x

    def backward(self, grad_output):
        for module in reversed(self.modules):
            grad_output = module.backward(grad_output)
        return grad_output


class FastMSELoss(minimlp.MSELoss):
    """An MSELoss that trusts its arguments: `loss(prediction, target)` is `forward`."""

    def __call__(self, prediction, target):
        return self.forward(prediction, target)


# The four idioms: name -> (what the fast variant does, textbook line, fast line).
IDIOMS = {
    "relu": ("ReLU backward by `sign(x)`", "`grad_output * (x > 0)`",
             "`grad_output * x.sign()`"),
    "sigmoid": ("fused `s.sigmoid()`", "`1 / (1 + (-s).exp())`", "`s.sigmoid()`"),
    "sgd": ("SGD step by `add_`", "`g = ∂ℓ/∂w + λ w`; `v = μ v + g`; `w -= lr * v`",
            "`w.add_(g, alpha=-lr)`"),
    "checks": ("no checks at `model(x)`, `loss(x, y)`, `model.backward`",
               "they check their input on every call",
               "they run unchecked"),
}
FAST = tuple(IDIOMS)  # the fast variant: all four


def classes(idioms=()):
    """minimlp's classes, or the fast subclasses for the idioms named in ``idioms``."""
    def pick(idiom, textbook, fast):
        return fast if idiom in idioms else textbook
    return {"relu": pick("relu", minimlp.ReLU, FastReLU),
            "sigmoid": pick("sigmoid", minimlp.Sigmoid, FastSigmoid),
            "sgd": pick("sgd", minimlp.SGD, FastSGD),
            "sequential": pick("checks", minimlp.Sequential, FastSequential),
            "mse": pick("checks", minimlp.MSELoss, FastMSELoss)}


# ---------------------------------------------------------------------------
# Networks, data and the two training loops
# ---------------------------------------------------------------------------

def disk_model(seed=0):
    """The report's network exactly as train.py builds it (train.build_model)."""
    return train.build_model(DISK_SETTINGS, torch.Generator().manual_seed(seed))


def big_model(seed=0):
    """The compute-bound net: 784-1024-1024-10, ReLU, logits (for cross-entropy)."""
    generator = torch.Generator().manual_seed(seed)
    layers = []
    for n_in, n_out in zip(BIG_SIZES[:-1], BIG_SIZES[1:]):
        layers += [minimlp.Dense(n_in, n_out, generator=generator), minimlp.ReLU()]
    return minimlp.Sequential(*layers[:-1])


def build_pair(model, dtype, idioms=()):
    """``model`` (minimlp, textbook classes) twice: in ``dtype`` with the fast subclasses
    that ``idioms`` names (see ``IDIOMS``), and as a torch nn.Sequential with its weights."""
    ours_classes = classes(idioms)
    activations = {minimlp.ReLU: (ours_classes["relu"], nn.ReLU),
                   minimlp.Sigmoid: (ours_classes["sigmoid"], nn.Sigmoid)}
    ours, theirs = [], []
    for module in model:
        if isinstance(module, minimlp.Dense):
            dense = module.to(dtype=dtype)
            linear = nn.Linear(dense.in_features, dense.out_features, dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(dense.weight)
                linear.bias.copy_(dense.bias)
            ours.append(dense)
            theirs.append(linear)
        else:
            mine, torch_class = activations[type(module)]
            ours.append(mine())
            theirs.append(torch_class())
    return ours_classes["sequential"](*ours), nn.Sequential(*theirs)


def disk_data(n, dtype, seed=0):
    """The experiment's data (train.generate_disk), in ``dtype``."""
    x, y = generate_disk(n, torch.Generator().manual_seed(seed))
    return x.to(dtype), y.to(dtype)


def big_data(dtype, seed=0):
    """Fixed random inputs (256, 784) and class targets (256,) for the compute-bound net."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BIG_BATCH, BIG_SIZES[0], generator=generator, dtype=dtype)
    y = torch.randint(0, BIG_SIZES[-1], (BIG_BATCH,), generator=generator)
    return x, y


def slice_batches(x, y, batch_size):
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]


def minimlp_steps(model, loss, opt, batches):
    """minimlp's manual training loop over ``batches``."""
    for xb, yb in batches:
        opt.zero_grad()
        out = model(xb)
        loss(out, yb)
        model.backward(loss.backward())
        opt.step()


def torch_steps(net, loss_fn, opt, batches, set_to_none=True):
    """The idiomatic torch loop over ``batches``. ``set_to_none=False`` zeroes the
    gradients in place, as minimlp's API must, instead of dropping them."""
    for xb, yb in batches:
        opt.zero_grad(set_to_none=set_to_none)
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()


def fit_epoch(model, loss, opt, x, y, batch_size):
    minimlp.fit(model, loss, opt, x, y, epochs=1, batch_size=batch_size, shuffle=False,
                history=False)


class Trainer:
    """One network in both frameworks, with losses and optimizers, ready to train."""

    def __init__(self, model, loss, lr, dtype, idioms=()):
        self.model, self.net = build_pair(model, dtype, idioms=idioms)
        ours = classes(idioms)
        self.loss = ours["mse"]() if loss == "mse" else minimlp.CrossEntropyLoss()
        self.loss_fn = F.mse_loss if loss == "mse" else F.cross_entropy
        self.opt = ours["sgd"](self.model.param(), lr=lr)
        self.torch_opt = torch.optim.SGD(self.net.parameters(), lr=lr)

    def minimlp(self, batches):
        minimlp_steps(self.model, self.loss, self.opt, batches)

    def torch(self, batches, set_to_none=True):
        torch_steps(self.net, self.loss_fn, self.torch_opt, batches, set_to_none)

    def fit(self, x, y, batch_size):
        fit_epoch(self.model, self.loss, self.opt, x, y, batch_size)


# ---------------------------------------------------------------------------
# Equivalence check (float64)
# ---------------------------------------------------------------------------

def rel_diff(ours, theirs):
    """Largest |a - b| / max|b| over pairs of tensors."""
    return max(((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()
                for a, b in zip(ours, theirs, strict=True))


def compare(what, ours, theirs):
    diff = rel_diff(ours, theirs)
    if not diff <= EQUIVALENCE_RTOL:
        sys.exit(f"bench.py: minimlp and torch disagree on {what}: relative difference "
                 f"{diff:.3g} > {EQUIVALENCE_RTOL:g}. Timing them would compare different "
                 f"computations; fix the disagreement first.")
    return diff


def check_first_gradients(trainer, xb, yb, what):
    """One forward/backward on both sides; the parameter gradients must agree."""
    trainer.opt.zero_grad()
    trainer.loss(trainer.model(xb), yb)
    trainer.model.backward(trainer.loss.backward())
    trainer.net.zero_grad()
    trainer.loss_fn(trainer.net(xb), yb).backward()
    diff = compare(f"the gradients of {what}", [g for _, g in trainer.model.param()],
                   [p.grad for p in trainer.net.parameters()])
    trainer.opt.zero_grad()
    trainer.net.zero_grad()
    return diff


def max_abs_diff(ours, theirs):
    """Largest |a - b| over pairs of tensors."""
    return max((a - b).abs().max().item() for a, b in zip(ours, theirs, strict=True))


def check_equivalence():
    """Train float64 copies with both frameworks; abort unless gradients and weights agree.

    Returns the largest relative difference to torch, and the largest absolute difference
    between the weights trained by the fast variant and by the textbook file.
    """
    dtype = torch.float64
    x, y = disk_data(DISK_POINTS, dtype)
    worst, fast_vs_textbook = 0.0, 0.0
    for batch_size in DISK_BATCHES:
        batches = slice_batches(x, y, batch_size)
        what = f"the disk net at batch {batch_size}"
        trainer = Trainer(disk_model(), "mse", DISK_LR, dtype)
        fitted = Trainer(disk_model(), "mse", DISK_LR, dtype)
        fast = Trainer(disk_model(), "mse", DISK_LR, dtype, idioms=FAST)
        worst = max(worst, check_first_gradients(trainer, *batches[0], what),
                    check_first_gradients(fast, *batches[0], f"{what} (fast variant)"))
        trainer.minimlp(batches)
        trainer.torch(batches)
        fitted.fit(x, y, batch_size)
        fast.minimlp(batches)
        theirs = [p.detach() for p in trainer.net.parameters()]
        textbook = [w for w, _ in trainer.model.param()]
        worst = max(worst,
                    compare(f"the weights after one epoch of {what} (manual loop)",
                            textbook, theirs),
                    compare(f"the weights after one epoch of {what} (fit)",
                            [w for w, _ in fitted.model.param()], theirs),
                    compare(f"the weights after one epoch of {what} (fast variant)",
                            [w for w, _ in fast.model.param()], theirs))
        fast_vs_textbook = max(fast_vs_textbook,
                               max_abs_diff([w for w, _ in fast.model.param()], textbook))
    trainer = Trainer(big_model(), "ce", BIG_LR, dtype)
    batches = [big_data(dtype)]
    worst = max(worst, check_first_gradients(trainer, *batches[0], "the 784-1024-1024-10 net"))
    trainer.minimlp(batches)
    trainer.torch(batches)
    worst = max(worst, compare("the weights after one step of the 784-1024-1024-10 net",
                               [w for w, _ in trainer.model.param()],
                               [p.detach() for p in trainer.net.parameters()]))
    return worst, fast_vs_textbook


# ---------------------------------------------------------------------------
# Timing and op counting
# ---------------------------------------------------------------------------

def balanced_orders(names):
    """Orders of ``names`` in which, over one cycle, each name runs once in every position and
    right after every other name equally often (a Williams design: n orders for n names,
    2n for an odd n). For three names these are the six permutations."""
    n = len(names)
    first, low, high = [0], 1, n - 1  # 0, 1, n-1, 2, n-2, ...
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    rows = [[(k + shift) % n for k in first] for shift in range(n)]
    if n % 2:
        rows += [row[::-1] for row in rows]
    return [tuple(names[k] for k in row) for row in rows]


def interleaved(contenders: dict[str, Callable[[], None]], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of each contender, timed in turn ``repeats`` times.

    The order changes from one repeat to the next (``balanced_orders``): a contender that
    runs right after another finds colder caches, so neither the first place nor the same
    predecessor may always fall to the same one.
    """
    for run in contenders.values():  # warm-up, untimed
        run()
    times = {name: [] for name in contenders}
    orders = itertools.cycle(balanced_orders(list(contenders)))
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name in next(orders):
                start = clock()
                contenders[name]()
                times[name].append(clock() - start)
    finally:
        gc.enable()
    return times


def summary(seconds, scale=1e3):
    """Median, min and max (in ms by default) and the raw values."""
    values = [s * scale for s in seconds]
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


class OpCounter(TorchDispatchMode):
    """Counts the aten ops that reach the dispatcher (below autograd), by name."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count_ops(run, steps):
    """Aten ops per step of ``run`` (which performs ``steps`` training steps), by name."""
    run()  # warm-up: lazily created state (torch's .grad, minimlp's caches) is not counted
    with OpCounter() as counter:
        run()
    return {name: n / steps for name, n in counter.counts.most_common()}


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

def bench_disk(repeats, clock):
    """ms per epoch of the disk net for each batch size: manual loop, torch loop, fit, the
    fast variant; at IDIOM_BATCH also the textbook file with each idiom alone."""
    x, y = disk_data(DISK_POINTS, torch.float32)
    results = {}
    for batch_size in DISK_BATCHES:
        batches = slice_batches(x, y, batch_size)
        trainer = Trainer(disk_model(), "mse", DISK_LR, torch.float32)
        fitted = Trainer(disk_model(), "mse", DISK_LR, torch.float32)
        variants = {"fast": FAST}
        if batch_size == IDIOM_BATCH:
            variants.update({f"+{idiom}": (idiom,) for idiom in IDIOMS})
        epochs = range(DISK_EPOCHS_PER_SAMPLE[batch_size])

        def manual_loop(trainer):
            return lambda: [trainer.minimlp(batches) for _ in epochs]
        contenders = {"minimlp": manual_loop(trainer),
                      "torch": lambda: [trainer.torch(batches) for _ in epochs],
                      "fit": lambda: [fitted.fit(x, y, batch_size) for _ in epochs]}
        for name, idioms in variants.items():
            contenders[name] = manual_loop(Trainer(disk_model(), "mse", DISK_LR,
                                                   torch.float32, idioms=idioms))
        times = interleaved(contenders, repeats, clock)
        results[batch_size] = {name: summary(t, scale=1e3 / len(epochs))
                               for name, t in times.items()}
    return results


def big_flops():
    """FLOPs of one training step: 2·N·in·out per matmul; 2 matmuls for the first layer
    (forward, grad_weight: nobody computes dℓ/dx of the data), 3 for the others."""
    layers = list(zip(BIG_SIZES[:-1], BIG_SIZES[1:]))
    return sum((2 if i == 0 else 3) * 2 * BIG_BATCH * n_in * n_out
               for i, (n_in, n_out) in enumerate(layers))


def mm_chain_runner(x, steps):
    """A callable doing ``steps`` times the 8 matmuls of one training step of the big net, bare:
    ``torch.mm`` into preallocated outputs, no bias, activation, loss or update (the peak)."""
    generator = torch.Generator().manual_seed(1)
    n, (d0, d1, d2, d3) = BIG_BATCH, BIG_SIZES
    w1, w2, w3 = (torch.randn(o, i, generator=generator) for i, o in ((d0, d1), (d1, d2), (d2, d3)))
    h1, h2, s = torch.empty(n, d1), torch.empty(n, d2), torch.empty(n, d3)
    g3, g2, g1 = torch.randn(n, d3, generator=generator), torch.empty(n, d2), torch.empty(n, d1)
    gw1, gw2, gw3 = torch.empty(d1, d0), torch.empty(d2, d1), torch.empty(d3, d2)

    def run():
        for _ in range(steps):
            torch.mm(x, w1.t(), out=h1)      # (N, 784) @ (784, 1024) -> (N, 1024)
            torch.mm(h1, w2.t(), out=h2)     # (N, 1024) @ (1024, 1024) -> (N, 1024)
            torch.mm(h2, w3.t(), out=s)      # (N, 1024) @ (1024, 10) -> (N, 10)
            torch.mm(g3.t(), h2, out=gw3)    # (10, N) @ (N, 1024) -> (10, 1024)
            torch.mm(g3, w3, out=g2)         # (N, 10) @ (10, 1024) -> (N, 1024)
            torch.mm(g2.t(), h1, out=gw2)    # (1024, N) @ (N, 1024) -> (1024, 1024)
            torch.mm(g2, w2, out=g1)         # (N, 1024) @ (1024, 1024) -> (N, 1024)
            torch.mm(g1.t(), x, out=gw1)     # (1024, N) @ (N, 784) -> (1024, 784)
    return run


def bench_big(repeats, steps, clock):
    """ms per step and GFLOP/s of the compute-bound net, and of the bare torch.mm chain."""
    x, y = big_data(torch.float32)
    batches = [(x, y)] * steps
    trainer = Trainer(big_model(), "ce", BIG_LR, torch.float32)
    times = interleaved({"minimlp": lambda: trainer.minimlp(batches),
                         "torch": lambda: trainer.torch(batches),
                         "torch_zeroing": lambda: trainer.torch(batches, set_to_none=False),
                         "mm": mm_chain_runner(x, steps)}, repeats, clock)
    return {name: summary(t, scale=1e3 / steps) for name, t in times.items()}


def bench_ops(batch_size=10):
    """Aten ops per training step of the disk net: both frameworks, the fast variant and the
    textbook file with each idiom alone."""
    x, y = disk_data(DISK_POINTS, torch.float32)
    batches = slice_batches(x, y, batch_size)
    trainer = Trainer(disk_model(), "mse", DISK_LR, torch.float32)
    ops = {"minimlp": count_ops(lambda: trainer.minimlp(batches), len(batches)),
           "torch": count_ops(lambda: trainer.torch(batches), len(batches))}
    for name, idioms in {"fast": FAST, **{f"+{idiom}": (idiom,) for idiom in IDIOMS}}.items():
        variant = Trainer(disk_model(), "mse", DISK_LR, torch.float32,
                          idioms=idioms)
        ops[name] = count_ops(lambda: variant.minimlp(batches), len(batches))
    return ops


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def cell(stats, digits=3):
    return f"{stats['median']:.{digits}g} ({stats['min']:.{digits}g}–{stats['max']:.{digits}g})"


def verdict(ratio, target):
    if target is None:
        return ""
    return f"≤ {target:g} {'met' if ratio <= target else 'MISSED'}"


def paired(ours, theirs):
    """Ratios ours / theirs repeat by repeat (timed a moment apart): median and quartiles."""
    ratios = [a / b for a, b in zip(ours["runs"], theirs["runs"], strict=True)]
    q1, q2, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return {"median": q2, "q1": q1, "q3": q3}


def saved(variant, textbook):
    """Share of the textbook file's time that a variant saves, in %, from the ratios taken
    repeat by repeat (each pair ran a moment apart): their median and quartiles."""
    ratio = paired(variant, textbook)
    return {"median": 100 * (1 - ratio["median"]),
            "low": 100 * (1 - ratio["q3"]), "high": 100 * (1 - ratio["q1"])}


def ratio_cell(ratio, pair):
    """A ratio of medians, with the quartiles of the per-repeat ratios."""
    return f"{ratio:.3f} ({pair['q1']:.3f}–{pair['q3']:.3f})"


def table_rows(disk, big, ops):
    """Rows of the table: case, ratio minimlp / torch, target, unit, minimlp, torch (the
    ratio second, so that a phone shows it without scrolling the table sideways)."""
    rows = []
    for batch_size, r in disk.items():
        ratio = r["minimlp"]["median"] / r["torch"]["median"]
        rows.append((f"disk net, textbook file, manual loop, batch {batch_size}", "ms / epoch",
                     cell(r["minimlp"]), cell(r["torch"]),
                     ratio_cell(ratio, paired(r["minimlp"], r["torch"])),
                     verdict(ratio, TARGETS.get(batch_size))))
    for batch_size, r in disk.items():
        ratio = r["fast"]["median"] / r["torch"]["median"]
        rows.append((f"disk net, **fast variant**, manual loop, batch {batch_size}",
                     "ms / epoch", cell(r["fast"]), cell(r["torch"]),
                     ratio_cell(ratio, paired(r["fast"], r["torch"])),
                     verdict(ratio, FAST_TARGETS.get(batch_size))))
    for batch_size, r in disk.items():
        ratio = r["fit"]["median"] / r["torch"]["median"]
        overhead = r["fit"]["median"] / r["minimlp"]["median"]
        rows.append((f"disk net, `fit`, batch {batch_size}", "ms / epoch",
                     cell(r["fit"]), cell(r["torch"]),
                     f"{ratio:.3f} (fit / manual loop {overhead:.2f})", ""))
    ratio = big["minimlp"]["median"] / big["torch"]["median"]
    rows.append(("784-1024-1024-10, CE, batch 256", "ms / step", cell(big["minimlp"]),
                 cell(big["torch"]), f"{ratio:.3f}", verdict(ratio, TARGETS["big"])))
    ratio = big["minimlp"]["median"] / big["torch_zeroing"]["median"]
    rows.append(("same, torch zeroing its gradients in place like minimlp "
                 "(`zero_grad(set_to_none=False)`)", "ms / step", cell(big["minimlp"]),
                 cell(big["torch_zeroing"]), f"{ratio:.3f}", ""))
    gflops = {name: big_flops() / (big[name]["median"] * 1e-3) / 1e9 for name in big}
    rows.append(("784-1024-1024-10, CE, batch 256", "GFLOP/s (% of peak)",
                 f"{gflops['minimlp']:.1f} ({gflops['minimlp'] / gflops['mm']:.0%})",
                 f"{gflops['torch']:.1f} ({gflops['torch'] / gflops['mm']:.0%})", "", ""))
    rows.append(("peak: bare `torch.mm` chain, same shapes", "ms / step", "",
                 f"{cell(big['mm'])}; {gflops['mm']:.1f} GFLOP/s",
                 f"{big['minimlp']['median'] / big['mm']['median']:.2f} (minimlp / peak)", ""))
    n_theirs = sum(ops["torch"].values())
    for name, label in (("minimlp", "textbook file"), ("fast", "fast variant")):
        n_ours = sum(ops[name].values())
        rows.append((f"aten ops per step, disk net, batch 10, {label}", "ops", f"{n_ours:g}",
                     f"{n_theirs:g}", f"{n_ours / n_theirs:.2f}", ""))
    return [(case, ratio, target, unit, ours, theirs)
            for case, unit, ours, theirs, ratio, target in rows]


def idiom_rows(disk, ops):
    """The lesson: each idiom alone at IDIOM_BATCH, then all four (the fast variant)."""
    r = disk[IDIOM_BATCH]
    textbook, n_textbook = r["minimlp"], sum(ops["minimlp"].values())
    steps = -(-DISK_POINTS // IDIOM_BATCH)  # steps per epoch

    def row(label, textbook_line, fast_line, name):
        n_ops = sum(ops[name].values())
        gain = saved(r[name], textbook)
        return (label, textbook_line, fast_line, f"{n_ops:g} ({n_ops - n_textbook:+g})",
                f"{1e3 * r[name]['median'] / steps:.0f}",
                f"{gain['median']:.1f} % ({gain['low']:.1f} to {gain['high']:.1f})")
    rows = [("textbook file (none)", "", "", f"{n_textbook:g}",
             f"{1e3 * textbook['median'] / steps:.0f}", "")]
    rows += [row(label, textbook_line, fast_line, f"+{idiom}")
             for idiom, (label, textbook_line, fast_line) in IDIOMS.items()]
    rows.append(row("**fast variant**: all four", "", "", "fast"))
    total = sum(saved(r[f"+{idiom}"], textbook)["median"] for idiom in IDIOMS)
    rows.append(("the four gains added up", "", "", "", "", f"{total:.1f} %"))
    # the time saved second, so that a phone shows it without scrolling sideways
    return [(idiom, saved_time, ops_count, step, textbook_line, fast_line)
            for idiom, textbook_line, fast_line, ops_count, step, saved_time in rows]


IDIOM_HEADER = ("idiom", "time saved: median (per-repeat quartiles)", "aten ops per step",
                f"µs per step, batch {IDIOM_BATCH}", "textbook file's line",
                "fast variant's line")


HEADER = ("case", "minimlp / torch (per-repeat quartiles)", "target", "unit",
          "minimlp: median (min–max)", "torch: median (min–max)")


def markdown_table(rows, header=HEADER):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(rows, header=HEADER):
    rows = [[str(value).replace("**", "").replace("`", "") for value in row] for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))]
                      + [fmt.format(*row) for row in rows])


def machine():
    """CPU model, torch version, thread count, date and the command that produced the run."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")]
        if models:
            cpu = f"{models[0]} ({len(models)} logical CPUs)"
    return {"cpu": cpu, "torch": torch.__version__, "python": sys.version.split()[0],
            "threads": torch.get_num_threads(), "load_average_1min": os.getloadavg()[0],
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "python " + shlex.join(["bench.py", *sys.argv[1:]])}


def disk_flops(batch_size):
    """FLOPs of the matrix products of one training step of the disk net: 2·N·in·out per
    product, three per layer in minimlp (forward, grad_weight, grad_input)."""
    return sum(3 * 2 * batch_size * n_in * n_out
               for n_in, n_out in zip(DISK_SIZES[:-1], DISK_SIZES[1:]))


def per_op(disk, ops, name):
    """µs per training step at IDIOM_BATCH, aten ops per step, and µs per op."""
    steps = -(-DISK_POINTS // IDIOM_BATCH)
    micro = 1e3 * disk[IDIOM_BATCH][name]["median"] / steps
    n_ops = sum(ops[name].values())
    return micro, n_ops, micro / n_ops


def markdown(rows, info, ops, repeats, big_steps, clock, worst, disk, fast_vs_textbook, big):
    """The Markdown fragment that docs/performance.md includes."""
    def op_list(counts):
        return ", ".join(f"`{name.removeprefix('aten.')}` {n:g}" for name, n in counts.items())
    ours, theirs, fast = ops["minimlp"], ops["torch"], ops["fast"]
    threads = f"{info['threads']} thread" + ("s" if info["threads"] > 1 else "")
    clock = "wall-clock time" if clock == "wall" else "CPU time of the benchmark's thread"
    step = {name: per_op(disk, ops, name) for name in ("minimlp", "fast", "torch")}
    peak = big_flops() / (big["mm"]["median"] * 1e-3)  # FLOP/s of the bare torch.mm chain
    arithmetic = 1e6 * disk_flops(IDIOM_BATCH) / peak  # µs
    return f"""<!-- written by `{info['command']}`; do not edit by hand -->
- **Machine:** {info['cpu']}; torch {info['torch']}, Python {info['python']}, {threads}.
- **When:** {info['date']}; load average {info['load_average_1min']:.1f} at the end of the run.
- **Command:** `{info['command']}`.
- **Method:** {clock}, median over {repeats} interleaved repeats (min–max in brackets; for
  ratios, the quartiles of the ratios taken repeat by repeat).
  The disk net is 2-25-25-25-1 (ReLU, Sigmoid, MSE, SGD lr 0.1), one epoch of 1000 points;
  the compute-bound net is timed over {big_steps} steps per repeat. Before timing, float64
  copies trained by both frameworks were checked to agree (largest relative difference
  {worst:.1g}); the fast variant's weights after one epoch differ from the textbook file's
  by at most {fast_vs_textbook:.1g}.

{markdown_table(rows)}

Aten ops per training step (disk net, batch 10; the same at every batch size), counted with a
`TorchDispatchMode`:

- **minimlp, textbook file, {sum(ours.values()):g}:** {op_list(ours)}.
- **minimlp, fast variant, {sum(fast.values()):g}:** {op_list(fast)}.
- **torch, {sum(theirs.values()):g}:** {op_list(theirs)}.

The four idioms of the fast variant, each added alone to the textbook file, then all four
(disk net, batch {IDIOM_BATCH}, the same run as the table above). Time saved is the share of the
textbook file's time per epoch; in brackets, the quartiles of that share taken repeat by repeat.

{markdown_table(idiom_rows(disk, ops), IDIOM_HEADER)}

Per training step at batch {IDIOM_BATCH}: the textbook file takes {step['minimlp'][0]:.0f} µs for
{step['minimlp'][1]:g} aten ops ({step['minimlp'][2]:.2f} µs per op), the fast variant
{step['fast'][0]:.0f} µs for {step['fast'][1]:g} ({step['fast'][2]:.2f} µs per op), torch
{step['torch'][0]:.0f} µs for {step['torch'][1]:g} ({step['torch'][2]:.2f} µs per op). The
arithmetic of that step, {disk_flops(IDIOM_BATCH) / 1e6:.2f} million floating-point operations in its
matrix products, would take {arithmetic:.0f} µs at the rate of the bare `torch.mm` chain above
({peak / 1e9:.0f} GFLOP/s, a best case for matrices 25 wide): {arithmetic / step['minimlp'][0]:.0%}
of the textbook file's step.
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved timing repeats per case (default 24; 6 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="wall-clock time (default) or this thread's CPU time (only with "
                             "--threads 1; steadier on a busy machine)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: few repeats, fewer steps; writes files only if --out/"
                             "--json are given")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown table (default docs/performance_table.md)")
    parser.add_argument("--json", type=Path, default=None,
                        help="raw results (default results/bench.json)")
    parser.add_argument("--ops", action="store_true",
                        help="also print the aten ops per step of both frameworks, by name")
    args = parser.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu counts only the calling thread: use it with --threads 1")
    if args.repeats is None:
        args.repeats = 6 if args.quick else 24
    if not args.quick:
        args.out = args.out or ROOT / "docs" / "performance_table.md"
        args.json = args.json or ROOT / "results" / "bench.json"
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    worst, fast_vs_textbook = check_equivalence()
    print(f"equivalence (float64): largest relative difference {worst:.2g} "
          f"(tolerance {EQUIVALENCE_RTOL:g}); fast variant vs textbook file: largest "
          f"absolute weight difference {fast_vs_textbook:.2g}")
    big_steps = 5 if args.quick else 20
    disk = bench_disk(args.repeats, CLOCKS[args.clock])
    big = bench_big(args.repeats, big_steps, CLOCKS[args.clock])
    ops = bench_ops()
    rows = table_rows(disk, big, ops)
    info = machine()
    print(text_table(rows))
    print()
    print(text_table(idiom_rows(disk, ops), IDIOM_HEADER))
    if args.ops:
        for name, counts in ops.items():
            print(f"{name}: " + ", ".join(f"{op} {n:g}" for op, n in counts.items()))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown(rows, info, ops, args.repeats, big_steps, args.clock,
                                     worst, disk, fast_vs_textbook, big))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"machine": info, "clock": args.clock, "repeats": args.repeats,
                  "equivalence_rel_diff": worst,
                  "fast_vs_textbook_max_abs_diff": fast_vs_textbook,
                  "disk_ms_per_epoch": disk, "big_ms_per_step": big, "big_flops": big_flops(),
                  "ops_per_step_batch10": ops, "targets": {str(k): v for k, v in TARGETS.items()},
                  "fast_targets": {str(k): v for k, v in FAST_TARGETS.items()}}
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
