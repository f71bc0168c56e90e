"""Shared drawing helpers for the diagrams in assets/ (boxes, arrows, colours)."""

import matplotlib

matplotlib.use("Agg")
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

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
