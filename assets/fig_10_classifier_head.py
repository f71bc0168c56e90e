"""Notebook 10: a classifier on the last real token of each right-padded passage."""

from matplotlib.patches import Rectangle

from drawing import (ACCENT_COLOR, CACHE_COLOR, MASK_COLOR, MONO, REAL_COLOR, draw_arrow, draw_box, draw_cell,
                     draw_grid, legend_patch, new_figure, note, save)

FILENAME = "10_classifier_head.png"

# Three passages of different lengths, one of each class; None is a pad (<|endoftext|>, id 50256) on the right.
PASSAGES = [
    ["We", " walked", " home", " along", " the", " cold", " river"],  # as written
    ["night", " the", " into", " ran"],  # "ran into the night", backwards
    ["bread", " the", " warm", " baked", " she"],  # "she baked the warm bread", shuffled
]
T = max(len(p) for p in PASSAGES)
ROWS = [p + [None] * (T - len(p)) for p in PASSAGES]
LENGTHS = [len(p) for p in PASSAGES]
CLASSES = ["original", "shuffled", "reversed"]
SCORES = [[2.4, -0.7, -1.3], [-1.1, 0.3, 2.2], [-0.6, 1.8, -0.9]]  # made-up scores; each row's largest is its class

GRID_LEFT, CELL_W, CELL_H = 2.3, 1.55, 0.85
H_TOP, IDX_TOP = 14.75, 8.4  # tops of the h grid and of the idx grid
HEAD_X, HEAD_W = 16.9, 3.6
SCORES_LEFT, SCORE_W = 19.6, 1.9
LINK_COLOR = "#b0741a"
NOTE_GREY = "#555555"


def row_labels(ax, ys):
    """The name of each row, left of a grid."""
    for i, y in enumerate(ys):
        ax.text(GRID_LEFT - 0.15, y, f"row {i}", ha="right", va="center", fontsize=11)


def idx_grid(ax):
    """The token ids, padded on the right: pads grey and hatched."""
    texts = [[token.strip() if token is not None else "pad\n50256" for token in row] for row in ROWS]
    colors = [["white" if token is not None else MASK_COLOR for token in row] for row in ROWS]
    hatches = [[None if token is not None else "/" for token in row] for row in ROWS]
    xs, ys = draw_grid(ax, GRID_LEFT, IDX_TOP, texts, CELL_W, CELL_H, colors, fontsize=10.5, hatches=hatches)
    row_labels(ax, ys)
    for t, x in enumerate(xs):
        ax.text(x, IDX_TOP - len(ROWS) * CELL_H - 0.3, str(t), ha="center", va="center", fontsize=10,
                color=NOTE_GREY)
    ax.text(GRID_LEFT - 0.15, IDX_TOP - len(ROWS) * CELL_H - 0.3, "position", ha="right", va="center",
            fontsize=10, color=NOTE_GREY)
    ax.text((xs[0] + xs[-1]) / 2, IDX_TOP + 0.3, f"idx (B, T) = ({len(ROWS)}, {T}), padded on the right",
            ha="center", va="bottom", fontsize=12.5)
    # lengths (B,), beside the rows
    right = GRID_LEFT + T * CELL_W
    ax.text(right + 0.9, IDX_TOP + 0.3, "lengths (B,)", ha="center", va="bottom", fontsize=12.5)
    for y, length in zip(ys, LENGTHS):
        ax.text(right + 0.9, y, str(length), ha="center", va="center", fontsize=12, **MONO)
    return xs, ys


def h_grid(ax):
    """The blocks' output: one vector per position; the last real token of each row picked out."""
    texts, colors, hatches = [], [], []
    for row, length in zip(ROWS, LENGTHS):
        texts.append([f"h{t}" if token is not None else "" for t, token in enumerate(row)])
        colors.append([(ACCENT_COLOR if t == length - 1 else REAL_COLOR) if token is not None else MASK_COLOR
                       for t, token in enumerate(row)])
        hatches.append([None if token is not None else "/" for token in row])
    xs, ys = draw_grid(ax, GRID_LEFT, H_TOP, texts, CELL_W, CELL_H, colors, fontsize=11, hatches=hatches)
    row_labels(ax, ys)
    ax.text((xs[0] + xs[-1]) / 2, H_TOP + 0.3, "h (B, T, C): a vector of C features per position",
            ha="center", va="bottom", fontsize=12.5)
    for i, length in enumerate(LENGTHS):  # a thick frame around each last real token
        x = GRID_LEFT + (length - 1) * CELL_W
        ax.add_patch(Rectangle((x, ys[i] - CELL_H / 2), CELL_W, CELL_H, fill=False, edgecolor=LINK_COLOR,
                               linewidth=2.6, zorder=3))
    return xs, ys



def draw(path) -> None:
    """Notebook 10: idx -> pretrained blocks -> h, then h at lengths[i] - 1 -> the new head -> 3 scores per row."""
    fig, ax = new_figure(13, 8.0, (0, 25.6), (3.5, 16.4), "A classifier on the last real token")
    grid_right = GRID_LEFT + T * CELL_W
    grid_mid = (GRID_LEFT + grid_right) / 2

    idx_grid(ax)
    draw_arrow(ax, (grid_mid, 9.25), (grid_mid, 10.3), linewidth=2.0)
    draw_box(ax, grid_mid, 10.8, T * CELL_W, 0.9, "pretrained blocks (causal attention)", REAL_COLOR, fontsize=12.5)
    draw_arrow(ax, (grid_mid, 11.3), (grid_mid, 12.15), linewidth=2.0)
    h_xs, h_ys = h_grid(ax)

    # The head reads one vector per row: h[i, lengths[i] - 1], over the pads to its right.
    head_top, head_bottom = h_ys[0] + CELL_H / 2 + 0.15, h_ys[-1] - CELL_H / 2 - 0.15
    draw_box(ax, HEAD_X, (head_top + head_bottom) / 2, HEAD_W, head_top - head_bottom,
             "new head:\nnn.Linear(C, 3)", CACHE_COLOR, fontsize=12)
    for i, length in enumerate(LENGTHS):
        start = GRID_LEFT + length * CELL_W
        draw_arrow(ax, (start, h_ys[i]), (HEAD_X - HEAD_W / 2 - 0.02, h_ys[i]), color=LINK_COLOR, linewidth=2.0,
                   shrinkA=0, shrinkB=0, zorder=4)
    ax.text((grid_right + HEAD_X - HEAD_W / 2) / 2, H_TOP + 0.3, "h[i, lengths[i] \u2212 1]\n(B, C)",
            ha="center", va="bottom", fontsize=10.5, color=LINK_COLOR, linespacing=1.3)

    # 3 class scores per row.
    texts = [[f"{s:+.1f}".replace("-", "\u2212") for s in row] for row in SCORES]
    score_xs, _ = draw_grid(ax, SCORES_LEFT, H_TOP, texts, SCORE_W, CELL_H, "white", fontsize=11)
    for i, row in enumerate(SCORES):
        draw_arrow(ax, (HEAD_X + HEAD_W / 2, h_ys[i]), (SCORES_LEFT, h_ys[i]), shrinkA=0, shrinkB=0)
        best = row.index(max(row))  # the predicted class, in bold
        draw_cell(ax, score_xs[best], h_ys[i], SCORE_W, CELL_H, texts[i][best], "white", fontsize=11,
                  fontweight="bold")
    for x, name in zip(score_xs, CLASSES):
        ax.text(x, H_TOP + 0.25, name, ha="center", va="bottom", fontsize=10.5)
    ax.text((score_xs[0] + score_xs[-1]) / 2, H_TOP + 0.85, "3 class scores: scores (B, 3)", ha="center",
            va="bottom", fontsize=12.5)

    # Why the last real token, and why right padding is harmless.
    notes_x = 15.2
    note(ax, notes_x, 10.8, "causal: real tokens never see the pads to their\n"
                            "right, so right padding changes nothing", fontsize=11.5, ha="left", color="#222222",
         linespacing=1.4)
    note(ax, notes_x, 7.95, "only the last real token has seen the whole\n"
                           "passage: its h is the one the head reads", fontsize=11.5, ha="left", color="#222222",
         linespacing=1.4)
    note(ax, notes_x, 6.5, "the pads' h are computed, then never read", fontsize=11.5, ha="left", color="#222222")

    ax.text(12.8, 4.6, "idx (B, T)  \u2192  h (B, T, C)  \u2192  h[i, lengths[i] \u2212 1]: (B, C)  \u2192  "
                       "scores (B, 3)", ha="center", va="center", fontsize=12.5, fontweight="bold")
    pad = Rectangle((0, 0), 1, 1, facecolor=MASK_COLOR, edgecolor="black", hatch="/", hatchcolor="#b0b0b0",
                    label="pad = <|endoftext|> (50256)")
    ax.legend(handles=[legend_patch("white", "token"), pad,
                       legend_patch(ACCENT_COLOR, "last real token, at lengths[i] \u2212 1"),
                       legend_patch(CACHE_COLOR, "new, trained from scratch")],
              loc="lower center", bbox_to_anchor=(0.5, -0.03), ncol=4, fontsize=11, frameon=True)
    save(fig, path)
