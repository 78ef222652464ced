"""What train.py draws and saves: the decision regions (the network's output
shaded, its 0.5 boundary beside the true circle), the loss and accuracy curves,
the GIF of the regions forming, and the list of figures a run writes (with
gradient_flow.py's and hidden_units.py's).

Colours as in the report: green = class 1 (inside), red = class 0; misclassified
points in blue. The saved figures are matplotlib.figure.Figure objects drawn by
Agg, never pyplot's: saving them opens no window. Importing this module imports
neither torch nor matplotlib (they are imported where used).
"""

import math
import os
import sys
import textwrap
import time

from train_cli import describe

# The network's output, from 0 (red: outside) through 0.5 (white: undecided) to 1
# (green: inside); pale at the ends, so that the points stand out.
SHADE_COLOURS = ("#f0a8a8", "#ffffff", "#a9dba9")
POINT_COLOURS = ("#c62828", "#2e7d32")   # true 0, true 1 (correctly classified)
WRONG_COLOUR = "#1565c0"
BOUNDARY_COLOUR = "#222222"
GRID = 100          # the plane is drawn as a GRID x GRID image
FRAMES = 30         # about this many frames in the GIF
FRAME_MS = 150      # each frame shows this long ...
LAST_FRAME_MS = 2500  # ... and the last one this long, before the GIF loops
POINTS_SHOWN = 1000   # test points drawn on the regions (the first ones)
NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
DPI = 200  # the PNGs: sharp on a page that shows them at half their width or less
# Text of the saved figures, large enough to read when a phone shrinks them: a
# 400 px phone shows a figure W inches wide about 370 px wide, so text of
# 1.76 W points or more reads at 9 CSS px or more (11 pt for the 6.2-inch
# regions, 12.5 pt for the 7-inch curves).
SAVED_STYLE = {"font.size": 12.5, "axes.titlesize": 12.5, "axes.labelsize": 12.5,
               "legend.fontsize": 12.5, "xtick.labelsize": 12.5, "ytick.labelsize": 12.5}


def subtitle(args, seed, width):
    """describe() wrapped to `width` characters: the grey line above each figure."""
    return "\n".join(textwrap.wrap(describe(args, seed), width))


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
    """Snapshots of the network's output over the square, for the GIF and the
    live window.

    snapshot(epoch, model, history) is called before training (epoch 0) and
    after every epoch; it works only on the GIF's epochs and when the live
    window is due for a redraw, so it costs little time. `net` holds train.py's
    functions predict_class(model, x) and inside_score(model, x).
    """

    def __init__(self, args, val, net, circle, window=None):
        self.args = args
        self.circle = circle  # (centre, radius) of the true disk
        self.x_val, y_val = val
        self.y_val = y_val.reshape(-1).long()
        self.net = net
        self.frame_epochs = set(frame_epochs(args.epochs))
        self.grid = grid_points()
        self.frames = []  # (epoch, scores (GRID, GRID), predicted val classes (n,))
        self.window = window

    def snapshot(self, epoch, model, history, last=False):
        """Record epoch's output for the GIF and/or redraw the window, if due;
        last=True: the last epoch of the run (always drawn and kept)."""
        start = time.perf_counter()
        in_gif = epoch in self.frame_epochs or last
        in_window = self.window is not None and self.window.due(epoch, last)
        if not (in_gif or in_window):
            return
        scores = self.net.inside_score(model, self.grid).reshape(GRID, GRID)
        predicted = self.net.predict_class(model, self.x_val)
        if in_gif and not (self.frames and self.frames[-1][0] == epoch):
            self.frames.append((epoch, scores, predicted))
        if in_window:
            self.window.update(epoch, scores, predicted, history, start)


def title(args, epoch, predicted, y_val):
    """'epoch 37 of 1000: validation accuracy 93.4 %'."""
    accuracy = float((predicted == y_val).float().mean())
    return f"epoch {epoch} of {args.epochs}: validation accuracy {100 * accuracy:.1f} %"


def display_available():
    """False where a GUI window cannot open: Linux/BSD without an X or Wayland
    display."""
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
    """A figure for saving: drawn by Agg and unknown to pyplot, so it opens no
    window."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


# ---------------------------------------------------------------------------
# The decision regions


def draw_regions(ax, scores, circle, marker_size=9):
    """The network's output (scores (GRID, GRID) in [0, 1]) shaded, its 0.5
    boundary, the true circle and (empty) point sets on ax, square axes.

    Returns (image, boundary, circle patch, points); fill the points with
    update_points(), move the boundary with draw_boundary().
    """
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import Circle
    shade = LinearSegmentedColormap.from_list("output", SHADE_COLOURS)
    image = ax.imshow(scores, origin="lower", extent=(0, 1, 0, 1), vmin=0, vmax=1,
                      cmap=shade, interpolation="bilinear")
    patch = ax.add_patch(Circle(*circle, fill=False, color="black", lw=1, ls="--",
                                zorder=3))
    right = ax.scatter([], [], s=marker_size, linewidths=0, zorder=2)
    wrong = ax.scatter([], [], s=3 * marker_size, color=WRONG_COLOUR,
                       edgecolors="white", linewidths=0.6, zorder=4)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    return image, draw_boundary(ax, scores), patch, (right, wrong)


def draw_boundary(ax, scores, old=None):
    """The line where the network's output is 0.5 (its decision boundary);
    replaces `old`, the previous one. None when the output never crosses 0.5."""
    import numpy
    if old is not None:
        old.remove()
    values = numpy.asarray(scores, dtype=float)
    if not (values.min() < 0.5 < values.max()):
        return None
    ticks = (numpy.arange(GRID) + 0.5) / GRID
    return ax.contour(ticks, ticks, values, levels=[0.5], colors=BOUNDARY_COLOUR,
                      linewidths=1.2, zorder=3)


def update_points(points, x, predicted, true):
    """Show the points x (n, 2): class colour when predicted right, blue when wrong."""
    right, wrong = points
    ok = predicted == true
    right.set_offsets(x[ok].numpy())
    right.set_facecolors([POINT_COLOURS[t] for t in true[ok].tolist()])
    wrong.set_offsets(x[~ok].numpy().reshape(-1, 2))


def region_handles():
    """Legend entries of the region plot."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    dot = dict(marker="o", linestyle="none", markersize=5)
    return [Patch(color=SHADE_COLOURS[2], label="output near 1: inside"),
            Patch(color=SHADE_COLOURS[0], label="output near 0: outside"),
            Line2D([], [], color=BOUNDARY_COLOUR, lw=1.2, label="output 0.5"),
            Line2D([], [], color="black", ls="--", lw=1, label="true circle"),
            Line2D([], [], color=POINT_COLOURS[1], label="correct, inside", **dot),
            Line2D([], [], color=POINT_COLOURS[0], label="correct, outside", **dot),
            Line2D([], [], color=WRONG_COLOUR, label="misclassified", **dot)]


def save_regions(path, result, recorder):
    """Final output and boundary with (the first 1000) test points."""
    model, args, net = result["model"], recorder.args, recorder.net
    x_test, y_test = result["data"]["test"]
    shown = slice(0, POINTS_SHOWN)
    scores = net.inside_score(model, grid_points()).reshape(GRID, GRID)
    fig = new_figure((6.2, 7.6), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.1)  # room between x₁ and the legend below
    ax = fig.add_subplot()
    points = draw_regions(ax, scores, recorder.circle)[3]
    update_points(points, x_test[shown], net.predict_class(model, x_test[shown]),
                  y_test[shown].reshape(-1).long())
    fig.legend(handles=region_handles(), loc="outside lower center", ncol=2,
               fontsize=11)
    n = len(x_test)
    note = "" if n <= POINTS_SHOWN else f" (first {POINTS_SHOWN} shown)"
    ax.set_title(f"Test set: accuracy {100 * result['test_acc']:.2f} %, "
                 f"{result['test_errors']} errors of {n}{note}")
    fig.suptitle(subtitle(args, result["seed"], 70), fontsize=11, color="dimgrey")
    fig.savefig(path, dpi=DPI, format="png")


# ---------------------------------------------------------------------------
# The loss and accuracy curves


def decades(series):
    """(10ᵃ, 10ᵇ): the whole decades around the positive, finite values of
    series (lists of numbers); None when there are none."""
    values = [v for values in series for v in values if v > 0 and math.isfinite(v)]
    if not values:
        return None
    return (10 ** math.floor(math.log10(min(values))),
            10 ** math.ceil(math.log10(max(values))))


def loss_name(args):
    return "cross-entropy loss" if args.loss == "ce" else "MSE loss"


def epoch_axis(ax, epochs):
    """Log scale for a long run (every epoch shows, the first ones too); linear
    with whole-number ticks for a short one."""
    if epochs >= 30:
        ax.set_xscale("log")
        ax.set_xlim(1, epochs)
        ax.set_xlabel("epoch (log scale)")
    else:
        from matplotlib.ticker import MaxNLocator
        ax.set_xscale("linear")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(1, max(2, epochs))
        ax.set_xlabel("epoch")


def draw_curves(ax_loss, ax_acc, history, args):
    """Loss (log scale) and accuracy (%) of training and validation against the
    epoch; returns the lines by name ('train_loss', ...)."""
    from matplotlib.ticker import LogLocator, NullFormatter
    epochs = range(1, len(history) + 1)
    lines = {}
    for name, colour, label in (("train", "tab:blue", "training"),
                                ("val", "tab:orange", "validation")):
        lines[name + "_loss"], = ax_loss.plot(
            epochs, getattr(history, name + "_loss"), color=colour, label=label)
        lines[name + "_acc"], = ax_acc.plot(
            epochs, [100 * a for a in getattr(history, name + "_acc")], color=colour,
            label=label)
    ax_loss.set(yscale="log", ylabel=loss_name(args))
    # Decades only as labels: no "2×10⁰" between them on a short axis.
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    ax_loss.yaxis.set_major_locator(LogLocator(numticks=6))
    epoch_axis(ax_acc, args.epochs)
    ax_loss.xaxis.set_minor_formatter(NullFormatter())
    ax_acc.xaxis.set_minor_formatter(NullFormatter())
    ax_loss.set_xlabel("")
    ax_acc.set(ylim=(40, 101), ylabel="accuracy (%)")
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
    """An inset of the accuracy over the last half of the epochs, 97-100 %,
    below the curves (a run that reaches 97 % is near the top of the axis)."""
    n = len(history)
    values = [100 * a for a in history.train_acc[n // 2:] + history.val_acc[n // 2:]]
    inset = ax_acc.inset_axes([0.42, 0.27, 0.54, 0.4])
    epochs = range(n // 2 + 1, n + 1)
    for name, colour in (("train", "tab:blue"), ("val", "tab:orange")):
        inset.plot(epochs, [100 * a for a in getattr(history, name + "_acc")[n // 2:]],
                   color=colour)
    inset.set_ylim(min(97.0, min(values) - 0.2), 100.2)
    inset.set_title(f"zoom: epochs {n // 2 + 1}-{n}", fontsize="small")
    inset.tick_params(labelsize="small")
    inset.grid(alpha=0.3)


def save_history(path, result, args):
    """Loss and accuracy curves of training and validation, every epoch."""
    history = result["history"]
    fig = new_figure((7, 7.6), layout="constrained")
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True)
    draw_curves(ax_loss, ax_acc, history, args)
    limits = decades([history.train_loss, history.val_loss])
    if limits is not None:  # whole decades: labelled ends, even for a short run
        ax_loss.set_ylim(limits)
    # The zoom only where the curves leave it room: a long run, above 97 % at the end.
    if len(history) >= 100 and min(history.val_acc[-1], history.train_acc[-1]) > 0.97:
        zoom_inset(ax_acc, history)
    ax_loss.set_title(f"After each epoch, on the whole sets\nfinal accuracy: training "
                      f"{100 * history.train_acc[-1]:.2f} %, validation "
                      f"{100 * history.val_acc[-1]:.2f} %")
    fig.suptitle(subtitle(args, result["seed"], 70), fontsize=12.5, color="dimgrey")
    fig.savefig(path, dpi=DPI, format="png")


# ---------------------------------------------------------------------------
# The GIF


def save_animation(path, recorder, check=lambda: None):
    """An animated GIF of the output and boundary (validation points) over
    training: the static parts are drawn once, each frame changes only the image,
    the boundary, the points and the title; the last frame stays LAST_FRAME_MS.
    check() is called before each frame (it raises to stop)."""
    import numpy
    from PIL import Image
    args = recorder.args
    fig = new_figure((5.4, 6.7), dpi=DPI)  # 1080 px wide: sharp on a phone
    fig.subplots_adjust(left=0.1, right=0.97, top=0.86, bottom=0.22)
    image, boundary, patch, points = draw_regions(
        fig.add_subplot(), recorder.frames[0][1], recorder.circle, marker_size=14)
    ax = image.axes
    title_text = ax.set_title("", fontsize=12)
    fig.text(0.5, 0.985, subtitle(args, args.seed, 62), ha="center", va="top",
             fontsize=10, color="dimgrey")  # 1.76 pt per inch of width, as above
    fig.legend(handles=region_handles(), loc="lower center", ncol=2,
               fontsize=10, frameon=False, borderaxespad=0.2)
    # Blitting: draw everything that never changes once, then per frame restore
    # that background and draw only the changing artists, in their z-order.
    changing = [image, points[0], patch, points[1], title_text]
    for artist in changing:
        artist.set_animated(True)
    if boundary is not None:  # drawn per frame, like the image
        boundary.remove()
        boundary = None
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    pictures = []
    for epoch, scores, predicted in recorder.frames:
        check()
        image.set_data(scores)
        boundary = draw_boundary(ax, scores, boundary)
        update_points(points, recorder.x_val, predicted, recorder.y_val)
        title_text.set_text(title(args, epoch, predicted, recorder.y_val))
        fig.canvas.restore_region(background)
        for artist in changing[:2] + ([boundary] if boundary else []) + changing[2:]:
            fig.draw_artist(artist)
        rgb = numpy.asarray(fig.canvas.buffer_rgba())[..., :3]
        pictures.append(Image.fromarray(rgb))
    # One palette for all frames, from the first (pale, undecided) and the last
    # (strong green and red) side by side.
    both = numpy.concatenate([numpy.asarray(pictures[0]), numpy.asarray(pictures[-1])])
    palette = white_palette(Image.fromarray(both).quantize(96))
    frames = [picture.quantize(palette=palette, dither=0) for picture in pictures]
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)


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


# ---------------------------------------------------------------------------
# The files a run writes


def figure_jobs(args, result, recorder, flow, input_transform):
    """What a run with figures writes: [(file name, what it shows, save(path,
    check))], for train_files.write_set."""
    from gradient_flow import save_gradient_flow
    from hidden_units import save_hidden_units
    heading = subtitle(args, result["seed"], 110)
    network = f"{describe(args).split(';')[0]}; seed {result['seed']}"  # one line
    jobs = [("decision_regions.png", "network output and test points",
             lambda path, check: save_regions(path, result, recorder))]
    if len(result["history"]):
        jobs.append(("history.png", "loss and accuracy curves",
                     lambda path, check: save_history(path, result, args)))
    else:
        print("(no history.png: --no-history records no curves)")
    jobs += [
        ("gradient_flow.png", f"gradient size per hidden layer, {len(flow.epochs)} "
         "epochs", lambda path, check: save_gradient_flow(path, flow, heading)),
        ("hidden_units.png", "each hidden unit's output, layers 1 and 2",
         lambda path, check: save_hidden_units(path, result["model"], input_transform,
                                               network)),
        ("training.gif", f"animation, {len(recorder.frames)} frames",
         lambda path, check: save_animation(path, recorder, check))]
    return jobs
