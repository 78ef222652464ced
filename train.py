"""The report's experiment: teach a small MLP which points of the unit square lie in a disk.

Points are drawn uniformly in [0, 1]^2 and labelled 1 inside the disk of centre
(0.5, 0.5) and radius 1/sqrt(2*pi) (area 1/2, so both classes are equally
likely), 0 outside. A 2 -> 25 -> 25 -> 25 -> 1 network with ReLU hidden layers
and a Sigmoid output, trained with MSE and mini-batch SGD, learns the disk from
1000 points; 1000 more validate it while it trains and 1000 more test it.

    python train.py                  # the default run (about 2 s with --no-plot)
    python train.py --no-plot        # no figures at all (matplotlib is not imported)
    python train.py --seeds 10       # seeds 0..9, a table of accuracies
    python train.py --outputs 2      # the 2018 homework: two outputs, one-hot MSE targets
    python train.py --loss ce        # two logits and cross-entropy
    python train.py --optimizer adam

Unlike minimlp.py (which may touch torch only through `torch.empty`), this script
uses torch freely: it is the user of the framework, not part of it. It uses only
minimlp's public API (API.md). With a display, a live window shows the decision
regions and the curves while the net trains; without one (ssh, CI) the figures
are only saved, to results/ by default. Matplotlib is imported lazily, inside
the plotting functions, so a --no-plot run never pays for it.
"""

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time

import torch

from minimlp import (SGD, Adam, CrossEntropyLoss, Dense, History, MSELoss, ReLU,
                     Sequential, Sigmoid, accuracy, fit)

# ---------------------------------------------------------------------------
# Defaults. The training settings were chosen by measurement: mean accuracy
# on 20000 fresh points over seeds 100-129 (not the seeds 0-9 of the reported
# table, so that table is not tuned on its own test sets), with a --no-plot run
# kept well under 5 s. Nearly every sensible setting lands at 99.0 +- 0.05 %
# there: with 1000 training points that is about what this net can learn, and
# constant-rate SGD stays near 98 %.

CENTRE = (0.5, 0.5)
RADIUS = 1 / math.sqrt(2 * math.pi)  # pi r^2 = 1/2: half the unit square
N_POINTS = 1000                      # per split: train, validation, test
HIDDEN = 25
# The net sees (x - 0.5) * INPUT_SCALE, centred inputs in [-1, 1]^2. With its
# zero initial biases every first-layer ReLU kink starts as a line through the
# input origin: the corner (0, 0) of the square for raw inputs, the centre of
# the disk for centred ones.
INPUT_SCALE = 2.0
EPOCHS = 300
BATCH_SIZE = 64
# Heavy momentum with a small rate (step ~ lr / (1 - momentum) = 2) averages
# the gradient over ~100 mini-batches: measured a little better than 0.9.
MOMENTUM = 0.99
WEIGHT_DECAY = 0.0  # any weight decay measured worse
# Starting learning rate per (optimizer, loss, outputs); the cosine schedule
# then takes it down to zero over the run.
DEFAULT_LR = {
    ("sgd", "mse", 1): 0.02,
    ("sgd", "mse", 2): 0.02,
    ("sgd", "ce", 2): 0.005,
    ("adam", "mse", 1): 3e-3,
    ("adam", "mse", 2): 3e-3,
    ("adam", "ce", 2): 3e-3,
}
# Each random stream gets its own generator, seeded with 10 * seed + offset,
# so that e.g. the test set depends on --seed only, not on any training option.
STREAMS = {"train": 0, "val": 1, "test": 2, "init": 3, "shuffle": 4}
FRAMES = 30        # about this many snapshots of the decision regions in the GIF
LIVE_UPDATES = 25  # about this many redraws of the live window per run (~0.1 s each)
GRID = 100         # the plane is drawn as a GRID x GRID image
LOG_LINES = 10     # about this many progress lines per run


# ---------------------------------------------------------------------------
# Data

def generate_disk(n, generator=None):
    """Return n points uniform in [0, 1]^2 and their labels (1 inside the disk).

    x is float32 (n, 2); y is float32 (n, 1) with values 0.0 or 1.0.

    >>> x, y = generate_disk(3, torch.Generator().manual_seed(0))
    >>> x.shape, y.shape
    (torch.Size([3, 2]), torch.Size([3, 1]))
    """
    x = torch.rand(n, 2, generator=generator, dtype=torch.float32)
    distance = (x - torch.tensor(CENTRE)).norm(dim=1, keepdim=True)  # (n, 1)
    y = (distance < RADIUS).to(torch.float32)
    return x, y


def make_generator(seed, stream):
    """A torch.Generator for one random stream ("train", "init", ...) of one seed."""
    return torch.Generator().manual_seed(10 * seed + STREAMS[stream])


def make_data(seed, n=N_POINTS):
    """The three splits of one seed: {"train": (x, y), "val": ..., "test": ...}."""
    return {split: generate_disk(n, make_generator(seed, split))
            for split in ("train", "val", "test")}


def scale_inputs(x):
    """What the network sees of a point: centred in [-1, 1]^2 (see INPUT_SCALE)."""
    return (x - 0.5) * INPUT_SCALE


def make_targets(y, outputs, loss):
    """Targets for the loss from the 0/1 labels y (n, 1).

    One output + MSE: y itself. Two outputs + MSE: one-hot rows (n, 2), column 1
    for "inside". Cross-entropy: class indices (n,) of dtype int64.
    """
    if loss == "ce":
        return y.reshape(-1).long()
    if outputs == 2:
        return torch.cat([1 - y, y], dim=1)
    return y


# ---------------------------------------------------------------------------
# Model and training

def build_model(outputs=1, loss="mse", generator=None):
    """2 -> 25 -> 25 -> 25 -> outputs, ReLU hidden layers, He initialisation.

    With MSE the outputs go through a Sigmoid (probabilities in (0, 1)); with
    cross-entropy they stay logits, as CrossEntropyLoss expects.
    """
    sizes = [2, HIDDEN, HIDDEN, HIDDEN]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(n_in, n_out, init="he", generator=generator), ReLU()]
    layers.append(Dense(HIDDEN, outputs, init="he", generator=generator))
    if loss == "mse":
        layers.append(Sigmoid())
    return Sequential(*layers)


def build_optimizer(name, model, lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY):
    """SGD (with momentum) or Adam over the model's parameters."""
    if name == "adam":
        return Adam(model.param(), lr=lr, weight_decay=weight_decay)
    return SGD(model.param(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def cosine_lr(lr0, epoch, epochs):
    """Learning rate for a 0-based epoch: lr0 at epoch 0, decaying to 0 at `epochs`.

    lr = lr0 * (1 + cos(pi * epoch / epochs)) / 2
    """
    return lr0 * (1 + math.cos(math.pi * epoch / epochs)) / 2


def predict_class(model, x):
    """Predicted class (0 or 1, int64 of shape (n,)) of raw points x (n, 2)."""
    model.eval()
    out = model(scale_inputs(x))
    model.train()
    if out.shape[1] == 1:
        return (out.reshape(-1) >= 0.5).long()
    return out.argmax(dim=1)


def count_errors(model, x, y):
    """Number of points of (x, y) that the model puts in the wrong class."""
    return int((predict_class(model, x) != y.reshape(-1).long()).sum())


def evaluate(model, loss_fn, x, targets):
    """(loss, accuracy) of the model on a whole set, in eval mode."""
    model.eval()
    out = model(x)
    result = float(loss_fn(out, targets)), accuracy(out, targets)
    model.train()
    return result


def resolve_lr(args):
    """--lr if given, else the measured default for this optimizer/loss/outputs."""
    if args.lr is not None:
        return args.lr
    return DEFAULT_LR[(args.optimizer, args.loss, args.outputs)]


def log_line(epoch, epochs, lr, train, val, elapsed):
    """One progress line: epoch, learning rate, loss and accuracy on both sets."""
    return (f"epoch {epoch:4d}/{epochs}  lr {lr:.4f}  "
            f"train loss {train[0]:.5f} acc {100 * train[1]:6.2f} %  "
            f"val loss {val[0]:.5f} acc {100 * val[1]:6.2f} %  ({elapsed:.1f} s)")


def epoch_metrics(history, epoch, model, loss_fn, inputs, targets):
    """(loss, accuracy) on the training and validation sets after a 0-based epoch:
    those fit() recorded when history is on, else measured now."""
    if len(history):
        return ((history.train_loss[epoch], history.train_acc[epoch]),
                (history.val_loss[epoch], history.val_acc[epoch]))
    return (evaluate(model, loss_fn, inputs["train"], targets["train"]),
            evaluate(model, loss_fn, inputs["val"], targets["val"]))


def train_one(args, seed, recorder=None, verbose=True):
    """Train one network on one seed's data; return a dict of results.

    The callback given to fit() does the per-epoch work around training: sets
    the cosine learning rate for the next epoch, prints a progress line every
    few epochs, and hands snapshots to the recorder (figures) when there is one.
    """
    data = make_data(seed)
    inputs = {split: scale_inputs(x) for split, (x, _) in data.items()}
    targets = {split: make_targets(y, args.outputs, args.loss) for split, (_, y) in data.items()}
    model = build_model(args.outputs, args.loss, generator=make_generator(seed, "init"))
    loss_fn = CrossEntropyLoss() if args.loss == "ce" else MSELoss()
    lr0 = resolve_lr(args)
    optimizer = build_optimizer(args.optimizer, model, lr0, args.momentum, args.weight_decay)
    log_every = max(1, args.epochs // LOG_LINES)
    start = time.perf_counter()
    if recorder is not None:
        recorder.snapshot(0, model, None)

    def on_epoch_end(epoch, model, history):
        done = epoch + 1  # epochs completed so far
        lr = optimizer.lr  # the rate this epoch used
        if args.schedule == "cosine":
            optimizer.lr = cosine_lr(lr0, done, args.epochs)
        if verbose and (done % log_every == 0 or done == 1):
            train, val = epoch_metrics(history, epoch, model, loss_fn, inputs, targets)
            print(log_line(done, args.epochs, lr, train, val, time.perf_counter() - start),
                  flush=True)
        if recorder is not None:
            recorder.snapshot(done, model, history)

    history = fit(model, loss_fn, optimizer, inputs["train"], targets["train"], args.epochs,
                  batch_size=args.batch_size, val=(inputs["val"], targets["val"]),
                  history=args.history, callback=on_epoch_end,
                  generator=make_generator(seed, "shuffle"))

    result = {"seed": seed, "model": model, "history": history, "data": data, "lr": lr0,
              "seconds": time.perf_counter() - start}
    for split, (x, y) in data.items():
        result[f"{split}_errors"] = count_errors(model, x, y)
        result[f"{split}_acc"] = 1 - result[f"{split}_errors"] / len(x)
    return result


def print_final(result):
    """Final accuracy and error count on the three splits."""
    n = len(result["data"]["test"][0])
    print(f"final accuracy (errors out of {n} points), {result['seconds']:.1f} s of training:")
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        print(f"  {name:<10}  {100 * result[split + '_acc']:6.2f} %  "
              f"({result[split + '_errors']} errors)")


# ---------------------------------------------------------------------------
# Several seeds: a table

STATS = ("mean", "std", "median", "min", "max")
COLUMNS = ("seed", "train_acc", "val_acc", "test_acc", "train_errors", "val_errors",
           "test_errors", "seconds")


def run_seeds(args):
    """Train seeds args.seed .. args.seed + args.seeds - 1 (no figures); return the rows."""
    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        result = train_one(args, seed, verbose=False)
        rows.append({column: result[column] for column in COLUMNS})
        print(f"seed {seed}: test accuracy {100 * result['test_acc']:.2f} % "
              f"({result['seconds']:.1f} s)", flush=True)
    return rows


def summarize(rows):
    """Mean, sample std (0 for one seed), median, min and max of each accuracy column."""
    summary = {}
    for column in ("train_acc", "val_acc", "test_acc"):
        values = [row[column] for row in rows]
        summary[column] = {
            "mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
    return summary


def format_table(rows, summary):
    """The per-seed table plus summary lines, accuracies in percent."""
    columns = ("train_acc", "val_acc", "test_acc")
    width = 15  # fits "99.99 ± 0.99" with room between columns

    def line(first, cells):
        return f"{first:>8}" + "".join(f"{cell:>{width}}" for cell in cells)

    lines = [line("seed", ["train acc", "val acc", "test acc", "test errors"])]
    for row in rows:
        cells = [f"{100 * row[c]:.2f} %" for c in columns] + [str(row["test_errors"])]
        lines.append(line(row["seed"], cells))
    mean_std = [f"{100 * summary[c]['mean']:.2f} ± {100 * summary[c]['std']:.2f}"
                for c in columns]
    lines.append(line("mean±std", mean_std))
    for stat in ("median", "min", "max"):
        lines.append(line(stat, [f"{100 * summary[c][stat]:.2f} %" for c in columns]))
    return "\n".join(lines)


def write_table(out_dir, rows, summary, config):
    """seeds.json (config, rows, summary) and seeds.csv (one row per seed, then
    one row per statistic with its name in the seed column). Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "seeds.json")
    with open(json_path, "w") as f:
        json.dump({"config": config, "runs": rows, "summary": summary}, f, indent=2)
    csv_path = os.path.join(out_dir, "seeds.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        for stat in STATS:
            writer.writerow({"seed": stat, **{c: summary[c][stat] for c in summary}})
    return json_path, csv_path


# ---------------------------------------------------------------------------
# Figures. Colours as in the report: green = class 1 (inside), red = class 0;
# misclassified points in blue. Region colours are pale so points stand out.

REGION_COLOURS = ("#f6c6c6", "#c8ecc8")  # predicted 0, predicted 1
POINT_COLOURS = ("#c62828", "#2e7d32")   # true 0, true 1 (correctly classified)
WRONG_COLOUR = "#1565c0"
NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def display_available():
    """False where a GUI window cannot open: Linux/BSD without an X or Wayland display."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have one for a desktop user


def setup_matplotlib(want_live):
    """Import pyplot (Agg when headless); return (plt, live).

    want_live is None (auto: live when a window can open), True (--live) or
    False (--no-live). A run without a display never blocks and never fails:
    it saves its figures and says so.
    """
    import matplotlib
    if not display_available():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    interactive = matplotlib.get_backend().lower() not in NON_INTERACTIVE
    if want_live and not interactive:
        print("no display found: no live window, the figures are saved instead")
    return plt, bool(interactive and want_live is not False)


def grid_points():
    """The centres of a GRID x GRID image of the unit square, row by row from y = 0."""
    ticks = (torch.arange(GRID, dtype=torch.float32) + 0.5) / GRID
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (GRID * GRID, 2)


def draw_regions(ax, regions, marker_size=9):
    """Regions image, the true circle and (empty) point sets on ax, square axes.

    Returns (image, points); fill the points with update_points(). Misclassified
    points are drawn bigger and above the circle, where they would hide.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Circle
    image = ax.imshow(regions, origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=1,
                      cmap=ListedColormap(REGION_COLOURS), interpolation="nearest")
    ax.add_patch(Circle(CENTRE, RADIUS, fill=False, color="black", lw=1, ls="--", zorder=3))
    right = ax.scatter([], [], s=marker_size, linewidths=0, zorder=2)
    wrong = ax.scatter([], [], s=3 * marker_size, color=WRONG_COLOUR, edgecolors="white",
                       linewidths=0.5, zorder=4)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return image, (right, wrong)


def update_points(points, x, predicted, true):
    """Show the points x (n, 2): class colour when predicted right, blue when wrong."""
    right, wrong = points
    ok = predicted == true
    right.set_offsets(x[ok].numpy())
    right.set_facecolors([POINT_COLOURS[t] for t in true[ok].tolist()])
    wrong.set_offsets(x[~ok].numpy())


def region_legend(ax, **kwargs):
    """Legend of the region plot: region colours, point colours, the circle."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    dot = dict(marker="o", linestyle="none", markersize=5)
    handles = [Patch(color=REGION_COLOURS[1], label="predicted inside (1)"),
               Patch(color=REGION_COLOURS[0], label="predicted outside (0)"),
               Line2D([], [], color=POINT_COLOURS[1], label="correct, inside", **dot),
               Line2D([], [], color=POINT_COLOURS[0], label="correct, outside", **dot),
               Line2D([], [], color=WRONG_COLOUR, label="misclassified", **dot),
               Line2D([], [], color="black", ls="--", label="true circle")]
    ax.legend(handles=handles, fontsize=8, **kwargs)


def draw_curves(ax_loss, ax_acc, history):
    """Loss (log scale) and accuracy (%) curves of training and validation."""
    epochs = range(1, len(history) + 1)
    lines = {}
    for name, colour in (("train", "tab:blue"), ("val", "tab:orange")):
        label = "training" if name == "train" else "validation"
        lines[name + "_loss"], = ax_loss.plot(
            epochs, getattr(history, name + "_loss"), color=colour, label=label)
        lines[name + "_acc"], = ax_acc.plot(
            epochs, [100 * a for a in getattr(history, name + "_acc")], color=colour,
            label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss")
    zoom_accuracy(ax_acc, history)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return lines


def frame_epochs(epochs):
    """The epochs (0 = before training) kept in the GIF: about FRAMES of them,
    spaced geometrically, because the regions change most in the first epochs.

    >>> frame_epochs(10)
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    ratio = epochs ** (1 / (FRAMES - 1))
    return sorted({0, epochs} | {round(ratio ** i) for i in range(FRAMES)})


def zoom_accuracy(ax, history):
    """Accuracy axis from just below the lowest value after the first tenth of
    the epochs up to 100 %: the steep start goes off the bottom, and the part
    worth reading (97-100 %) is not squeezed into a thin band."""
    later = [100 * a for a in history.train_acc[len(history) // 10:] +
             history.val_acc[len(history) // 10:]]
    if later:
        ax.set_ylim(min(later) - 1, 100.5)


class Recorder:
    """Watches training: snapshots of the decision regions for the GIF and, when
    live, one window updated in place (regions left, curves right).

    snapshot(epoch, model, history) is called after every epoch; it does work
    only every few epochs, so plotting costs little time.
    """

    def __init__(self, plt, live, x_val, y_val, epochs):
        self.plt = plt
        self.live = live
        self.x_val = x_val
        self.y_val = y_val.reshape(-1).long()
        self.epochs = epochs
        self.every = max(1, epochs // LIVE_UPDATES)  # live window: redraw every k epochs
        self.frame_epochs = set(frame_epochs(epochs))
        self.grid = grid_points()
        self.frames = []  # (epoch, regions (GRID, GRID), predicted val classes (n,))
        self.window = None

    def snapshot(self, epoch, model, history):
        in_gif = epoch in self.frame_epochs
        in_window = self.live and (epoch % self.every == 0 or epoch == self.epochs)
        if not (in_gif or in_window):
            return
        regions = predict_class(model, self.grid).reshape(GRID, GRID)
        predicted = predict_class(model, self.x_val)
        if in_gif:
            self.frames.append((epoch, regions, predicted))
        if in_window:
            self.update_window(epoch, regions, predicted, history)

    def title(self, epoch, predicted):
        accuracy = float((predicted == self.y_val).float().mean())
        return f"epoch {epoch}/{self.epochs}: validation accuracy {100 * accuracy:.1f} %"

    def open_window(self, regions):
        """Create the live figure and its artists once; updates reuse them."""
        plt = self.plt
        plt.ion()
        fig = plt.figure(figsize=(11, 6))
        grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.1))
        ax_regions = fig.add_subplot(grid[:, 0])
        ax_loss = fig.add_subplot(grid[0, 1])
        ax_acc = fig.add_subplot(grid[1, 1], sharex=ax_loss)
        image, points = draw_regions(ax_regions, regions)
        region_legend(ax_regions, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
        lines = draw_curves(ax_loss, ax_acc, History())  # empty lines, filled by updates
        ax_loss.set_title("loss and accuracy after each epoch", fontsize=10)
        ax_loss.set_xlim(1, max(2, self.epochs))
        fig.tight_layout()
        self.window = dict(fig=fig, image=image, points=points, lines=lines,
                           ax_regions=ax_regions, ax_loss=ax_loss, ax_acc=ax_acc)
        plt.show(block=False)

    def update_window(self, epoch, regions, predicted, history):
        """Move the new data into the existing artists and let the GUI draw."""
        if self.window is None:
            self.open_window(regions)
        w = self.window
        w["image"].set_data(regions)
        update_points(w["points"], self.x_val, predicted, self.y_val)
        w["ax_regions"].set_title(self.title(epoch, predicted), fontsize=10)
        if epoch > 0 and not len(history):
            w["ax_loss"].set_title("no curves: --no-history records none", fontsize=10)
        if epoch > 0 and len(history):
            epochs = range(1, len(history) + 1)
            for key, line in w["lines"].items():
                values = getattr(history, key)
                line.set_data(epochs, [100 * v for v in values] if "acc" in key else values)
            w["ax_loss"].relim()
            w["ax_loss"].autoscale_view(scalex=False)
            zoom_accuracy(w["ax_acc"], history)
        self.plt.pause(0.001)  # lets the GUI draw and handle events


def save_regions(plt, path, result):
    """Final decision regions with the test points, accuracy in the title."""
    model = result["model"]
    x_test, y_test = result["data"]["test"]
    regions = predict_class(model, grid_points()).reshape(GRID, GRID)
    fig, ax = plt.subplots(figsize=(7.6, 5.2))
    _, points = draw_regions(ax, regions)
    update_points(points, x_test, predict_class(model, x_test), y_test.reshape(-1).long())
    region_legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.set_title(f"Test set (seed {result['seed']}): accuracy "
                 f"{100 * result['test_acc']:.2f} %, {result['test_errors']} errors "
                 f"of {len(x_test)}", fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def save_history(plt, path, result):
    """Loss and accuracy curves of training and validation."""
    history = result["history"]
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    draw_curves(ax_loss, ax_acc, history)
    ax_loss.set_title(f"Training history (seed {result['seed']}): final train "
                      f"{100 * history.train_acc[-1]:.2f} %, validation "
                      f"{100 * history.val_acc[-1]:.2f} %", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_animation(plt, path, recorder):
    """An animated GIF of the decision regions (validation points) over training."""
    from matplotlib.animation import FuncAnimation, PillowWriter
    fig, ax = plt.subplots(figsize=(4, 4.2))
    image, points = draw_regions(ax, recorder.frames[0][1], marker_size=4)
    title = ax.set_title("", fontsize=9)
    fig.tight_layout()

    def draw_frame(i):
        epoch, regions, predicted = recorder.frames[i]
        image.set_data(regions)
        update_points(points, recorder.x_val, predicted, recorder.y_val)
        title.set_text(recorder.title(epoch, predicted))

    animation = FuncAnimation(fig, draw_frame, frames=len(recorder.frames))
    animation.save(path, writer=PillowWriter(fps=6), dpi=70)
    plt.close(fig)


def save_figures(plt, out_dir, result, recorder):
    """Write the PNGs and the GIF to out_dir; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "decision_regions.png")]
    save_regions(plt, paths[-1], result)
    if len(result["history"]):
        paths.append(os.path.join(out_dir, "history.png"))
        save_history(plt, paths[-1], result)
    paths.append(os.path.join(out_dir, "training.gif"))
    save_animation(plt, paths[-1], recorder)
    return paths


# ---------------------------------------------------------------------------
# Command line

def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_negative_float(text):
    """argparse type: a finite number >= 0."""
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text):
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def make_parser():
    parser = argparse.ArgumentParser(
        description="Train a small MLP (minimlp) to tell points inside a disk from points "
                    "outside it, as in the report's experiment.")
    add = parser.add_argument
    add("--epochs", type=positive_int, default=EPOCHS,
        help=f"number of passes over the 1000 training points (default {EPOCHS})")
    add("--lr", type=positive_float, default=None,
        help="starting learning rate (default: 0.02 for SGD+MSE, 0.005 for SGD+CE, "
             "0.003 for Adam)")
    add("--batch-size", type=positive_int, default=BATCH_SIZE,
        help=f"mini-batch size (default {BATCH_SIZE})")
    add("--momentum", type=fraction, default=MOMENTUM,
        help=f"SGD momentum (default {MOMENTUM}; ignored by Adam)")
    add("--weight-decay", type=non_negative_float, default=WEIGHT_DECAY,
        help=f"L2 penalty coefficient of the optimizer (default {WEIGHT_DECAY:g})")
    add("--schedule", choices=("cosine", "constant"), default="cosine",
        help="learning rate: cosine decay to zero over the run (default) or constant")
    add("--optimizer", choices=("sgd", "adam"), default="sgd",
        help="optimizer (default sgd)")
    add("--loss", choices=("mse", "ce"), default="mse",
        help="mse: Sigmoid outputs and MSE (default); ce: two logits and cross-entropy")
    add("--outputs", type=int, choices=(1, 2), default=None,
        help="1 output thresholded at 0.5 (default with mse), or 2 with one-hot "
             "targets and argmax (the 2018 homework; always with ce)")
    add("--no-history", dest="history", action="store_false",
        help="skip the per-epoch loss/accuracy on the whole sets (faster, no curves)")
    add("--seed", type=non_negative_int, default=0,
        help="seed of the data, the initial weights and the shuffling (default 0)")
    add("--seeds", type=positive_int, default=None, metavar="N",
        help="train N seeds (from --seed on) without figures; print and save a table")
    add("--no-plot", dest="plot", action="store_false",
        help="no figures and no window (matplotlib is not even imported)")
    add("--live", action=argparse.BooleanOptionalAction, default=None,
        help="show (or not) the live training window (default: when a display is found)")
    add("--out", default="results", metavar="DIR",
        help="folder for the figures and tables (default results/)")
    return parser


def parse_args(argv=None):
    """Parse and check the options; fill in the defaults that depend on others."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.outputs is None:
        args.outputs = 2 if args.loss == "ce" else 1
    if args.loss == "ce" and args.outputs != 2:
        parser.error("--loss ce needs two outputs (logits); leave out --outputs or use 2")
    return args


def describe(args):
    """One line that says what is trained and how."""
    opt = (f"Adam lr {resolve_lr(args):g}" if args.optimizer == "adam"
           else f"SGD lr {resolve_lr(args):g} momentum {args.momentum:g}")
    schedule = "cosine decay to 0" if args.schedule == "cosine" else "constant lr"
    head = "Sigmoid, MSE" if args.loss == "mse" else "logits, cross-entropy"
    return (f"2-25-25-25-{args.outputs} ReLU MLP ({head}), {opt} ({schedule}), "
            f"batch {args.batch_size}, {args.epochs} epochs, {N_POINTS} points per split")


def run_table(args):
    """--seeds N: train N seeds without figures, print the table and save it."""
    print(f"{describe(args)}; seeds {args.seed}..{args.seed + args.seeds - 1}")
    rows = run_seeds(args)
    summary = summarize(rows)
    print(format_table(rows, summary))
    config = {k: v for k, v in vars(args).items() if k not in ("plot", "live")}
    config["lr"] = resolve_lr(args)
    paths = write_table(args.out, rows, summary, config)
    print("table saved to " + " and ".join(paths))


def run_single(args):
    """One seed: train with progress lines, live window and saved figures."""
    print(f"{describe(args)}; seed {args.seed}")
    recorder = None
    if args.plot:
        plt, live = setup_matplotlib(args.live)
        x_val, y_val = make_data(args.seed)["val"]
        recorder = Recorder(plt, live, x_val, y_val, args.epochs)
    result = train_one(args, args.seed, recorder=recorder)
    print_final(result)
    if args.plot:
        paths = save_figures(plt, args.out, result, recorder)
        print("figures saved: " + ", ".join(paths))
        if not args.history:
            print("(no history.png: --no-history records no curves)")
        if recorder.live:  # keep the window up until the user closes it
            print("close the window to exit")
            plt.ioff()
            plt.show()


def main(argv=None):
    """Entry point; `argv` as sys.argv[1:] (None: the real command line).

    Returns the exit status: 0, or 1 when the loss diverged (too big a --lr).
    """
    args = parse_args(argv)
    # The matrices here are tiny (at most 1000 x 25): one thread is fastest, and
    # on a busy machine extra threads only spin waiting for each other.
    torch.set_num_threads(1)
    try:
        if args.seeds is not None:
            run_table(args)
        else:
            run_single(args)
    except FloatingPointError as error:  # fit() says which epoch and what to try
        print(f"training stopped: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
