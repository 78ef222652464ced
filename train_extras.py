"""Everything around the experiment of train.py: the command line, the table
over seeds, and the figures (the decision regions, the history curves, the GIF
and the live window).

Importing this module imports neither torch nor matplotlib: `train.py --help`
answers at once, and a --no-plot run never loads matplotlib. The functions that
draw take what they need from train.py as arguments (predict_class), so this
module does not import train.py either.
"""

import argparse
import csv
import json
import math
import os
import signal
import statistics
import sys
import time

# ---------------------------------------------------------------------------
# Command line


def _number(kind, low, low_ok, high=math.inf):
    """An argparse type: a finite `kind` (int or float) in the given range."""
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text}") from None
        if not (math.isfinite(value) and (value >= low if low_ok else value > low)
                and value < high):
            bound = f">= {low}" if low_ok else f"> {low}"
            if high < math.inf:
                bound = f"in [{low}, {high})"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value
    return check


def make_parser(defaults):
    """The options; `defaults` holds train.py's settings (epochs, lr, ...)."""
    lr = defaults["lr"]
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a small MLP (minimlp) to tell points inside a disk from points "
                    "outside it, as in the report's experiment.")
    add = parser.add_argument
    add("--epochs", type=_number(int, 1, True), default=defaults["epochs"],
        help=f"passes over the training points (default {defaults['epochs']})")
    add("--lr", type=_number(float, 0, False), default=None,
        help=f"starting learning rate (default {lr[('sgd', 'mse', 1)]:g} for SGD+MSE, "
             f"{lr[('sgd', 'ce', 2)]:g} for SGD+CE, {lr[('adam', 'mse', 1)]:g} for Adam)")
    add("--batch-size", type=_number(int, 1, True), default=defaults["batch_size"],
        help=f"mini-batch size (default {defaults['batch_size']})")
    add("--momentum", type=_number(float, 0, True, 1), default=defaults["momentum"],
        help=f"SGD momentum (default {defaults['momentum']}; ignored by Adam)")
    add("--weight-decay", type=_number(float, 0, True), default=defaults["weight_decay"],
        help=f"L2 penalty of the optimizer (default {defaults['weight_decay']:g})")
    add("--schedule", choices=("cosine", "constant"), default="cosine",
        help="learning rate: cosine decay to zero over the run (default) or constant")
    add("--optimizer", choices=("sgd", "adam"), default="sgd", help="default sgd")
    add("--loss", choices=("mse", "ce"), default="mse",
        help="mse: Sigmoid outputs and MSE (default); ce: two logits and cross-entropy")
    add("--outputs", type=int, choices=(1, 2), default=None,
        help="1 output thresholded at 0.5 (default with mse), or 2 with one-hot "
             "targets and argmax (the 2018 homework; always with ce)")
    add("--dtype", choices=("float32", "float64"), default="float32",
        help="precision of training; the points and initial weights are the same "
             "(drawn in float32, then cast), so runs differ only by rounding")
    add("--test-points", type=_number(int, 1, True), default=defaults["n_points"],
        metavar="N", help=f"evaluate on N fresh test points (default "
                          f"{defaults['n_points']}, as the report)")
    add("--no-history", dest="history", action="store_false",
        help="skip the per-epoch loss/accuracy on the whole sets (faster, no curves)")
    add("--seed", type=_number(int, 0, True), default=0,
        help="seed of the data, the initial weights and the shuffling (default 0)")
    add("--seeds", type=_number(int, 1, True), default=None, metavar="N",
        help="train N seeds (from --seed on) without figures; print and save a table")
    add("--no-plot", dest="plot", action="store_false",
        help="no figures and no window (matplotlib is not even imported)")
    add("--live", action=argparse.BooleanOptionalAction, default=None,
        help="show (or not) the live training window (default: when a display is found)")
    add("--out", default=None, metavar="DIR",
        help="folder for the figures or the table (default results/NAME, NAME saying "
             "which options differ from the defaults, so variants never overwrite "
             "the default run's files)")
    return parser


def parse_args(argv, defaults):
    """Parse and check the options; fill in those that depend on others."""
    parser = make_parser(defaults)
    args = parser.parse_args(argv)
    if args.outputs is None:
        args.outputs = 2 if args.loss == "ce" else 1
    if args.loss == "ce" and args.outputs != 2:
        parser.error("--loss ce needs two outputs (logits); leave out --outputs or use 2")
    args.lr_given = args.lr is not None
    if args.lr is None:
        args.lr = defaults["lr"][(args.optimizer, args.loss, args.outputs)]
    if args.out is None:
        args.out = os.path.join("results", run_name(args, parser))
    if args.plot or args.seeds is not None:  # something will be written there
        problem = unwritable(args.out)
        if problem:
            parser.error(f"--out {args.out}: {problem}")
    return args


def run_name(args, parser):
    """'default', or the options that differ from their defaults: 'loss-ce_seed-3'."""
    parts = []
    for key in ("seeds", "seed", "loss", "outputs", "optimizer", "lr", "epochs",
                "batch_size", "momentum", "weight_decay", "schedule", "dtype",
                "test_points", "history"):
        value, default = getattr(args, key), parser.get_default(key)
        if key == "outputs":
            default = 2 if args.loss == "ce" else 1
        if key == "lr":
            value, default = (value if args.lr_given else None), None
        if value != default:
            option = key.replace("_", "-")
            parts.append(f"no-{option}" if key == "history" else f"{option}-{value:g}"
                         if isinstance(value, float) else f"{option}-{value}")
    return "_".join(parts) or "default"


def unwritable(path):
    """Why files cannot be written into the folder `path` (None when they can)."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "exists and is not a folder"
        return None if os.access(path, os.W_OK) else "the folder is not writable"
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        return f"{parent} is a file, not a folder"
    return None if os.access(parent, os.W_OK) else f"cannot create it: {parent} is not writable"


def describe(args):
    """One line that says what is trained and how."""
    head = "Sigmoid, MSE" if args.loss == "mse" else "logits, cross-entropy"
    if args.optimizer == "adam":
        opt = f"Adam lr {args.lr:g}"
    else:
        opt = f"SGD lr {args.lr:g} momentum {args.momentum:g}"
    schedule = "cosine to 0" if args.schedule == "cosine" else "constant lr"
    return (f"2-25-25-25-{args.outputs} ReLU MLP ({head}), {opt} ({schedule}), "
            f"batch {args.batch_size}, {args.epochs} epochs, {args.dtype}")


class Progress:
    """Prints about ten progress lines per run, from the history fit() records."""

    def __init__(self, args, lines=10):
        self.epochs = args.epochs
        self.every = max(1, args.epochs // lines)

    def __call__(self, epoch, history):
        done = epoch + 1
        if done % self.every and done != 1:
            return
        line = f"epoch {done:4d}/{self.epochs}"
        if len(history):
            line += (f"  train loss {history.train_loss[epoch]:.5f} "
                     f"acc {100 * history.train_acc[epoch]:6.2f} %"
                     f"  validation loss {history.val_loss[epoch]:.5f} "
                     f"acc {100 * history.val_acc[epoch]:6.2f} %")
        print(line, flush=True)


def print_final(result, window_seconds=None):
    """The training time (once) and the final accuracy and error count on the
    three sets."""
    drawing = ("" if window_seconds is None
               else f", {window_seconds:.1f} s of it drawing the live window")
    seconds = result["seconds"]
    print(f"final accuracy after {result['epochs']} epoch{'s' * (result['epochs'] != 1)} "
          f"({seconds:.{1 if seconds >= 1 else 2}f} s of training{drawing}):")
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        n = len(result["data"][split][0])
        print(f"  {name:<10}  {100 * result[split + '_acc']:6.2f} %  "
              f"({result[split + '_errors']} errors of {n})", flush=True)


# ---------------------------------------------------------------------------
# A table over seeds

STATS = ("mean", "std", "median", "min", "max")
COLUMNS = ("seed", "train_acc", "val_acc", "test_acc", "train_errors", "val_errors",
           "test_errors", "seconds")
ACCURACIES = ("train_acc", "val_acc", "test_acc")


def diverged_row(seed):
    """The table row of a seed whose loss diverged: no accuracies."""
    return {**{column: None for column in COLUMNS}, "seed": seed, "diverged": True}


def summarize(rows):
    """Mean, sample std (0 for one seed), median, min and max of each accuracy,
    over the seeds that did not diverge (None when all did)."""
    summary = {}
    for column in ACCURACIES:
        values = [row[column] for row in rows if not row["diverged"]]
        summary[column] = {
            "mean": statistics.mean(values), "median": statistics.median(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)} if values else None
    return summary


def format_table(rows, summary):
    """The table printed at the end of --seeds: one line per seed, then the stats."""
    def cell(value):
        return f"{100 * value:10.2f}" if value is not None else f"{'diverged':>10}"
    lines = [f"{'seed':>10}" + "".join(f"{c[:-4] + ' %':>10}" for c in ACCURACIES)]
    for row in rows:
        lines.append(f"{row['seed']:>10}" + "".join(cell(row[c]) for c in ACCURACIES))
    if summary["test_acc"] is not None:
        lines.append(f"{'mean±std':>10}" + "".join(
            f"{100 * summary[c]['mean']:6.2f}±{100 * summary[c]['std']:.2f}"
            for c in ACCURACIES))
        for stat in ("median", "min", "max"):
            lines.append(f"{stat:>10}" + "".join(cell(summary[c][stat]) for c in ACCURACIES))
    return "\n".join(lines)


def save_table(args, rows):
    """Print the table and write seeds.json and seeds.csv to args.out."""
    summary = summarize(rows)
    print(format_table(rows, summary))
    config = {key: value for key, value in vars(args).items()
              if key not in ("plot", "live", "out", "lr_given")}
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "seeds.json")
    with open(json_path, "w") as f:
        json.dump({"config": config, "runs": rows, "summary": summary}, f, indent=2)
        f.write("\n")
    csv_path = os.path.join(args.out, "seeds.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + ("diverged",))
        writer.writeheader()
        writer.writerows(rows)
        for stat in STATS:
            writer.writerow({"seed": stat, **{c: summary[c] and summary[c][stat]
                                              for c in ACCURACIES}})
    print(f"table saved to {json_path} and {csv_path}")


# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# Figures. Colours as in the report: green = class 1 (inside), red = class 0;
# misclassified points in blue. Region colours are pale so points stand out.
#
# The saved figures are matplotlib.figure.Figure objects drawn by Agg, never
# pyplot's: saving them opens no window. The live window is the only pyplot figure.

REGION_COLOURS = ("#f6c6c6", "#c8ecc8")  # predicted 0, predicted 1
POINT_COLOURS = ("#c62828", "#2e7d32")   # true 0, true 1 (correctly classified)
WRONG_COLOUR = "#1565c0"
GRID = 100          # the plane is drawn as a GRID x GRID image
FRAMES = 30         # about this many frames in the GIF
FRAME_MS = 150      # each frame shows this long ...
LAST_FRAME_MS = 2500  # ... and the last one this long, before the GIF loops
POINTS_SHOWN = 1000   # test points drawn on the regions (the first ones)
NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
DPI = 200  # the PNGs: sharp on a page that shows them at half their width or less
# Text of the saved figures, large enough to read when a phone shrinks them.
SAVED_STYLE = {"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11,
               "legend.fontsize": 10, "xtick.labelsize": 10, "ytick.labelsize": 10}


def variant_label(args, seed):
    """The line every figure carries: which network, loss, optimizer and seed."""
    head = "1 output, MSE" if args.outputs == 1 else (
        "2 outputs, MSE" if args.loss == "mse" else "2 logits, cross-entropy")
    opt = (f"Adam lr {args.lr:g}" if args.optimizer == "adam"
           else f"SGD lr {args.lr:g}, momentum {args.momentum:g}")
    return (f"2-25-25-25-{args.outputs} ReLU, {head}; {opt}, {args.schedule}; "
            f"batch {args.batch_size}; {args.dtype}; seed {seed}")


def frame_epochs(epochs, frames=FRAMES):
    """The epochs (0 = before training) shown in the GIF: about `frames` of them,
    spaced logarithmically, because the regions change most in the first epochs.

    >>> frame_epochs(10)
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    ratio = epochs ** (1 / (frames - 1))
    return sorted({0, epochs} | {round(ratio ** i) for i in range(frames)})


def grid_points():
    """The centres of a GRID x GRID image of the unit square, row by row from y = 0."""
    import torch
    ticks = (torch.arange(GRID, dtype=torch.float32) + 0.5) / GRID
    gy, gx = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (GRID * GRID, 2)


class Recorder:
    """Snapshots of the decision regions for the GIF and the live window.

    snapshot(epoch, model, history) is called before training (epoch 0) and
    after every epoch; it works only on the GIF's epochs and when the live
    window is due for a redraw, so it costs little time.
    """

    def __init__(self, args, val, predict_class, circle, stop):
        self.args = args
        self.circle = circle  # (centre, radius) of the true disk
        self.x_val, y_val = val
        self.y_val = y_val.reshape(-1).long()
        self.predict_class = predict_class
        self.frame_epochs = set(frame_epochs(args.epochs))
        self.grid = grid_points()
        self.frames = []  # (epoch, regions (GRID, GRID), predicted val classes (n,))
        self.live = setup_matplotlib(args.live)
        self.window = LiveWindow(self, stop) if self.live else None

    def snapshot(self, epoch, model, history, last=False):
        """Record epoch's regions for the GIF and/or redraw the window, if due;
        last=True: the last epoch of the run (always drawn and kept)."""
        start = time.perf_counter()
        in_gif = epoch in self.frame_epochs or last
        in_window = self.window is not None and self.window.due(epoch, last)
        if not (in_gif or in_window):
            return
        regions = self.predict_class(model, self.grid).reshape(GRID, GRID)
        predicted = self.predict_class(model, self.x_val)
        if in_gif and not (self.frames and self.frames[-1][0] == epoch):
            self.frames.append((epoch, regions, predicted))
        if in_window:
            self.window.update(epoch, regions, predicted, history, start)

    def title(self, epoch, predicted):
        accuracy = float((predicted == self.y_val).float().mean())
        return (f"epoch {epoch} of {self.args.epochs}: "
                f"validation accuracy {100 * accuracy:.1f} %")


def display_available():
    """False where a GUI window cannot open: Linux/BSD without an X or Wayland display."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have one for a desktop user


def setup_matplotlib(want_live):
    """Choose matplotlib's backend (Agg when headless); True when a live window
    will be shown.

    want_live is None (auto: live when a window can open), True (--live) or
    False (--no-live). A run without a display never blocks: it saves its
    figures and says so.
    """
    import matplotlib
    if not display_available():
        matplotlib.use("Agg")
    interactive = matplotlib.get_backend().lower() not in NON_INTERACTIVE
    if want_live and not interactive:
        print("no display found: no live window, the figures are saved instead")
    return bool(interactive and want_live is not False)


def new_figure(figsize, **kwargs):
    """A figure for saving: drawn by Agg and unknown to pyplot, so it opens no window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def draw_regions(ax, regions, circle, marker_size=9):
    """Regions image, the true circle and (empty) point sets on ax, square axes.

    Returns (image, circle patch, points); fill the points with update_points().
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Circle
    image = ax.imshow(regions, origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=1,
                      cmap=ListedColormap(REGION_COLOURS), interpolation="nearest")
    patch = ax.add_patch(Circle(*circle, fill=False, color="black", lw=1, ls="--",
                                zorder=3))
    right = ax.scatter([], [], s=marker_size, linewidths=0, zorder=2)
    wrong = ax.scatter([], [], s=3 * marker_size, color=WRONG_COLOUR, edgecolors="white",
                       linewidths=0.6, zorder=4)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    return image, patch, (right, wrong)


def update_points(points, x, predicted, true):
    """Show the points x (n, 2): class colour when predicted right, blue when wrong."""
    right, wrong = points
    ok = predicted == true
    right.set_offsets(x[ok].numpy())
    right.set_facecolors([POINT_COLOURS[t] for t in true[ok].tolist()])
    wrong.set_offsets(x[~ok].numpy().reshape(-1, 2))


def region_handles():
    """Legend entries of the region plot: region colours, point colours, the circle."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    dot = dict(marker="o", linestyle="none", markersize=6)
    return [Patch(color=REGION_COLOURS[1], label="predicted inside (1)"),
            Patch(color=REGION_COLOURS[0], label="predicted outside (0)"),
            Line2D([], [], color=POINT_COLOURS[1], label="correct, inside", **dot),
            Line2D([], [], color=POINT_COLOURS[0], label="correct, outside", **dot),
            Line2D([], [], color=WRONG_COLOUR, label="misclassified", **dot),
            Line2D([], [], color="black", ls="--", label="true circle")]


def loss_name(args):
    return "cross-entropy loss" if args.loss == "ce" else "MSE loss"


def draw_curves(ax_loss, ax_acc, history, args):
    """Loss (log scale) and accuracy (%) of training and validation against the
    epoch (log scale: every epoch shows, the first ones too)."""
    epochs = range(1, len(history) + 1)
    lines = {}
    for name, colour, label in (("train", "tab:blue", "training"),
                                ("val", "tab:orange", "validation")):
        lines[name + "_loss"], = ax_loss.plot(
            epochs, getattr(history, name + "_loss"), color=colour, label=label)
        lines[name + "_acc"], = ax_acc.plot(
            epochs, [100 * a for a in getattr(history, name + "_acc")], color=colour,
            label=label)
    ax_loss.set(yscale="log", xscale="log", ylabel=loss_name(args))
    if args.loss == "mse":  # in the empty corner: the curves start high, fall right
        ax_loss.text(0.02, 0.04, "mean over points and outputs", color="dimgrey",
                     fontsize="small", transform=ax_loss.transAxes)
    ax_acc.set(ylim=(40, 101), ylabel="accuracy (%)", xlabel="epoch (log scale)")
    # Chance at the right end, under its line: a run that learns is far above it
    # there, while its first epochs (left) may start near 50 %.
    ax_acc.axhline(50, color="grey", lw=0.8, ls=":")
    ax_acc.text(0.99, 49, "chance", color="grey", fontsize="small", ha="right",
                va="top", transform=ax_acc.get_yaxis_transform())
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    ax_loss.legend(loc="upper right")
    return lines


def zoom_inset(ax_acc, history):
    """An inset of the accuracy over the last half of the epochs, 97-100 %."""
    n = len(history)
    values = [100 * a for a in history.train_acc[n // 2:] + history.val_acc[n // 2:]]
    inset = ax_acc.inset_axes([0.42, 0.24, 0.54, 0.46])
    epochs = range(n // 2 + 1, n + 1)
    for name, colour in (("train", "tab:blue"), ("val", "tab:orange")):
        inset.plot(epochs, [100 * a for a in getattr(history, name + "_acc")[n // 2:]],
                   color=colour)
    inset.set_ylim(min(97.0, min(values) - 0.2), 100.2)
    inset.set_title(f"zoom: epochs {n // 2 + 1}-{n}", fontsize="small")
    inset.tick_params(labelsize="small")
    inset.grid(alpha=0.3)


def save_regions(path, result, recorder):
    """Final decision regions with (the first 1000) test points."""
    model, args, predict_class = result["model"], recorder.args, recorder.predict_class
    x_test, y_test = result["data"]["test"]
    shown = slice(0, POINTS_SHOWN)
    regions = predict_class(model, grid_points()).reshape(GRID, GRID)
    fig = new_figure((6.2, 7.4), layout="constrained")
    ax = fig.add_subplot()
    _, _, points = draw_regions(ax, regions, recorder.circle)
    update_points(points, x_test[shown], predict_class(model, x_test[shown]),
                  y_test[shown].reshape(-1).long())
    fig.legend(handles=region_handles(), loc="outside lower center", ncol=2)
    n = len(x_test)
    note = "" if n <= POINTS_SHOWN else f" (first {POINTS_SHOWN} shown)"
    ax.set_title(f"Test set: accuracy {100 * result['test_acc']:.2f} %, "
                 f"{result['test_errors']} errors of {n}{note}")
    fig.suptitle(variant_label(args, result["seed"]), fontsize="small", color="dimgrey")
    fig.savefig(path, dpi=DPI)


def save_history(path, result, args):
    """Loss and accuracy curves of training and validation, every epoch."""
    history = result["history"]
    fig = new_figure((7, 7.4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True)
    draw_curves(ax_loss, ax_acc, history, args)
    zoom_inset(ax_acc, history)
    ax_loss.set_title(f"After each epoch, on the whole sets\nfinal accuracy: training "
                      f"{100 * history.train_acc[-1]:.2f} %, validation "
                      f"{100 * history.val_acc[-1]:.2f} %")
    fig.suptitle(variant_label(args, result["seed"]), fontsize="small", color="dimgrey")
    fig.savefig(path, dpi=DPI)


def save_animation(path, recorder):
    """An animated GIF of the decision regions (validation points) over training:
    the static parts are drawn once, each frame changes only the image, the
    points and the title; the last frame stays LAST_FRAME_MS."""
    import numpy
    from PIL import Image
    args = recorder.args
    fig = new_figure((5.4, 6.5))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.885, bottom=0.2)
    image, patch, points = draw_regions(fig.add_subplot(), recorder.frames[0][1],
                                        recorder.circle, marker_size=14)
    ax = image.axes
    title = ax.set_title("", fontsize=12)
    fig.text(0.5, 0.97, variant_label(args, args.seed), ha="center", va="top",
             fontsize=7, color="dimgrey")
    fig.legend(handles=region_handles(), loc="lower center", ncol=2,
               fontsize=9, frameon=False, borderaxespad=0.3)
    # Blitting: draw everything that never changes once, then per frame restore
    # that background and draw only the changing artists, in their z-order.
    changing = [image, points[0], patch, points[1], title]
    for artist in changing:
        artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames = []
    for epoch, regions, predicted in recorder.frames:
        image.set_data(regions)
        update_points(points, recorder.x_val, predicted, recorder.y_val)
        title.set_text(recorder.title(epoch, predicted))
        fig.canvas.restore_region(background)
        for artist in changing:
            fig.draw_artist(artist)
        rgb = Image.fromarray(numpy.asarray(fig.canvas.buffer_rgba())[..., :3])
        palette = palette if frames else white_palette(rgb.quantize(64))
        frames.append(rgb.quantize(palette=palette, dither=0))  # 0: no dithering
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations,
                   loop=0)


def white_palette(image):
    """image (a "P" image) with its near-white colours made white.

    Pillow maps colours a few levels apart to one palette entry, so without
    this the white background could turn light grey in some frames.
    """
    colours = image.getpalette()
    for i in range(0, len(colours), 3):
        if min(colours[i:i + 3]) >= 248:
            colours[i:i + 3] = [255, 255, 255]
    image.putpalette(colours)
    return image


def save_figures(args, result, recorder):
    """Write the two PNGs and the GIF to args.out, saying what it does."""
    import matplotlib
    recorder.snapshot(result["epochs"], result["model"], result["history"], last=True)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    jobs = [("decision_regions.png", "decision regions on the test set",
             lambda path: save_regions(path, result, recorder))]
    if len(result["history"]):
        jobs.append(("history.png", "loss and accuracy curves",
                     lambda path: save_history(path, result, args)))
    else:
        print("(no history.png: --no-history records no curves)")
    jobs.append(("training.gif", f"animation, {len(recorder.frames)} frames",
                 lambda path: save_animation(path, recorder)))
    with matplotlib.rc_context(SAVED_STYLE):
        for name, what, save in jobs:
            path = os.path.join(args.out, name)
            print(f"writing {path} ({what}) ...", flush=True)
            save(path)
    print(f"figures written in {time.perf_counter() - start:.1f} s", flush=True)


# ---------------------------------------------------------------------------
# The live window


class LiveWindow:
    """The one window of a live run: decision regions left, curves right.

    It opens before the first epoch, on the initial network, shows a few of
    the first epochs, where the regions form, and is then redrawn on the wall
    clock, every REDRAW_S seconds of training (or twice the last redraw's
    time, if longer: drawing costs at most half the training time), whatever
    the number of epochs. Its title names the run and the epoch. A
    redraw blits: the axes, ticks and legends are drawn once (again only when
    the loss leaves its axis or the window is resized); each redraw paints
    the regions, points and curves over that background, then lets the GUI
    show it and handle its events (flush_events; plt.pause lags far behind on
    a busy machine).
    """

    REDRAW_S = 0.15
    MAX_WAIT_S = 0.5
    # The regions form in the first few dozen epochs, which a quiet machine
    # trains in a tenth of a second: these epochs are drawn, each held on
    # screen for at least HOLD_S, so that the forming can be watched (0.4 s).
    EARLY_EPOCHS = (1, 3, 8, 20)
    HOLD_S = 0.1

    def __init__(self, recorder, stop):
        self.recorder, self.stop = recorder, stop
        self.args = recorder.args
        self.name = os.path.basename(os.path.normpath(self.args.out))
        self.fig = None
        self.background = None  # the figure without its animated artists
        self.next_redraw = 0.0  # perf_counter() time of the next redraw
        self.seconds = 0.0      # time spent redrawing during training
        self.closed = False

    def due(self, epoch, last=False):
        if self.closed:
            return False
        return (last or epoch in self.EARLY_EPOCHS
                or time.perf_counter() >= self.next_redraw)

    def set_title(self, text):
        self.fig.canvas.manager.set_window_title(f"train.py ({self.name}): {text}")

    def open(self, regions):
        import matplotlib.pyplot as plt
        from minimlp import History
        args = self.args
        fig = self.fig = plt.figure(figsize=(11, 6.2))
        grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.1))
        ax_regions = fig.add_subplot(grid[:, 0])
        ax_loss = fig.add_subplot(grid[0, 1])
        ax_acc = fig.add_subplot(grid[1, 1], sharex=ax_loss)
        image, patch, points = draw_regions(ax_regions, regions, self.recorder.circle)
        ax_regions.legend(handles=region_handles(), fontsize=8,
                          loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
        lines = draw_curves(ax_loss, ax_acc, History(), args)  # filled by updates
        ax_loss.set_xlim(1, max(2, args.epochs))
        ax_loss.set_ylim(1e-3, 1)  # the default run's losses: no redraw of the axes
        # The epoch and accuracy go in the window's title, drawn by the desktop:
        # in the figure, a changing text would cost a quarter of each redraw.
        ax_regions.set_title("Decision regions and validation points", fontsize=10)
        fig.suptitle(variant_label(args, args.seed), fontsize=8, color="dimgrey")
        fig.tight_layout()
        self.ax_loss, self.image, self.points, self.lines = ax_loss, image, points, lines
        # In z-order: what a redraw paints over the background.
        self.animated = [image, points[0], patch, points[1], *lines.values()]
        for artist in self.animated:
            artist.set_animated(True)
        fig.canvas.mpl_connect("draw_event", self.on_draw)
        fig.canvas.mpl_connect("close_event", self.on_close)
        self.set_title("before training")
        plt.show(block=False)

    def on_draw(self, event):
        """After a full draw (the first, a resize, a new loss range): keep the
        background and paint the animated artists on it."""
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        for artist in self.animated:
            self.fig.draw_artist(artist)

    def on_close(self, event):
        self.closed = True
        self.stop.request("window closed")

    def update(self, epoch, regions, predicted, history, start):
        """Show epoch's regions and the curves so far; start is when the work
        for this redraw began (perf_counter)."""
        if self.fig is None:
            self.open(regions)
        recorder = self.recorder
        self.image.set_data(regions)
        update_points(self.points, recorder.x_val, predicted, recorder.y_val)
        self.set_title(recorder.title(epoch, predicted))
        full = self.background is None
        if history is not None and len(history):
            epochs = range(1, len(history) + 1)
            for key, line in self.lines.items():
                values = getattr(history, key)
                line.set_data(epochs, [100 * v for v in values] if "acc" in key else values)
            full |= self.fit_loss_axis(history)
        canvas = self.fig.canvas
        if full:
            canvas.draw_idle()  # drawn, with on_draw, by flush_events below
        else:
            canvas.restore_region(self.background)
            for artist in self.animated:
                self.fig.draw_artist(artist)
            canvas.blit(self.fig.bbox)
        canvas.flush_events()  # show it, handle clicks, resizes and closing
        if epoch in self.EARLY_EPOCHS:
            time.sleep(max(0.0, start + self.HOLD_S - time.perf_counter()))
        now = time.perf_counter()
        if epoch > 0:  # the opening, before training, is not training time
            self.seconds += now - start
        # Drawing at most half the training time, unless the machine is so busy
        # that the window would stand still for longer than MAX_WAIT_S.
        wait = self.REDRAW_S if full else min(max(self.REDRAW_S, 2 * (now - start)),
                                                self.MAX_WAIT_S)
        self.next_redraw = now + wait

    def fit_loss_axis(self, history):
        """Widen the loss axis to whole decades around every loss so far; True
        when it changed (the background must be drawn again)."""
        values = [v for v in history.train_loss + history.val_loss if v > 0]
        low, high = self.ax_loss.get_ylim()
        if not values or (low <= min(values) and max(values) <= high):
            return False
        low = min(low, 10 ** math.floor(math.log10(min(values))))
        high = max(high, 10 ** math.ceil(math.log10(max(values))))
        self.ax_loss.set_ylim(low, high)
        return True

    def finish(self, message, wait):
        """Say in the window how the run ended; with wait, keep the window up
        until it is closed (or Ctrl-C)."""
        if self.fig is None or self.closed:
            return
        banner = dict(boxstyle="round", fc="#fff3c4", ec="#c9a227")
        self.fig.text(0.5, 0.99, message, ha="center", va="top", fontsize=11,
                      weight="bold", bbox=banner)
        self.set_title(message)
        self.fig.canvas.draw_idle()
        self.fig.canvas.flush_events()
        while wait and not self.closed and not self.stop.reason:
            self.fig.canvas.flush_events()
            time.sleep(0.05)


class StopRequest:
    """Ctrl-C (SIGINT) and the closing of the live window, as a request that
    training reads after each epoch.

    Used as a context manager, it replaces Python's SIGINT handler, which
    raises KeyboardInterrupt wherever the program is: inside Tk (which
    swallows it) or inside torch. The first Ctrl-C only sets .reason; a
    second one raises KeyboardInterrupt, to stop whatever follows at once.
    """

    def __init__(self):
        self.reason = None  # None, "interrupted" or "window closed"
        self.sigints = 0

    def request(self, reason):
        self.reason = self.reason or reason

    def _on_sigint(self, signum, frame):
        self.sigints += 1
        if self.sigints > 1:
            raise KeyboardInterrupt
        self.reason = "interrupted"

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info):
        signal.signal(signal.SIGINT, self.previous)
