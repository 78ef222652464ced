"""Tests of train.py: the disk data, the command line, the saved figures and tables.

Most tests call train.main() in-process with few epochs; two run the script as a
subprocess, headless (MPLBACKEND=Agg), as a user or CI would. The accuracy of
the default run over seeds 0-9 is the one slow test.
"""

import csv
import json
import math
import os
import statistics
import subprocess
import sys

import pytest
import torch

import train

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


def test_targets_for_each_variant():
    y = torch.tensor([[1.0], [0.0]])
    assert torch.equal(train.make_targets(y, 1, "mse"), y)
    assert torch.equal(train.make_targets(y, 2, "mse"), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    ce = train.make_targets(y, 2, "ce")
    assert ce.dtype == torch.int64 and ce.tolist() == [1, 0]  # class indices


def test_cosine_schedule_goes_from_lr0_to_zero():
    assert train.cosine_lr(0.5, 0, 100) == 0.5
    assert math.isclose(train.cosine_lr(0.5, 50, 100), 0.25)
    assert abs(train.cosine_lr(0.5, 100, 100)) < 1e-12


# ---------------------------------------------------------------------------
# Training, in-process

def test_training_is_reproducible():
    args = train.parse_args(["--epochs", "3", "--no-plot"])
    a = train.train_one(args, seed=7, verbose=False)
    b = train.train_one(args, seed=7, verbose=False)
    assert a["history"].train_loss == b["history"].train_loss  # same seed, same run
    assert a["test_errors"] == b["test_errors"]


@pytest.mark.parametrize("options", [
    ["--outputs", "2"],
    ["--loss", "ce"],
    ["--optimizer", "adam"],
    ["--optimizer", "adam", "--loss", "ce"],
    ["--no-history"],
    ["--schedule", "constant", "--batch-size", "50"],
])
def test_variants_train(options):
    args = train.parse_args(options + ["--epochs", "40", "--no-plot"])
    result = train.train_one(args, seed=0, verbose=False)
    assert len(result["history"]) == (0 if "--no-history" in options else 40)
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
    assert train.main(["--loss", "ce", "--lr", "1e30", "--epochs", "2", "--no-plot"]) == 1
    err = capsys.readouterr().err
    assert "training stopped" in err and "learning rate" in err, err


def test_seeds_table(tmp_path, capsys):
    assert train.main(["--seeds", "2", "--epochs", "2", "--out", str(tmp_path)]) == 0
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
    assert list(rows[0]) == list(train.COLUMNS)  # the header
    assert [row["seed"] for row in rows] == ["0", "1", "mean", "std", "median", "min", "max"]
    assert not (tmp_path / "decision_regions.png").exists()  # no figures for a table


def test_gif_has_a_modest_number_of_frames():
    recorder = train.Recorder(None, False, *train.make_data(0)["val"], epochs=train.EPOCHS)
    model = train.build_model()
    for epoch in range(train.EPOCHS + 1):
        recorder.snapshot(epoch, model, None)
    assert 20 <= len(recorder.frames) <= 41


def test_headless_setup_never_goes_live(monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    plt, live = train.setup_matplotlib(want_live=True)
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
        train.parse_args(options)
    assert exit_info.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert "error:" in err and message in err, err


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--lr", "--batch-size", "--optimizer", "--loss", "--outputs",
                   "--no-history", "--seed ", "--seeds", "--no-plot", "--live", "--out"):
        assert option in out, option


def test_script_bad_value_exits_2_without_traceback():
    process = run_script("--batch-size", "0")
    assert process.returncode == 2
    assert "--batch-size: must be a positive integer" in process.stderr
    assert "Traceback" not in process.stderr


def test_script_headless_run_saves_figures(tmp_path):
    from PIL import Image
    process = run_script("--epochs", "6", "--out", str(tmp_path))
    assert process.returncode == 0, process.stderr
    assert "test" in process.stdout and "%" in process.stdout  # final accuracy printed
    for name in ("decision_regions.png", "history.png", "training.gif"):
        assert (tmp_path / name).stat().st_size > 1000, name
        assert str(tmp_path / name) in process.stdout  # says where it saved it
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == 7  # initial state + one frame per epoch


def test_no_plot_never_imports_matplotlib():
    code = ("import sys, train; train.main(['--epochs', '1', '--no-plot']); "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    process = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 0, process.stderr


# ---------------------------------------------------------------------------
# The default run's accuracy

@pytest.mark.slow
def test_default_run_median_test_accuracy_over_ten_seeds():
    torch.set_num_threads(1)  # as main() does (the fixture restores it)
    args = train.parse_args(["--no-plot"])
    accuracies = [train.train_one(args, seed, verbose=False)["test_acc"] for seed in range(10)]
    assert statistics.median(accuracies) >= 0.99, accuracies
