"""What each hidden unit computes: its output over the unit square, one map per unit.

In the style of TensorFlow Playground: for every point p of the input square
[0, 1]², run the network and read the output x⁽ˡ⁾ of every unit of the chosen
hidden layers. A first-layer ReLU unit is max(0, w·p + b): zero on one side
of a straight line (its kink), a ramp on the other. The second layer adds
such ramps and cuts again, so its maps are polygons: the disk the network
draws is built from straight pieces.

    draw_hidden_units(fig, model, lambda p: network_input(p), layers=(0, 1))

Each map is coloured on its own symmetric scale, from −max|x| (blue) through
0 (white) to +max|x| (red), so a ReLU's dead side is white; a unit that is
zero all over the square says "off". The dashed circle is the disk of the
experiment. Uses minimlp's public API only; matplotlib is imported when
drawing.
"""

import math

import torch

from minimlp import Dense
from train_files import write_whole  # a temporary name, then a rename

GRID = 64                 # points per side of the square
DISK = (0.5, 0.5, 1 / math.sqrt(2 * math.pi))  # centre x, centre y, radius
UNIT_GID = "hidden-unit"  # marks the axes this module draws, to update them


def square_points(grid=GRID):
    """The (grid², 2) points of a grid over [0, 1]², row by row from the bottom."""
    ticks = torch.linspace(0, 1, grid)
    rows, cols = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)


def hidden_outputs(model, inputs):
    """The output x⁽ˡ⁾ (N, width) of every hidden layer for inputs (N, in).

    Hidden layer l runs from its Dense to the module before the next Dense
    (its activation); the last Dense is the output layer. Runs in eval mode
    and puts the model's mode back.
    """
    was_training = model.training
    model.eval()
    outputs, x, seen_dense = [], inputs, 0
    dense_count = sum(isinstance(module, Dense) for module in model)
    for module in model:
        if isinstance(module, Dense):
            if seen_dense > 0:
                outputs.append(x)  # the end of hidden layer seen_dense
            seen_dense += 1
            if seen_dense == dense_count:
                break  # the output layer: not a hidden layer
        x = module.forward(x)
    model.train(was_training)
    return outputs


def unit_maps(model, input_transform, layers, grid=GRID):
    """{layer: tensor (width, grid, grid)} of each unit's output over the square."""
    points = square_points(grid)
    outputs = hidden_outputs(model, input_transform(points))
    return {l: outputs[l].t().reshape(-1, grid, grid).double().cpu() for l in layers}


def draw_hidden_units(fig, model, input_transform, layers=(0, 1), circle=DISK,
                      top=0.86):
    """Draw (or update) one map per unit of the hidden `layers` (0 = first) in
    `fig`, a matplotlib Figure or SubFigure; return the artists, for blitting.

    input_transform maps points of [0, 1]² (N, 2) to the network's input; the
    tiles fill fig below `top` (a fraction of its height, room for a title).
    Called again on the same figure, it only replaces the maps' pixels.
    """
    layers = [l for l in layers if l < len(hidden_widths(model))]
    maps = unit_maps(model, input_transform, layers)
    tiles = [ax for ax in fig.axes if ax.get_gid() == UNIT_GID]
    if len(tiles) != sum(len(unit) for unit in maps.values()):
        tiles = _set_up(fig, {l: len(unit) for l, unit in maps.items()}, circle, top)
    artists = []
    units = [unit for l in layers for unit in maps[l]]
    for ax, unit in zip(tiles, units):
        largest = unit.abs().max().item()
        image, label = ax.images[0], ax.texts[0]
        # each unit on its own scale: −max|x| .. +max|x| -> 0 .. 1, 0 -> 0.5
        shown = (unit / (2 * largest) + 0.5) if largest > 0 else unit + 0.5
        image.set_data(shown.numpy())
        label.set_text("" if largest > 0 else "off")
        artists += [image, label]
    return artists


def _set_up(fig, widths, circle, top):
    """Clear fig; lay out one block of square tiles per layer, each with an
    empty image, a circle and a label. Return the tiles in drawing order."""
    from matplotlib.patches import Circle
    fig.clear()
    columns = {l: math.ceil(math.sqrt(width)) for l, width in widths.items()}
    rows = max(math.ceil(width / columns[l]) for l, width in widths.items())
    outer = fig.add_gridspec(1, len(widths), width_ratios=list(columns.values()),
                             wspace=0.12, left=0.02, right=0.98, bottom=0.02,
                             top=top)
    tiles = []
    for block, (l, width) in enumerate(widths.items()):
        inner = outer[block].subgridspec(rows, columns[l], wspace=0.08, hspace=0.08)
        for unit in range(width):
            ax = fig.add_subplot(inner[unit // columns[l], unit % columns[l]])
            ax.set_gid(UNIT_GID)
            ax.imshow([[0.5, 0.5], [0.5, 0.5]], cmap="RdBu_r", vmin=0, vmax=1,
                      origin="lower", extent=(0, 1, 0, 1), interpolation="nearest")
            if circle is not None:
                ax.add_patch(Circle(circle[:2], circle[2], fill=False, ls="--",
                                    lw=0.5, color="black", alpha=0.6))
            ax.text(0.5, 0.5, "", ha="center", va="center", fontsize=6,
                    color="dimgrey")
            ax.set_xticks([])
            ax.set_yticks([])
            if unit == 0:
                ax.set_title(f"hidden layer {l + 1}: {width} units", loc="left",
                             fontsize="small")
            tiles.append(ax)
    return tiles


def save_hidden_units(path, model, input_transform, title, layers=(0, 1), dpi=200):
    """Write the unit maps of `layers` to the PNG `path` (whole or not at all)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    import textwrap
    shown = len([l for l in layers if l < len(hidden_widths(model))])
    width = 4.2 * shown + 0.4
    fig = Figure(figsize=(width, 5.8))
    FigureCanvasAgg(fig)
    # text of 1.76 pt per inch of width: 9 CSS px or more when a 400 px phone
    # shows the figure 370 px wide
    size = 1.76 * width
    heading = "\n".join([textwrap.fill(title, 70), textwrap.fill(
        "each unit's output over the input square (blue < 0 < red, each on its own "
        "scale; dashed: the disk)", 70)])
    # the tiles start below the heading, however many lines it takes
    extent = fig.suptitle(heading, fontsize=size).get_window_extent(
        fig.canvas.get_renderer())
    top = 1 - (extent.height + 0.12 * fig.dpi) / fig.bbox.height - 0.05
    artists = draw_hidden_units(fig, model, input_transform, layers, top=top)
    for ax in {artist.axes for artist in artists}:
        if ax.get_title(loc="left"):
            ax.set_title(ax.get_title(loc="left"), loc="left", fontsize=size)
    fig.suptitle(heading, fontsize=size, color="dimgrey")
    write_whole(path, lambda temporary: fig.savefig(temporary, dpi=dpi, format="png"))


def hidden_widths(model):
    """The width of each hidden layer: the out_features of every Dense but the last."""
    return [module.out_features for module in model if isinstance(module, Dense)][:-1]
