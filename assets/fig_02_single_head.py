"""Notebook 02: one head of causal attention, step by step, for a sequence of 4 tokens."""

import math

from matplotlib.colors import to_hex

from drawing import ACCENT_COLOR, CACHE_COLOR, MASK_COLOR, REAL_COLOR, draw_arrow, draw_grid, new_figure, note, save

FILENAME = "02_single_head_mask.png"

TOKENS = ["Every", "effort", "moves", "you"]
T = len(TOKENS)
# Made-up scores q_t . k_j / sqrt(d_head): row t is query t, column j is key j.
SCORES = [[1.2, -0.3, 0.8, 2.1], [0.4, 1.5, -1.0, 0.6], [-0.2, 1.0, 0.6, 1.8], [1.1, 0.3, -0.6, 0.8]]
V_COLOR = "#e6d7f2"
CELL_W, CELL_H = 1.15, 0.8  # the T x T grids
SMALL_W, SMALL_H = 0.8, 0.7  # x, Q, K, V and the output: 3 or 6 columns stand for 64 or 768
GRID_TOP = 8.6
GRID_LEFT = {"scores": 2.0, "masked": 7.8, "weights": 13.6, "output": 20.5}
Q_X, K_X, V_X = 2.6, 5.8, 21.7  # centres of the Q, K and V matrices


def softmax_visible(row, t):
    """Softmax over the keys 0..t; the later keys get weight 0."""
    exps = [math.exp(s) for s in row[: t + 1]]
    return [e / sum(exps) for e in exps] + [0.0] * (len(row) - t - 1)


def weight_color(w):
    """White for weight 0, deepening to orange for weight 1."""
    white, orange = (1.0, 1.0, 1.0), (0.96, 0.62, 0.33)
    return to_hex([a + w * (b - a) for a, b in zip(white, orange)])


def small_matrix(ax, center_x, top, label, color):
    """A T x 3 matrix standing for T x d_head, with its name above it."""
    draw_grid(ax, center_x - 1.5 * SMALL_W, top, [[""] * 3] * T, SMALL_W, SMALL_H, color)
    ax.text(center_x, top + 0.3, label, ha="center", va="bottom", fontsize=13)


def step_grid(ax, name, title, texts, colors, hatches=None, cell_w=CELL_W, key_labels=True):
    """One grid of the bottom row, with its two-line title and the key tokens over its columns."""
    xs, ys = draw_grid(ax, GRID_LEFT[name], GRID_TOP, texts, cell_w, CELL_H, colors, fontsize=11, hatches=hatches)
    ax.text((xs[0] + xs[-1]) / 2, GRID_TOP + 0.6, title, ha="center", va="bottom", fontsize=12, linespacing=1.3)
    if key_labels:
        for x, token in zip(xs, TOKENS):
            ax.text(x, GRID_TOP + 0.25, token, ha="center", va="center", fontsize=9.5, color="#1f5fa8")
    return xs, ys


def draw(path) -> None:
    """Notebook 02: x -> Q, K, V -> scores -> causal mask -> softmax per row -> weights @ V."""
    fig, ax = new_figure(13, 11, (0, 23.3), (3.0, 19.2), "One head of causal self-attention, step by step (T = 4)")

    # x, and the three linear maps that make Q, K and V.
    x_left = 9.6
    draw_grid(ax, x_left, 18.6, [[""] * 6] * T, SMALL_W, SMALL_H, REAL_COLOR)
    for i, token in enumerate(TOKENS):
        ax.text(x_left - 0.15, 18.25 - SMALL_H * i, token, ha="right", va="center", fontsize=11)
    ax.text(x_left + 5.2, 17.2, "x: T x d_model\n(4 x 768, drawn 4 x 6)\n\nthree linear maps,\neach 768 -> 64 = d_head",
            ha="left", va="center", fontsize=11)
    small_matrix(ax, Q_X, 13.9, "Q = x W$_q$", ACCENT_COLOR)
    small_matrix(ax, K_X, 13.9, "K = x W$_k$", CACHE_COLOR)
    small_matrix(ax, V_X, 13.9, "V = x W$_v$", V_COLOR)
    for x in (Q_X, K_X, V_X):
        draw_arrow(ax, (x_left + 2.4 + (x - x_left - 2.4) * 0.1, 15.7), (x, 14.75))
    note(ax, 8.0, 12.5, "Q, K, V: each T x d_head\n(4 x 64, drawn 4 x 3)", ha="left")

    # The bottom row: scores -> masked scores -> weights -> output.
    future = [[j > t for j in range(T)] for t in range(T)]
    weights = [softmax_visible(row, t) for t, row in enumerate(SCORES)]
    xs, ys = step_grid(ax, "scores", "1. scores\nQ K$^\\top$ / $\\sqrt{d_{head}}$",
                       [[f"{s:.1f}" for s in row] for row in SCORES], "white")
    for y, token in zip(ys, TOKENS):
        ax.text(GRID_LEFT["scores"] - 0.12, y, token, ha="right", va="center", fontsize=10, color="#b0741a")
    ax.text(GRID_LEFT["scores"] - 0.12, GRID_TOP + 0.25, "query \\ key", ha="right", va="center", fontsize=9,
            color="#444444")
    draw_arrow(ax, (Q_X, 11.05), (3.7, 10.25))
    draw_arrow(ax, (K_X, 11.05), (4.7, 10.25))
    ax.text(5.8, 10.7, "K$^\\top$", ha="left", va="center", fontsize=11)

    step_grid(ax, "masked", "2. causal mask\nlater keys set to \u2212inf",
              [["\u2212inf" if future[t][j] else f"{SCORES[t][j]:.1f}" for j in range(T)] for t in range(T)],
              [[MASK_COLOR if future[t][j] else "white" for j in range(T)] for t in range(T)],
              hatches=[["/" if future[t][j] else None for j in range(T)] for t in range(T)])
    step_grid(ax, "weights", "3. softmax\nrow by row",
              [["0" if future[t][j] else f"{w:.2f}" for j, w in enumerate(row)] for t, row in enumerate(weights)],
              [[MASK_COLOR if future[t][j] else weight_color(w) for j, w in enumerate(row)]
               for t, row in enumerate(weights)])
    for y in ys:
        ax.text(18.3, y, "\u03a3 = 1", ha="left", va="center", fontsize=10, color="#444444")
    step_grid(ax, "output", "4. output\nweights @ V", [[""] * 3] * T, V_COLOR, cell_w=SMALL_W, key_labels=False)
    draw_arrow(ax, (V_X, 11.05), (V_X, 10.25))

    for left, right in ((6.65, 7.75), (12.45, 13.55), (19.35, 20.45)):
        draw_arrow(ax, (left, GRID_TOP - 1.6), (right, GRID_TOP - 1.6))

    note(ax, 4.3, 4.85, "every query against\nevery key")
    note(ax, 10.1, 4.85, "upper triangle = later keys:\nafter the softmax they get 0")
    note(ax, 15.9, 4.85, "exp(\u2212inf) = 0; each row sums\nto 1 over the keys 0..t")
    note(ax, 21.7, 4.85, "row t = \u03a3$_j$ w$_{tj}$ v$_j$\nT x d_head")
    note(ax, 11.6, 3.45, "Row t uses only tokens 0..t: changing a later token leaves the earlier outputs unchanged.",
         fontsize=11.5, color="#222222")
    save(fig, path)
