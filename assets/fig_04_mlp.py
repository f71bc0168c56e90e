"""Notebook 04: the MLP, 768 -> 3072 -> 768, applied to every token on its own with the same weights."""

from matplotlib.patches import Polygon

from drawing import ACCENT_COLOR, CACHE_COLOR, REAL_COLOR, draw_box, draw_cell, new_figure, note, save

FILENAME = "04_mlp.png"

TOKENS = ["Every", "effort", "moves"]
COLUMN_X = [3.2, 9.2, 15.2]  # the centre of each token's column
NARROW, WIDE = 1.2, 4.8  # drawn widths of 768 and 3072 features: 4x wider
NOTE_X = 19.9  # left edge of the explanations
LEVELS = {"in": 14.0, "fc": 13.0, "h1": 12.0, "gelu": 11.0, "h2": 10.0, "proj": 9.0, "out": 8.0}


def trapezoid(ax, x, y, top_width, bottom_width, text, height=1.3):
    """A linear layer drawn as a trapezoid from top_width to bottom_width, centred at (x, y)."""
    top, bottom = y + height / 2, y - height / 2
    corners = [(x - top_width / 2, top), (x + top_width / 2, top), (x + bottom_width / 2, bottom),
               (x - bottom_width / 2, bottom)]
    ax.add_patch(Polygon(corners, closed=True, facecolor=REAL_COLOR, edgecolor="black", linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=11)


def token_column(ax, x, token):
    """One token's path through the MLP, top to bottom, with every width drawn to scale."""
    ax.text(x, LEVELS["in"] + 0.75, f"token \"{token}\"", ha="center", va="center", fontsize=12, fontweight="bold")
    draw_cell(ax, x, LEVELS["in"], NARROW, 0.5, "768", "white", fontsize=10.5)
    trapezoid(ax, x, LEVELS["fc"], NARROW, WIDE, "fc")
    draw_cell(ax, x, LEVELS["h1"], WIDE, 0.5, "3072", ACCENT_COLOR, fontsize=10.5)
    draw_box(ax, x, LEVELS["gelu"], WIDE, 0.6, "GELU", CACHE_COLOR, fontsize=11)
    draw_cell(ax, x, LEVELS["h2"], WIDE, 0.5, "3072", ACCENT_COLOR, fontsize=10.5)
    trapezoid(ax, x, LEVELS["proj"], WIDE, NARROW, "proj")
    draw_cell(ax, x, LEVELS["out"], NARROW, 0.5, "768", "white", fontsize=10.5)


def draw(path) -> None:
    """Notebook 04: three token columns through fc -> GELU -> proj, and what each layer is."""
    fig, ax = new_figure(13, 8, (0, 30), (5.6, 15.4), "The MLP: every token on its own, through the same weights")
    for x, token in zip(COLUMN_X, TOKENS):
        token_column(ax, x, token)
    ax.text(18.6, LEVELS["gelu"], "\u22ef", ha="center", va="center", fontsize=22)

    # Between neighbouring columns: the same layer, the same tensors.
    for level, label in (("fc", "same fc\nweights"), ("proj", "same proj\nweights")):
        for left, right in zip(COLUMN_X, COLUMN_X[1:]):
            ax.plot([left + 2.0, right - 2.0], [LEVELS[level]] * 2, linestyle="--", color="#777777", linewidth=1.2)
            above = level == "fc"  # each label sits where its trapezoids leave the most room
            ax.text((left + right) / 2, LEVELS[level] + (0.2 if above else -0.2), label, ha="center",
                    va="bottom" if above else "top", fontsize=9.5, color="#444444")

    explanations = {
        "in": "x$_t$: one token's vector, 768 features",
        "fc": "fc = nn.Linear(768, 3072)\nweight 3072 x 768, bias 3072",
        "h1": "4 x wider: 3072 = 4 x 768",
        "gelu": "GELU, number by number\n(GPT-2: the tanh approximation)",
        "h2": "still 3072 wide",
        "proj": "proj = nn.Linear(3072, 768)\nweight 768 x 3072, bias 768",
        "out": "y$_t$: 768 features, back to the\nwidth of the residual stream",
    }
    for level, text in explanations.items():
        ax.text(NOTE_X, LEVELS[level], text, ha="left", va="center", fontsize=11.5)

    note(ax, 15.0, 6.55, "Nothing flows between the columns (dashed lines only mark shared weights): the MLP never\n"
                         "mixes tokens, attention does. Parameters: (768 x 3072 + 3072) + (3072 x 768 + 768)\n"
                         "= 4,722,432, the same tensors at every position.", fontsize=11.5, color="#222222",
         linespacing=1.5)
    save(fig, path)
