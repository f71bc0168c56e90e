"""Notebook 02: the fused q/k/v projection and the split into heads, with the shape after every step."""

import matplotlib.pyplot as plt

from drawing import REAL_COLOR, draw_arrow, draw_box

FILENAME = "02_qkv_heads.png"

N_HEADS = 4  # drawn with 4 heads so the picture stays readable; GPT-2 small has 12
HEAD_COLORS = ["#f6b8b8", "#b8d4f6", "#bfe6b0", "#f8d59a"]  # one light colour per head
HEAD_EDGES = ["#b03a3a", "#2f63a8", "#3f8a2a", "#b0741a"]  # a darker shade of each, for lines
CENTER = 6.0  # x of the main column
SHAPE_X = 14.4  # x of the right-hand column: operation and shape after it


def _segmented_bar(ax, x, y, width, height, labels, fontsize=10):
    """A bar split into equal coloured segments, one per head, each with a label."""
    segment = width / len(labels)
    left = x - width / 2
    for h, label in enumerate(labels):
        ax.add_patch(plt.Rectangle((left + h * segment, y - height / 2), segment, height,
                                   facecolor=HEAD_COLORS[h], edgecolor="black", linewidth=1.0))
        ax.text(left + (h + 0.5) * segment, y, label, ha="center", va="center", fontsize=fontsize)
    return [left + (h + 0.5) * segment for h in range(len(labels))]  # the x of every segment's centre


def _step(ax, y, operation, shape):
    """The right-hand column: what the step does (italic) and the shape it leaves (monospace)."""
    if operation:
        ax.text(SHAPE_X, y + 0.22, operation, ha="center", va="bottom", fontsize=11, style="italic", color="#333333")
    ax.text(SHAPE_X, y, shape, ha="center", va="top", fontsize=12, family="monospace", color="#444444")


def draw(path) -> None:
    """Notebook 02: x -> one qkv projection -> q, k, v -> heads -> attention per head -> merge -> out_proj."""
    fig, ax = plt.subplots(figsize=(13.5, 12.5))
    ax.set_xlim(-0.2, 16.9)
    ax.set_ylim(0.6, 15.6)
    ax.axis("off")
    ax.set_title("Fused multi-head attention: one q/k/v projection, split into heads", fontsize=16, pad=12)
    ax.text(SHAPE_X, 15.2, "step and shape", ha="center", fontsize=12, fontweight="bold")

    # x and the one fused projection.
    draw_box(ax, CENTER, 14.5, 5.4, 0.7, "x: one vector of width C per token", "white", fontsize=12)
    _step(ax, 14.5, "", "(B, T, C)")
    draw_arrow(ax, (CENTER, 14.15), (CENTER, 13.45))
    draw_box(ax, CENTER, 13.0, 5.0, 0.9, "qkv = nn.Linear(C, 3C)\none matrix product for q, k and v", REAL_COLOR, fontsize=12)
    _step(ax, 12.55, "", "(B, T, 3C)")

    # chunk(3): three tensors of width C, each already cut into head-sized slices.
    bar_width, bar_y = 3.2, 10.9
    head_labels = [f"h{h}" for h in range(N_HEADS)]
    slices = {}
    for offset, name in zip([-3.7, 0.0, 3.7], "qkv"):
        x = CENTER + offset
        draw_arrow(ax, (CENTER, 12.55), (x, bar_y + 0.75))
        ax.text(x - bar_width / 2 - 0.15, bar_y, name, ha="right", va="center", fontsize=15, fontweight="bold")
        slices[name] = _segmented_bar(ax, x, bar_y, bar_width, 0.6, head_labels)
    _step(ax, bar_y + 0.25, "chunk(3, dim=-1)", "3 x (B, T, C)")
    ax.text(SHAPE_X, bar_y - 0.45, "width C = n_heads slices\nof width head_dim", ha="center", va="top",
            fontsize=10, color="#444444")

    # view + transpose: head h takes slice h of q, of k and of v.
    head_y, head_w, head_h, spacing = 7.3, 2.6, 1.5, 2.95
    head_x = [CENTER + (h - (N_HEADS - 1) / 2) * spacing for h in range(N_HEADS)]
    for h in range(N_HEADS):
        for name in "qkv":
            ax.plot([slices[name][h], head_x[h] + {"q": -0.6, "k": 0.0, "v": 0.6}[name]],
                    [bar_y - 0.3, head_y + head_h / 2 + 0.02], color=HEAD_EDGES[h], linewidth=1.3)
        text = f"head {h}\ncausal attention on\nq$_{h}$, k$_{h}$, v$_{h}$"
        draw_box(ax, head_x[h], head_y, head_w, head_h, text, HEAD_COLORS[h], fontsize=11)
    _step(ax, 8.85, "view(B, T, n_heads, head_dim)\n.transpose(1, 2)", "(B, n_heads, T, head_dim)")
    _step(ax, head_y - 0.05, "attend in every head at once", "(B, n_heads, T, head_dim)")

    # merge: the heads' outputs side by side again, then one output projection mixes them.
    merge_y = 5.0
    merged = _segmented_bar(ax, CENTER, merge_y, 4.4, 0.6, [f"y{h}" for h in range(N_HEADS)], fontsize=11)
    for h in range(N_HEADS):
        draw_arrow(ax, (head_x[h], head_y - head_h / 2), (merged[h], merge_y + 0.32), color=HEAD_EDGES[h])
    _step(ax, merge_y + 0.05, "merge_heads: .transpose(1, 2)\n-> (B, T, n_heads, head_dim),\n"
          ".flatten(2): the heads side by side", "(B, T, C)")
    ax.text(CENTER - 2.45, merge_y, "concatenated", ha="right", va="center", fontsize=11, style="italic",
            color="#333333")
    draw_arrow(ax, (CENTER, merge_y - 0.3), (CENTER, 3.95))
    draw_box(ax, CENTER, 3.5, 5.0, 0.9, "out_proj = nn.Linear(C, C)\nmixes the heads", REAL_COLOR, fontsize=12)
    _step(ax, 3.25, "", "(B, T, C)")
    draw_arrow(ax, (CENTER, 3.05), (CENTER, 2.45))
    draw_box(ax, CENTER, 2.1, 5.0, 0.7, "output", "white", fontsize=12)

    ax.text(CENTER + 1.0, 1.05, "C = emb_dim = n_heads x head_dim  (GPT-2 small: 768 = 12 x 64).  Drawn with 4 heads.",
            ha="center", va="center", fontsize=11, color="#333333")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
