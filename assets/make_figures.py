"""Draw the explanatory figures in assets/ (run with `make figures`).

Figures that show computed results are drawn by the notebooks themselves; this script
draws the diagrams, which need no model.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ASSETS = Path(__file__).resolve().parent
PLACEHOLDER_COLOR = "#e8e8e8"
REAL_COLOR = "#cfe3f7"


def draw_box(ax, x, y, width, height, text, color, fontsize=13):
    box = FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=color, edgecolor="black", linewidth=1.2,
    )
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def draw_arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, linewidth=1.2, color="black"))


def gpt2_dataflow(path: Path) -> None:
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
            FancyBboxPatch((0, 0), 1, 1, facecolor=REAL_COLOR, edgecolor="black", label="real module"),
            FancyBboxPatch((0, 0), 1, 1, facecolor=PLACEHOLDER_COLOR, edgecolor="black", label="nn.Identity placeholder"),
        ],
        loc="lower right", fontsize=12, frameon=True,
    )
    ax.text(8.6, 12.2, "shape", ha="center", fontsize=12, fontweight="bold")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    gpt2_dataflow(ASSETS / "01_gpt2_dataflow.png")
    print("wrote", ASSETS / "01_gpt2_dataflow.png")


if __name__ == "__main__":
    main()
