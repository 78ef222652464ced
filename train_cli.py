"""train.py's command line: the options, the run's name and one-line description,
and the lines it prints while and after training.

Importing this module imports neither torch nor matplotlib, so that
`python train.py --help` (and a typo) answers at once.
"""

import argparse
import math
import os
import signal
import sys

ACTIVATIONS = ("relu", "tanh", "sigmoid")
ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
INITS = {"he": "He", "xavier": "Xavier"}
INTERRUPTED = "{out}-interrupted-at-epoch-{epoch}"  # where a stopped run writes

HELP_END = f"""\
A run that does not finish (Ctrl-C, or the live window closed) never touches the
folder of a finished run: stopped after epoch N >= 1, it writes its figures to
{INTERRUPTED.format(out='FOLDER', epoch='N')}; stopped before epoch 1, it writes
nothing and says so. Every file is written under a temporary name and renamed
when complete, so no interruption leaves a truncated file; Ctrl-C or closing the
window while the figures are written calls the writing off, and the folder keeps
its previous files whole.
"""


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


def _widths(text):
    """An argparse type: hidden-layer widths such as '25,25,25' -> (25, 25, 25)."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of widths: {text} (e.g. 25,25,25)") from None
    if not all(1 <= width <= 10_000 for width in widths):
        raise argparse.ArgumentTypeError(
            f"each width must be in [1, 10000], got {text}")
    return widths


def make_parser(defaults):
    """The options; `defaults` holds train.py's settings (epochs, lr, ...)."""
    lr = defaults["lr"]
    parser = argparse.ArgumentParser(
        prog="train.py", epilog=HELP_END,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a small MLP (minimlp) to tell points inside a disk from "
                    "points outside it, as in the report's experiment.")
    add = parser.add_argument
    add("--epochs", type=_number(int, 1, True), default=defaults["epochs"],
        help=f"passes over the training points (default {defaults['epochs']})")
    add("--lr", type=_number(float, 0, False), default=None,
        help=f"starting learning rate (default {lr[('sgd', 'mse', 1)]:g} for "
             f"SGD+MSE, {lr[('sgd', 'ce', 2)]:g} for SGD+CE, "
             f"{lr[('adam', 'mse', 1)]:g} for Adam)")
    add("--batch-size", type=_number(int, 1, True), default=defaults["batch_size"],
        help=f"mini-batch size (default {defaults['batch_size']})")
    add("--momentum", type=_number(float, 0, True, 1), default=defaults["momentum"],
        help=f"SGD momentum (default {defaults['momentum']}; ignored by Adam)")
    add("--weight-decay", type=_number(float, 0, True),
        default=defaults["weight_decay"],
        help=f"L2 penalty of the optimizer (default {defaults['weight_decay']:g})")
    add("--schedule", choices=("cosine", "constant"), default="cosine",
        help="learning rate: cosine decay to zero over the run (default) or constant")
    add("--optimizer", choices=("sgd", "adam"), default="sgd", help="default sgd")
    add("--activation", choices=ACTIVATIONS, default=defaults["activation"],
        help=f"activation of the hidden layers (default {defaults['activation']})")
    add("--hidden", type=_widths, default=defaults["hidden"], metavar="W,W,...",
        help="widths of the hidden layers, so their number too (default "
             f"{','.join(map(str, defaults['hidden']))})")
    add("--init", choices=tuple(INITS), default=defaults["init"],
        help="initial weights: he, normal * sqrt(2/in), or xavier, normal * "
             f"sqrt(2/(in+out)) (default {defaults['init']})")
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
        help="train N seeds (from --seed on) without figures or window; print and "
             "save a table")
    add("--no-plot", dest="plot", action="store_false",
        help="no figures and no window (matplotlib is not even imported)")
    add("--live", action=argparse.BooleanOptionalAction, default=None,
        help="show (or not) the live training window (default: when a display is "
             "found); --no-live still saves the figures")
    add("--out", default=None, metavar="FOLDER",
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
        parser.error("--loss ce needs two outputs (logits); leave out --outputs "
                     "or use 2")
    args.lr_given = args.lr is not None
    if args.lr is None:
        args.lr = defaults["lr"][(args.optimizer, args.loss, args.outputs)]
    args.default_lr = defaults["lr"][(args.optimizer, args.loss, args.outputs)]
    if args.out is None:
        args.out = os.path.join("results", run_name(args, parser))
    if args.plot or args.seeds is not None:  # something will be written there
        problem = unwritable(args.out)
        if problem:
            parser.error(f"--out {args.out}: {problem}")
    return args


NAMED = ("seeds", "seed", "activation", "hidden", "init", "loss", "outputs",
         "optimizer", "lr", "epochs", "batch_size", "momentum", "weight_decay",
         "schedule", "dtype", "test_points", "history")


def run_name(args, parser):
    """'default', or the options that differ from their defaults:
    'loss-ce_seed-3', 'activation-sigmoid_hidden-25-25-25-25-25'."""
    parts = []
    for key in NAMED:
        value, default = getattr(args, key), parser.get_default(key)
        if key == "outputs":
            default = 2 if args.loss == "ce" else 1
        if key == "lr":
            value, default = (value if args.lr_given else None), None
        if value == default:
            continue
        option = key.replace("_", "-")
        if key == "history":
            parts.append(f"no-{option}")
        elif key == "hidden":
            parts.append(f"{option}-{'-'.join(map(str, value))}")
        elif isinstance(value, float):
            parts.append(f"{option}-{value:g}")
        else:
            parts.append(f"{option}-{value}")
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
    if os.access(parent, os.W_OK):
        return None
    return f"cannot create it: {parent} is not writable"


def quit_on_ctrl_c(message):
    """From now on, Ctrl-C prints message and ends the program at once, exit
    status 130 (for the start, while nothing can be lost)."""
    def quit(signum, frame):
        print(message, file=sys.stderr, flush=True)
        os._exit(130)
    signal.signal(signal.SIGINT, quit)


def interrupted_folder(out, epoch):
    """The folder of a run stopped after `epoch` epochs: never the finished run's."""
    return INTERRUPTED.format(out=os.path.normpath(out), epoch=epoch)


def layer_sizes(args):
    """Every layer's width, input to output: [2, 25, 25, 25, 1] for the report's net."""
    return [2, *args.hidden, args.outputs]


def describe(args, seed=None):
    """The one line that says what is trained and how; the terminal's first line,
    every figure's subtitle and the live window's. The report's net, seed 0:
    '2-25-25-25-1 ReLU, He init, Sigmoid output, MSE; SGD lr 0.2 momentum 0.9,
    cosine to 0; batch 500, 1000 epochs, float32; seed 0' (one line).
    """
    sizes = "-".join(map(str, layer_sizes(args)))
    head = {"mse": "Sigmoid output, MSE", "ce": "logits, cross-entropy"}[args.loss]
    if args.optimizer == "adam":
        opt = f"Adam lr {args.lr:g}"
    else:
        opt = f"SGD lr {args.lr:g} momentum {args.momentum:g}"
    if args.weight_decay:
        opt += f" weight decay {args.weight_decay:g}"
    schedule = "cosine to 0" if args.schedule == "cosine" else "constant lr"
    line = (f"{sizes} {ACTIVATION_NAMES[args.activation]}, {INITS[args.init]} init, "
            f"{head}; {opt}, {schedule}; batch {args.batch_size}, {args.epochs} "
            f"epoch{'s' * (args.epochs != 1)}, {args.dtype}")
    return line if seed is None else f"{line}; seed {seed}"


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
    epochs = result["epochs"]
    print(f"final accuracy after {epochs} epoch{'s' * (epochs != 1)} "
          f"({seconds:.{1 if seconds >= 1 else 2}f} s of training{drawing}):")
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        n = len(result["data"][split][0])
        print(f"  {name:<10}  {100 * result[split + '_acc']:6.2f} %  "
              f"({result[split + '_errors']} errors of {n})", flush=True)
