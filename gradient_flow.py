"""How big the gradients are, layer by layer, while a network trains.

Backpropagation multiplies ∂ℓ/∂s by one weight matrix and one activation
derivative per layer on its way back to the input:

    ∂ℓ/∂s⁽ˡ⁾ = (∂ℓ/∂s⁽ˡ⁺¹⁾ w⁽ˡ⁺¹⁾) ⊙ σ'(s⁽ˡ⁾)

When those factors are small (a saturated sigmoid has σ' ≤ 1/4), the
gradient shrinks from the last hidden layer to the first, and the first
layers learn slowly: the vanishing gradient. `GradientFlow` measures it with
minimlp's own forward and backward, through its public API only:

    flow = GradientFlow(model, loss, x_train, y_train)
    flow.record(0)                        # the network as initialised
    fit(..., callback=lambda epoch, model, history: flow.record(epoch + 1))
    print(flow.summary())

Two numbers per hidden layer l and epoch (l counts the Dense layers from the
input; the last Dense, the output layer, is not a hidden layer):

- rms: the root mean square of ∂ℓ/∂s⁽ˡ⁾ over the probe points and the units
  of the layer, where ℓ is the loss of one point (for a loss that averages
  over the batch, N times the gradient of the mean), so the number does not
  depend on how many probe points there are;
- update_ratio: ‖Δw⁽ˡ⁾‖ / ‖w⁽ˡ⁾‖, how much the layer's weights changed since
  the last record (over one epoch, so over all the epoch's steps), relative
  to their size. CS231n's rule of thumb puts one step's ratio near 1e-3.

Recording changes nothing about training: it measures in eval mode (no
dropout noise drawn), and puts back the gradient tensors that its backward
added into. The figures need matplotlib, imported only when drawing.
"""

import math

from minimlp import Dense
from train_files import write_whole  # a temporary name, then a rename

CURVES_GID = "gradient-flow"  # marks the lines this module draws, to update them


class GradientFlow:
    """Per hidden layer, the RMS of ∂ℓ/∂s and the update/weight ratio, per record.

    model: a minimlp Sequential; loss: its loss object; x, y: a fixed probe
    batch in the network's input form (e.g. the training set) and its targets.
    After `record(e)` for several epochs e: `epochs` lists them, `rms[l]` and
    `update_ratio[l]` hold one number per record for hidden layer l
    (`update_ratio` is NaN at the first record: no change to measure yet), and
    `layer_names[l]` is "layer l+1".
    """

    def __init__(self, model, loss, x, y):
        self.model, self.loss, self.x, self.y = model, loss, x, y
        dense = [module for module in model if isinstance(module, Dense)]
        self.hidden = dense[:-1]  # the last Dense is the output layer
        self.layer_names = [f"layer {l + 1}" for l in range(len(self.hidden))]
        self.epochs = []
        self.rms = [[] for _ in self.hidden]
        self.update_ratio = [[] for _ in self.hidden]
        self.previous_weights = None

    def record(self, epoch):
        """Measure the network as it is now, and file the numbers under `epoch`."""
        for l, grad_s in enumerate(self.gradients_of_s()):
            # RMS = √(mean of (∂ℓ/∂s)²) over points and units
            self.rms[l].append(math.sqrt(grad_s.pow(2).mean().item()))
        weights = [layer.weight.clone() for layer in self.hidden]
        for l, weight in enumerate(weights):
            if self.previous_weights is None:
                ratio = math.nan
            else:
                before = self.previous_weights[l]
                # ‖Δw‖ / ‖w‖, with the weights before the change in the denominator
                ratio = (weight - before).norm().item() / before.norm().item()
            self.update_ratio[l].append(ratio)
        self.previous_weights = weights
        self.epochs.append(epoch)

    def gradients_of_s(self):
        """∂ℓ/∂s⁽ˡ⁾ (N, width) of each hidden layer for the probe batch, ℓ per point.

        One forward and one backward, module by module: what a hidden Dense's
        backward receives is ∂ℓ/∂s of its output. The gradient tensors are put
        back as they were, and the model's train/eval mode too.
        """
        saved = [grad.clone() for _, grad in self.model.param()]
        was_training = self.model.training
        self.model.eval()
        prediction = self.model(self.x)
        self.loss(prediction, self.y)
        grad_output = self.loss.backward()
        # a mean over the batch divides each point's gradient by N: undo that
        if getattr(self.loss, "reduction", "mean") == "mean":
            grad_output = grad_output * len(self.x)
        found = {}
        for module in reversed(list(self.model)):
            if any(module is layer for layer in self.hidden):
                found[id(module)] = grad_output  # ∂ℓ/∂s of this layer
            grad_output = module.backward(grad_output)
        for (_, grad), before in zip(self.model.param(), saved):
            grad.copy_(before)
        self.model.train(was_training)
        return [found[id(layer)] for layer in self.hidden]

    def summary(self):
        """One or two lines for the terminal: what the gradients did."""
        if not self.epochs:
            return "gradient flow: nothing recorded"
        lines = []
        for index in sorted({0, len(self.epochs) - 1}):
            first, last = self.rms[0][index], self.rms[-1][index]
            ratio = first / last if last > 0 else math.inf
            lines.append(f"gradient flow at epoch {self.epochs[index]}: RMS ∂ℓ/∂s "
                         f"{first:.2g} in layer 1, {last:.2g} in layer "
                         f"{len(self.hidden)}; first/last {ratio:.2g} "
                         f"({_verdict(ratio)})")
        return "\n".join(lines)


def _verdict(ratio):
    """Words for the first/last-layer ratio of gradient sizes."""
    if ratio < 0.1:
        return "vanishing towards the input"
    if ratio < 0.5:
        return "smaller towards the input"
    if ratio > 10:
        return "growing fast towards the input"
    if ratio > 2:
        return "larger towards the input"
    return "about even across the layers"


# ---------------------------------------------------------------------------
# Figures


def draw_gradient_flow(ax_rms, ax_ratio, flow):
    """Draw (or update) the two panels; return the lines, for blitting.

    ax_rms: RMS of ∂ℓ/∂s per hidden layer against the epoch, log scales.
    ax_ratio: ‖Δw‖/‖w‖ per epoch for each hidden layer, with a line at 1e-3.
    Called again with the same axes, it only moves the existing lines.
    """
    lines = []
    panels = ((ax_rms, flow.rms, "RMS of ∂ℓ/∂s (per point)"),
              (ax_ratio, flow.update_ratio, "‖Δw‖ / ‖w‖ over one epoch"))
    for ax, series, ylabel in panels:
        curves = [line for line in ax.get_lines() if line.get_gid() == CURVES_GID]
        if len(curves) != len(series):
            curves = _set_up(ax, flow.layer_names, ylabel, ax is ax_ratio)
        for line, values in zip(curves, series):
            line.set_data(flow.epochs, values)
        # the update ratio falls to 0 with a learning rate that decays to 0: its
        # axis shows four decades below the largest
        _fit_limits(ax, flow.epochs, series, 4 if ax is ax_ratio else None)
        lines += curves
    return lines


def _fit_limits(ax, epochs, series, decades=None):
    """Axis limits around the finite, positive values (a log axis shows no others),
    at most `decades` powers of ten below the largest, if given."""
    values = [v for values in series for v in values if v > 0 and math.isfinite(v)]
    if values:
        low, high = min(values), max(values)
        if decades is not None:
            low = max(low, high / 10 ** decades)
        low, high = low / 1.5, high * 1.5  # a margin, and room for a single value
        ax.set_ylim(low, high)
        if math.floor(math.log10(high)) - math.ceil(math.log10(low)) >= 1:
            # two powers of ten or more in sight: label those alone
            from matplotlib.ticker import NullFormatter
            ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(0, max(epochs + [1]))


def _set_up(ax, layer_names, ylabel, reference):
    """Clear ax and give it one (empty) line per layer, first layer dark."""
    from matplotlib import colormaps
    ax.clear()
    colours = colormaps["viridis"]
    count = len(layer_names)
    curves = [ax.plot([], [], color=colours(0.9 * l / max(count - 1, 1)), lw=1.5,
                      label=name, gid=CURVES_GID)[0]
              for l, name in enumerate(layer_names)]
    if reference:
        ax.axhline(1e-3, color="grey", ls="--", lw=1, label="1e-3 (CS231n, per step)")
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=1, linscale=0.5)  # epoch 0 shows too
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small", ncol=2 if count > 5 else 1)
    return curves


def save_gradient_flow(path, flow, title, dpi=200):
    """Write the two panels, one above the other, to the PNG `path` (whole or not
    at all). Text of 11 pt or more on a 6.2-inch-wide figure reads at 9 CSS px
    or more when a 400 px phone shows it 370 px wide."""
    import textwrap
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.2, 8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_rms, ax_ratio = fig.subplots(2, 1)
    draw_gradient_flow(ax_rms, ax_ratio, flow)
    for ax, heading in ((ax_rms, "Gradient size per hidden layer"),
                        (ax_ratio, "Update / weight ratio")):
        ax.set_title(heading, fontsize=12.5)
        ax.tick_params(labelsize=11)
        ax.xaxis.label.set_size(11)
        ax.yaxis.label.set_size(11)
        ax.legend(fontsize=11, ncol=2 if len(flow.layer_names) > 3 else 1)
    fig.suptitle(textwrap.fill(title, 70), fontsize=11, color="dimgrey")
    write_whole(path, lambda temporary: fig.savefig(temporary, dpi=dpi, format="png"))
