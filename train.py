"""The report's experiment: teach a small MLP which points of the unit square lie
in a disk.

Read from the top: the settings, the data, then `run_experiment`, which holds
the whole experiment in the order of the report (data, model, optimizer and
schedule, training, evaluation), then how one run is watched and written.
Beside it, by role: train_cli.py (the options and the lines printed),
train_seeds.py (the table over seeds), train_figures.py (what is drawn and
saved), train_window.py (the live window, Ctrl-C) and train_files.py (files
written whole).

    python train.py                      # seed 0: progress, final accuracy, figures
    python train.py --no-plot            # the same without figures (about 3 s)
    python train.py --seeds 10           # seeds 0..9 and a table of accuracies
    python train.py --test-points 20000  # a sharper estimate of the test accuracy
    python train.py --dtype float64      # the same points and weights, less rounding
    python train.py --outputs 2          # the 2018 homework: two outputs, one-hot
    python train.py --loss ce            # two logits and cross-entropy
    python train.py --activation sigmoid --hidden 25,25,25,25,25  # vanishing gradients
    python train.py --help               # every option

Unlike minimlp.py (which touches torch only through `torch.empty`), this script
uses torch freely: it is a user of the framework, and it uses only minimlp's
public API.
"""

import sys

import train_cli as cli  # no torch, no matplotlib at import

# ---------------------------------------------------------------------------
# Settings. Chosen by measurement on seeds 100-129 (never on the seeds 0-9 of
# the reported tables), with 20000 fresh test points per seed: see "Choosing
# the settings" in docs/experiment.md for what each alternative gave.

N_POINTS = 1000     # training and validation points (and test points by default)
HIDDEN = (25, 25, 25)  # widths of the hidden layers (--hidden)
ACTIVATION = "relu"    # of the hidden layers (--activation)
INIT = "he"            # initial weights (--init)
INPUT_SCALE = 2.0   # the net sees (x - 0.5) * 2: points centred in [-1, 1]^2
EPOCHS = 1000
# Two mini-batches of 500 per epoch and a moderate step (lr / (1 - momentum) = 2)
# keep the run reproducible: float32 and float64 runs of one seed end within
# about 1e-3 of each other. Heavier momentum or smaller batches reach about the
# same accuracy but amplify rounding errors to O(1) (a chaotic run).
BATCH_SIZE = 500
MOMENTUM = 0.9
WEIGHT_DECAY = 0.0
# Starting learning rate per (optimizer, loss, outputs); a cosine schedule
# takes it down to zero over the run.
DEFAULT_LR = {
    ("sgd", "mse", 1): 0.2,
    ("sgd", "mse", 2): 0.2,
    ("sgd", "ce", 2): 0.05,
    ("adam", "mse", 1): 3e-3,
    ("adam", "mse", 2): 3e-3,
    ("adam", "ce", 2): 3e-3,
}
# Each random stream of a seed has its own generator, seeded 10 * seed + offset,
# so that the test set depends on --seed only, never on a training option.
STREAMS = {"train": 0, "val": 1, "test": 2, "init": 3, "shuffle": 4}
DEFAULTS = dict(n_points=N_POINTS, epochs=EPOCHS, batch_size=BATCH_SIZE,
                momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, lr=DEFAULT_LR,
                hidden=HIDDEN, activation=ACTIVATION, init=INIT)

if __name__ == "__main__":
    # Read the command line before torch is imported (1-2 s): --help, a typo
    # or an --out that cannot be written answer at once. Ctrl-C while torch
    # imports ends the program at once: nothing runs yet (and a KeyboardInterrupt
    # could be swallowed by a bare `except:` in some imported module).
    cli.parse_args(sys.argv[1:], DEFAULTS)
    cli.quit_on_ctrl_c("interrupted while starting (importing torch): nothing was run "
                       "or written")

import math  # noqa: E402  (after the early check of the command line)
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import torch  # noqa: E402

from minimlp import (SGD, Adam, CrossEntropyLoss, Dense, MSELoss, ReLU,  # noqa: E402
                     Sequential, Sigmoid, Tanh, fit)

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own again

CENTRE = (0.5, 0.5)
RADIUS = 1 / math.sqrt(2 * math.pi)  # pi r^2 = 1/2: half the unit square


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


def stream(seed, name):
    """The torch.Generator of one random stream ("train", "init", ...) of a seed."""
    return torch.Generator().manual_seed(10 * seed + STREAMS[name])


def make_data(seed, test_points=N_POINTS):
    """The three sets of a seed, float32: {"train": (x, y), "val": ..., "test": ...}."""
    sizes = {"train": N_POINTS, "val": N_POINTS, "test": test_points}
    return {split: generate_disk(n, stream(seed, split)) for split, n in sizes.items()}


# ---------------------------------------------------------------------------
# The experiment

def run_experiment(args, seed, on_epoch=None, on_start=None):
    """Train the report's network on one seed's data; return a dict of results.

    The data and the initial weights are drawn in float32, then cast to
    args.dtype: a float64 run sees the very same points and weights as a
    float32 one.
    on_start(model, loss, x_train, y_train), if given, is called once before
    training (the live window opens, the gradient flow is measured); returning
    False stops before the first epoch, and run_experiment returns None.
    on_epoch(epoch, model, history), if given, is called after every epoch
    (progress lines, snapshots for the figures); returning False stops training.
    """
    # 1. Data: 1000 training and 1000 validation points, args.test_points test points.
    dtype = getattr(torch, args.dtype)
    data = make_data(seed, args.test_points)
    inputs = {split: network_input(x, dtype) for split, (x, _) in data.items()}
    targets = {split: make_targets(y, args, dtype) for split, (_, y) in data.items()}

    # 2. Model: 2 -> 25 -> 25 -> 25 -> outputs, ReLU, He initialisation (by default).
    model = build_model(args, stream(seed, "init")).to(dtype=dtype)
    loss = CrossEntropyLoss() if args.loss == "ce" else MSELoss()

    # 3. Optimizer, and a cosine schedule set after each epoch:
    #    lr_e = lr_0 (1 + cos(pi e / E)) / 2, from lr_0 at e = 0 to 0 at e = E.
    if args.optimizer == "adam":
        optimizer = Adam(model.param(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = SGD(model.param(), lr=args.lr, momentum=args.momentum,
                        weight_decay=args.weight_decay)

    epochs_run = 0

    def after_epoch(epoch, model, history):
        nonlocal epochs_run
        epochs_run = epoch + 1
        if args.schedule == "cosine":
            progress = (epoch + 1) / args.epochs
            optimizer.lr = args.lr * (1 + math.cos(math.pi * progress)) / 2
        if on_epoch is not None:
            return on_epoch(epoch, model, history)

    # 4. Training: shuffled mini-batches, the loss and accuracy of both sets
    #    recorded after every epoch (the report's "compute history").
    if on_start is not None and on_start(model, loss, inputs["train"],
                                         targets["train"]) is False:
        return None
    initial_loss = float(loss(model(inputs["train"]), targets["train"]))  # for advice
    start = time.perf_counter()
    history = fit(model, loss, optimizer, inputs["train"], targets["train"],
                  args.epochs,
                  batch_size=args.batch_size, val=(inputs["val"], targets["val"]),
                  history=args.history, callback=after_epoch,
                  generator=stream(seed, "shuffle"))
    seconds = time.perf_counter() - start

    # 5. Evaluation: errors on the three sets, counted point by point.
    result = {"seed": seed, "model": model, "history": history, "data": data,
              "seconds": seconds, "epochs": epochs_run, "initial_loss": initial_loss}
    for split, (x, y) in data.items():
        result[f"{split}_errors"] = count_errors(model, x, y)
        result[f"{split}_acc"] = 1 - result[f"{split}_errors"] / len(x)
    return result


def network_input(x, dtype=torch.float32):
    """What the network sees of raw points x (n, 2): (x - 0.5) * 2, in dtype.

    Centred inputs let the first layer's kinks (lines through the origin while
    the biases are still zero) start through the centre of the disk.
    """
    return (x.to(dtype) - 0.5) * INPUT_SCALE


def make_targets(y, args, dtype=torch.float32):
    """Targets for the loss from the 0/1 labels y (n, 1).

    One output + MSE: y. Two outputs + MSE: one-hot rows (n, 2), column 1 for
    "inside". Cross-entropy: class indices (n,), int64.
    """
    if args.loss == "ce":
        return y.reshape(-1).long()
    if args.outputs == 2:
        return torch.cat([1 - y, y], dim=1).to(dtype)
    return y.to(dtype)


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def build_model(args, generator=None):
    """The network the settings name: 2 -> args.hidden... -> args.outputs, with
    args.activation after each hidden layer and args.init's weights (the
    report's: 2 -> 25 -> 25 -> 25 -> 1, ReLU, He); a Sigmoid head with MSE
    (outputs in (0, 1)), none with cross-entropy (which takes logits).
    args: as settings() or the command line give them."""
    sizes = cli.layer_sizes(args)
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [Dense(n_in, n_out, init=args.init, generator=generator),
                   ACTIVATIONS[args.activation]()]
    layers.append(Dense(sizes[-2], sizes[-1], init=args.init, generator=generator))
    if args.loss == "mse":
        layers.append(Sigmoid())
    return Sequential(*layers)


def settings(options=()):
    """The settings of a run, as the command line `options` give them (no
    figures): settings() is the report's experiment, settings(["--loss", "ce"])
    its cross-entropy variant. For build_model and run_experiment."""
    return cli.parse_args([*options, "--no-plot"], DEFAULTS)


def predict_class(model, x):
    """Predicted class (0 or 1, int64 of shape (n,)) of raw points x (n, 2):
    output >= 0.5 with one output, the argmax with two."""
    dtype = model.param()[0][0].dtype
    model.eval()
    out = model(network_input(x, dtype))
    model.train()
    if out.shape[1] == 1:
        return (out.reshape(-1) >= 0.5).long()
    return out.argmax(dim=1)


def inside_score(model, x):
    """The network's output for raw points x (n, 2) as a number in [0, 1] that
    is >= 0.5 where it says "inside" (for the shading of the figures): the
    output with one output; with two, (out₁ - out₀ + 1) / 2 for MSE's Sigmoid
    outputs and softmax's p₁ = σ(out₁ - out₀) for cross-entropy's logits."""
    dtype = model.param()[0][0].dtype
    model.eval()
    out = model(network_input(x, dtype)).double()
    model.train()
    if out.shape[1] == 1:
        return out.reshape(-1)
    difference = out[:, 1] - out[:, 0]
    if isinstance(model[-1], Sigmoid):
        return (difference + 1) / 2
    return 1 / (1 + (-difference).exp())


def count_errors(model, x, y):
    """Number of points of (x, y) that the model puts in the wrong class."""
    return int((predict_class(model, x) != y.reshape(-1).long()).sum())


# ---------------------------------------------------------------------------
# Running it: one seed with progress and figures, or a table over seeds

CHANCE = 0.6  # a test accuracy at or below this is no better than a coin (50 %)


def run_single(args):
    """One seed: progress lines, the final accuracies, the gradient flow, the
    figures and the live window. Returns the exit status.

    Ctrl-C or a closed window stops training after the epoch; a stopped run
    writes its figures to its own folder (cli.interrupted_folder), or nothing
    when it stopped before the first epoch. A second stop while figures are
    written calls the writing off and leaves the folder as it was.
    """
    import train_window
    with train_window.StopRequest() as stop:
        print(cli.describe(args, args.seed), flush=True)
        watch = Watch(args, stop)
        result = run_experiment(args, args.seed, on_epoch=watch.on_epoch,
                                on_start=watch.on_start)
        if result is None:
            print(f"{stop.reason} before training: nothing was written",
                  file=sys.stderr)
            return 130 if stop.reason == "interrupted" else 0
        return watch.finish(result)


class Watch:
    """What a single run does around training: progress lines, the gradient
    flow, the snapshots of the output for the GIF and the live window, and at
    the end the final lines, the advice, the figures and the window's last word."""

    def __init__(self, args, stop):
        self.args, self.stop = args, stop
        self.progress = cli.Progress(args)
        self.flow = self.recorder = self.window = None
        if args.plot:
            import train_figures as figures
            import train_window
            val = make_data(args.seed)["val"]
            if figures.setup_matplotlib(args.live):  # (imports matplotlib: ~0.5 s)
                name = os.path.basename(os.path.normpath(args.out))
                self.window = train_window.LiveWindow(args, (CENTRE, RADIUS), val, name,
                                                      stop)
            net = types.SimpleNamespace(predict_class=predict_class,
                                        inside_score=inside_score)
            self.recorder = figures.Recorder(args, val, net, (CENTRE, RADIUS),
                                             self.window)

    def on_start(self, model, loss, x, y):
        """Before the first epoch: the gradient flow at initialisation and, with
        figures, the first snapshot (which opens the live window)."""
        from gradient_flow import GradientFlow
        self.flow = GradientFlow(model, loss, x, y)  # on the whole training set
        self.flow.record(0)
        if self.window is not None:
            self.window.flow = self.flow
        if self.recorder is not None and self.stop.reason is None:
            self.recorder.snapshot(0, model, None)
        return self.stop.reason is None

    def on_epoch(self, epoch, model, history):
        self.progress(epoch, history)
        if self.recorder is not None:
            # every epoch, for the figures: about 1 ms each (+60 % of training)
            self.flow.record(epoch + 1)
            self.recorder.snapshot(epoch + 1, model, history)
        return self.stop.reason is None  # Ctrl-C or a closed window: stop now

    def finish(self, result):
        """Everything after training; returns the exit status."""
        args, stop, window = self.args, self.stop, self.window
        stopped, epochs = stop.reason, result["epochs"]
        folder = args.out
        if self.recorder is None:
            self.flow.record(epochs)  # --no-plot: the start and the end only
        if stopped:
            folder = cli.interrupted_folder(args.out, epochs)
            print(f"{stopped} at epoch {epochs} of {args.epochs}: training stopped"
                  + (f"; the figures of the model as it is go to {folder} (Ctrl-C "
                     "again: none)" if args.plot else ""), file=sys.stderr, flush=True)
        cli.print_final(result, window.seconds if window else None)
        print(self.flow.summary(), flush=True)
        status, advice = (0, None) if stopped else advise(result, args, flow=self.flow)
        if self.recorder is not None and not self.write_figures(result, folder):
            return 130 if stop.reason == "interrupted" else 0
        if window is None or window.closed or stopped:
            return 130 if stopped == "interrupted" else status
        print("the window stays open: close it (or press Ctrl-C here) to exit",
              flush=True)
        window.say(f"Done: test accuracy {100 * result['test_acc']:.2f} %. "
                   + (f"{advice} " if advice else "")
                   + f"Figures in {folder}. Close this window to exit.",
                   title=f"done: test accuracy {100 * result['test_acc']:.2f} %")
        window.wait_until_closed()
        if stop.reason == "interrupted":
            print("interrupted while the window waited (the run had finished and its "
                  "figures were written)", file=sys.stderr)
            return 130
        return status

    def write_figures(self, result, folder):
        """Write the run's figures to folder, whole, in a second thread while the
        window handles its events; False when a stop called the writing off."""
        import matplotlib

        import train_figures as figures
        from train_files import Cancelled, in_background, write_set
        window, stop, requests = self.window, self.stop, self.stop.requests
        self.recorder.snapshot(result["epochs"], result["model"], result["history"],
                               last=True)
        dtype = result["model"].param()[0][0].dtype
        jobs = figures.figure_jobs(self.args, result, self.recorder, self.flow,
                                   lambda points: network_input(points, dtype))

        def check():
            if stop.requests > requests:
                raise Cancelled

        def wait():
            if window is not None and not window.closed:
                window.handle_events(0.03)

        if window is not None:
            window.say(f"Writing the figures to {folder} ...",
                       title="writing the figures ...")
        existed = os.path.isdir(folder)
        start = time.perf_counter()
        try:
            with matplotlib.rc_context(figures.SAVED_STYLE):
                in_background(lambda: write_set(folder, jobs, check), wait)
        except Cancelled:
            if existed:
                kept = f"{folder} keeps its previous files"
            else:
                os.rmdir(folder)  # made for this run, and still empty
                kept = f"no {folder} was made"
            print(f"{stop.last} while writing the figures: none written, {kept}",
                  file=sys.stderr, flush=True)
            return False
        print(f"figures written in {time.perf_counter() - start:.1f} s", flush=True)
        return True


def run_seeds(args):
    """--seeds N: seeds args.seed .. args.seed + N - 1, no figures; a table.

    A seed whose loss diverges is recorded as diverged and the others go on.
    Ctrl-C stops at once and saves the table of the seeds done so far.
    """
    import train_seeds
    import train_window
    rows, failed = [], []
    with train_window.StopRequest() as stop:
        print(f"{cli.describe(args)}; seeds {args.seed}..{args.seed + args.seeds - 1}",
              flush=True)
        if args.live:
            print("--seeds draws no window: it trains the seeds one after the other "
                  "and prints a table (drop --seeds to watch one run)", flush=True)
        for seed in range(args.seed, args.seed + args.seeds):
            try:
                result = run_experiment(args, seed, lambda *_: stop.reason is None)
            except FloatingPointError as error:
                print(f"seed {seed}: diverged ({error})", flush=True)
                rows.append(train_seeds.diverged_row(seed))
                continue
            if stop.reason:
                kept = (f"the table keeps the {len(rows)} seeds done" if rows
                        else "no seed was done, no table is written")
                print(f"interrupted at epoch {result['epochs']} of seed {seed}: {kept}",
                      file=sys.stderr, flush=True)
                break
            rows.append({**{column: result[column] for column in train_seeds.COLUMNS},
                         "diverged": False})
            print(f"seed {seed}: test accuracy {100 * result['test_acc']:.2f} % "
                  f"({result['test_errors']} errors of {args.test_points}, "
                  f"{result['seconds']:.1f} s)", flush=True)
            if advise(result, args, quiet=True)[0]:
                failed.append(seed)
    if rows:
        train_seeds.save_table(args, rows)
    if stop.reason:
        return 130
    return 1 if failed or any(row["diverged"] for row in rows) else 0


# ---------------------------------------------------------------------------
# Advice when a run ends near chance


def advise(result, args, quiet=False, flow=None):
    """(status, verdict) for a run's end: what the terminal says (unless quiet)
    shortened for the window's banner.

    (0, None) when the network learned. Near chance: under-trained (the loss
    still falling: status 0, train longer), a learning rate too large (the
    loss rose, jumped above where it started, or oscillated), a vanishing
    gradient (flow, the run's GradientFlow, shows the first layer's ∂ℓ/∂s 10
    times smaller than the last's), or a learning rate too small (the loss
    fell steadily but slowly); status 1 for those three.
    """
    if result["test_acc"] > CHANCE:
        return 0, None
    losses, epochs = result["history"].train_loss, result["epochs"]
    trend = (f"loss {losses[0]:.4g} after epoch 1, {losses[-1]:.4g} after epoch "
             f"{len(losses)}" if losses else "")
    longer = (f"train longer (--epochs; the default is {EPOCHS})"
              if args.epochs < EPOCHS else "train longer")
    # (status, what the loss or the gradient did, what it means and what to try)
    if not losses:
        status, why, verdict = 1, "--no-history: no loss curve", (
            "run without --no-history to be told why")
    elif len(losses) == 1:
        status, why, verdict = 0, "one epoch", f"too few to learn or to tell; {longer}"
    elif lr_too_large(losses, args, result["initial_loss"]):
        status, why, verdict = 1, lr_too_large(losses, args, result["initial_loss"]), (
            f"the learning rate {args.lr:g} is too large; try --lr {args.lr / 10:g}")
    elif still_falling(losses) and args.epochs < EPOCHS:
        status, why, verdict = 0, "the training loss is still falling", (
            f"the network is under-trained, not broken; {longer}")
    elif flow is not None and flow.rms[0][-1] < 0.1 * flow.rms[-1][-1]:
        status, why = 1, (f"RMS of ∂ℓ/∂s {flow.rms[0][-1]:.2g} in layer 1, "
                          f"{flow.rms[-1][-1]:.2g} in layer {len(flow.rms)}")
        verdict = ("the gradient vanishes towards the input, so the first layers "
                   "barely learn; try --activation relu, fewer layers (--hidden), "
                   "or --init xavier with tanh")
    else:
        status, why, verdict = 1, "the training loss fell steadily but slowly", (
            f"the learning rate {args.lr:g} is too small; try --lr {args.lr * 10:g} "
            f"(the default is {args.default_lr:g})")
    if not quiet:
        accuracy = 100 * result["test_acc"]
        print(f"seed {result['seed']}: after {epochs} epoch{'s' * (epochs > 1)} the "
              f"test accuracy {accuracy:.1f} % is near chance (50 %): {why}"
              + (f" ({trend})" if trend else "") + f": {verdict}.",
              file=sys.stderr if status else sys.stdout, flush=True)
    return status, f"Near chance: {verdict}."


def guess_loss(args):
    """The loss of a network that answers 0.5 (or equal logits) everywhere: MSE
    (0.5 - t)² = 0.25; cross-entropy ln 2."""
    return math.log(2) if args.loss == "ce" else 0.25


def lr_too_large(losses, args, initial_loss):
    """What the loss did that says the learning rate is too large, or None: it
    jumped above where it started (out of the basin, e.g. into saturated
    Sigmoids) and above the loss of answering 0.5 everywhere, it rose over the
    run, or it rose from one epoch to the next in more than a tenth of the
    epochs."""
    rises = sum(after > 1.01 * before for before, after in zip(losses, losses[1:]))
    ceiling = 1.05 * max(initial_loss, guess_loss(args))
    if max(losses) > ceiling:
        return (f"the training loss jumped to {max(losses):.3g}, above the "
                f"{initial_loss:.3g} it started from before training and the "
                f"{guess_loss(args):.3g} of answering 0.5 everywhere")
    if losses[-1] > losses[0]:
        return "the training loss rose"
    if rises > len(losses) / 10:
        return f"the training loss oscillated, up in {rises} of {len(losses)} epochs"
    return None


def still_falling(losses):
    """True when the loss fell over the last quarter of the epochs (by 0.1 % at
    least) to below where it started: training was still making progress."""
    if len(losses) < 2:
        return False
    recent = losses[-1 - max(1, len(losses) // 4):]
    return losses[-1] < 0.999 * min(recent[:-1]) and losses[-1] < losses[0]


def main(argv=None):
    """Entry point; argv as sys.argv[1:] (None: the real command line).

    Returns the exit status: 0; 1 when a run diverged or ended at chance because
    of its learning rate; 130 after Ctrl-C.
    """
    args = cli.parse_args(argv, DEFAULTS)
    # The matrices are tiny (at most 1000 x 25): one thread is fastest, and on
    # a busy machine extra threads only wait for each other.
    torch.set_num_threads(1)
    try:
        if args.seeds is not None:
            return run_seeds(args)
        return run_single(args)
    except FloatingPointError as error:  # fit() names the epoch and what to try
        print(f"training stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C in the moment before the handler is set
        print("interrupted: nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    status = main()
    # Leave at once: tearing down Tk, matplotlib and torch at exit took 0.85-8.5 s
    # after the window closed, and everything is written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
