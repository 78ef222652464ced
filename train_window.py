"""The live window of train.py, and how a run is stopped: Ctrl-C or closing
the window, read as a request that training, the waits and the writing of
the figures check.

Importing this module imports neither torch nor matplotlib.
"""

import signal
import textwrap
import time

import train_figures as figures


class StopRequest:
    """Ctrl-C (SIGINT) and the closing of the live window, as a request.

    Used as a context manager, it replaces Python's SIGINT handler, which
    raises KeyboardInterrupt wherever the program is: inside Tk (which
    swallows it) or inside torch. Each Ctrl-C only counts: .reason says what
    came first, .requests how many came; training stops after the epoch, the
    writing of the figures at its next step.
    """

    def __init__(self):
        self.reason = None  # None, "interrupted" or "window closed": the first
        self.last = None    # the latest
        self.requests = 0

    def request(self, reason):
        self.requests += 1
        self.reason = self.reason or reason
        self.last = reason

    def _on_sigint(self, signum, frame):
        self.request("interrupted")

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info):
        signal.signal(signal.SIGINT, self.previous)


class LiveWindow:
    """The one window of a live run: the network's output left, the loss and
    accuracy curves in the middle, the gradient flow right.

    It opens before the first epoch, on the initial network, and fits the
    screen (1280x800 down to 640x480). Epochs 0-50, where the regions form,
    are drawn on a log spacing, each held on screen for HOLD_S (about 3 s in
    all); later it is redrawn on the wall clock, every REDRAW_S seconds of
    training (or twice the last redraw's time, if longer: drawing costs at most
    half the training time). Its title names the run and the epoch. A redraw
    blits: the axes, ticks and legends are drawn again only when an axis
    range changes or the window is resized; otherwise the output, points and
    curves are painted over a saved background. Every draw is synchronous, so
    the title and the picture show the same epoch.
    """

    PACED_EPOCHS = (0, 1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 37, 50)
    HOLD_S = 0.23  # 13 epochs x 0.23 s: about 3 s to watch the regions form
    REDRAW_S = 0.15
    MAX_WAIT_S = 0.5
    SIZE = (1100, 620)  # pixels, where the screen allows
    TOOLBAR = 50        # pixels: matplotlib's toolbar under the figure (Tk)
    RATIO_FLOOR = 1e-6  # the update/weight axis goes no lower (lr -> 0 at the end)

    def __init__(self, args, circle, val, name, stop, flow=None):
        self.args, self.circle, self.stop, self.flow = args, circle, stop, flow
        self.x_val, y_val = val
        self.y_val = y_val.reshape(-1).long()
        self.name = name
        self.fig = None
        self.background = None  # the figure without its animated artists
        self.background_size = None
        self.next_redraw = 0.0  # perf_counter() time of the next redraw
        self.seconds = 0.0      # time spent drawing (and holding) during training
        self.closed = False
        self.loss_limits = None  # the loss axis's range, once there are losses
        # The y ranges of the two gradient-flow panels: RMS from its first values
        # on, update/weight ratios (none before the first epoch) 1e-6 to 1.
        self.flow_limits = [None, (self.RATIO_FLOOR, 1.0)]

    def due(self, epoch, last=False):
        if self.closed:
            return False
        return (last or epoch in self.PACED_EPOCHS
                or time.perf_counter() >= self.next_redraw)

    def set_title(self, text):
        self.fig.canvas.manager.set_window_title(f"train.py ({self.name}): {text}")

    # -- opening --------------------------------------------------------------

    def open(self, scores):
        import matplotlib.pyplot as plt
        from matplotlib.layout_engine import ConstrainedLayoutEngine
        width, height = self.SIZE
        fig = self.fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
        screen = screen_size(fig)
        if screen is not None:  # Tk: the window, toolbar included, fits the screen
            width = min(width, screen[0] - 10)
            height = min(height + self.TOOLBAR, screen[1] - 40) - self.TOOLBAR
            fig.canvas.manager.window.geometry(f"{width}x{height + self.TOOLBAR}")
            fig.set_size_inches(width / 100, height / 100)
        self.font = font_size(width)
        plt.rcParams.update({"font.size": self.font, "legend.fontsize": self.font - 1,
                             "xtick.labelsize": self.font - 1,
                             "ytick.labelsize": self.font - 1})
        # Constrained layout places the panels, their labels and legends without
        # overlaps; it is more than half of a full draw, so it runs only when the
        # size or the banner changes, not on every change of an axis range.
        self.layout = ConstrainedLayoutEngine(w_pad=0.02, h_pad=0.02, wspace=0.03,
                                              hspace=0.03)
        self.lay_out(scores)
        self.layout.execute(fig)
        fig.canvas.mpl_connect("draw_event", self.on_draw)
        fig.canvas.mpl_connect("resize_event", self.on_resize)
        fig.canvas.mpl_connect("close_event", self.on_close)
        self.set_title("before training")
        plt.show(block=False)

    def lay_out(self, scores):
        """The panels: the output left, curves (unless --no-history) and the
        gradient flow (when recorded) beside it."""
        from minimlp import History
        fig, args = self.fig, self.args
        columns = [1.15] + [1] * args.history + [1] * (self.flow is not None)
        # Three rows: the output spans the first two, its legend sits in the third
        # (below the x label, at any size); the panels beside it take one row on
        # top and two below, so both are the same height.
        grid = fig.add_gridspec(3, len(columns), width_ratios=columns,
                                height_ratios=(1, 0.72, 0.28))
        ax_regions = fig.add_subplot(grid[:2, 0])
        self.image, self.boundary, patch, self.points = figures.draw_regions(
            ax_regions, scores, self.circle, marker_size=self.font - 1)
        self.ax_regions = ax_regions
        ax_legend = fig.add_subplot(grid[2, 0])
        ax_legend.axis("off")
        ax_legend.legend(handles=figures.region_handles(), loc="center", ncol=2,
                         fontsize=self.font - 1, handlelength=1.5, columnspacing=0.8,
                         frameon=False, borderaxespad=0)
        ax_regions.set_title("Network output, validation points")
        self.lines, self.flow_axes, self.flow_lines, column = {}, (), [], 1
        if args.history:
            ax_loss = fig.add_subplot(grid[0, column])
            ax_acc = fig.add_subplot(grid[1:, column], sharex=ax_loss)
            self.lines = figures.draw_curves(ax_loss, ax_acc, History(), args)
            ax_loss.set_title("Loss and accuracy")
            self.ax_loss = ax_loss
            column += 1
        if self.flow is not None:
            self.flow_axes = (fig.add_subplot(grid[0, column]),
                              fig.add_subplot(grid[1:, column]))
            self.flow_lines = self.draw_flow()
        self.description = fig.suptitle(
            self.wrap(figures.describe(args, args.seed), self.font - 1),
            fontsize=self.font - 1, color="dimgrey")
        self.banner = fig.supxlabel(" ", fontsize=self.font + 1, weight="bold")
        # In z-order: what a redraw paints over the background.
        self.animated = [self.image, self.points[0], patch, self.points[1],
                         *self.lines.values()]
        for artist in self.animated + self.flow_lines:
            artist.set_animated(True)

    def wrap(self, text, size=None):
        """text in lines that fit the window's width, at font size (points)."""
        character = 0.65 * (size or self.font) * 100 / 72  # pixels, about
        columns = int(self.fig.get_figwidth() * 100 / character)
        return "\n".join(textwrap.wrap(text, columns))

    def draw_flow(self):
        """The gradient-flow panels, updated; their x axis spans the whole run and
        their y axes only widen, by whole decades, so most updates are blits."""
        from gradient_flow import draw_gradient_flow
        lines = draw_gradient_flow(*self.flow_axes, self.flow)
        series = (self.flow.rms, self.flow.update_ratio)
        for l, (ax, values) in enumerate(zip(self.flow_axes, series)):
            ax.set_xlim(0, self.args.epochs)
            limits = widened(self.flow_limits[l], values)
            if limits is None:
                continue
            if ax is self.flow_axes[1]:  # ratios go to 0 with the learning rate
                limits = (max(limits[0], self.RATIO_FLOOR), limits[1])
            self.flow_limits[l] = limits
            ax.set_ylim(limits)
        for line in lines:
            line.set_animated(True)
        if self.args.epochs < 30:  # a short run: plain epochs, as the curves have
            for ax in self.flow_axes:
                figures.epoch_axis(ax, self.args.epochs)
                ax.set_xlim(0, self.args.epochs)
        self.flow_axes[0].set_title("Gradient flow, hidden layers", fontsize=self.font)
        self.flow_axes[0].set_xlabel("")
        return lines

    # -- events ---------------------------------------------------------------

    def on_draw(self, event):
        """After a full draw (the first, a resize, a new axis range): keep the
        background and paint the animated artists on it."""
        canvas = self.fig.canvas
        self.background = canvas.copy_from_bbox(self.fig.bbox)
        self.background_size = canvas.get_width_height()
        for artist in self.painted():
            self.fig.draw_artist(artist)

    def on_resize(self, event):
        """A new window size: the text scaled to it (as `open` sizes it), the
        description wrapped again, the panels placed again (the draw that
        follows keeps the new background)."""
        from matplotlib.text import Text
        font = font_size(self.fig.get_figwidth() * self.fig.dpi)
        if font != self.font:
            for text in self.fig.findobj(Text):  # titles, labels, ticks, legends
                text.set_fontsize(text.get_fontsize() * font / self.font)
            for ax in self.fig.axes:  # the tick labels an axis makes later
                ax.tick_params(labelsize=font - 1)
            self.font = font
        self.description.set_text(self.wrap(figures.describe(self.args, self.args.seed),
                                            self.font - 1))
        self.layout.execute(self.fig)

    def painted(self):
        boundary = [self.boundary] if self.boundary is not None else []
        return self.animated[:2] + boundary + self.animated[2:] + self.flow_lines

    def on_close(self, event):
        self.closed = True
        self.stop.request("window closed")

    def handle_events(self, seconds=0.0):
        """Let the GUI show what was drawn and handle clicks, resizes, closing
        and Ctrl-C, for `seconds` (at least once); stops early on a stop request."""
        end = time.perf_counter() + seconds
        while True:
            if not self.closed:
                self.fig.canvas.flush_events()
            left = end - time.perf_counter()
            if left <= 0 or self.stop.reason:
                return
            time.sleep(min(0.03, left))

    # -- redraws --------------------------------------------------------------

    def update(self, epoch, scores, predicted, history, start):
        """Show epoch's output and the curves so far; start is when the work for
        this redraw began (perf_counter)."""
        if self.fig is None:
            self.open(scores)
        self.image.set_data(scores)
        self.boundary = figures.draw_boundary(self.ax_regions, scores, self.boundary)
        if self.boundary is not None:
            self.boundary.set_animated(True)
        figures.update_points(self.points, self.x_val, predicted, self.y_val)
        canvas = self.fig.canvas
        full = (self.background is None
                or self.background_size != canvas.get_width_height())
        if history is not None and len(history):
            epochs = range(1, len(history) + 1)
            for key, line in self.lines.items():
                values = getattr(history, key)
                if "acc" in key:
                    values = [100 * v for v in values]
                line.set_data(epochs, values)
            full |= self.fit_loss_axis(history)
        if self.flow is not None:
            limits = [ax.get_ylim() for ax in self.flow_axes]
            self.flow_lines = self.draw_flow()
            full |= limits != [ax.get_ylim() for ax in self.flow_axes]
        self.show(full)  # then the title: never ahead of the picture
        self.set_title(figures.title(self.args, epoch, predicted, self.y_val))
        self.handle_events()
        if epoch in self.PACED_EPOCHS:
            self.handle_events(start + self.HOLD_S - time.perf_counter())
        now = time.perf_counter()
        if epoch > 0:  # the opening, before training, is not training time
            self.seconds += now - start
        # Drawing at most half the training time, unless the machine is so busy
        # that the window would stand still for longer than MAX_WAIT_S.
        wait = min(max(self.REDRAW_S, 2 * (now - start)), self.MAX_WAIT_S)
        self.next_redraw = now + wait

    def show(self, full):
        """Draw (full: everything, else the animated artists over the background);
        handle_events() then shows it."""
        canvas = self.fig.canvas
        if self.closed:
            return
        if full:
            canvas.draw()  # calls on_draw, which paints the animated artists
        else:
            canvas.restore_region(self.background)
            for artist in self.painted():
                self.fig.draw_artist(artist)
            canvas.blit(self.fig.bbox)

    def fit_loss_axis(self, history):
        """The loss axis around every loss so far, in whole decades, widened
        only; True when it changed (the background must be drawn again)."""
        new = widened(self.loss_limits, [history.train_loss, history.val_loss])
        if new is None or new == self.loss_limits:
            return False
        self.loss_limits = new
        self.ax_loss.set_ylim(new)
        return True

    # -- the end --------------------------------------------------------------

    def say(self, message, title=None):
        """Show message in the banner at the bottom of the window (and title, or
        message, in its title)."""
        if self.fig is None or self.closed:
            return
        self.banner.set_text(self.wrap(message, self.font + 2))
        self.banner.set_bbox(dict(boxstyle="round", fc="#fff3c4", ec="#c9a227"))
        self.layout.execute(self.fig)
        self.show(full=True)
        self.set_title(title or message)
        self.handle_events()

    def wait_until_closed(self):
        """Keep the window up, handling its events, until it is closed or Ctrl-C."""
        while self.fig is not None and not self.closed and not self.stop.reason:
            self.handle_events(0.05)


def font_size(width):
    """The window's text size in points for a width in pixels: 9 from 1000 px,
    8 from 760 px, 7 below."""
    return 9 if width >= 1000 else 8 if width >= 760 else 7


def widened(limits, series):
    """limits (low, high) or None, widened to take every positive, finite value
    of series (lists of numbers): to the value's decade and one more beyond, so
    that a falling curve does not ask for a new axis (a full redraw) at every
    decade."""
    new = figures.decades(series)
    if new is None:
        return limits
    low, high = new
    if limits is None:
        return low, high
    if low < limits[0]:
        low /= 10
    if high > limits[1]:
        high *= 10
    return min(low, limits[0]), max(high, limits[1])


def screen_size(fig):
    """(width, height) of the screen in pixels, asked of the window's toolkit
    (Tk, matplotlib's default); None with another one."""
    widget = getattr(fig.canvas, "get_tk_widget", None)
    if widget is None:
        return None
    return widget().winfo_screenwidth(), widget().winfo_screenheight()
