"""Notebook 05: GPT-2's pre-LN transformer block, with its two shortcut branches."""

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyBboxPatch

from drawing import ACCENT_COLOR, PLACEHOLDER_COLOR, REAL_COLOR, draw_arrow, draw_box, legend_patch

FILENAME = "05_pre_ln_block.png"

STREAM_X = 3.0  # the residual stream runs down this line
BRANCH_X = 6.8  # the branch's modules sit in this column
BOX_WIDTH, BOX_HEIGHT = 3.4, 0.75


def _add_node(ax, y) -> None:
    """The circle where a branch's output is added back onto the stream."""
    ax.add_patch(Circle((STREAM_X, y), 0.32, facecolor=ACCENT_COLOR, edgecolor="black", linewidth=1.2, zorder=3))
    ax.text(STREAM_X, y, "+", ha="center", va="center", fontsize=18, fontweight="bold", zorder=4)


def _sub_block(ax, top, modules, add_y, caption) -> None:
    """One residual branch: split off the stream at `top`, run `modules` down the right column, add back at add_y."""
    frame_top, frame_bottom = top + 0.75, add_y - 0.55
    ax.add_patch(FancyBboxPatch(
        (0.4, frame_bottom), 9.2, frame_top - frame_bottom, boxstyle="round,pad=0.02,rounding_size=0.15",
        facecolor="#f7f7f7", edgecolor="#999999", linestyle="--", linewidth=1.0, zorder=0,
    ))
    ax.text(STREAM_X + 0.3, top + 0.4, caption, ha="left", va="center", fontsize=12, family="monospace")

    ys = [top - 0.8 - 1.15 * i for i in range(len(modules))]
    ax.plot([STREAM_X, BRANCH_X], [top, top], color="black", linewidth=1.2)  # the split, into the branch
    ax.plot(STREAM_X, top, "o", color="black", markersize=5)
    draw_arrow(ax, (BRANCH_X, top), (BRANCH_X, ys[0] + BOX_HEIGHT / 2))
    for i, ((label, color), y) in enumerate(zip(modules, ys)):
        draw_box(ax, BRANCH_X, y, BOX_WIDTH, BOX_HEIGHT, label, color, fontsize=12)
        if i + 1 < len(ys):
            draw_arrow(ax, (BRANCH_X, y - BOX_HEIGHT / 2), (BRANCH_X, ys[i + 1] + BOX_HEIGHT / 2))
    last = ys[-1] - BOX_HEIGHT / 2
    ax.plot([BRANCH_X, BRANCH_X], [last, add_y], color="black", linewidth=1.2)  # down, then left into the "+"
    draw_arrow(ax, (BRANCH_X, add_y), (STREAM_X + 0.32, add_y))

    draw_arrow(ax, (STREAM_X, top), (STREAM_X, add_y + 0.32), linewidth=2.4)  # the shortcut: x unchanged
    ax.text(STREAM_X - 0.35, (top + add_y) / 2, "shortcut:\nx unchanged", ha="right", va="center", fontsize=11,
            color="#444444")
    _add_node(ax, add_y)


def draw(path) -> None:
    """Notebook 05: x + attn(norm1(x)), then x + mlp(norm2(x)), each branch ending in dropout."""
    fig, ax = plt.subplots(figsize=(9, 12))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.2, 13.6)
    ax.axis("off")
    ax.set_title("GPT-2's pre-LN transformer block", fontsize=15, pad=12)

    draw_box(ax, STREAM_X, 13.1, 2.4, 0.6, "x  (B, T, 768)", "white", fontsize=12)
    ax.plot([STREAM_X, STREAM_X], [12.8, 11.8], color="black", linewidth=2.4)
    attn_modules = [("norm1: LayerNorm", REAL_COLOR), ("attn: causal attention", REAL_COLOR), ("dropout", PLACEHOLDER_COLOR)]
    _sub_block(ax, 11.8, attn_modules, 7.6, "x + drop(attn(norm1(x)))")

    ax.plot([STREAM_X, STREAM_X], [7.28, 6.15], color="black", linewidth=2.4)
    mlp_modules = [("norm2: LayerNorm", REAL_COLOR), ("mlp: 768 -> 3072 -> 768", REAL_COLOR), ("dropout", PLACEHOLDER_COLOR)]
    _sub_block(ax, 6.15, mlp_modules, 1.95, "x + drop(mlp(norm2(x)))")

    draw_arrow(ax, (STREAM_X, 1.63), (STREAM_X, 0.8), linewidth=2.4)
    draw_box(ax, STREAM_X, 0.5, 2.4, 0.6, "out  (B, T, 768)", "white", fontsize=12)
    ax.legend(
        handles=[
            legend_patch(REAL_COLOR, "module with weights"),
            legend_patch(PLACEHOLDER_COLOR, "dropout (off in eval())"),
            legend_patch(ACCENT_COLOR, "add the branch to x"),
        ],
        loc="lower right", fontsize=11, frameon=True,
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
