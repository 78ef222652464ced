"""The report's experiment: teach a small MLP which points of the unit square lie in a disk.

Read from the top: the settings, the data, then `run_experiment`, which holds
the whole experiment in the order of the report (data, model, optimizer and
schedule, training, evaluation). The command line, the tables and the figures
live beside it in train_extras.py.

    python train.py                      # seed 0: progress, final accuracy, figures
    python train.py --no-plot            # the same without figures (about 3 s)
    python train.py --seeds 10           # seeds 0..9 and a table of accuracies
    python train.py --test-points 20000  # a sharper estimate of the test accuracy
    python train.py --dtype float64      # the same points and weights, less rounding
    python train.py --outputs 2          # the 2018 homework: two outputs, one-hot targets
    python train.py --loss ce            # two logits and cross-entropy
    python train.py --help               # every option

Unlike minimlp.py (which touches torch only through `torch.empty`), this script
uses torch freely: it is a user of the framework, and it uses only minimlp's
public API.
"""

import sys

import train_extras as extras  # no torch, no matplotlib at import

# ---------------------------------------------------------------------------
# Settings. Chosen by measurement on seeds 100-129 (never on the seeds 0-9 of
# the reported tables), with 20000 fresh test points per seed: see "Choosing
# the settings" in docs/experiment.md for what each alternative gave.

N_POINTS = 1000     # training and validation points (and test points by default)
HIDDEN = 25         # width of the three hidden layers
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
                momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, lr=DEFAULT_LR)

if __name__ == "__main__":
    # Read the command line before torch is imported (1-2 s): --help, a typo
    # or an --out that cannot be written answer at once.
    extras.parse_args(sys.argv[1:], DEFAULTS)

import math  # noqa: E402  (after the early check of the command line)
import time  # noqa: E402

import torch  # noqa: E402

from minimlp import (SGD, Adam, CrossEntropyLoss, Dense, MSELoss, ReLU,  # noqa: E402
                     Sequential, Sigmoid, fit)

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

def run_experiment(args, seed, on_epoch=None):
    """Train the report's network on one seed's data; return a dict of results.

    The data and the initial weights are drawn in float32, then cast to
    args.dtype: a float64 run sees the very same points and weights as a
    float32 one.
    on_epoch(epoch, model, history), if given, is called after every epoch
    (progress lines, snapshots for the figures); returning False stops training.
    """
    # 1. Data: 1000 training and 1000 validation points, args.test_points test points.
    dtype = getattr(torch, args.dtype)
    data = make_data(seed, args.test_points)
    inputs = {split: network_input(x, dtype) for split, (x, _) in data.items()}
    targets = {split: make_targets(y, args, dtype) for split, (_, y) in data.items()}

    # 2. Model: 2 -> 25 -> 25 -> 25 -> outputs, ReLU, He initialisation.
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
            optimizer.lr = args.lr * (1 + math.cos(math.pi * (epoch + 1) / args.epochs)) / 2
        if on_epoch is not None:
            return on_epoch(epoch, model, history)

    # 4. Training: shuffled mini-batches, the loss and accuracy of both sets
    #    recorded after every epoch (the report's "compute history").
    start = time.perf_counter()
    history = fit(model, loss, optimizer, inputs["train"], targets["train"], args.epochs,
                  batch_size=args.batch_size, val=(inputs["val"], targets["val"]),
                  history=args.history, callback=after_epoch,
                  generator=stream(seed, "shuffle"))
    seconds = time.perf_counter() - start

    # 5. Evaluation: errors on the three sets, counted point by point.
    result = {"seed": seed, "model": model, "history": history, "data": data,
              "seconds": seconds, "epochs": epochs_run}
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


def build_model(args, generator=None):
    """2 -> 25 -> 25 -> 25 -> args.outputs with ReLU, He init; a Sigmoid head with MSE
    (outputs in (0, 1)), none with cross-entropy (which takes logits)."""
    sizes = [2, HIDDEN, HIDDEN, HIDDEN]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(n_in, n_out, init="he", generator=generator), ReLU()]
    layers.append(Dense(HIDDEN, args.outputs, init="he", generator=generator))
    if args.loss == "mse":
        layers.append(Sigmoid())
    return Sequential(*layers)


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


def count_errors(model, x, y):
    """Number of points of (x, y) that the model puts in the wrong class."""
    return int((predict_class(model, x) != y.reshape(-1).long()).sum())


# ---------------------------------------------------------------------------
# Running it: one seed with progress and figures, or a table over seeds

CHANCE = 0.6  # a test accuracy at or below this is no better than a coin (50 %)


def run_single(args):
    """One seed: progress lines, the final accuracies, the figures (and the live
    window). Returns the exit status."""
    print(f"{extras.describe(args)}; seed {args.seed}", flush=True)
    with extras.StopRequest() as stop:
        recorder = None
        if args.plot:
            recorder = extras.Recorder(args, make_data(args.seed)["val"], predict_class,
                                       circle=(CENTRE, RADIUS), stop=stop)
            recorder.snapshot(0, build_model(args, stream(args.seed, "init")), None)
        progress = extras.Progress(args)

        def on_epoch(epoch, model, history):
            progress(epoch, history)
            if recorder is not None:
                recorder.snapshot(epoch + 1, model, history)
            return stop.reason is None  # Ctrl-C or a closed window: stop now

        result = run_experiment(args, args.seed, on_epoch=on_epoch)
        stopped = stop.reason  # None when training ran to the end
        window = recorder.window if recorder is not None else None
        if stopped:
            line = f"{stopped} at epoch {result['epochs']} of {args.epochs}"
            print(f"{line}: training stopped; what follows is the model as it is",
                  file=sys.stderr, flush=True)
            if window is not None:
                window.finish(f"{line.capitalize()}: writing the figures, then exiting.",
                              wait=False)
        extras.print_final(result, window.seconds if window else None)
        status = 0 if stopped else verdict(result, args)  # stopped: too soon to judge
        if recorder is not None:
            extras.save_figures(args, result, recorder)
        if window is not None and not stopped:
            print("the window stays open: close it (or press Ctrl-C here) to exit",
                  flush=True)
            window.finish(f"Done: test accuracy {100 * result['test_acc']:.2f} %. "
                          f"Close this window (or press Ctrl-C in the terminal) to exit.",
                          wait=True)
    if stopped == "interrupted":
        return 130
    return 0 if stopped == "window closed" else status


def run_seeds(args):
    """--seeds N: seeds args.seed .. args.seed + N - 1, no figures; a table.

    A seed whose loss diverges is recorded as diverged and the others go on.
    Ctrl-C stops at once and saves the table of the seeds done so far.
    """
    print(f"{extras.describe(args)}; seeds {args.seed}..{args.seed + args.seeds - 1}",
          flush=True)
    rows, failed = [], []
    with extras.StopRequest() as stop:
        for seed in range(args.seed, args.seed + args.seeds):
            try:
                result = run_experiment(args, seed, lambda *_: stop.reason is None)
            except FloatingPointError as error:
                print(f"seed {seed}: diverged ({error})", flush=True)
                rows.append(extras.diverged_row(seed))
                continue
            if stop.reason:
                kept = (f"the table keeps the {len(rows)} seeds done" if rows
                        else "no seed was done, no table is written")
                print(f"interrupted at epoch {result['epochs']} of seed {seed}: {kept}",
                      file=sys.stderr, flush=True)
                break
            rows.append({**{column: result[column] for column in extras.COLUMNS},
                         "diverged": False})
            print(f"seed {seed}: test accuracy {100 * result['test_acc']:.2f} % "
                  f"({result['test_errors']} errors of {args.test_points}, "
                  f"{result['seconds']:.1f} s)", flush=True)
            if verdict(result, args):
                failed.append(seed)
    if rows:
        extras.save_table(args, rows)
    if stop.reason:
        return 130
    return 1 if failed or any(row["diverged"] for row in rows) else 0


def verdict(result, args):
    """0 when the network learned, or when it is near chance but its loss is still
    falling (too few epochs: said, not an error); 1, saying why, when it is near
    chance because the loss stopped falling (a learning-rate problem)."""
    if result["test_acc"] > CHANCE:
        return 0
    losses, epochs = result["history"].train_loss, result["epochs"]
    where = (f"seed {result['seed']}: after {epochs} epoch{'s' * (epochs > 1)} the test "
             f"accuracy {100 * result['test_acc']:.1f} % is near chance (50 %)")
    longer = (f"train longer (--epochs; the default is {EPOCHS})" if args.epochs < EPOCHS
              else "train longer, or with a larger --lr")
    if len(losses) == 1:
        print(f"{where}; one epoch is too few to learn, or to tell a trend: {longer}.",
              flush=True)
        return 0
    if still_falling(losses):
        print(f"{where}, but the training loss is still falling ({losses[0]:.4g} after "
              f"epoch 1, {losses[-1]:.4g} after epoch {len(losses)}): the network is "
              f"under-trained, not broken; {longer}.", flush=True)
        return 0
    why = ("the training loss stopped falling "
           f"({losses[0]:.4g} after epoch 1, {losses[-1]:.4g} after epoch {len(losses)})"
           if losses else
           "(--no-history: no loss curve to tell whether it was still falling)")
    print(f"{where}: {why}. The learning rate {args.lr:g} is probably too large; "
          f"try --lr {args.lr / 10:g}.", file=sys.stderr, flush=True)
    return 1


def still_falling(losses):
    """True when the loss fell over the last quarter of the epochs (by 0.1 % at
    least) to below where it started: training was still making progress."""
    if len(losses) < 2:
        return False
    recent = losses[-1 - max(1, len(losses) // 4):]
    return losses[-1] < 0.999 * min(recent[:-1]) and losses[-1] < losses[0]


def main(argv=None):
    """Entry point; argv as sys.argv[1:] (None: the real command line).

    Returns the exit status: 0; 1 when a run diverged or ended at chance with a
    loss that stopped falling; 130 after Ctrl-C.
    """
    args = extras.parse_args(argv, DEFAULTS)
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
    except KeyboardInterrupt:  # a second Ctrl-C, while the figures were written
        print("interrupted again: stopped before everything was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
