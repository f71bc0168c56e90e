"""Notebook 10: LoRA, a frozen weight W beside a trainable low-rank path B A, scaled by alpha / r and added."""

from matplotlib.patches import Arc, Circle, FancyBboxPatch, Polygon, Rectangle

from drawing import ACCENT_COLOR, REAL_COLOR, draw_arrow, draw_box, draw_cell, new_figure, note, save

FILENAME = "10_lora.png"

IN, OUT, R = 768, 768, 8  # the example of the note: one 768 x 768 weight, rank 8
FULL = IN * OUT
LORA = R * (IN + OUT)
assert (FULL, LORA) == (589_824, 12_288)

TOP_Y, LOW_Y = 12.6, 7.6  # the frozen path and the low-rank path
MID_Y = (TOP_Y + LOW_Y) / 2
WIDE, NARROW = 3.0, 0.5  # drawn heights of in (= out) features and of r features
SPLIT_X, ADD_X = 3.3, 15.6
SHAPE_STYLE = dict(fontsize=10.5, family="monospace", color="#555555", ha="center", va="bottom")
TRAIN_COLOR = "#b0741a"


def trapezoid(ax, left, right, y, left_height, right_height, text):
    """A linear layer drawn sideways, from left_height features on its left to right_height on its right."""
    corners = [(left, y + left_height / 2), (right, y + right_height / 2), (right, y - right_height / 2),
               (left, y - left_height / 2)]
    ax.add_patch(Polygon(corners, closed=True, facecolor=ACCENT_COLOR, edgecolor="black", linewidth=1.2))
    ax.text((left + right) / 2, y, text, ha="center", va="center", fontsize=13, fontweight="bold")


def padlock(ax, x, y, color="#333333"):
    """A small padlock centred at (x, y): a body and a shackle."""
    ax.add_patch(Rectangle((x - 0.22, y - 0.22), 0.44, 0.34, facecolor=color, edgecolor=color))
    ax.add_patch(Arc((x, y + 0.12), 0.3, 0.36, theta1=0, theta2=180, color=color, linewidth=2.0))


def vector(ax, x, y, height, text, label):
    """A vector drawn as a tall cell of the given height, with its name inside and its size below."""
    draw_cell(ax, x, y, 0.8, height, text, "white", fontsize=13, fontweight="bold")
    ax.text(x, y - height / 2 - 0.35, label, ha="center", va="center", fontsize=11)


def draw(path) -> None:
    """Notebook 10: x -> (W x, frozen) + (alpha / r) B A x (trainable) -> y, and the parameter count."""
    fig, ax = new_figure(13, 7.4, (0, 26), (0.4, 15.2), "LoRA: a frozen weight and a trainable low-rank path")

    # The input, split into the two paths.
    vector(ax, 1.3, MID_Y, WIDE, "x", "x (in)")
    ax.plot([1.7, SPLIT_X], [MID_Y, MID_Y], color="black", linewidth=1.2)
    ax.plot([SPLIT_X, SPLIT_X], [LOW_Y, TOP_Y], color="black", linewidth=1.2)
    ax.plot(SPLIT_X, MID_Y, "o", color="black", markersize=4)
    draw_arrow(ax, (SPLIT_X, TOP_Y), (5.0, TOP_Y), shrinkA=0, shrinkB=0)
    draw_arrow(ax, (SPLIT_X, LOW_Y), (5.0, LOW_Y), shrinkA=0, shrinkB=0)

    # The frozen path: the pretrained weight, as it was.
    ax.add_patch(FancyBboxPatch((5.0, TOP_Y - 2.0), 4.0, 4.0, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=REAL_COLOR, edgecolor="black", linewidth=1.2))
    ax.text(7.0, TOP_Y + 0.65, "W", ha="center", va="center", fontsize=15, fontweight="bold")
    ax.text(7.0, TOP_Y - 0.15, "(out x in)", ha="center", va="center", fontsize=12)
    padlock(ax, 6.35, TOP_Y - 1.2)
    ax.text(6.75, TOP_Y - 1.2, "frozen", ha="left", va="center", fontsize=12)
    draw_arrow(ax, (9.0, TOP_Y), (ADD_X, TOP_Y), shrinkA=0, shrinkB=0)
    ax.text(12.3, TOP_Y + 0.1, "W x  (out)", **SHAPE_STYLE)

    # The low-rank path: A squeezes in features down to r, B widens them back to out.
    ax.add_patch(FancyBboxPatch((4.4, LOW_Y - 3.6), 10.2, 5.6, boxstyle="round,pad=0.02,rounding_size=0.2",
                                facecolor="#fbf5ee", edgecolor=TRAIN_COLOR, linestyle="--", linewidth=1.2, zorder=0))
    ax.text(14.45, LOW_Y + 1.7, "trainable", ha="right", va="center", fontsize=12, fontweight="bold",
            color=TRAIN_COLOR)
    trapezoid(ax, 5.0, 7.2, LOW_Y, WIDE, NARROW, "A")
    draw_cell(ax, 7.9, LOW_Y, 0.5, NARROW, "", "white")
    ax.text(7.9, LOW_Y + 0.35, "(r)", **SHAPE_STYLE)
    draw_arrow(ax, (7.2, LOW_Y), (7.65, LOW_Y), shrinkA=0, shrinkB=0, mutation_scale=10)
    draw_arrow(ax, (8.15, LOW_Y), (8.6, LOW_Y), shrinkA=0, shrinkB=0, mutation_scale=10)
    trapezoid(ax, 8.6, 10.8, LOW_Y, NARROW, WIDE, "B")
    ax.text(6.1, LOW_Y - 2.1, "A (r x in)\nrandom start", ha="center", va="center", fontsize=11,
            linespacing=1.3)
    ax.text(9.7, LOW_Y - 2.1, "B (out x r)\nstarts at 0", ha="center", va="center", fontsize=11, linespacing=1.3)
    draw_arrow(ax, (10.8, LOW_Y), (11.65, LOW_Y), shrinkA=0, shrinkB=0)
    draw_box(ax, 12.9, LOW_Y, 2.5, 0.8, "\u00d7 alpha / r", "white", fontsize=12)
    ax.plot([14.15, ADD_X], [LOW_Y, LOW_Y], color="black", linewidth=1.2)

    # The sum, and the output.
    ax.add_patch(Circle((ADD_X, MID_Y), 0.35, facecolor="white", edgecolor="black", linewidth=1.2, zorder=3))
    ax.text(ADD_X, MID_Y, "+", ha="center", va="center", fontsize=18, fontweight="bold", zorder=4)
    ax.plot([ADD_X, ADD_X], [TOP_Y, MID_Y + 0.6], color="black", linewidth=1.2)
    draw_arrow(ax, (ADD_X, MID_Y + 0.6), (ADD_X, MID_Y + 0.35), shrinkA=0, shrinkB=0)
    ax.plot([ADD_X, ADD_X], [LOW_Y, MID_Y - 0.6], color="black", linewidth=1.2)
    draw_arrow(ax, (ADD_X, MID_Y - 0.6), (ADD_X, MID_Y - 0.35), shrinkA=0, shrinkB=0)
    draw_arrow(ax, (ADD_X + 0.35, MID_Y), (17.2, MID_Y), shrinkA=0, shrinkB=0)
    vector(ax, 17.6, MID_Y, WIDE, "y", "y (out)")
    ax.text(18.4, MID_Y, "y = W x + (alpha / r) B A x", ha="left", va="center", fontsize=12.5,
            fontweight="bold")

    # Step 0, merging, and the count.
    lines = [
        "at step 0: B = 0, so y = W x (the model unchanged)",
        "after training: merge W \u2190 W + (alpha / r) B A: one plain matrix again",
        f"trainable: r (in + out) instead of in x out; e.g. in = out = {IN}, r = {R}: "
        f"{LORA:,} instead of {FULL:,} ({100 * LORA / FULL:.1f}%)",
    ]
    for k, line in enumerate(lines):
        note(ax, 1.0, 2.9 - 1.0 * k, line, fontsize=12, ha="left", color="#222222")
    save(fig, path)
