"""Notebook 03: the axis of LayerNorm: statistics per token over its features, then a scale and shift per feature."""

import math

from matplotlib.patches import Rectangle

from drawing import ACCENT_COLOR, CACHE_COLOR, REAL_COLOR, draw_arrow, draw_grid, new_figure, note, save

FILENAME = "03_norm_axis.png"

TOKENS = ["Every", "effort", "moves", "you"]
X = [[2.0, 4.0, 1.0, 3.0, 6.0, 2.0], [1.0, -3.0, 5.0, -1.0, 2.0, 2.0],
     [7.5, 6.5, 7.0, 7.5, 6.0, 7.5], [-4.0, 2.0, 1.0, -2.0, 4.0, -1.0]]  # 4 tokens x 6 features (768 in GPT-2)
GAMMA = [1.0, 0.5, 2.0, 1.0, 1.5, 0.8]  # scale, one per feature (LayerNorm.weight)
BETA = [0.0, 0.1, -0.5, 0.0, 0.2, 1.0]  # shift, one per feature (LayerNorm.bias)
ROW = 1  # the token whose statistics are highlighted
CELL_W, CELL_H = 1.1, 0.75
LEFT = 2.2  # left edge of the x and x-hat grids
Y_LEFT = 15.2  # left edge of the output grid and of gamma and beta
HIGHLIGHT = "#f0a04b"


def stats(row):
    """Mean and biased variance of one row, as LayerNorm computes them."""
    mean = sum(row) / len(row)
    return mean, sum((v - mean) ** 2 for v in row) / len(row)


def row_colors(base):
    return [[ACCENT_COLOR if i == ROW else base] * len(X[0]) for i in range(len(X))]


def token_labels(ax, ys):
    for y, token in zip(ys, TOKENS):
        ax.text(LEFT - 0.15, y, token, ha="right", va="center", fontsize=11, fontweight="bold" if token == TOKENS[ROW]
                else "normal")


def draw(path) -> None:
    """Notebook 03: x -> (x - mean) / sqrt(var + eps) per token -> gamma * x_hat + beta per feature."""
    fig, ax = new_figure(13, 9.5, (0, 23.0), (2.4, 14.6), "LayerNorm: statistics per token, across its features")
    means, variances = zip(*(stats(row) for row in X))
    x_hat = [[(v - m) / math.sqrt(var + 1e-5) for v in row] for row, m, var in zip(X, means, variances)]
    y = [[g * v + b for v, g, b in zip(row, GAMMA, BETA)] for row in x_hat]

    # Top: x, with one token's row highlighted and its mean and variance beside it.
    top = 13.0
    ax.text(LEFT + 3.3, top + 0.85, "x: tokens x features  (T x 768, drawn 4 x 6)", ha="center", fontsize=12)
    xs, ys = draw_grid(ax, LEFT, top, [[f"{v:g}" for v in row] for row in X], CELL_W, CELL_H, row_colors("white"))
    for j, x in enumerate(xs):
        ax.text(x, top + 0.3, f"f{j}", ha="center", va="center", fontsize=9.5, color="#1f5fa8")
    token_labels(ax, ys)
    ax.add_patch(Rectangle((LEFT - 0.05, ys[ROW] - CELL_H / 2 - 0.05), 6 * CELL_W + 0.1, CELL_H + 0.1, fill=False,
                           edgecolor=HIGHLIGHT, linewidth=3))
    ax.add_patch(Rectangle((xs[2] - CELL_W / 2, ys[-1] - CELL_H / 2), CELL_W, 4 * CELL_H, fill=False,
                           edgecolor="#c0392b", linewidth=2, linestyle="--"))
    for label, x, values in (("mean \u03bc", 10.3, means), ("variance \u03c3\u00b2", 12.1, variances)):
        ax.text(x, top + 0.3, label, ha="center", va="center", fontsize=10.5)
        for row_y, value in zip(ys, values):
            ax.text(x, row_y, f"{value:.2f}", ha="center", va="center", fontsize=11,
                    fontweight="bold" if row_y == ys[ROW] else "normal")
    draw_arrow(ax, (LEFT + 6.7, ys[ROW]), (9.6, ys[ROW]), color=HIGHLIGHT, linewidth=2)

    ax.text(13.6, 12.35, "\u2713 one row: the 768 features of one token give\n"
                         "   one mean and one variance, for that token alone", ha="left", va="center", fontsize=11.5,
            color="#a35a10")
    ax.text(13.6, 10.75, "\u2717 not down a column (across tokens),\n"
                         "   and not across the batch (BatchNorm does that)", ha="left", va="center", fontsize=11.5,
            color="#c0392b")
    note(ax, LEFT + 3.3, ys[-1] - 0.75, "(every row gets its own \u03bc and \u03c3\u00b2, likewise every sequence)",
         fontsize=10.5)

    # Bottom left: every row normalized on its own.
    top = 6.6
    draw_arrow(ax, (LEFT + 3.3, 8.85), (LEFT + 3.3, top + 0.75))
    ax.text(LEFT + 3.6, 8.1, "x\u0302 = (x \u2212 \u03bc) / \u221a(\u03c3\u00b2 + \u03b5)   per row, \u03b5 = 1e-5",
            ha="left", va="center", fontsize=12)
    xs, ys = draw_grid(ax, LEFT, top, [[f"{v:.2f}" for v in row] for row in x_hat], CELL_W, CELL_H,
                       row_colors(REAL_COLOR), fontsize=10.5)
    token_labels(ax, ys)
    note(ax, LEFT + 3.3, ys[-1] - 0.8, "x\u0302: every row now has mean 0 and variance 1")

    # Bottom right: one scale and one shift per feature, the same for every token.
    draw_arrow(ax, (LEFT + 6.8, ys[1] - 0.35), (Y_LEFT - 0.3, ys[1] - 0.35))
    ax.text((LEFT + 6.6 + Y_LEFT) / 2, ys[1], "\u03b3 \u2299 x\u0302 + \u03b2", ha="center", va="bottom", fontsize=13)
    for name, values, strip_top in (("\u03b3 (weight)", GAMMA, 9.05), ("\u03b2 (bias)", BETA, 8.05)):
        draw_grid(ax, Y_LEFT, strip_top, [[f"{v:g}" for v in values]], CELL_W, CELL_H, CACHE_COLOR)
        ax.text(Y_LEFT - 0.15, strip_top - CELL_H / 2, name, ha="right", va="center", fontsize=11.5)
    note(ax, Y_LEFT + 3.3, 9.45, "one scale and one shift per feature:", fontsize=11)
    draw_arrow(ax, (Y_LEFT + 3.3, 7.25), (Y_LEFT + 3.3, top + 0.05), linestyle="--", color="#555555")
    ax.text(Y_LEFT + 3.45, 6.95, "the same for every token", ha="left", va="center", fontsize=10.5, color="#444444")
    xs, ys = draw_grid(ax, Y_LEFT, top, [[f"{v:.2f}" for v in row] for row in y], CELL_W, CELL_H, row_colors("white"),
                       fontsize=10.5)
    note(ax, Y_LEFT + 3.3, ys[-1] - 0.8, "output: T x 768, same shape as x")
    save(fig, path)
