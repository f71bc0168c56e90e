"""Notebook 00: BPE training on the word "banana": bytes, pair counts, and one merge per row."""

from drawing import ACCENT_COLOR, MONO, NOTE_COLOR, REAL_COLOR, draw_arrow, draw_cell, new_figure, note, save

FILENAME = "00_bpe_merges.png"
UNIT = 1.0  # width of one byte
ROW_HEIGHT = 0.9
LEFT = 1.2  # x of the word's first byte

# Each row: the tokens (text, id) of the word, then the pair counts and the merge that leads to the next row.
ROWS = [
    ([("b", 98), ("a", 97), ("n", 110), ("a", 97), ("n", 110), ("a", 97)],
     "pairs: b a ×1,  a n ×2,  n a ×2", "merge  a + n  ->  256 'an'  (most frequent; on a tie, the first)"),
    ([("b", 98), ("an", 256), ("an", 256), ("a", 97)],
     "pairs: b an ×1,  an an ×1,  an a ×1", "merge  b + an  ->  257 'ban'  (all tied: the first)"),
    ([("ban", 257), ("an", 256), ("a", 97)],
     "pairs: ban an ×1,  an a ×1", "merge  ban + an  ->  258 'banan'"),
    ([("banan", 258), ("a", 97)], "", ""),
]


def draw_tokens(ax, y, tokens) -> None:
    """One row of tokens, each as wide as its bytes, with its text and its id."""
    x = LEFT
    for text, token_id in tokens:
        width = len(text) * UNIT
        color = REAL_COLOR if token_id >= 256 else "white"
        draw_cell(ax, x + width / 2, y, width, ROW_HEIGHT, f"'{text}'", color, fontsize=14, **MONO)
        ax.text(x + width / 2, y - ROW_HEIGHT / 2 - 0.22, str(token_id), ha="center", va="center", fontsize=11,
                color=NOTE_COLOR, **MONO)
        x += width


def draw(path) -> None:
    """Notebook 00: count adjacent pairs, merge the most frequent into a new id, repeat, on "banana"."""
    step = 2.3
    top = 0.5 + step * (len(ROWS) - 1) + 1.0
    fig, ax = new_figure(12, 8.6, (0, 15.5), (-0.8, top + 0.6),
                         "BPE training on 'banana': count adjacent pairs, merge the most frequent, repeat")
    for row, (tokens, counts, merge) in enumerate(ROWS):
        y = top - 0.6 - row * step
        label = "bytes" if row == 0 else f"after merge {row}"
        ax.text(LEFT - 0.25, y, label, ha="right", va="center", fontsize=11, color=NOTE_COLOR)
        draw_tokens(ax, y, tokens)
        ax.text(LEFT + 6 * UNIT + 0.5, y, f"{len(tokens)} tokens", ha="left", va="center", fontsize=12)
        if merge:
            ax.text(LEFT + 6 * UNIT + 2.3, y + 0.15, counts, ha="left", va="center", fontsize=11, **MONO)
            draw_arrow(ax, (LEFT + 3 * UNIT, y - 0.85), (LEFT + 3 * UNIT, y - step + 0.5))
            ax.text(LEFT + 3 * UNIT + 0.3, y - step / 2 - 0.05, merge, ha="left", va="center", fontsize=12,
                    bbox=dict(boxstyle="round,pad=0.3", facecolor=ACCENT_COLOR, edgecolor="none"))
    note(ax, 7.75, -0.55, "white: single bytes (ids 0-255); blue: merged tokens (new ids from 256). "
                         "One more merge, banan + a, would make 'banana' one token.", fontsize=11)
    save(fig, path)
