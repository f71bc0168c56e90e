"""Notebook 01: GPT-2's data flow, with the tensor shape after every step."""

import matplotlib.pyplot as plt

from drawing import PLACEHOLDER_COLOR, REAL_COLOR, draw_arrow, draw_box, legend_patch

FILENAME = "01_gpt2_dataflow.png"


def draw(path) -> None:
    """Notebook 01: the scaffold's data flow, with the tensor shape after every step."""
    fig, ax = plt.subplots(figsize=(9, 11))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 12.5)
    ax.axis("off")
    ax.set_title("GPT-2 data flow for a batch of 2 sequences of 4 tokens", fontsize=15, pad=12)

    # (label, y, color, shape after this step)
    steps = [
        ("token ids", 11.6, "white", "(2, 4)"),
        ("dropout", 8.2, REAL_COLOR, "(2, 4, 768)"),
        ("12 x transformer block\nnorm1 -> attn -> norm2 -> mlp\n(placeholders in notebook 01)", 6.2, PLACEHOLDER_COLOR, "(2, 4, 768)"),
        ("final norm\n(placeholder in notebook 01)", 4.2, PLACEHOLDER_COLOR, "(2, 4, 768)"),
        ("output head: linear 768 -> 50257, no bias", 2.6, REAL_COLOR, "(2, 4, 50257)"),
        ("logits", 1.0, "white", ""),
    ]
    heights = {"token ids": 0.8, "logits": 0.8}
    for label, y, color, shape in steps:
        height = heights.get(label, 1.4 if "\n" in label else 0.9)
        if "block" in label:
            height = 1.6
        draw_box(ax, 4.2, y, 6.0, height, label, color)
        if shape:
            ax.text(8.6, y - height / 2 - 0.25, shape, ha="center", va="center", fontsize=12, family="monospace", color="#444444")

    # The two embedding lookups side by side, summed with broadcasting.
    draw_box(ax, 2.3, 10.0, 2.8, 1.0, "token embedding\n50257 x 768", REAL_COLOR, fontsize=12)
    draw_box(ax, 6.2, 10.0, 3.2, 1.0, "position embedding\n1024 x 768 (rows 0..T-1)", REAL_COLOR, fontsize=11)
    ax.text(4.2, 10.0, "+", ha="center", va="center", fontsize=22, fontweight="bold")
    ax.text(8.6, 9.2, "(2, 4, 768)", ha="center", va="center", fontsize=12, family="monospace", color="#444444")
    draw_arrow(ax, (4.2, 11.2), (2.3, 10.5))
    draw_arrow(ax, (4.2, 11.2), (6.2, 10.5))
    draw_arrow(ax, (4.2, 9.5), (4.2, 8.65))
    for upper, lower in [(7.75, 7.0), (5.4, 4.9), (3.5, 3.05), (2.15, 1.4)]:
        draw_arrow(ax, (4.2, upper), (4.2, lower))

    ax.legend(
        handles=[
            legend_patch(REAL_COLOR, "real module"),
            legend_patch(PLACEHOLDER_COLOR, "nn.Identity placeholder"),
        ],
        loc="lower right", fontsize=12, frameon=True,
    )
    ax.text(8.6, 12.2, "shape", ha="center", fontsize=12, fontweight="bold")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
