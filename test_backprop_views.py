"""Tests of the pictures of backprop: gradient_flow.py, hidden_units.py, the
vanishing-gradient lab (docs/lab/vanishing.py) and the worked-example graph
(docs/lab/worked_example_graph.py)."""

import json
import math
import os
import re
import subprocess
import sys

import pytest
import torch

from gradient_flow import GradientFlow, draw_gradient_flow, save_gradient_flow
from hidden_units import draw_hidden_units, save_hidden_units, unit_maps
from minimlp import (SGD, Dense, Dropout, MSELoss, ReLU, Sequential, Sigmoid, Tanh,
                     fit)

ROOT = os.path.dirname(os.path.abspath(__file__))


def small_net(generator, dtype=torch.float64, dropout=False):
    """2 -> 4 -> 3 -> 1: Tanh, ReLU, Sigmoid, so each derivative is used."""
    modules = [Dense(2, 4, generator=generator, dtype=dtype), Tanh(),
               Dense(4, 3, generator=generator, dtype=dtype), ReLU()]
    if dropout:
        modules.append(Dropout(0.3, generator=generator))
    modules += [Dense(3, 1, generator=generator, dtype=dtype), Sigmoid()]
    return Sequential(*modules)


def probe(n=50, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=generator, dtype=dtype) * 2 - 1
    y = (x.norm(dim=1, keepdim=True) < 0.8).to(dtype)
    return x, y


def autograd_rms(model, x, y, reduction):
    """RMS of ∂ℓₙ/∂s per hidden layer, ℓₙ the loss of point n, by torch.autograd."""
    weights = [(m.weight.clone().requires_grad_(), m.bias.clone().requires_grad_())
               for m in model if isinstance(m, Dense)]
    with torch.enable_grad():
        w1, b1 = weights[0]
        s1 = x @ w1.T + b1
        w2, b2 = weights[1]
        s2 = s1.tanh() @ w2.T + b2
        w3, b3 = weights[2]
        prediction = torch.sigmoid(s2.relu() @ w3.T + b3)
        # the sum of the per-point losses: its gradient is each point's own
        per_point = ((prediction - y) ** 2).sum()
        grad_s1, grad_s2 = torch.autograd.grad(per_point, [s1, s2])
    return [g.pow(2).mean().sqrt().item() for g in (grad_s1, grad_s2)]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_rms_equals_autograd_in_float64(reduction):
    model = small_net(torch.Generator().manual_seed(1))
    x, y = probe()
    flow = GradientFlow(model, MSELoss(reduction=reduction), x, y)
    flow.record(0)
    expected = autograd_rms(model, x, y, reduction)
    assert flow.layer_names == ["layer 1", "layer 2"]  # the two hidden Dense layers
    for measured, oracle in zip(flow.rms, expected):
        # RMS of dl/ds per point, as torch.autograd computes it
        assert measured[0] == pytest.approx(oracle, rel=1e-12)
    assert expected[0] > 0 and expected[1] > 0  # the check is not 0 == 0


def train(record, dropout):
    """Train a small net for a few epochs; return its final weights."""
    generator = torch.Generator().manual_seed(2)
    model = small_net(generator, dtype=torch.float32, dropout=dropout)
    x, y = probe(200, torch.float32)
    loss = MSELoss()
    optimizer = SGD(model.param(), lr=0.5, momentum=0.9)
    flow = GradientFlow(model, loss, x, y)
    if record:
        flow.record(0)
    callback = None
    if record:
        callback = lambda epoch, model, history: flow.record(epoch + 1)  # noqa: E731
    fit(model, loss, optimizer, x, y, 5, batch_size=32, callback=callback,
        generator=torch.Generator().manual_seed(3))
    return [value.clone() for value, _ in model.param()], flow


@pytest.mark.parametrize("dropout", [False, True])
def test_recording_leaves_training_bit_identical(dropout):
    without, _ = train(record=False, dropout=dropout)
    with_flow, flow = train(record=True, dropout=dropout)
    for plain, recorded in zip(without, with_flow):
        assert torch.equal(plain, recorded)  # not one bit differs
    assert flow.epochs == [0, 1, 2, 3, 4, 5]
    assert all(len(series) == 6 for series in flow.rms + flow.update_ratio)


def test_record_puts_back_gradients_and_mode():
    model = small_net(torch.Generator().manual_seed(4))
    x, y = probe()
    loss = MSELoss()
    loss(model(x), y)
    model.backward(loss.backward())  # gradients a user has not stepped with yet
    before = [grad.clone() for _, grad in model.param()]
    assert any(grad.abs().sum() > 0 for grad in before)
    GradientFlow(model, loss, x, y).record(0)
    for (_, grad), old in zip(model.param(), before):
        assert torch.equal(grad, old)  # record added nothing into them
    assert model.training  # and left the model in training mode


def test_update_ratio_measures_the_weight_change():
    model = small_net(torch.Generator().manual_seed(5))
    x, y = probe()
    flow = GradientFlow(model, MSELoss(), x, y)
    flow.record(0)
    first = model[0].weight.clone()
    change = torch.full_like(first, 0.01)
    model[0].weight += change
    flow.record(1)
    assert math.isnan(flow.update_ratio[0][0])  # nothing to compare with at first
    expected = (change.norm() / first.norm()).item()
    assert flow.update_ratio[0][1] == pytest.approx(expected, rel=1e-9)
    assert flow.update_ratio[1][1] == 0.0  # layer 2 did not move


def test_summary_says_vanishing_for_a_deep_sigmoid_net():
    generator = torch.Generator().manual_seed(6)
    modules = [Dense(2, 25, init="xavier", generator=generator)]
    for _ in range(7):
        modules += [Sigmoid(), Dense(25, 25, init="xavier", generator=generator)]
    modules += [Sigmoid(), Dense(25, 1, generator=generator), Sigmoid()]
    model = Sequential(*modules)
    x, y = probe(200, torch.float32)
    flow = GradientFlow(model, MSELoss(), x, y)
    flow.record(0)
    assert len(flow.rms) == 8
    assert flow.rms[0][0] < 0.01 * flow.rms[-1][0]  # σ' ≤ 1/4 in each of 8 layers
    assert "vanishing" in flow.summary()


def test_draw_gradient_flow_updates_its_lines(tmp_path):
    from matplotlib.figure import Figure
    model = small_net(torch.Generator().manual_seed(7))
    x, y = probe()
    flow = GradientFlow(model, MSELoss(), x, y)
    flow.record(0)
    fig = Figure()
    ax_rms, ax_ratio = fig.subplots(1, 2)
    lines = draw_gradient_flow(ax_rms, ax_ratio, flow)
    model[0].weight *= 1.1
    flow.record(1)
    again = draw_gradient_flow(ax_rms, ax_ratio, flow)
    assert [id(line) for line in again] == [id(line) for line in lines]  # reused
    assert list(again[0].get_xdata()) == [0, 1]
    assert list(again[0].get_ydata()) == flow.rms[0]
    assert ax_rms.get_yscale() == "log"
    path = tmp_path / "gradient_flow.png"
    save_gradient_flow(str(path), flow, "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["gradient_flow.png"]  # no temporary file left


def test_unit_maps_are_the_first_layers_relu_ramps():
    model = Sequential(Dense(2, 3, dtype=torch.float64), ReLU(),
                       Dense(3, 2, dtype=torch.float64), Tanh(),
                       Dense(2, 1, dtype=torch.float64))

    def transform(p):
        return (p.double() - 0.5) * 2

    maps = unit_maps(model, transform, [0, 1], grid=5)
    ticks = torch.linspace(0, 1, 5, dtype=torch.float64)
    # the point at row i, column j of a map is (x, y) = (ticks[j], ticks[i])
    point = torch.tensor([[ticks[3], ticks[1]]])
    s1 = transform(point) @ model[0].weight.T + model[0].bias
    x1 = s1.clamp(min=0)
    x2 = (x1 @ model[2].weight.T + model[2].bias).tanh()
    assert maps[0].shape == (3, 5, 5) and maps[1].shape == (2, 5, 5)
    assert torch.allclose(maps[0][:, 1, 3], x1[0])  # x⁽¹⁾ = max(0, w p + b)
    assert torch.allclose(maps[1][:, 1, 3], x2[0])  # x⁽²⁾ = tanh(w x⁽¹⁾ + b)


def test_draw_hidden_units_reuses_its_tiles(tmp_path):
    from matplotlib.figure import Figure
    generator = torch.Generator().manual_seed(9)
    model = Sequential(Dense(2, 6, generator=generator), ReLU(),
                       Dense(6, 4, generator=generator), ReLU(),
                       Dense(4, 1, generator=generator))
    fig = Figure()
    artists = draw_hidden_units(fig, model, lambda p: (p - 0.5) * 2)
    assert len(artists) == 2 * (6 + 4)  # an image and a label per unit
    model[0].weight *= -1
    again = draw_hidden_units(fig, model, lambda p: (p - 0.5) * 2)
    assert [id(a) for a in again] == [id(a) for a in artists]
    assert len(fig.axes) == 10
    path = tmp_path / "hidden_units.png"
    save_hidden_units(str(path), model, lambda p: (p - 0.5) * 2, "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["hidden_units.png"]


def test_importing_the_views_loads_no_matplotlib():
    code = ("import sys, gradient_flow, hidden_units; "
            "print('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # train.py --no-plot stays light


# ---------------------------------------------------------------------------
# The lab scripts under docs/lab


def load_script(name):
    """Import docs/lab/<name>.py as a module (it is not a package)."""
    import importlib.util
    path = os.path.join(ROOT, "docs", "lab", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numbers_in(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?",
                                         text.replace("−", "-"))]


def backprop_page_numbers():
    """The worked example as the derivation page states it: the table's rows and
    the weights of its equations, {"s1": [-0.5, 1.0], "w1": [...], ...}."""
    page = open(os.path.join(ROOT, "docs", "backprop.md"), encoding="utf-8").read()
    values = {name: numbers_in(value) for name, value in
              re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", page, re.MULTILINE)}
    section = page[page.index("## A worked example"):]
    for name, tex in (("x", "x"), ("w1", "w^{(1)}"), ("b1", "b^{(1)}"),
                      ("w2", "w^{(2)}")):
        pattern = re.escape(tex) + r" = \\begin\{pmatrix\}(.*?)\\end\{pmatrix\}"
        matrix = re.search(pattern, section, re.DOTALL)
        values[name] = numbers_in(matrix.group(1).replace("\\\\", " "))
    values["b2"] = numbers_in(re.search(r"b\^\{\(2\)\} = ([-\d.]+)", section).group(1))
    values["y"] = numbers_in(re.search(r"y = ([-\d.]+)", section).group(1))
    return values


def test_worked_example_graph_shows_the_pages_numbers():
    from matplotlib.figure import Figure
    graph = load_script("worked_example_graph")
    page = backprop_page_numbers()
    computed = graph.compute()
    for name in computed:
        # minimlp's numbers are the page's (table rows and equations)
        assert computed[name] == pytest.approx(page[name], abs=1e-4), name
    texts = graph.draw(Figure(), computed)
    shown = {  # label drawn -> (page name, index)
        "s_1": ("s1", 0), "s_2": ("s1", 1), "h_1": ("x1", 0), "h_2": ("x1", 1),
        "y_hat": ("y_hat", 0), "loss": ("loss", 0), "grad_y_hat": ("grad_y_hat", 0),
        "grad_h_1": ("grad_x1", 0), "grad_h_2": ("grad_x1", 1),
        "grad_s_1": ("grad_s1", 0), "grad_s_2": ("grad_s1", 1),
        "grad_w2_1": ("grad_w2", 0), "grad_w2_2": ("grad_w2", 1),
        "w2_1": ("w2", 0), "w2_2": ("w2", 1), "b2": ("b2", 0),
        "b1_1": ("b1", 0), "b1_2": ("b1", 1), "x_1": ("x", 0), "x_2": ("x", 1),
        "y": ("y", 0)}
    for i in range(2):
        for j in range(2):
            shown[f"w1_{i + 1}{j + 1}"] = ("w1", 2 * i + j)
            shown[f"grad_w1_{i + 1}{j + 1}"] = ("grad_w1", 2 * i + j)
    for key, (name, index) in shown.items():
        drawn = numbers_in(texts[key].get_text())[-1]  # the number after "="
        assert drawn == pytest.approx(page[name][index], abs=1e-4), key
    # the inactive unit blocks: its ReLU label says so, and ∂ℓ/∂s is 0 there
    assert "blocked" in texts["relu_1"].get_text()
    assert "blocked" not in texts["relu_2"].get_text()


def test_worked_example_steps_show_each_backward_calls_results():
    from matplotlib.figure import Figure
    graph = load_script("worked_example_graph")
    fig = Figure()
    texts = graph.draw(fig, graph.compute())
    # the gradient each call computes, by step (1: loss.backward() ... 4: model[0])
    first_seen = {"grad_y_hat": 1, "grad_w2_1": 2, "grad_h_1": 2, "grad_s_1": 3,
                  "grad_w1_12": 4}
    for step in range(len(graph.STEPS)):
        graph.show_steps(fig, step)
        for key, when in first_seen.items():
            assert texts[key].get_visible() == (step >= when), (step, key)
    assert texts["s_1"].get_visible()  # forward values show at every step


def test_derivation_page_shows_the_graph():
    page = open(os.path.join(ROOT, "docs", "backprop.md"), encoding="utf-8").read()
    assert "(assets/lab/worked_example_graph.png)" in page
    assert "(assets/lab/worked_example_graph_steps.gif)" in page
    for name in ("worked_example_graph.png", "worked_example_graph_steps.gif"):
        assert os.path.isfile(os.path.join(ROOT, "docs", "assets", "lab", name))


LAB = os.path.join(ROOT, "docs", "assets", "lab")


def lab_results():
    with open(os.path.join(LAB, "vanishing.json"), encoding="utf-8") as file:
        return json.load(file)


def vanishing_page():
    with open(os.path.join(ROOT, "docs", "vanishing.md"), encoding="utf-8") as file:
        return file.read()


def test_lab_tables_are_what_its_json_gives():
    lab = load_script("vanishing")
    data = lab_results()
    settings = data["settings"]
    # the committed run used the script's settings
    assert (settings["epochs"], settings["init_seeds"], settings["train_seeds"]) == (
        lab.EPOCHS, lab.INIT_SEEDS, lab.TRAIN_SEEDS)
    assert settings["escape"] == json.loads(json.dumps(lab.ESCAPE))
    tables = {"vanishing_table.md": lab.main_table(data["networks"]),
              "vanishing_nielsen.md": lab.nielsen_table(data["networks"]),
              "vanishing_escape.md": lab.escape_table(data["escape"])}
    for name, text in tables.items():
        with open(os.path.join(LAB, name), encoding="utf-8") as file:
            assert file.read() == text, f"{name} is not what vanishing.json gives"
    rows = [line for line in tables["vanishing_table.md"].splitlines()[2:]]
    assert len(rows) == 3 * 3 * 3  # activation x depth x init


def test_lab_page_includes_the_tables_and_figures():
    page = vanishing_page()
    for name in ("vanishing_table.md", "vanishing_nielsen.md", "vanishing_escape.md"):
        assert f"<!-- minimlp:include assets/lab/{name} -->" in page, name
    for name in re.findall(r"\]\((assets/lab/[\w.]+\.png)\)", page):
        assert os.path.isfile(os.path.join(ROOT, "docs", name)), name
    assert len(re.findall(r"\]\((assets/lab/[\w.]+\.png)\)", page)) == 4
    assert "python docs/lab/vanishing.py" in page


def test_lab_page_text_says_what_the_json_says():
    lab = load_script("vanishing")
    data = lab_results()
    page = " ".join(vanishing_page().split())  # one line: phrases may wrap

    def row(activation, depth, init):
        return lab.find(data["networks"], activation, depth, init)

    def accuracy(activation, depth, init):
        return row(activation, depth, init)["val_acc"]

    # numbers quoted in the text
    sigmoid_3 = row("sigmoid", 3, "xavier")["ratio_init"]["median"]
    assert f"about {lab.sci(sigmoid_3)} with Xavier" in page
    tanh_3 = row("tanh", 3, "standard")["ratio_init"]["median"]
    assert f"({lab.sci(tanh_3)} here, estimate" in page
    assert f"estimate {lab.sci(lab.estimate('tanh', 'standard', 3))})" in page
    relu_10 = row("relu", 10, "standard")["ratio_init"]["median"]
    assert (f"ReLU at 10 ({lab.sci(relu_10)} here, estimate "
            f"{lab.sci(lab.estimate('relu', 'standard', 10))})") in page
    # the probe's numbers: within the spread where the page says so
    assert row("tanh", 10, "standard")["ratio_init"]["min"] < 5.5e-3 < row(
        "tanh", 10, "standard")["ratio_init"]["max"]
    for depth, probe in ((3, 0.019), (10, 1.7e-8)):
        spread = row("sigmoid", depth, "standard")["ratio_init"]
        assert spread["min"] < probe < spread["max"]
    assert 0.22 < tanh_3 < 2 * 0.22 and 4e-4 / 2 < relu_10 < 4e-4
    assert "3.8 \\cdot 10^{-6}" in page
    assert lab.sci(lab.estimate("sigmoid", "xavier", 10)) == "3.8e-6"
    settings = data["settings"]
    assert f"trained for {settings['epochs']} epochs" in page
    assert f"first {settings['train_seeds']} seeds" in page
    assert f"over {settings['init_seeds']} seeds" in page
    assert (f"learning rate {settings['escape']['lr']}, {settings['escape']['epochs']}"
            f" epochs") in page
    # the claims about learning: > 95 % learned, < 60 % did not
    for activation in ("relu", "tanh"):
        for depth in (3, 5):
            assert accuracy(activation, depth, "standard")["mean"] > 0.95
        assert accuracy(activation, 10, "standard")["mean"] < 0.6
    assert accuracy("relu", 10, "xavier")["min"] < 0.6 < 0.95 < accuracy(
        "relu", 10, "xavier")["max"]
    for depth in lab.DEPTHS:
        assert accuracy("relu", depth, "he")["min"] > 0.95
        assert accuracy("tanh", depth, "xavier")["min"] > 0.95
        for init in lab.INITS:
            assert accuracy("sigmoid", depth, init)["mean"] < 0.6
            learned = accuracy("relu", depth, init)["mean"] > 0.95
            if learned:  # the first layers then get the larger gradients
                assert row("relu", depth, init)["ratio_trained"]["median"] > 1
    assert sigmoid_3 > row("relu", 5, "standard")["ratio_init"]["median"]
    # the estimate within a factor of three, tanh with He aside
    for network in data["networks"]:
        if network["init"] == "he" and network["activation"] == "tanh":
            continue
        guess = lab.estimate(network["activation"], network["init"], network["depth"])
        assert 1 / 3 < network["ratio_init"]["median"] / guess < 3, network
    # the long sigmoid runs: three layers escape the plateau, five never
    for run in data["escape"]:
        assert (run["escaped_at"] is not None) == (run["depth"] == 3), run
        first_last = [run["rms"][0][i] / run["rms"][-1][i] for i in (0, -1)]
        if run["depth"] == 5:  # "two to five thousandths ... first epoch to the last"
            assert all(0.0015 < ratio < 0.0055 for ratio in first_last), first_last
        else:  # "end with a first/last ratio of 6 to 7"
            assert 5.5 < first_last[-1] < 7.5, first_last
    # beside Nielsen: 0.04 to 0.07 for three hidden layers, about 0.01 for four
    three = row("sigmoid", 3, "xavier")["nielsen_init_median"]
    four = row("sigmoid", 4, "xavier")["nielsen_init_median"]
    assert 0.04 <= three[0] / three[-1] <= 0.07
    assert 0.008 <= four[0] / four[-1] <= 0.015


@pytest.mark.slow
def test_lab_script_runs_from_the_repository_root(tmp_path):
    result = subprocess.run([sys.executable, "docs/lab/vanishing.py", "--quick",
                             "--out", str(tmp_path)], cwd=ROOT, timeout=600,
                            capture_output=True, text=True, env={**os.environ,
                                                                 "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(tmp_path))
    assert written == sorted(["vanishing.json", "vanishing_table.md",
                              "vanishing_nielsen.md", "vanishing_escape.md",
                              "vanishing_init.png", "vanishing_training.png",
                              "vanishing_depth.png", "vanishing_escape.png"])
