"""Notebook 07: the key/value cache of one attention layer, growing by one slot per decoding step."""

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

from drawing import ACCENT_COLOR, CACHE_COLOR, REAL_COLOR, draw_arrow, draw_box, legend_patch

FILENAME = "07_kv_cache.png"

TOKENS = ["Hello", ",", " I", " am", " a", " robot"]  # an example text: a 3-token prompt, then 3 new tokens
PROMPT_LEN = 3
MAX_LEN = len(TOKENS)  # the cache buffers are allocated once, for every token the text will have
SLOT_X0 = 3.2  # x of the first slot's centre
SLOT_W = 1.25  # distance between slot centres
CELL_W, CELL_H = 1.05, 0.55


def slot_x(position: int) -> float:
    return SLOT_X0 + position * SLOT_W


def draw_cell(ax, x, y, text, color, empty=False) -> None:
    """One key or value slot of the cache: a plain rectangle, dashed and white when not filled yet."""
    ax.add_patch(Rectangle((x - CELL_W / 2, y - CELL_H / 2), CELL_W, CELL_H, facecolor="white" if empty else color,
                           edgecolor="#999999" if empty else "black", linewidth=1.0, linestyle="--" if empty else "-"))
    if not empty:
        ax.text(x, y, text, ha="center", va="center", fontsize=12)


def draw_row(ax, y: float, filled: int, new: int, label: str, note: str) -> None:
    """One decoding step: `filled` slots hold keys/values, the last `new` of them written in this step."""
    ax.text(0.2, y + 0.05, label, ha="left", va="center", fontsize=13, fontweight="bold")
    ax.text(1.75, y + 0.45, "keys", ha="center", va="center", fontsize=11, color="#444444")
    ax.text(1.75, y - 0.25, "values", ha="center", va="center", fontsize=11, color="#444444")
    for p in range(MAX_LEN):
        color = ACCENT_COLOR if filled - new <= p < filled else CACHE_COLOR
        draw_cell(ax, slot_x(p), y + 0.45, f"k{p}", color, empty=p >= filled)
        draw_cell(ax, slot_x(p), y - 0.25, f"v{p}", color, empty=p >= filled)
        if p < filled:
            ax.text(slot_x(p), y - 0.8, repr(TOKENS[p]), ha="center", va="center", fontsize=10,
                    family="monospace", color="#444444")
    ax.text(slot_x(MAX_LEN) - 0.2, y + 0.1, note, ha="left", va="center", fontsize=11.5, linespacing=1.4)


def draw_query(ax, y: float, position: int) -> None:
    """A query above its slot, attending over the keys up to its own position."""
    qx, qy = slot_x(position), y + 1.55
    draw_box(ax, qx, qy, 0.9, 0.5, f"q{position}", REAL_COLOR, fontsize=12)
    for p in range(position + 1):
        draw_arrow(ax, (qx, qy - 0.25), (slot_x(p), y + 0.45 + CELL_H / 2), arrowstyle="-|>", mutation_scale=11,
                   linewidth=0.9, color="#1f5fa8", shrinkA=0, shrinkB=1)


def draw(path) -> None:
    """Notebook 07: one layer's key/value cache after the prompt and after each of three decoding steps."""
    fig, ax = plt.subplots(figsize=(13, 12))
    ax.set_xlim(0, 14.4)
    ax.set_ylim(0.2, 13.1)
    ax.axis("off")
    ax.set_title("The key/value cache of one attention layer, step by step", fontsize=16, pad=10)

    row_y = [10.7, 7.75, 4.8, 1.85]
    draw_row(ax, row_y[0], PROMPT_LEN, PROMPT_LEN, "prompt",
             "3 tokens in one pass:\ncausal mask among them\ncache.length = 3")
    for position in range(PROMPT_LEN):
        draw_query(ax, row_y[0], position)
    for step in range(1, 4):
        filled = PROMPT_LEN + step
        draw_row(ax, row_y[step], filled, 1, f"step {step}",
                 f"1 new token: its q\nreads {filled} keys, no mask\ncache.length = {filled}")
        draw_query(ax, row_y[step], filled - 1)
    for upper, lower in zip(row_y, row_y[1:]):
        ax.text(0.75, (upper + lower) / 2 + 0.35, "append", ha="left", va="center", fontsize=10, color="#444444")
        draw_arrow(ax, (0.55, upper - 0.4), (0.55, lower + 0.45), mutation_scale=14)

    ax.legend(
        handles=[
            legend_patch(CACHE_COLOR, "stored in an earlier step"),
            legend_patch(ACCENT_COLOR, "computed and stored in this step"),
            Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="#999999", linestyle="--", label="allocated, still empty"),
            legend_patch(REAL_COLOR, "query (not stored)"),
        ],
        loc="lower center", bbox_to_anchor=(0.5, -0.06), ncol=2, fontsize=12, frameon=True,
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
