"""Shared drawing helpers for the diagrams in assets/ (boxes, arrows, colours)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

PLACEHOLDER_COLOR = "#e8e8e8"
REAL_COLOR = "#cfe3f7"
ACCENT_COLOR = "#fde3c8"
CACHE_COLOR = "#d9f0d3"


def draw_box(ax, x, y, width, height, text, color, fontsize=13, **text_options):
    """A rounded box centred at (x, y) with centred text."""
    box = FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=color, edgecolor="black", linewidth=1.2,
    )
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **text_options)


def draw_arrow(ax, start, end, **options):
    """An arrow from start to end, in data coordinates."""
    style = dict(arrowstyle="-|>", mutation_scale=16, linewidth=1.2, color="black")
    style.update(options)
    ax.add_patch(FancyArrowPatch(start, end, **style))


def legend_patch(color, label):
    """A legend entry for a box colour."""
    return FancyBboxPatch((0, 0), 1, 1, facecolor=color, edgecolor="black", label=label)


# Helpers for the grid and table diagrams (notebooks 02-09).
MASK_COLOR = "#d4d4d4"
NOTE_COLOR = "#444444"
MONO = dict(family="monospace")


def new_figure(width, height, xlim, ylim, title, title_size=15):
    """A figure whose axes run over xlim x ylim in data units, with no frame, and a title."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    ax.set_title(title, fontsize=title_size, pad=12)
    return fig, ax


def save(fig, path) -> None:
    """Write the figure as the other diagrams are written (same dpi, tight box), then free it."""
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def draw_cell(ax, x, y, width, height, text, color, fontsize=11, hatch=None, **text_options):
    """A square-cornered cell centred at (x, y), e.g. one entry of a matrix, with centred text."""
    ax.add_patch(Rectangle((x - width / 2, y - height / 2), width, height, facecolor=color, edgecolor="black",
                           linewidth=0.9, hatch=hatch, hatchcolor="#b0b0b0"))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **text_options)


def draw_grid(ax, left, top, texts, cell_w, cell_h, colors, fontsize=11, hatches=None):
    """A matrix of cells whose top-left corner is (left, top); texts, colors (and hatches) are lists of rows.

    A single colour string colours every cell. Returns the x of each column's centre and the y of each row's."""
    xs = [left + (j + 0.5) * cell_w for j in range(len(texts[0]))]
    ys = [top - (i + 0.5) * cell_h for i in range(len(texts))]
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            color = colors if isinstance(colors, str) else colors[i][j]
            hatch = hatches[i][j] if hatches else None
            draw_cell(ax, xs[j], ys[i], cell_w, cell_h, text, color, fontsize, hatch)
    return xs, ys


def note(ax, x, y, text, fontsize=11, **options):
    """Grey explanatory text."""
    style = dict(ha="center", va="center", fontsize=fontsize, color=NOTE_COLOR)
    style.update(options)
    ax.text(x, y, text, **style)
