"""The vanishing-gradient lab: how ∂ℓ/∂s shrinks on its way back to the input.

The report says that ∂ℓ/∂s of a layer is a product of one factor per layer
above it, each of which can be near zero. This script measures it on the
report's own task (the disk), with minimlp's own backward:

    activation {ReLU, Tanh, Sigmoid} × hidden layers {3, 5, 10} × init {he, xavier}

(every hidden layer 25 units wide, a Sigmoid output and the MSE loss, as in
the report), and a third init, the "standard" one that Glorot & Bengio (2010)
started from, w ~ U(−1/√n, 1/√n). For each network it records
the RMS of ∂ℓ/∂s⁽ˡ⁾ per hidden layer on the 1000 training points (ℓ the loss
of one point, gradient_flow.py) at initialisation, over INIT_SEEDS seeds, and
during a short training, over TRAIN_SEEDS seeds; the first/last-layer ratio
RMS⁽¹⁾/RMS⁽ᴸ⁾; and the validation accuracy reached. It also records
Nielsen's "speed of learning" ‖∂ℓ/∂b⁽ˡ⁾‖ (the gradient of the mean loss).

Run it from the repository root (one to three minutes on two cores):

    python docs/lab/vanishing.py              # writes docs/assets/lab/
    python docs/lab/vanishing.py --out DIR    # somewhere else
    python docs/lab/vanishing.py --quick --out /tmp/lab  # a 10 s smoke test

It writes vanishing.json (every number), vanishing_table.md and
vanishing_nielsen.md (the tables the docs page includes) and three figures.
Seeds: data 10·seed (+1 for validation), init 1000 + seed, shuffle 2000 + seed.
Training is deliberately short (EPOCHS epochs, the settings of train.py but
its cosine schedule over EPOCHS): the point is which networks start to learn,
not the best accuracy.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository root: minimlp, train
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gradient_flow import GradientFlow  # noqa: E402
from minimlp import (SGD, Dense, MSELoss, ReLU, Sequential, Sigmoid, Tanh,  # noqa: E402
                     accuracy, fit)
from train import generate_disk, network_input  # noqa: E402

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
DEPTHS = (3, 5, 10)
STANDARD = "standard"   # Glorot & Bengio's starting point: U(−1/√n, 1/√n)
INITS = ("he", "xavier", STANDARD)
WIDTH = 25
INIT_SEEDS = 20         # networks measured at initialisation
TRAIN_SEEDS = 5         # of which the first TRAIN_SEEDS are also trained
EPOCHS = 300
LR, MOMENTUM, BATCH_SIZE = 0.2, 0.9, 500   # train.py's defaults
# The sigmoid nets, given a chance: a 10x larger step and ten times the epochs
# "plateau": escaped when the training loss falls below this (0.25 at the start)
ESCAPE = {"depths": (3, 5), "seeds": 3, "lr": 2.0, "epochs": 3000, "plateau": 0.2}
NIELSEN_DEPTHS = (3, 4)  # Nielsen's two sigmoid nets: three and four hidden layers
OUT = ROOT / "docs" / "assets" / "lab"


def build(activation, depth, init, generator, width=WIDTH):
    """2 -> width × depth -> 1: the activation after each hidden layer, a
    Sigmoid output. init "standard" draws every weight from U(−1/√n, 1/√n)."""
    sizes = [2] + [width] * depth
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(n_in, n_out, init=_minimlp_init(init), generator=generator),
                   ACTIVATIONS[activation]()]
    layers += [Dense(width, 1, init=_minimlp_init(init), generator=generator),
               Sigmoid()]
    model = Sequential(*layers)
    if init == STANDARD:
        for module in model:
            if isinstance(module, Dense):
                bound = 1 / math.sqrt(module.in_features)
                module.weight.uniform_(-bound, bound, generator=generator)
    return model


def _minimlp_init(init):
    return "xavier" if init == STANDARD else init


def data(seed):
    """The training and validation sets of a seed, in the network's input form."""
    sets = []
    for offset in (0, 1):
        x, y = generate_disk(1000, torch.Generator().manual_seed(10 * seed + offset))
        sets.append((network_input(x), y))
    return sets


def nielsen_speed(model, loss, x, y):
    """‖∂ℓ/∂b⁽ˡ⁾‖ per hidden layer, ℓ the mean loss: Nielsen's speed of learning."""
    model.zero_grad()
    loss(model(x), y)
    model.backward(loss.backward())
    dense = [module for module in model if isinstance(module, Dense)][:-1]
    speeds = [layer.grad_bias.norm().item() for layer in dense]
    model.zero_grad()
    return speeds


def log_epochs(epochs):
    """About 20 epochs from 0 to `epochs`, evenly spaced on a log scale."""
    marks = {0, epochs}
    for k in range(20):
        marks.add(round(math.exp(k / 19 * math.log(epochs + 1))) - 1)
    return sorted(marks)


def run_one(job):
    """One network: measurements at initialisation, and during training if asked."""
    activation, depth, init, seed, train = job
    torch.set_num_threads(1)
    (x, y), (x_val, y_val) = data(seed)
    model = build(activation, depth, init, torch.Generator().manual_seed(1000 + seed))
    loss = MSELoss()
    flow = GradientFlow(model, loss, x, y)
    flow.record(0)
    result = {"activation": activation, "depth": depth, "init": init, "seed": seed,
              "rms_init": [series[0] for series in flow.rms],
              "nielsen_init": nielsen_speed(model, loss, x, y)}
    if not train:
        return result
    optimizer = SGD(model.param(), lr=LR, momentum=MOMENTUM)
    marks = set(log_epochs(EPOCHS))

    def after_epoch(epoch, model, history):
        optimizer.lr = LR * (1 + math.cos(math.pi * (epoch + 1) / EPOCHS)) / 2
        if epoch + 1 in marks:
            flow.record(epoch + 1)

    fit(model, loss, optimizer, x, y, EPOCHS, batch_size=BATCH_SIZE, history=False,
        callback=after_epoch, generator=torch.Generator().manual_seed(2000 + seed))
    result.update(epochs=flow.epochs, rms=flow.rms,
                  val_acc=accuracy(model(x_val), y_val))
    return result


def run_escape(job):
    """A sigmoid net (xavier) trained ESCAPE["epochs"] epochs with lr ESCAPE["lr"]:
    the training loss per epoch, the epoch it left the plateau, the accuracy."""
    depth, seed = job
    torch.set_num_threads(1)
    (x, y), (x_val, y_val) = data(seed)
    generator = torch.Generator().manual_seed(1000 + seed)
    model = build("sigmoid", depth, "xavier", generator)
    loss = MSELoss()
    epochs, lr = ESCAPE["epochs"], ESCAPE["lr"]
    optimizer = SGD(model.param(), lr=lr, momentum=MOMENTUM)
    flow = GradientFlow(model, loss, x, y)
    flow.record(0)
    marks = set(log_epochs(epochs))

    def after_epoch(epoch, model, history):
        optimizer.lr = lr * (1 + math.cos(math.pi * (epoch + 1) / epochs)) / 2
        if epoch + 1 in marks:
            flow.record(epoch + 1)

    history = fit(model, loss, optimizer, x, y, epochs, batch_size=BATCH_SIZE,
                  callback=after_epoch,
                  generator=torch.Generator().manual_seed(2000 + seed))
    below = [e + 1 for e, value in enumerate(history.train_loss)
             if value < ESCAPE["plateau"]]
    return {"depth": depth, "seed": seed, "val_acc": accuracy(model(x_val), y_val),
            "escaped_at": below[0] if below else None,
            "train_loss": history.train_loss[::10], "epochs": flow.epochs,
            "rms": flow.rms}


def jobs():
    """Every network to measure: (activation, depth, init, seed, train?)."""
    todo = []
    for activation in ACTIVATIONS:
        for depth in DEPTHS:
            for init in INITS:
                for seed in range(INIT_SEEDS):
                    todo.append((activation, depth, init, seed, seed < TRAIN_SEEDS))
        if activation == "sigmoid":
            todo += [(activation, depth, "xavier", seed, False)
                     for depth in NIELSEN_DEPTHS if depth not in DEPTHS
                     for seed in range(INIT_SEEDS)]
    # the long ones first, so that the two workers finish together
    return sorted(todo, key=lambda job: (not job[4], -job[1]))


# ---------------------------------------------------------------------------
# Summaries


def ratio(rms):
    """First/last hidden layer: RMS⁽¹⁾ / RMS⁽ᴸ⁾."""
    return rms[0] / rms[-1] if rms[-1] > 0 else math.inf


def spread(values):
    """{"median", "min", "max", "mean", "std"} of a list of numbers (the mean and
    std of the finite ones: a dead last layer makes a ratio infinite)."""
    finite = [value for value in values if math.isfinite(value)]
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "mean": statistics.fmean(finite) if finite else math.nan,
            "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
            "infinite": len(values) - len(finite)}


def summarize(results):
    """One entry per network (activation, depth, init): numbers over seeds."""
    groups = {}
    for result in results:
        key = (result["activation"], result["depth"], result["init"])
        groups.setdefault(key, []).append(result)
    rows = []
    for (activation, depth, init), group in sorted(groups.items(), key=_order):
        group.sort(key=lambda result: result["seed"])
        row = {"activation": activation, "depth": depth, "init": init,
               "seeds_init": len(group),
               "ratio_init": spread([ratio(r["rms_init"]) for r in group]),
               "rms_init_median": [statistics.median(layer) for layer in
                                   zip(*(r["rms_init"] for r in group))],
               "nielsen_init_median": [statistics.median(layer) for layer in
                                       zip(*(r["nielsen_init"] for r in group))]}
        trained = [r for r in group if "val_acc" in r]
        if trained:
            row.update(seeds_trained=len(trained),
                       ratio_trained=spread([ratio([s[-1] for s in r["rms"]])
                                             for r in trained]),
                       val_acc=spread([r["val_acc"] for r in trained]),
                       epochs=trained[0]["epochs"],
                       rms_training_seed0=trained[0]["rms"])
        rows.append(row)
    return rows


def _order(item):
    (activation, depth, init), _ = item
    return (list(ACTIVATIONS).index(activation), INITS.index(init), depth)


def find(rows, activation, depth, init):
    """The summary row of one network."""
    for row in rows:
        if (row["activation"], row["depth"], row["init"]) == (activation, depth, init):
            return row
    raise KeyError((activation, depth, init))


def sci(value):
    """A ratio in a table: 0.19, 5.5e-3, 1.7e-8 (two significant digits)."""
    if value == 0 or not math.isfinite(value):
        return str(value)
    if 0.01 <= abs(value) < 100:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def percent(value):
    return f"{100 * value:.1f}"


# ---------------------------------------------------------------------------
# Tables (Markdown, included by docs/vanishing.md)


# The linear-regime estimate of one layer's factor: going down a layer multiplies
# the mean square of ∂ℓ/∂s by n Var(w) E[σ'(s)²] (n = 25 inputs per unit), with
# E[σ'²] = 1/2 for ReLU (half the units on), 1 for tanh and 1/16 for the
# sigmoid near s = 0. The RMS ratio over L layers is then (n Var(w) E[σ'²])^((L−1)/2).
SLOPE_SQUARED = {"relu": 1 / 2, "tanh": 1.0, "sigmoid": 1 / 16}
N_VAR_W = {"he": 2.0, "xavier": 1.0, STANDARD: 1 / 3}  # n Var(w) for 25 -> 25


def estimate(activation, init, depth):
    """The linear-regime estimate of RMS⁽¹⁾/RMS⁽ᴸ⁾ at initialisation."""
    return (N_VAR_W[init] * SLOPE_SQUARED[activation]) ** ((depth - 1) / 2)


def main_table(rows):
    seeds_init = rows[0]["seeds_init"]
    trained = next(row for row in rows if "val_acc" in row)["seeds_trained"]
    lines = [
        f"| activation | init | hidden layers | first/last at init, median "
        f"(min – max), {seeds_init} seeds | estimate | first/last after {EPOCHS} "
        f"epochs, median of {trained} | validation accuracy %, mean (min – max) "
        f"of {trained} |",
        "|---|---|---:|---|---|---|---|"]
    for row in rows:
        if row["depth"] not in DEPTHS:
            continue
        at_init = row["ratio_init"]
        spread_init = f"{sci(at_init['min'])} – {sci(at_init['max'])}"
        lines.append(
            f"| {row['activation']} | {row['init']} | {row['depth']} | "
            f"{sci(at_init['median'])} ({spread_init}) | "
            f"{sci(estimate(row['activation'], row['init'], row['depth']))} | "
            f"{sci(row['ratio_trained']['median'])} | "
            f"{percent(row['val_acc']['mean'])} ({percent(row['val_acc']['min'])} – "
            f"{percent(row['val_acc']['max'])}) |")
    return "\n".join(lines) + "\n"


NIELSEN = {  # Nielsen, Neural Networks and Deep Learning, chapter 5 (MNIST)
    3: ("[784, 30, 30, 30, 10]", [0.012, 0.060, 0.283]),
    4: ("[784, 30, 30, 30, 30, 10]", [0.003, 0.017, 0.070, 0.285]),
}


def nielsen_table(rows):
    """Nielsen's ‖∂C/∂b⁽ˡ⁾‖ per hidden layer beside ours (sigmoid, his init)."""
    lines = ["| network | ‖∂ℓ/∂b⁽ˡ⁾‖, layer 1 → L | first/last |", "|---|---|---|"]
    for depth in NIELSEN_DEPTHS:
        name, speeds = NIELSEN[depth]
        listed = ", ".join(f"{s:.3f}" for s in speeds)
        lines.append(f"| Nielsen, MNIST {name} | {listed} | "
                     f"{sci(speeds[0] / speeds[-1])} |")
        row = find(rows, "sigmoid", depth, "xavier")
        ours = row["nielsen_init_median"]
        sizes = ", ".join(["2"] + [str(WIDTH)] * depth + ["1"])
        lines.append(f"| minimlp, disk [{sizes}] (median of {row['seeds_init']}) | "
                     f"{', '.join(sci(s) for s in ours)} | {sci(ours[0] / ours[-1])} |")
    return "\n".join(lines) + "\n"


def escape_table(escapes):
    """The long sigmoid runs: when the loss left its plateau, the accuracy."""
    lines = [f"| hidden layers | seed | loss below {ESCAPE['plateau']} at epoch | "
             f"validation accuracy % after {ESCAPE['epochs']} epochs |",
             "|---:|---:|---:|---:|"]
    for run in escapes:
        escaped = run["escaped_at"] if run["escaped_at"] is not None else "never"
        lines.append(f"| {run['depth']} | {run['seed']} | {escaped} | "
                     f"{percent(run['val_acc'])} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Figures


# The figures are 5.2 inches wide, their panels stacked, with no text under 9.5 pt:
# 1.8 pt per inch of width, so that a 400 px phone, which shows a figure about 370 px
# wide, still draws every letter 9 px or more.
WIDTH_INCHES = 5.2
FONT_SIZES = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
              "xtick.labelsize": 9.5, "ytick.labelsize": 9.5, "legend.fontsize": 9.5,
              "figure.titlesize": 10}


def figure(height):
    """A figure WIDTH_INCHES wide and `height` inches high, in the page's font sizes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import matplotlib
    matplotlib.rcParams.update(FONT_SIZES)
    fig = Figure(figsize=(WIDTH_INCHES, height), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    return fig


COLOURS = {"relu": "tab:blue", "tanh": "tab:orange", "sigmoid": "tab:green"}


def plot_init_profile(path, results, depth=10):
    """RMS ∂ℓ/∂s per layer at initialisation, depth `depth`: median and range."""
    fig = figure(8.6)
    axes = fig.subplots(len(INITS), 1, sharex=True, sharey=True)
    for ax, init in zip(axes, INITS):
        for activation in ACTIVATIONS:
            network = (activation, depth, init)
            group = [r["rms_init"] for r in results
                     if (r["activation"], r["depth"], r["init"]) == network]
            layers = list(zip(*group))
            x = range(1, depth + 1)
            ax.fill_between(x, [min(v) for v in layers], [max(v) for v in layers],
                            color=COLOURS[activation], alpha=0.2, lw=0)
            ax.plot(x, [statistics.median(v) for v in layers], "o-", ms=3,
                    color=COLOURS[activation], label=activation)
        ax.set_yscale("log")
        ax.set_title(f"init {init}")
        ax.set_ylabel("RMS of ∂ℓ/∂s at init")
        ax.set_xticks(range(1, depth + 1))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("hidden layer (1 = next to the input)")
    axes[0].legend(ncol=3)
    fig.suptitle(f"{depth} hidden layers of {WIDTH}: median and range\nover "
                 f"{INIT_SEEDS} seeds", color="dimgrey")
    save(fig, path)


def plot_training(path, rows, depth=10):
    """RMS ∂ℓ/∂s per layer during training, seed 0, one panel per network."""
    from matplotlib import colormaps
    fig = figure(7.4)
    axes = fig.subplots(len(INITS), len(ACTIVATIONS), sharex=True, sharey=True)
    for i, init in enumerate(INITS):
        for j, activation in enumerate(ACTIVATIONS):
            ax, row = axes[i][j], find(rows, activation, depth, init)
            for l, series in enumerate(row["rms_training_seed0"]):
                ax.plot(row["epochs"], series, lw=1.2,
                        color=colormaps["viridis"](0.9 * l / (depth - 1)),
                        label=f"layer {l + 1}" if l in (0, depth - 1) else None)
            ax.set_xscale("symlog", linthresh=1, linscale=0.3)
            ax.set_xticks([0, 10, 100])
            ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{activation}, {init}\n{percent(row['val_acc']['mean'])} %")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("RMS of ∂ℓ/∂s")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    fig.suptitle(f"{depth} hidden layers of {WIDTH}, seed 0, {EPOCHS} epochs\n"
                 "(accuracy: mean over seeds)", color="dimgrey")
    save(fig, path)


def plot_ratio(path, rows):
    """First/last ratio at initialisation against depth, and the accuracy reached."""
    fig = figure(8.2)
    ax_ratio, ax_acc = fig.subplots(2, 1, sharex=True)
    for activation in ACTIVATIONS:
        for init, style, marker in zip(INITS, ("-", "--", ":"), ("o", "s", "^")):
            picked = [find(rows, activation, d, init) for d in DEPTHS]
            label = f"{activation}, {init}"
            ax_ratio.plot(DEPTHS, [r["ratio_init"]["median"] for r in picked],
                          marker=marker, ls=style, color=COLOURS[activation],
                          label=label, ms=5)
            ax_acc.plot(DEPTHS, [100 * r["val_acc"]["mean"] for r in picked],
                        marker=marker, ls=style, color=COLOURS[activation], ms=5)
    ax_ratio.axhline(1, color="grey", lw=0.8)
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel("RMS⁽¹⁾ / RMS⁽ᴸ⁾ at init (median)")
    ax_acc.set_ylabel(f"validation accuracy % after {EPOCHS} epochs\n"
                      f"(mean of {TRAIN_SEEDS} seeds)")
    for ax in (ax_ratio, ax_acc):
        ax.set_xticks(DEPTHS)
        ax.grid(True, alpha=0.3)
    ax_acc.set_xlabel("hidden layers")
    fig.legend(loc="outside lower center", ncol=3)
    save(fig, path)


def plot_escape(path, escapes):
    """The long sigmoid runs: training loss, and the gradient per layer of one."""
    from matplotlib import colormaps
    fig = figure(7.6)
    ax_loss, ax_rms = fig.subplots(2, 1)
    styles = dict(zip(ESCAPE["depths"], ("-", "--", ":")))
    for run in escapes:
        epochs = [10 * i + 1 for i in range(len(run["train_loss"]))]
        ax_loss.plot(epochs, run["train_loss"], ls=styles[run["depth"]], lw=1.2,
                     color=f"C{run['seed']}",
                     label=f"{run['depth']} layers, seed {run['seed']}")
    ax_loss.set_xscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (MSE)")
    ax_loss.legend(ncol=2)
    shown = next(run for run in escapes if run["depth"] == max(ESCAPE["depths"]))
    depth = shown["depth"]
    for l, series in enumerate(shown["rms"]):
        ax_rms.plot(shown["epochs"], series, lw=1.2, label=f"layer {l + 1}",
                    color=colormaps["viridis"](0.9 * l / (depth - 1)))
    ax_rms.set_xscale("symlog", linthresh=1, linscale=0.3)
    ax_rms.set_xticks([0, 10, 100, 1000])
    ax_rms.set_yscale("log")
    ax_rms.set_xlabel("epoch")
    ax_rms.set_ylabel("RMS of ∂ℓ/∂s")
    ax_rms.set_title(f"{depth} layers, seed {shown['seed']}")
    ax_rms.legend(ncol=2)
    for ax in (ax_loss, ax_rms):
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"sigmoid, init xavier, lr {ESCAPE['lr']}, {ESCAPE['epochs']} epochs",
                 color="dimgrey")
    save(fig, path)


def save(fig, path):
    """Save a figure whole: a temporary name, then a rename."""
    temporary = path.with_name(path.name + ".tmp")
    fig.savefig(temporary, dpi=240, format="png")
    os.replace(temporary, path)


def write(path, text):
    """Write text whole: a temporary name, then a rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 2 seeds, 5 epochs (numbers meaningless)")
    args = parser.parse_args(argv)
    if args.quick:
        global INIT_SEEDS, TRAIN_SEEDS, EPOCHS
        INIT_SEEDS, TRAIN_SEEDS, EPOCHS = 2, 1, 5
        ESCAPE.update(seeds=1, epochs=5)
    start = time.perf_counter()
    with Pool(args.processes) as pool:
        long_runs = [(depth, seed) for depth in ESCAPE["depths"]
                     for seed in range(ESCAPE["seeds"])]
        escapes = pool.map_async(run_escape, long_runs, chunksize=1)
        results = pool.map(run_one, jobs(), chunksize=1)
        escapes = escapes.get()
    if os.environ.get("VANISHING_DUMP"):  # raw results, for working on the tables
        Path(os.environ["VANISHING_DUMP"]).write_text(json.dumps([results, escapes]))
    rows = summarize(results)
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {"width": WIDTH, "depths": DEPTHS, "inits": INITS,
                "init_seeds": INIT_SEEDS, "train_seeds": TRAIN_SEEDS, "epochs": EPOCHS,
                "lr": LR, "momentum": MOMENTUM, "batch_size": BATCH_SIZE,
                "schedule": "cosine", "loss": "MSE", "output": "Sigmoid",
                "escape": ESCAPE, "command": "python docs/lab/vanishing.py",
                "seconds": round(seconds)}
    write(args.out / "vanishing.json",
          json.dumps({"settings": settings, "networks": rows, "escape": escapes},
                     indent=1) + "\n")
    write(args.out / "vanishing_table.md", main_table(rows))
    write(args.out / "vanishing_nielsen.md", nielsen_table(rows))
    write(args.out / "vanishing_escape.md", escape_table(escapes))
    plot_init_profile(args.out / "vanishing_init.png", results)
    plot_training(args.out / "vanishing_training.png", rows)
    plot_ratio(args.out / "vanishing_depth.png", rows)
    plot_escape(args.out / "vanishing_escape.png", escapes)
    print(main_table(rows))
    print(f"{len(results)} networks in {seconds:.0f} s; written to {args.out}")


if __name__ == "__main__":
    main()
