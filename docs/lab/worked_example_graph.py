"""Draw the worked example of the derivation page as a graph: values forward,
gradients back.

The 2-2-1 network of "A worked example you can check by hand" (docs/backprop.md):
Dense(2, 2), ReLU, Dense(2, 1), one sample x = (1, 2), target y = 1, MSE loss.
Each node shows its forward value (black) and the gradient ∂ℓ/∂(node) that
backward brings to it (orange); each weight edge carries its weight and the
gradient ∂ℓ/∂w, and an orange arrow runs back along it. The first hidden unit
is off (s < 0): ReLU passes it no gradient, so its edges are grey and dashed.

Every number is computed here with minimlp, one module at a time, as the page's
script does; test_backprop_views.py checks that they equal the page's table.

    python docs/lab/worked_example_graph.py

writes docs/assets/lab/worked_example_graph.png and worked_example_graph_steps.gif.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from minimlp import Dense, MSELoss, ReLU, Sequential  # noqa: E402

OUT = ROOT / "docs" / "assets" / "lab" / "worked_example_graph.png"
FORWARD, BACKWARD, BLOCKED = "black", "#d95f02", "#9a9a9a"


def compute():
    """The worked example's numbers, by the page's names: {"s1": [-0.5, 1.0], ...}."""
    model = Sequential(Dense(2, 2), ReLU(), Dense(2, 1))
    model[0].weight.copy_(torch.tensor([[0.5, -0.5], [0.25, 0.25]]))
    model[0].bias.copy_(torch.tensor([0.0, 0.25]))
    model[2].weight.copy_(torch.tensor([[1.0, -0.5]]))
    model[2].bias.copy_(torch.tensor([0.5]))
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0]])
    loss = MSELoss()
    # forward, module by module
    s1 = model[0](x)
    x1 = model[1](s1)
    y_hat = model[2](x1)
    value = loss(y_hat, y)
    # backward, module by module
    model.zero_grad()
    grad_y_hat = loss.backward()
    grad_x1 = model[2].backward(grad_y_hat)
    grad_s1 = model[1].backward(grad_x1)
    model[0].backward(grad_s1)
    tensors = {"x": x, "y": y, "w1": model[0].weight, "b1": model[0].bias,
               "w2": model[2].weight, "b2": model[2].bias, "s1": s1, "x1": x1,
               "y_hat": y_hat, "loss": value, "grad_y_hat": grad_y_hat,
               "grad_w2": model[2].grad_weight, "grad_b2": model[2].grad_bias,
               "grad_x1": grad_x1, "grad_s1": grad_s1,
               "grad_w1": model[0].grad_weight, "grad_b1": model[0].grad_bias}
    return {name: [round(v, 4) + 0.0 for v in t.flatten().tolist()]
            for name, t in tensors.items()}


def number(value):
    """0.5, -2, 0.25: as short as exact."""
    return f"{value:g}".replace("-", "−")


# where each node sits (centre, data units), and the half-size of a box
POSITIONS = {"x_1": (1.1, 5.3), "x_2": (1.1, 1.3), "s_1": (5.8, 5.3), "s_2": (5.8, 1.3),
             "h_1": (9.0, 5.3), "h_2": (9.0, 1.3), "y_hat": (12.2, 3.3),
             "loss": (14.6, 3.3)}
HALF_WIDTH, HALF_HEIGHT = 0.95, 0.6


def draw(fig, numbers):
    """Draw the graph into fig; return {label key: Text} for the test to read."""
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 15.7)
    ax.set_ylim(0.2, 7.2)
    ax.set_axis_off()
    texts = {}
    on = [s > 0 for s in numbers["s1"]]  # ReLU passes a gradient where s > 0
    # key: (name, value, gradient, bias or None, gradient reaches it)
    nodes = {
        "x_1": ("x₁", numbers["x"][0], None, None, True),
        "x_2": ("x₂", numbers["x"][1], None, None, True),
        "s_1": ("s⁽¹⁾₁", numbers["s1"][0], numbers["grad_s1"][0], "b1_1", on[0]),
        "s_2": ("s⁽¹⁾₂", numbers["s1"][1], numbers["grad_s1"][1], "b1_2", on[1]),
        "h_1": ("x⁽¹⁾₁", numbers["x1"][0], numbers["grad_x1"][0], None, True),
        "h_2": ("x⁽¹⁾₂", numbers["x1"][1], numbers["grad_x1"][1], None, True),
        "y_hat": ("ŷ", numbers["y_hat"][0], numbers["grad_y_hat"][0], "b2", True),
        "loss": ("ℓ", numbers["loss"][0], 1.0, None, True),
    }
    biases = {"b1_1": numbers["b1"][0], "b1_2": numbers["b1"][1],
              "b2": numbers["b2"][0]}
    for key, (name, value, grad, bias, reached) in nodes.items():
        _node(ax, texts, key, name, value, grad, bias, biases, reached)
    _weight_edges(ax, texts, numbers, on)
    _other_edges(ax, texts, numbers, on)
    for key, text in texts.items():
        if key.startswith("grad_"):  # grad_w1_12, grad_s_1, grad_y_hat, ...
            # ∂ℓ/∂w⁽¹⁾ comes with the gradient sent back to x, ∂ℓ/∂w⁽²⁾ with x⁽¹⁾'s
            node = {"w1": "x", "w2": "h"}.get(key[5:7], key[5])
            text.set_gid(f"step {NODE_STEP[node]}")
    return texts


def _node(ax, texts, key, name, value, grad, bias, biases, reached):
    """A box: its value (black), its bias if any, and ∂ℓ/∂(it) (orange)."""
    from matplotlib.patches import FancyBboxPatch
    cx, cy = POSITIONS[key]
    ax.add_patch(FancyBboxPatch((cx - HALF_WIDTH, cy - HALF_HEIGHT), 2 * HALF_WIDTH,
                                2 * HALF_HEIGHT,
                                boxstyle="round,pad=0.02,rounding_size=0.15",
                                facecolor="white", edgecolor=FORWARD if reached
                                else BLOCKED, lw=1.4, ls="-" if reached else "--"))
    top = cy + (0.3 if bias else 0.2)
    texts[key] = ax.text(cx, top, f"{name} = {number(value)}", ha="center",
                         va="center", fontsize=10, color=FORWARD)
    if bias:
        texts[bias] = ax.text(cx, cy, f"b = {number(biases[bias])}", ha="center",
                              va="center", fontsize=8, color=FORWARD)
    if grad is not None:
        texts["grad_" + key] = ax.text(cx, cy - (0.32 if bias else 0.22),
                                       f"∂ℓ/∂{name} = {number(grad)}", ha="center",
                                       va="center", fontsize=9,
                                       color=BACKWARD if reached else BLOCKED)


def _arrow(ax, start, end, colour, dashed=False, offset=0.0, lw=1.3):
    """An arrow from start to end, shifted sideways by offset (data units)."""
    (x0, y0), (x1, y1) = start, end
    length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
    nx, ny = -(y1 - y0) / length * offset, (x1 - x0) / length * offset
    return ax.annotate("", xy=(x1 + nx, y1 + ny), xytext=(x0 + nx, y0 + ny),
                       arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw,
                                       ls="--" if dashed else "-", shrinkA=0,
                                       shrinkB=0))


def _border(key, towards):
    """The point where the line from node `key` to `towards` leaves its box."""
    cx, cy = POSITIONS[key]
    dx, dy = towards[0] - cx, towards[1] - cy
    scale = min((HALF_WIDTH + 0.04) / abs(dx) if dx else 1e9,
                (HALF_HEIGHT + 0.04) / abs(dy) if dy else 1e9)
    return cx + dx * scale, cy + dy * scale


def _edge(ax, source, target, forward_colour, backward_colour, dashed):
    """Forward arrow source -> target; the gradient's arrow back, beside it."""
    start = _border(source, POSITIONS[target])
    end = _border(target, POSITIONS[source])
    _arrow(ax, start, end, forward_colour, dashed=False)
    back = _arrow(ax, end, start, backward_colour, dashed=dashed, offset=-0.16, lw=1.1)
    back.set_gid(f"step {EDGE_STEP[source[0]]}")  # the backward call that draws it
    return start, end


def _weight_edges(ax, texts, numbers, on):
    """x_j -> s_i with w⁽¹⁾ᵢⱼ, and x⁽¹⁾ᵢ -> ŷ with w⁽²⁾ᵢ: weight and ∂ℓ/∂w."""
    edges = []
    for i in range(2):
        for j in range(2):
            edges.append((f"x_{j + 1}", f"s_{i + 1}", f"w1_{i + 1}{j + 1}",
                          f"w⁽¹⁾{'₁₂'[i]}{'₁₂'[j]}", numbers["w1"][2 * i + j],
                          numbers["grad_w1"][2 * i + j], on[i]))
    for i in range(2):
        edges.append((f"h_{i + 1}", "y_hat", f"w2_{i + 1}", f"w⁽²⁾{'₁₂'[i]}",
                      numbers["w2"][i], numbers["grad_w2"][i], True))
    for source, target, key, name, weight, grad, active in edges:
        start, end = _edge(ax, source, target, FORWARD if active else BLOCKED,
                           BACKWARD if active else BLOCKED, not active)
        # where the two labels go: a fraction t along the edge, then beside it
        # (crossing edges near their target, where the other line is far)
        crossing = target.startswith("s_") and source[-1] != target[-1]
        t, dx, align = _label_place(start, end, crossing)
        lx = start[0] + t * (end[0] - start[0]) + dx
        ly = start[1] + t * (end[1] - start[1])
        up, down = (0.2, -0.3) if align == "center" else (0.05, -0.05)
        texts[key] = ax.text(lx, ly + up, f"{name} = {number(weight)}", ha=align,
                             va="bottom", fontsize=8, color=FORWARD)
        texts["grad_" + key] = ax.text(lx, ly + down, f"∂ℓ/∂w = {number(grad)}",
                                       ha=align, va="top", fontsize=8,
                                       color=BACKWARD if active else BLOCKED)


def _label_place(start, end, crossing):
    """(t, sideways shift, alignment) of an edge's labels: midway above and
    below a level edge; beside a slanted one, below it, on the side its
    gradient's arrow does not run (crossing edges near their target, where
    the other line is far)."""
    if start[1] == end[1]:
        return 0.5, 0.0, "center"
    t = 0.78 if crossing else 0.5
    shift = 0.3 if crossing else 0.45
    return (t, -shift, "right") if end[1] < start[1] else (t, shift, "left")


def _other_edges(ax, texts, numbers, on):
    """ReLU edges s -> x⁽¹⁾ (blocked where the unit is off), and ŷ -> ℓ."""
    for i in range(2):
        source, target = f"s_{i + 1}", f"h_{i + 1}"
        start, end = _edge(ax, source, target, FORWARD,
                           BACKWARD if on[i] else BLOCKED, not on[i])
        mx = (start[0] + end[0]) / 2
        label = "ReLU′ = 1" if on[i] else "ReLU′ = 0\nblocked"
        texts[f"relu_{i + 1}"] = ax.text(mx, start[1] + 0.28, label, ha="center",
                                         va="bottom", fontsize=8,
                                         color=FORWARD if on[i] else "#c0392b")
        if not on[i]:  # a bar across the gradient's path
            ax.plot([mx, mx], [start[1] - 0.42, start[1] + 0.12], color="#c0392b",
                    lw=3, solid_capstyle="butt", gid=f"step {EDGE_STEP['s']}")
    _edge(ax, "y_hat", "loss", FORWARD, BACKWARD, False)
    cx, cy = POSITIONS["loss"]
    texts["y"] = ax.text(cx, cy - 0.75, f"target y = {number(numbers['y'][0])}",
                         ha="center", va="top", fontsize=8, color=FORWARD)
    ax.text(0.2, 7.0, "black: the forward value", color=FORWARD, fontsize=9,
            va="top")
    ax.text(4.0, 7.0, "orange, ←: the gradient flowing back", color=BACKWARD,
            fontsize=9, va="top")
    ax.text(9.6, 7.0, "grey, dashed: no gradient (ReLU off)", color=BLOCKED,
            fontsize=9, va="top")


# Which backward call (step 1 to 4) computes what, by node (x: input, s: s⁽¹⁾,
# h: x⁽¹⁾, y: ŷ, l: ℓ). An edge's arrow back is drawn by the call of the module
# on it, named by its source: ŷ -> ℓ by loss.backward() (step 1), x⁽¹⁾ -> ŷ by
# model[2].backward (2), s -> x⁽¹⁾ by the ReLU's (3), x -> s by model[0]'s (4).
# A node's gradient comes with the call that sends it back to the node.
EDGE_STEP = {"y": 1, "h": 2, "s": 3, "x": 4}
NODE_STEP = {"l": 1, "y": 1, "h": 2, "s": 3, "x": 4}
STEPS = [
    "the forward pass: every value, no gradient yet",
    "1. grad_y_hat = loss.backward():  ∂ℓ/∂ŷ = 2(ŷ − y)",
    "2. model[2].backward(grad_y_hat):  ∂ℓ/∂x⁽¹⁾ = (w⁽²⁾)ᵀ ∂ℓ/∂ŷ, "
    "adds ∂ℓ/∂w⁽²⁾, ∂ℓ/∂b⁽²⁾",
    "3. model[1].backward(grad_x1):  ∂ℓ/∂s⁽¹⁾ = ∂ℓ/∂x⁽¹⁾ ⊙ 1[s⁽¹⁾ > 0]",
    "4. model[0].backward(grad_s1):  adds ∂ℓ/∂w⁽¹⁾ = ∂ℓ/∂s⁽¹⁾ xᵀ and ∂ℓ/∂b⁽¹⁾",
]


def show_steps(fig, step):
    """Show what the backward calls up to `step` (0: none) have computed."""
    ax = fig.axes[0]
    for artist in ax.get_children():
        gid = artist.get_gid() or ""
        if gid.startswith("step "):
            artist.set_visible(int(gid[5:]) <= step)


def save_steps(path, numbers):
    """A GIF, one frame per backward call, the caption saying which call."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image
    fig = Figure(figsize=(8.6, 4.25), facecolor="white", dpi=150)
    FigureCanvasAgg(fig)
    draw(fig, numbers)
    fig.axes[0].set_position((0, 0.08, 1, 0.92))
    caption = fig.text(0.02, 0.03, "", fontsize=10, color=FORWARD)
    frames = []
    for step, words in enumerate(STEPS):
        show_steps(fig, step)
        caption.set_text(words)
        fig.canvas.draw()
        frame = Image.frombuffer("RGBA", fig.canvas.get_width_height(),
                                 fig.canvas.buffer_rgba()).convert("RGB")
        frames.append(frame.quantize(colors=64, dither=0))
    durations = [2500] * (len(frames) - 1) + [5000]  # milliseconds
    temporary = path.with_name(path.name + ".tmp")
    frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0)
    os.replace(temporary, path)


def main(path=OUT):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8.6, 3.9), facecolor="white")
    FigureCanvasAgg(fig)
    draw(fig, compute())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fig.savefig(temporary, dpi=200, format="png")
    os.replace(temporary, path)
    steps = path.with_name(path.stem + "_steps.gif")
    save_steps(steps, compute())
    print(f"wrote {path} and {steps}")


if __name__ == "__main__":
    main(*sys.argv[1:])
