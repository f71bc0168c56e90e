"""Notebook 05: the whole GPT-2 model, from token ids to logits, with the tied output head."""

from matplotlib.patches import Circle, FancyBboxPatch

from drawing import PLACEHOLDER_COLOR, REAL_COLOR, draw_arrow, draw_box, new_figure, note, save

FILENAME = "05_full_model.png"

TRUNK_X = STREAM_X = 5.0  # the main path, which is the residual stream inside the blocks
BRANCH_X = 8.6  # inside the block: the branch column
TIED_COLOR = "#f6c7c7"
SHAPE_STYLE = dict(fontsize=11, family="monospace", color="#555555", ha="left", va="center")


def add_node(ax, x, y):
    """A "+" where two tensors are summed."""
    ax.add_patch(Circle((x, y), 0.3, facecolor="white", edgecolor="black", linewidth=1.2, zorder=3))
    ax.text(x, y, "+", ha="center", va="center", fontsize=17, fontweight="bold", zorder=4)


def branch(ax, top, modules, add_y):
    """One pre-LN residual branch: off the stream at top, through modules, added back at add_y."""
    ax.plot([STREAM_X, BRANCH_X], [top, top], color="black", linewidth=1.2)
    ax.plot(STREAM_X, top, "o", color="black", markersize=4)
    y = top
    for label, height in modules:
        center = y - 0.45 - height / 2
        draw_arrow(ax, (BRANCH_X, y), (BRANCH_X, center + height / 2))
        draw_box(ax, BRANCH_X, center, 3.6, height, label, REAL_COLOR, fontsize=11.5)
        y = center - height / 2
    ax.plot([BRANCH_X, BRANCH_X], [y, add_y], color="black", linewidth=1.2)
    draw_arrow(ax, (BRANCH_X, add_y), (STREAM_X + 0.3, add_y))
    draw_arrow(ax, (STREAM_X, top), (STREAM_X, add_y + 0.3), linewidth=2.2)
    add_node(ax, STREAM_X, add_y)


def down(ax, top, bottom, shape, x=TRUNK_X):
    draw_arrow(ax, (x, top), (x, bottom))
    ax.text(x + 0.2, (top + bottom) / 2, shape, **SHAPE_STYLE)


def draw(path) -> None:
    """Notebook 05: embeddings -> dropout -> 12 pre-LN blocks -> final LayerNorm -> tied output head -> logits."""
    fig, ax = new_figure(10, 14.5, (0, 12.5), (1.5, 20.2), "The full GPT-2 model (124M), with weight tying")

    draw_box(ax, 3.6, 19.5, 3.0, 0.65, "token ids  (B, T)", "white", fontsize=11.5)
    draw_box(ax, 9.4, 19.5, 3.4, 0.65, "positions 0 .. T-1", "white", fontsize=11.5)
    draw_arrow(ax, (3.6, 19.17), (3.6, 18.5))
    draw_arrow(ax, (9.4, 19.17), (9.4, 18.5))
    draw_box(ax, 3.6, 17.85, 4.0, 1.2, "token embedding wte\n50257 x 768\n(tok_emb)", TIED_COLOR, fontsize=11.5)
    draw_box(ax, 9.4, 17.85, 4.0, 1.2, "position embedding wpe\n1024 x 768\n(pos_emb)", REAL_COLOR, fontsize=11.5)
    add_node(ax, TRUNK_X, 16.2)
    draw_arrow(ax, (3.6, 17.25), (TRUNK_X - 0.28, 16.32))
    draw_arrow(ax, (9.4, 17.25), (TRUNK_X + 0.28, 16.32))
    note(ax, 7.4, 16.3, "(T, 768): the same\nfor every sequence", fontsize=10, ha="left")
    down(ax, 15.9, 15.3, "(B, T, 768)")
    draw_box(ax, TRUNK_X, 14.95, 3.0, 0.6, "dropout", PLACEHOLDER_COLOR, fontsize=11.5)

    # The block, drawn once inside a frame that stands for all twelve.
    ax.add_patch(FancyBboxPatch((2.0, 5.9), 9.2, 8.05, boxstyle="round,pad=0.02,rounding_size=0.2",
                                facecolor="#f5f5f5", edgecolor="#888888", linestyle="--", linewidth=1.2, zorder=0))
    ax.text(10.95, 13.55, "12 x transformer block (pre-LN)", ha="right", va="center", fontsize=12.5,
            fontweight="bold")
    draw_arrow(ax, (TRUNK_X, 14.65), (STREAM_X, 12.9), linewidth=2.2)
    branch(ax, 12.9, [("LayerNorm (norm1)", 0.6), ("causal self-attention\n12 heads of 64", 0.85)], 10.1)
    ax.plot([STREAM_X, STREAM_X], [9.8, 9.5], color="black", linewidth=2.2)
    branch(ax, 9.5, [("LayerNorm (norm2)", 0.6), ("MLP 768 -> 3072 -> 768", 0.65)], 6.9)
    note(ax, 2.3, 8.3, "residual\nstream", fontsize=10.5, ha="left")
    note(ax, 8.6, 6.3, "(each branch ends in dropout)", fontsize=10)
    draw_arrow(ax, (STREAM_X, 6.6), (TRUNK_X, 5.3), linewidth=2.2)

    # After the blocks: final norm, the head, the logits.
    draw_box(ax, TRUNK_X, 4.95, 4.6, 0.65, "final LayerNorm ln_f (final_norm)", REAL_COLOR, fontsize=11.5)
    down(ax, 4.62, 3.95, "(B, T, 768)")
    draw_box(ax, TRUNK_X, 3.55, 6.0, 0.8, "output head: Linear 768 -> 50257, no bias\n(out_head)", TIED_COLOR,
             fontsize=11.5)
    down(ax, 3.15, 2.5, "(B, T, 50257)")
    draw_box(ax, TRUNK_X, 2.2, 2.6, 0.6, "logits", "white", fontsize=11.5)

    # Weight tying: the head's weight is the token embedding's tensor.
    tied = dict(color="#b03a3a", linewidth=1.8, linestyle="--")
    ax.plot([1.6, 0.7, 0.7], [17.85, 17.85, 3.55], **tied)
    draw_arrow(ax, (0.7, 3.55), (TRUNK_X - 3.0, 3.55), arrowstyle="<|-|>", **tied)
    ax.text(0.45, 10.7, "same tensor (tied): out_head.weight is tok_emb.weight, 50257 x 768",
            rotation=90, ha="center", va="center", fontsize=11.5, color="#b03a3a")
    save(fig, path)
