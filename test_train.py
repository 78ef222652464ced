"""Tests of train.py: the disk data, the command line, the saved figures and tables,
the live window and Ctrl-C.

Most tests call train.main() in-process with few epochs; some run the script as a
subprocess, headless (MPLBACKEND=Agg), as a user or CI would. The slow ones: the
accuracy of the default run over seeds 0-9, and the live window on a real X
display (Xvfb and the openbox window manager, skipped saying why where they are
missing).
"""

import csv
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import pytest
import torch

import train
import train_cli as cli
import train_figures as figures
import train_seeds

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """train.main() sets torch to one thread; give other test files theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def run_script(*options, timeout=120):
    """Run `python train.py OPTIONS` headless; return the CompletedProcess."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "train.py", *options], cwd=HERE, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# Data

def test_generate_disk_shapes_and_dtypes():
    x, y = train.generate_disk(500, torch.Generator().manual_seed(1))
    assert x.shape == (500, 2) and y.shape == (500, 1)  # rows are points
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1  # inside the unit square
    assert set(y.reshape(-1).tolist()) == {0.0, 1.0}  # labels are 0 or 1


def test_generate_disk_labels_follow_the_distance_rule():
    x, y = train.generate_disk(2000, torch.Generator().manual_seed(2))
    for (x1, x2), label in zip(x.tolist(), y.reshape(-1).tolist()):
        inside = math.hypot(x1 - 0.5, x2 - 0.5) < 1 / math.sqrt(2 * math.pi)
        assert label == float(inside), (x1, x2, label)  # 1 exactly inside the disk


def test_generate_disk_area_is_one_half():
    # The disk covers half the square, so about half the points are inside:
    # with n = 100000 the fraction's standard deviation is 0.0016.
    _, y = train.generate_disk(100_000, torch.Generator().manual_seed(3))
    assert abs(float(y.mean()) - 0.5) < 0.01  # classes balanced
    assert math.isclose(math.pi * train.RADIUS ** 2, 0.5)  # area exactly 1/2


def test_generate_disk_is_reproducible_with_a_generator():
    a = train.generate_disk(100, torch.Generator().manual_seed(4))
    b = train.generate_disk(100, torch.Generator().manual_seed(4))
    c = train.generate_disk(100, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # same seed, same data
    assert not torch.equal(a[0], c[0])  # another seed, other data
    x, y = train.generate_disk(10)  # the global generator works too
    assert x.shape == (10, 2) and y.shape == (10, 1)


def test_splits_are_distinct_and_depend_on_the_seed_only():
    data = train.make_data(0)
    assert not torch.equal(data["train"][0], data["test"][0])  # separate streams
    assert not torch.equal(data["val"][0], data["test"][0])
    again = train.make_data(0)
    assert torch.equal(data["test"][0], again["test"][0])  # same seed, same test set
    assert not torch.equal(data["test"][0], train.make_data(1)["test"][0])


def test_test_points_draws_a_larger_fresh_test_set():
    data = train.make_data(0, test_points=5000)
    assert data["test"][0].shape == (5000, 2)
    assert data["train"][0].shape == (1000, 2)  # training data unchanged
    assert torch.equal(data["train"][0], train.make_data(0)["train"][0])


def args_for(*options):
    return train.settings(options)


def test_targets_for_each_variant():
    y = torch.tensor([[1.0], [0.0]])
    assert torch.equal(train.make_targets(y, args_for()), y)
    two = train.make_targets(y, args_for("--outputs", "2"))
    assert torch.equal(two, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    ce = train.make_targets(y, args_for("--loss", "ce"))
    assert ce.dtype == torch.int64 and ce.tolist() == [1, 0]  # class indices
    assert train.make_targets(y, args_for(), torch.float64).dtype == torch.float64


# ---------------------------------------------------------------------------
# Training, in-process

def test_training_is_reproducible():
    args = args_for("--epochs", "3")
    a = train.run_experiment(args, seed=7)
    b = train.run_experiment(args, seed=7)
    assert a["history"].train_loss == b["history"].train_loss  # same seed, same run
    assert a["test_errors"] == b["test_errors"]


def test_float64_run_starts_from_the_same_points_and_weights_and_stays_close():
    # 30 epochs: the float32 and float64 runs differ only by rounding, and the
    # default settings do not amplify it (a chaotic run would reach O(1)).
    single = train.run_experiment(args_for("--epochs", "30"), seed=3)
    double = train.run_experiment(args_for("--epochs", "30", "--dtype", "float64"),
                                  seed=3)
    assert double["model"].param()[0][0].dtype == torch.float64
    for (w32, _), (w64, _) in zip(single["model"].param(), double["model"].param()):
        assert (w32.double() - w64).abs().max() < 1e-3  # rounding, not chaos
    assert abs(single["test_errors"] - double["test_errors"]) <= 2


@pytest.mark.parametrize("options", [
    ["--outputs", "2"],
    ["--loss", "ce"],
    ["--optimizer", "adam"],
    ["--optimizer", "adam", "--loss", "ce"],
    ["--no-history"],
    ["--schedule", "constant", "--batch-size", "100", "--lr", "0.05"],
])
def test_variants_train(options):
    args = args_for(*options, "--epochs", "100")
    result = train.run_experiment(args, seed=0)
    assert len(result["history"]) == (0 if "--no-history" in options else 100)
    assert result["test_acc"] > 0.9, result["test_acc"]  # learns with its default lr


def test_main_prints_progress_and_final_accuracy(capsys):
    assert train.main(["--epochs", "20", "--no-plot"]) == 0
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if line.startswith("epoch")]
    assert 2 <= len(progress) <= 12  # a few progress lines, not one per epoch
    for name in ("train", "validation", "test"):
        assert any(line.split()[:1] == [name] and "errors" in line
                   for line in out.splitlines()), name


def test_diverging_loss_is_a_message_not_a_traceback(capsys):
    options = ["--loss", "ce", "--lr", "1e30", "--epochs", "2", "--no-plot"]
    assert train.main(options) == 1
    err = capsys.readouterr().err
    assert "training stopped" in err and "learning rate" in err, err


def test_chance_level_says_so_and_suggests_a_smaller_lr(capsys):
    # lr 100 saturates the Sigmoid at once: the net predicts one class everywhere,
    # and the loss stops falling after the first epoch.
    assert train.main(["--lr", "100", "--epochs", "5", "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "chance" in err and "jumped" in err and "--lr 10" in err, err
    assert "too large" in err, err


def test_a_small_learning_rate_is_called_too_small(capsys):
    # Issue 22: lr 0.0001 (2000x below the default) ended at chance with a loss
    # that fell steadily, and the advice was "too large; try --lr 1e-05".
    assert train.main(["--lr", "0.0001", "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "chance" in err and "too small" in err and "--lr 0.001" in err, err
    assert "too large" not in err and "1e-05" not in err, err


def test_a_short_run_is_under_trained_not_a_failure(capsys):
    # Five epochs end near chance (59 %) with the loss still falling: too few
    # epochs, not a wrong learning rate.
    assert train.main(["--epochs", "5", "--no-plot"]) == 0
    captured = capsys.readouterr()
    assert "under-trained" in captured.out and "--epochs" in captured.out, captured.out
    assert "--lr" not in captured.out + captured.err  # no advice about the lr


@pytest.mark.parametrize("losses, falling", [
    ([0.235, 0.227, 0.220, 0.215, 0.2136], True),  # --epochs 5
    ([0.48, 0.49, 0.49, 0.49, 0.49], False),       # lr 100: saturated at once
    ([0.25, 0.20, 0.21, 0.22, 0.26], False),       # rising again
    ([0.25], False),                               # one epoch: no trend
    ([], False),                                   # --no-history
])
def test_still_falling_reads_the_recent_trend(losses, falling):
    assert train.still_falling(losses) is falling


def test_training_time_is_stated_once(capsys):
    assert train.main(["--epochs", "20", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert out.count(" s ") + out.count(" s)") == 1, out  # the final line alone
    assert "final accuracy after 20 epochs (" in out


def test_seeds_table(tmp_path, capsys):
    options = ["--seeds", "2", "--epochs", "2", "--out", str(tmp_path)]
    assert train.main(options) in (0, 1)
    out = capsys.readouterr().out
    assert "mean±std" in out and "median" in out
    table = json.loads((tmp_path / "seeds.json").read_text())
    assert [run["seed"] for run in table["runs"]] == [0, 1]
    for column in ("train_acc", "val_acc", "test_acc"):
        assert set(table["summary"][column]) == {"mean", "std", "median", "min", "max"}
        values = [run[column] for run in table["runs"]]
        assert math.isclose(table["summary"][column]["mean"], statistics.mean(values))
    with open(tmp_path / "seeds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(train_seeds.COLUMNS) + ["diverged"]  # the header
    assert [row["seed"] for row in rows] == ["0", "1", *train_seeds.STATS]
    assert not (tmp_path / "decision_regions.png").exists()  # no figures for a table


def test_seeds_with_live_says_why_there_is_no_window(tmp_path, capsys):
    # Issue 22: `--seeds 2 --live` showed no window and said nothing.
    train.main(["--seeds", "1", "--epochs", "2", "--live", "--out", str(tmp_path)])
    assert "--seeds draws no window" in capsys.readouterr().out


def test_a_diverging_seed_is_recorded_and_the_table_saved(tmp_path, monkeypatch,
                                                            capsys):
    real = train.run_experiment

    def diverge_on_seed_1(args, seed, on_epoch=None):
        if seed == 1:
            raise FloatingPointError("loss is nan at epoch 1: try a smaller "
                                     "learning rate")
        return real(args, seed, on_epoch)

    monkeypatch.setattr(train, "run_experiment", diverge_on_seed_1)
    status = train.main(["--seeds", "3", "--epochs", "30", "--out", str(tmp_path)])
    assert status == 1  # said, not silent
    assert "seed 1: diverged" in capsys.readouterr().out
    table = json.loads((tmp_path / "seeds.json").read_text())
    assert [run["diverged"] for run in table["runs"]] == [False, True, False]
    assert table["runs"][1]["test_acc"] is None  # no accuracy for a diverged seed
    others = [table["runs"][i]["test_acc"] for i in (0, 2)]
    assert math.isclose(table["summary"]["test_acc"]["mean"], statistics.mean(others))


def test_gif_frames_are_log_spaced_and_modest_in_number():
    epochs = figures.frame_epochs(train.EPOCHS)
    assert epochs[0] == 0 and epochs[-1] == train.EPOCHS
    assert 20 <= len(epochs) <= 41
    # dense at the start, where the regions change most
    assert epochs[:4] == [0, 1, 2, 3]


def test_headless_setup_never_goes_live(monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    live = figures.setup_matplotlib(want_live=True)
    assert live is False  # --live without a display: figures are saved instead
    assert "no display" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Command line

@pytest.mark.parametrize("options, message", [
    (["--epochs", "-3"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--outputs", "3"], "--outputs"),
    (["--loss", "ce", "--outputs", "1"], "--loss ce"),
    (["--momentum", "1.5"], "--momentum"),
    (["--seeds", "0"], "--seeds"),
    (["--optimizer", "rmsprop"], "--optimizer"),
])
def test_bad_values_are_argparse_errors(options, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(options, train.DEFAULTS)
    assert exit_info.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["--help"], train.DEFAULTS)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--lr", "--batch-size", "--optimizer", "--loss",
                   "--outputs", "--no-history", "--seed ", "--seeds", "--no-plot",
                   "--live", "--out", "--dtype", "--test-points", "--activation",
                   "--hidden", "--init", "--no-live"):
        assert option in out, option
    assert "interrupted-at-epoch-N" in out  # where a stopped run writes


def test_script_help_does_not_import_torch():
    process = subprocess.run([sys.executable, "-X", "importtime", "train.py", "--help"],
                             cwd=HERE, capture_output=True, text=True, timeout=60)
    assert process.returncode == 0 and "--test-points" in process.stdout
    imported = [line.split("|")[-1].strip() for line in process.stderr.splitlines()]
    # answered before torch is imported
    assert "torch" not in imported and "minimlp" not in imported


@pytest.mark.parametrize("options, name", [
    ([], "default"),
    (["--loss", "ce"], "loss-ce"),
    (["--outputs", "2", "--seed", "3"], "seed-3_outputs-2"),
    (["--seeds", "10", "--test-points", "20000"], "seeds-10_test-points-20000"),
    (["--optimizer", "adam", "--lr", "0.01"], "optimizer-adam_lr-0.01"),
    (["--dtype", "float64", "--no-history"], "dtype-float64_no-history"),
    (["--activation", "sigmoid", "--hidden", "25,25,25,25,25"],
     "activation-sigmoid_hidden-25-25-25-25-25"),
    (["--init", "xavier", "--hidden", "8,8"], "hidden-8-8_init-xavier"),
    (["--activation", "relu", "--hidden", "25,25,25", "--init", "he"], "default"),
])
def test_variants_write_to_their_own_folder(options, name):
    args = cli.parse_args(options, train.DEFAULTS)
    # never over the default run's files
    assert args.out == os.path.join("results", name)


def test_network_options_build_the_network_they_name():
    from minimlp import Dense, ReLU, Sigmoid, Tanh
    default = train.build_model(train.settings(), torch.Generator().manual_seed(0))
    same = train.build_model(
        train.settings(["--activation", "relu", "--hidden", "25,25,25",
                        "--init", "he"]),
        torch.Generator().manual_seed(0))
    assert [type(m) for m in default] == [Dense, ReLU] * 3 + [Dense, Sigmoid]
    for (a, _), (b, _) in zip(default.param(), same.param(), strict=True):
        assert torch.equal(a, b)  # the defaults are the report's net, weights and all
    args = train.settings(["--activation", "tanh", "--hidden", "8,6,4,3", "--init",
                           "xavier"])
    model = train.build_model(args, torch.Generator().manual_seed(0))
    dense = [m for m in model if isinstance(m, Dense)]
    assert [d.weight.shape[0] for d in dense] == [8, 6, 4, 3, 1]  # widths, so depth
    assert sum(isinstance(m, Tanh) for m in model) == 4
    # Xavier: std sqrt(2 / (in + out)) = 0.05 here; He would be sqrt(2 / in) = 0.071
    wide = train.build_model(
        train.settings(["--hidden", "400,400", "--init", "xavier"]),
        torch.Generator().manual_seed(0))
    assert abs(float(wide[2].weight.std()) - math.sqrt(2 / 800)) < 0.005
    assert cli.describe(args).startswith("2-8-6-4-3-1 Tanh, Xavier init, ")


def test_describe_is_one_line_from_the_settings():
    line = cli.describe(train.settings(["--loss", "ce", "--hidden", "10,10"]), seed=4)
    assert line.startswith(
        "2-10-10-2 ReLU, He init, logits, cross-entropy; SGD lr 0.05")
    assert line.endswith("; seed 4") and "\n" not in line
    assert "25" not in line  # nothing hard-coded: the widths come from --hidden


def test_a_deep_sigmoid_net_reports_its_vanishing_gradient(capsys):
    # Issue 23: the report's vanishing-gradient risk, measured by minimlp's backward.
    assert train.main(["--activation", "sigmoid", "--hidden", "25,25,25,25,25",
                       "--epochs", "30", "--no-plot"]) in (0, 1)
    captured = capsys.readouterr()
    flow = [line for line in captured.out.splitlines() if "gradient flow" in line]
    assert len(flow) == 2, captured.out  # at initialisation and at the end
    assert "epoch 0:" in flow[0] and "layer 5" in flow[0]
    assert "vanishing towards the input" in flow[0], flow


def test_bad_out_fails_before_training(tmp_path, capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for out in (a_file, a_file / "below"):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse_args(["--out", str(out)], train.DEFAULTS)
        assert exit_info.value.code == 2
        assert "--out" in capsys.readouterr().err
    # nothing to write: no check
    cli.parse_args(["--out", str(a_file), "--no-plot"], train.DEFAULTS)


def test_script_bad_value_exits_2_without_traceback():
    process = run_script("--batch-size", "0")
    assert process.returncode == 2
    assert "--batch-size: must be >= 1" in process.stderr
    assert "Traceback" not in process.stderr


def test_script_headless_run_saves_figures_and_says_so(tmp_path):
    from PIL import Image
    process = run_script("--epochs", "6", "--batch-size", "50", "--lr", "0.05",
                         "--outputs", "2", "--out", str(tmp_path))
    assert process.returncode == 0, process.stderr
    assert "test" in process.stdout and "%" in process.stdout  # final accuracy printed
    for name in ("decision_regions.png", "history.png", "gradient_flow.png",
                 "hidden_units.png", "training.gif"):
        assert (tmp_path / name).stat().st_size > 1000, name
        assert f"writing {tmp_path / name}" in process.stdout  # says what it is doing
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["decision_regions.png", "history.png", "gradient_flow.png", "hidden_units.png",
         "training.gif"])  # and no temporary file left behind
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == 7  # initial state + one frame per epoch
        assert min(gif.size) >= 480  # readable on the docs page
        durations = []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
    assert durations[-1] >= 5 * durations[0]  # a pause on the last frame


def test_saving_figures_opens_no_window(tmp_path):
    # The saved figures never go through pyplot: with a GUI backend, each pyplot
    # figure would be a window popping up (and taking the focus).
    code = (f"import matplotlib; matplotlib.use('Agg')\n"
            f"import matplotlib.pyplot as plt\n"
            f"made = []\n"
            f"real = plt.figure\n"
            f"plt.figure = lambda *a, **k: made.append(1) or real(*a, **k)\n"
            f"import train\n"
            f"status = train.main(['--epochs', '2', '--out', {str(tmp_path)!r}])\n"
            f"assert status == 0 and made == [], (status, made)\n")
    process = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "history.png").exists()


def test_the_live_window_scales_its_text_when_it_is_resized():
    # Opened at 1100 px its text is 9 pt; made 700 px wide it takes the 7 pt that a
    # window opened at that width would (titles, tick labels, the description), and
    # back at 1100 px 9 pt again. Agg stands in for the screen; on_resize is what
    # the resize event calls.
    code = ("import matplotlib; matplotlib.use('Agg')\n"
            "import torch, train, train_cli, train_figures as figures, train_window\n"
            "args = train_cli.parse_args(['--epochs', '2'], train.DEFAULTS)\n"
            "window = train_window.LiveWindow(args, (train.CENTRE, train.RADIUS),\n"
            "    train.make_data(0)['val'], 'run', train_window.StopRequest())\n"
            "window.open(torch.full((figures.GRID, figures.GRID), 0.5))\n"
            "def sizes():\n"
            "    return [window.font, window.ax_regions.title.get_fontsize(),\n"
            "            window.ax_regions.get_xticklabels()[0].get_fontsize(),\n"
            "            window.description.get_fontsize()]\n"
            "seen = [sizes()]\n"
            "for inches in ((7, 5.2), (11, 6.2)):\n"
            "    window.fig.set_size_inches(*inches)\n"
            "    window.on_resize(None)\n"
            "    seen.append(sizes())\n"
            "print(seen)\n")
    process = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    opened, narrow, wide = eval(process.stdout)
    assert opened[0] == 9 and narrow[0] == 7 and wide == opened, (opened, narrow, wide)
    assert all(n < o for n, o in zip(narrow[1:], opened[1:])), (opened, narrow)
    assert narrow[2] == 6, "tick labels at font - 1, as a window opened that narrow"


class Script:
    """`python train.py OPTIONS` running, headless unless env says otherwise; a
    thread reads its output line by line, so no read can hang a test."""

    def __init__(self, *options, env=None):
        if env is None:
            env = {**os.environ, "MPLBACKEND": "Agg"}
            env.pop("DISPLAY", None)
            env.pop("WAYLAND_DISPLAY", None)
        self.process = subprocess.Popen(
            [sys.executable, "train.py", *options], cwd=HERE, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:  # the script flushes each line it prints
            self.lines.append(line)

    def wait_for(self, text, timeout=120):
        """Wait until a printed line holds text."""
        end = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            running = self.process.poll() is None
            assert running and time.monotonic() < end, f"{text!r}: {self.lines}"
            time.sleep(0.005)

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends

    def finish(self, timeout=120):
        """(stdout, stderr) once the script has ended."""
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=timeout)
        return "".join(self.lines), self.process.stderr.read()


def test_ctrl_c_stops_a_run_with_one_line_and_status_130():
    script = Script("--no-plot", "--epochs", "1000000")
    script.wait_for("epoch    1/")
    script.interrupt()
    out, err = script.finish()
    assert script.process.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted at epoch "), err
    epoch = int(re.search(r"at epoch (\d+) of", lines[0]).group(1))
    assert 1 <= epoch < 1000000  # stopped at once, not at the end
    assert f"final accuracy after {epoch} epoch" in out  # what was measured is kept


def folder_bytes(folder):
    """{file name: bytes} of every file in folder."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_readable(folder):
    """Every figure in folder opens and decodes whole."""
    from PIL import Image
    for path in folder.iterdir():
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file raises


def test_interrupted_run_writes_its_own_folder_named_for_the_epoch(tmp_path):
    out = tmp_path / "run"
    script = Script("--epochs", "1000000", "--out", str(out))
    script.wait_for("epoch    1/")
    script.interrupt()
    stdout, err = script.finish()
    assert script.process.returncode == 130, err
    line, = err.strip().splitlines()  # one line, no traceback
    epoch = int(re.search(r"at epoch (\d+) of", line).group(1))
    stopped = tmp_path / f"run-interrupted-at-epoch-{epoch}"
    assert str(stopped) in line  # says where its figures went
    assert not out.exists()  # never the finished run's folder
    assert {path.name for path in stopped.iterdir()} == {
        "decision_regions.png", "history.png", "gradient_flow.png", "hidden_units.png",
        "training.gif"}
    assert_readable(stopped)


def test_ctrl_c_before_training_writes_nothing(tmp_path):
    # Issue 22: Ctrl-C after the first line, before the window (here: before
    # training; matplotlib is still importing) was ignored until epoch 1, and
    # then the folder was replaced by a one-epoch model.
    out = tmp_path / "run"
    out.mkdir()
    (out / "decision_regions.png").write_bytes(b"the finished run's figure")
    script = Script("--epochs", "1000000", "--out", str(out))
    script.wait_for("seed 0")  # the first line: the settings
    script.interrupt()
    stdout, err = script.finish()
    assert script.process.returncode == 130, err
    assert err.strip() == "interrupted before training: nothing was written", err
    assert "epoch    1/" not in stdout  # no epoch was trained
    assert folder_bytes(out) == {"decision_regions.png": b"the finished run's figure"}
    assert [path.name for path in tmp_path.iterdir()] == ["run"]  # no other folder


def test_ctrl_c_while_torch_imports_is_one_line_without_traceback():
    # Issue 22: Ctrl-C in the first seconds printed a traceback through torch.
    # Wait for the command line to be read (twice what Python takes to start,
    # here and now) but not for torch, which takes a second or more to import.
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import argparse"], timeout=60)
    startup = time.monotonic() - start
    script = Script("--no-plot")
    time.sleep(2 * startup + 0.1)
    script.interrupt()
    stdout, err = script.finish()
    assert script.process.returncode == 130, err
    assert err.strip() == ("interrupted while starting (importing torch): nothing was "
                           "run or written"), err
    assert stdout.count("\n") <= 1  # the settings line at most: no training


def test_two_ctrl_c_while_figures_are_written_leave_the_previous_files(tmp_path):
    # Issue 22: a second Ctrl-C while saving cut decision_regions.png at 124
    # bytes beside the previous run's other figures.
    out = tmp_path / "run"
    assert run_script("--epochs", "3", "--out", str(out)).returncode == 0
    before = folder_bytes(out)
    script = Script("--epochs", "2", "--out", str(out))
    script.wait_for("writing ")
    script.interrupt()
    time.sleep(0.1)
    script.interrupt()
    stdout, err = script.finish()
    assert script.process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().endswith(f"while writing the figures: none written, {out} keeps "
                                "its previous files"), err
    assert folder_bytes(out) == before  # whole, and all from the finished run
    assert_readable(out)


def test_no_plot_never_imports_matplotlib():
    code = ("import sys, train; train.main(['--epochs', '1', '--no-plot']); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    process = subprocess.run([sys.executable, "-c", code], cwd=HERE,
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr


# ---------------------------------------------------------------------------
# The committed runs (docs/assets/results) and the pages that quote them

RESULTS = os.path.join(HERE, "docs", "assets", "results")


def committed(variant):
    with open(os.path.join(RESULTS, variant, "seeds.json")) as f:
        return json.load(f)


def test_committed_default_runs_reproduce_in_float64():
    single, double = committed("mse-1"), committed("mse-1-float64")
    dtypes = (single["config"]["dtype"], double["config"]["dtype"])
    assert dtypes == ("float32", "float64")
    assert {k: v for k, v in single["config"].items() if k != "dtype"} == \
        {k: v for k, v in double["config"].items() if k != "dtype"}
    for a, b in zip(single["runs"], double["runs"], strict=True):
        assert a["seed"] == b["seed"]
        assert abs(a["test_errors"] - b["test_errors"]) <= 2, a["seed"]  # not chaotic


def test_committed_default_runs_meet_the_goal():
    runs = committed("mse-1")
    assert [run["seed"] for run in runs["runs"]] == list(range(10))
    assert runs["summary"]["test_acc"]["median"] >= 0.99
    sharp = committed("mse-1-20k")
    assert sharp["config"]["test_points"] == 20000
    assert [run["seed"] for run in sharp["runs"]] == list(range(10))


def test_committed_runs_used_the_current_defaults():
    variants = [name for name in sorted(os.listdir(RESULTS))
                if os.path.isdir(os.path.join(RESULTS, name))]  # not manifest.json
    for variant in variants:
        config = committed(variant)["config"]
        rerun = (f"rerun: python train.py --seeds 10 ... "
                 f"--out docs/assets/results/{variant}")
        assert config["epochs"] == train.EPOCHS, rerun
        assert config["batch_size"] == train.BATCH_SIZE, rerun
        key = (config["optimizer"], config["loss"], config["outputs"])
        assert config["lr"] == train.DEFAULT_LR[key], rerun
        assert config["momentum"] == train.MOMENTUM, rerun
        assert config["schedule"] == "cosine", rerun
        assert config["seeds"] == 10 and config["seed"] == 0, rerun


def test_experiment_page_leads_with_the_20000_point_headline():
    with open(os.path.join(HERE, "docs", "experiment.md"), encoding="utf-8") as f:
        page = f.read()
    first = page.index("<!-- minimlp:")
    assert page[first:].startswith("<!-- minimlp:seeds-headline mse-1-20k -->")


# ---------------------------------------------------------------------------
# The default run's accuracy

@pytest.mark.slow
def test_default_run_median_test_accuracy_over_ten_seeds():
    torch.set_num_threads(1)  # as main() does (the fixture restores it)
    args = args_for()
    accuracies = [train.run_experiment(args, seed)["test_acc"] for seed in range(10)]
    assert statistics.median(accuracies) >= 0.99, accuracies


# ---------------------------------------------------------------------------
# The live window on a real X display: Xvfb with a window manager (openbox),
# matplotlib's TkAgg backend, observed from outside as a user sees it.

X_TOOLS = ("Xvfb", "openbox", "xdotool", "import")


def x_tool_problem():
    """Why the live-window tests cannot run here (None when they can)."""
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        return (f"needs {', '.join(missing)} (Debian: apt-get install xvfb openbox "
                f"xdotool imagemagick)")
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return "this Python has no tkinter, which matplotlib's TkAgg window needs"
    return None


@pytest.fixture(scope="module")
def x_display(tmp_path_factory):
    """A fresh X display with openbox; yields its environment for subprocesses."""
    problem = x_tool_problem()
    if problem:
        pytest.skip(problem)
    # Displays :91-:95 are this file's (test_backprop_views.py uses :96-:99).
    number = next(n for n in range(91, 96) if not os.path.exists(f"/tmp/.X{n}-lock"))
    env = {**os.environ, "DISPLAY": f":{number}", "MPLBACKEND": "TkAgg"}
    env.pop("WAYLAND_DISPLAY", None)
    logs = tmp_path_factory.mktemp("x")
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp"], stdout=open(logs / "xvfb.log", "w"),
                              stderr=subprocess.STDOUT)
    manager = None
    try:
        for _ in range(100):  # up within a few seconds
            if subprocess.run(["xdotool", "getdisplaygeometry"], env=env,
                              capture_output=True, timeout=30).returncode == 0:
                break
            time.sleep(0.1)
        else:
            log = (logs / "xvfb.log").read_text()
            pytest.skip(f"Xvfb :{number} did not start: {log}")
        manager = subprocess.Popen(["openbox"], env=env,
                                   stdout=open(logs / "wm.log", "w"),
                                   stderr=subprocess.STDOUT)
        time.sleep(1)
        yield env
    finally:
        for process in (manager, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def x_tool(env, *command):
    """Run an X tool (xdotool, import) on the display of env; its stdout."""
    return subprocess.run(command, env=env, capture_output=True, timeout=30).stdout


def visible_windows(env):
    """(window id, title) of every visible X window that has a title."""
    ids = x_tool(env, "xdotool", "search", "--onlyvisible", "--name", ".").split()
    names = [x_tool(env, "xdotool", "getwindowname", i).decode().strip() for i in ids]
    return [(i.decode(), name) for i, name in zip(ids, names) if name]


def screen_pixels(env):
    """The whole screen's pixels, raw RGB bytes."""
    return x_tool(env, "import", "-window", "root", "-depth", "8", "rgb:-")


def title_epoch(windows):
    """The epoch in the title of train.py's window ("... epoch 120 of 3000"), or
    None."""
    titles = [name for _, name in windows if name.startswith("train.py")]
    if titles and " epoch " in titles[0]:
        return int(titles[0].split(" epoch ")[1].split()[0])
    return None


def watch_live_run(env, out, samples_wanted, epochs=5000):
    """Start a live train.py and watch its window: closely until the window
    shows an epoch in its title, then every ~0.25 s (the windows and the whole
    screen) until samples_wanted samples show an epoch.

    Returns (process, delay, samples): delay is the time from training's start
    (the first progress line) to the window's first sighting, negative when it
    was on screen before; a sample is (windows, epoch in the title, pixels).
    The process's stdout is in out / "stdout.txt".
    """
    stdout = out / "stdout.txt"
    with open(stdout, "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "train.py", "--epochs", str(epochs), "--out", str(out)],
            cwd=HERE, env=env, stdout=sink, stderr=subprocess.PIPE, text=True)
    start, seen, trained, samples = time.perf_counter(), None, None, []
    while time.perf_counter() - start < 120 and process.poll() is None:
        windows = visible_windows(env)
        epoch = title_epoch(windows)
        now = time.perf_counter()
        if trained is None and "epoch    1/" in stdout.read_text():
            trained = now
        if seen is None and epoch is not None:
            seen = now
        if seen is None or trained is None:
            time.sleep(0.01)
            continue
        samples.append((windows, epoch, screen_pixels(env)))
        if sum(sample[1] is not None for sample in samples) >= samples_wanted:
            break
        time.sleep(0.25)
    delay = seen - trained if seen is not None and trained is not None else None
    return process, delay, samples


@pytest.mark.slow
def test_live_window_is_redrawn_while_training_and_ctrl_c_stops_it(x_display, tmp_path):
    process, delay, samples = watch_live_run(x_display, tmp_path, samples_wanted=8)
    process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
    _, err = process.communicate(timeout=120)
    out = (tmp_path / "stdout.txt").read_text()
    # On screen, titled with the epoch, by the time training starts (it opens
    # before; this allows for the polling of a busy machine).
    assert delay is not None and delay <= 1.5, (delay, out, err)
    # One window: the live one (saving figures opens none).
    assert all(len(windows) <= 1 for windows, _, _ in samples), samples[-1][0]
    # Live: many different pictures on the screen, the epoch advancing.
    epochs = [epoch for _, epoch, _ in samples if epoch is not None]
    assert epochs == sorted(epochs) and len(set(epochs)) >= 5, epochs
    assert len({pixels for _, epoch, pixels in samples if epoch is not None}) >= 5
    # Ctrl-C: status 130, one line naming the epoch, no traceback, results kept.
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted at epoch "), err
    stopped = int(re.search(r"at epoch (\d+) of", lines[0]).group(1))
    assert epochs[-1] <= stopped < 5000  # stopped at once, not at the end
    assert f"final accuracy after {stopped} epoch" in out
    assert not any(tmp_path.glob("*.png"))  # never where a finished run writes
    stopped_folder = tmp_path.parent / f"{tmp_path.name}-interrupted-at-epoch-{stopped}"
    for name in ("decision_regions.png", "history.png", "training.gif"):
        assert (stopped_folder / name).stat().st_size > 1000, name


@pytest.mark.slow
def test_closing_the_live_window_stops_training_and_exits_0(x_display, tmp_path):
    process, _, samples = watch_live_run(x_display, tmp_path, samples_wanted=2)
    window = next(i for i, name in samples[-1][0] if name.startswith("train.py"))
    # Close it as a user does: openbox's Alt+F4 on the active window.
    subprocess.run(["xdotool", "windowactivate", "--sync", window], env=x_display,
                   timeout=30)
    subprocess.run(["xdotool", "key", "alt+F4"], env=x_display, timeout=30)
    _, err = process.communicate(timeout=120)
    out = (tmp_path / "stdout.txt").read_text()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("window closed at epoch "), err
    stopped = int(re.search(r"at epoch (\d+) of", lines[0]).group(1))
    assert stopped < 5000 and f"final accuracy after {stopped} epoch" in out
    assert "close it" not in out  # no window left to close
    assert visible_windows(x_display) == []  # and none came back for the figures
    stopped_folder = tmp_path.parent / f"{tmp_path.name}-interrupted-at-epoch-{stopped}"
    assert (stopped_folder / "training.gif").exists()


def busy_factor():
    """How much slower than a quiet machine this one may be now: the load per
    core, at least 1."""
    return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def wait_for_title(env, text, timeout=120):
    """The id of train.py's window once its title holds text."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for window, name in visible_windows(env):
            if name.startswith("train.py") and text in name:
                return window
        time.sleep(0.05)
    windows = visible_windows(env)
    raise AssertionError(f"no train.py window titled ...{text}...: {windows}")


@pytest.mark.slow
def test_closing_the_window_while_figures_are_written_exits_at_once(x_display,
                                                                    tmp_path):
    # Issue 22: while the figures were written the window froze; a close was
    # honoured 10.8 s late.
    out = tmp_path / "run"
    with open(tmp_path / "stdout.txt", "w") as sink:
        process = subprocess.Popen(
            [sys.executable, "train.py", "--epochs", "300", "--out", str(out)],
            cwd=HERE, env=x_display, stdout=sink, stderr=subprocess.PIPE, text=True)
    window = wait_for_title(x_display, "")
    end = time.monotonic() + 120
    while "writing " not in (tmp_path / "stdout.txt").read_text():
        assert time.monotonic() < end and process.poll() is None, "no figures written"
        time.sleep(0.02)
    subprocess.run(["xdotool", "windowactivate", "--sync", window], env=x_display,
                   timeout=30)
    closed = time.monotonic()
    subprocess.run(["xdotool", "key", "alt+F4"], env=x_display, timeout=30)
    _, err = process.communicate(timeout=120)
    seconds = time.monotonic() - closed
    assert seconds <= 2 * busy_factor(), (seconds, os.getloadavg())
    assert process.returncode == 0, err
    line, = err.strip().splitlines()  # one line, no traceback
    assert line.startswith("window closed while writing the figures: none written"), err
    assert not out.exists() or not any(out.iterdir())  # nothing half written
    assert visible_windows(x_display) == []
