"""Notebook 07: a left-padded batch of two prompts, its attention mask, the positions and the key masks."""

from drawing import ACCENT_COLOR, CACHE_COLOR, MASK_COLOR, MONO, REAL_COLOR, draw_grid, legend_patch, new_figure, note, save

FILENAME = "07_padding_mask.png"

ROWS = [["Every", " effort", " moves", " you"], [None, None, "The", " dog"]]  # None: a pad (<|endoftext|>, 50256)
T = len(ROWS[0])
MASK = [[0 if token is None else 1 for token in row] for row in ROWS]  # Hugging Face's attention_mask
CELL_W, CELL_H = 1.35, 0.8  # the (B, T) grids
KEY_W, KEY_H = 1.35, 0.8  # the T x T key masks
TOP, BOTTOM = 12.4, 7.5  # tops of the two rows of grids


def positions(mask_row: list[int]) -> list[int]:
    """cumsum(mask) - 1, with the padding clamped at 0, as Hugging Face computes them."""
    total, out = 0, []
    for m in mask_row:
        total += m
        out.append(max(total - 1, 0))
    return out


def batch_grid(ax, left, title, texts, fontsize=12):
    """One (B, T) grid of the batch: padding cells grey and hatched, with the row names on the left."""
    colors = [[MASK_COLOR if m == 0 else REAL_COLOR for m in row] for row in MASK]
    hatches = [["/" if m == 0 else None for m in row] for row in MASK]
    xs, ys = draw_grid(ax, left, TOP, texts, CELL_W, CELL_H, colors, fontsize=fontsize, hatches=hatches)
    ax.text((xs[0] + xs[-1]) / 2, TOP + 0.35, title, ha="center", va="bottom", fontsize=13, linespacing=1.3)
    for i, y in enumerate(ys):
        ax.text(left - 0.15, y, f"row {i}", ha="right", va="center", fontsize=11)


def key_mask_grid(ax, left, row: int) -> None:
    """Which keys each query of one row may attend to: earlier or equal (causal) and a token, or itself."""
    is_token = MASK[row]
    texts, colors, hatches = [], [], []
    for q in range(T):
        allowed = [k <= q and (is_token[k] == 1 or k == q) for k in range(T)]
        texts.append(["1" if a else "0" for a in allowed])
        colors.append([(ACCENT_COLOR if is_token[q] == 0 else CACHE_COLOR) if a else MASK_COLOR for a in allowed])
        hatches.append([None if a else "/" for a in allowed])
    xs, ys = draw_grid(ax, left, BOTTOM, texts, KEY_W, KEY_H, colors, fontsize=12, hatches=hatches)
    labels = [token if token is not None else "pad" for token in ROWS[row]]
    for x, label in zip(xs, labels):
        ax.text(x, BOTTOM + 0.25, label.strip(), ha="center", va="center", fontsize=10.5, color="#1f5fa8")
    for y, label in zip(ys, labels):
        ax.text(left - 0.15, y, label.strip(), ha="right", va="center", fontsize=10.5, color="#b0741a")
    ax.text(left - 0.15, BOTTOM + 0.25, "query \\ key", ha="right", va="center", fontsize=9.5, color="#444444")
    ax.text((xs[0] + xs[-1]) / 2, BOTTOM + 0.65, f"key mask of row {row}", ha="center", va="bottom", fontsize=13)


def draw(path) -> None:
    """Notebook 07: the batch, attention_mask, positions (top) and each row's key mask (bottom)."""
    fig, ax = new_figure(14, 8.6, (0, 24), (1.6, 14.2), "Two prompts of different lengths in one batch, padded on the left")

    token_texts = [[token.strip() if token is not None else "pad" for token in row] for row in ROWS]
    batch_grid(ax, 1.6, "the batch (B, T) = (2, 4)\npad = <|endoftext|> (id 50256)", token_texts)
    batch_grid(ax, 9.4, "attention_mask\n1 = token, 0 = padding", [[str(m) for m in row] for row in MASK], fontsize=13)
    batch_grid(ax, 17.2, "positions = cumsum(mask) \u2212 1\n(padding clamped at 0)",
               [[str(p) for p in positions(row)] for row in MASK], fontsize=13)
    note(ax, 12.0, 9.85, "Row 1 alone is \"The dog\" at positions 0, 1. Padded, without a mask, the model would read "
         "\"pad pad The dog\" at positions 0..3:\na different prompt. With the mask, its tokens keep positions 0, 1 and "
         "attend to no padding, so row 1 is computed as if alone.", fontsize=11.5, color="#222222", linespacing=1.5)

    key_mask_grid(ax, 3.6, 0)
    key_mask_grid(ax, 14.2, 1)
    note(ax, 6.3, 3.35, "no padding: the plain causal mask", fontsize=11)
    note(ax, 16.9, 3.25, "may attend = causal and the key is a token;\na pad query sees only itself (no empty row, "
         "no NaN),\nand no token ever reads a pad", fontsize=11, linespacing=1.4)
    ax.legend(handles=[legend_patch(REAL_COLOR, "token"), legend_patch(MASK_COLOR, "padding / masked out"),
                       legend_patch(CACHE_COLOR, "a token query may attend"),
                       legend_patch(ACCENT_COLOR, "a pad query attends to itself")],
              loc="lower center", bbox_to_anchor=(0.5, -0.04), ncol=4, fontsize=11, frameon=True)
    save(fig, path)
