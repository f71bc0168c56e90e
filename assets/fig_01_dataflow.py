"""Notebook 01: GPT-2's data flow, with the tensor shape on every arrow."""

import matplotlib.pyplot as plt
from matplotlib.patches import Circle

from drawing import PLACEHOLDER_COLOR, REAL_COLOR, draw_arrow, draw_box, legend_patch

FILENAME = "01_gpt2_dataflow.png"
SHAPE_STYLE = dict(fontsize=12, family="monospace", color="#444444", va="center")
TRUNK_X = 4.2  # the column the main path runs down


def shape_label(ax, x, y, text, ha="left") -> None:
    """A grey tensor shape beside an arrow."""
    ax.text(x, y, text, ha=ha, **SHAPE_STYLE)


def down_arrow(ax, top, bottom, shape) -> None:
    """An arrow down the main column, with the shape of the tensor it carries."""
    draw_arrow(ax, (TRUNK_X, top), (TRUNK_X, bottom))
    shape_label(ax, TRUNK_X + 0.2, (top + bottom) / 2, shape)


def draw(path) -> None:
    """Notebook 01: the scaffold's data flow, with the tensor shape on every arrow."""
    fig, ax = plt.subplots(figsize=(9, 12.5))
    ax.set_xlim(0, 10)
    ax.set_ylim(0.3, 14.2)
    ax.axis("off")
    ax.set_title("GPT-2 data flow for a batch of 2 sequences of T = 4 tokens", fontsize=15, pad=12)

    # Two inputs: the token ids, and the positions 0..T-1 (the same for every sequence).
    draw_box(ax, 2.2, 13.3, 3.0, 0.8, "token ids", "white")
    draw_box(ax, 6.6, 13.3, 3.4, 0.9, "positions 0, 1, ..., T-1\ntorch.arange(T)", "white", fontsize=12)
    draw_arrow(ax, (2.2, 12.9), (2.2, 11.85))
    shape_label(ax, 2.4, 12.37, "(2, 4)")
    draw_arrow(ax, (6.6, 12.85), (6.6, 11.85))
    shape_label(ax, 6.8, 12.37, "(4,)")

    # Each input picks rows of its own table.
    draw_box(ax, 2.2, 11.2, 3.2, 1.3, "token embedding\ntable 50257 x 768", REAL_COLOR, fontsize=12)
    draw_box(ax, 6.6, 11.2, 3.4, 1.3, "position embedding\ntable 1024 x 768\n(uses rows 0..T-1)", REAL_COLOR, fontsize=12)

    # The two lookups are summed; the (4, 768) positions broadcast over the batch.
    plus_y = 9.1
    ax.add_patch(Circle((TRUNK_X, plus_y), 0.32, facecolor="white", edgecolor="black", linewidth=1.2))
    ax.text(TRUNK_X, plus_y, "+", ha="center", va="center", fontsize=20, fontweight="bold")
    draw_arrow(ax, (2.2, 10.55), (TRUNK_X - 0.3, plus_y + 0.15))
    shape_label(ax, 2.85, 9.75, "(2, 4, 768)", ha="right")
    draw_arrow(ax, (6.6, 10.55), (TRUNK_X + 0.3, plus_y + 0.15))
    shape_label(ax, 5.6, 9.75, "(4, 768)")
    ax.text(5.6, 9.3, "broadcast over\nthe batch", ha="left", va="top", fontsize=11, style="italic", color="#444444")

    # The main path, top to bottom: (label, centre y, height, colour).
    steps = [
        ("dropout", 7.45, 0.9, REAL_COLOR),
        ("12 x transformer block\nnorm1 -> attn -> norm2 -> mlp\n(placeholders in notebook 01)", 5.6, 1.6, PLACEHOLDER_COLOR),
        ("final norm\n(placeholder in notebook 01)", 3.75, 1.1, PLACEHOLDER_COLOR),
        ("output head: linear 768 -> 50257, no bias", 2.15, 0.9, REAL_COLOR),
    ]
    for label, y, height, color in steps:
        draw_box(ax, TRUNK_X, y, 6.0, height, label, color)
    draw_box(ax, TRUNK_X, 0.75, 3.0, 0.7, "logits", "white")

    down_arrow(ax, plus_y - 0.32, 7.45 + 0.45, "(2, 4, 768)")
    down_arrow(ax, 7.45 - 0.45, 5.6 + 0.8, "(2, 4, 768)")
    down_arrow(ax, 5.6 - 0.8, 3.75 + 0.55, "(2, 4, 768)")
    down_arrow(ax, 3.75 - 0.55, 2.15 + 0.45, "(2, 4, 768)")
    down_arrow(ax, 2.15 - 0.45, 0.75 + 0.35, "(2, 4, 50257)")

    ax.legend(
        handles=[
            legend_patch(REAL_COLOR, "real module"),
            legend_patch(PLACEHOLDER_COLOR, "nn.Identity placeholder"),
        ],
        loc="lower right", fontsize=12, frameon=True,
    )
    ax.text(0.0, 0.75, "grey: shape of the\ntensor on each arrow", ha="left", va="center", fontsize=11, color="#444444")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
