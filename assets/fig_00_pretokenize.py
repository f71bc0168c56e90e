"""Notebook 00: GPT-2's pre-tokenization of one sentence, each piece labelled with the rule that matched it."""

import regex

from drawing import MONO, NOTE_COLOR, draw_cell, new_figure, note, save

FILENAME = "00_pretokenize.png"
SENTENCE = "It's 1999...  Hello\nworld!"
LEFT, GAP = 2.6, 0.25  # x of the first piece, space between pieces

# GPT-2's pattern, one alternative at a time, with the name the notebook gives it and a colour.
RULES = [
    (r"'s|'t|'re|'ve|'m|'ll|'d", "contraction", "#f6d5e5"),
    (r" ?\p{L}+", "letters", "#cfe3f7"),
    (r" ?\p{N}+", "digits", "#d9f0d3"),
    (r" ?[^\s\p{L}\p{N}]+", "other symbols", "#fde3c8"),
    (r"\s+(?!\S)", "spaces, not the last", "#e8e8e8"),
    (r"\s+", "whitespace left", "#d4d4d4"),
]


def pieces(text: str) -> list[tuple[str, int]]:
    """The pieces of text, each with the index of the rule (alternative) that matched it."""
    pattern = regex.compile("|".join(f"({rule})" for rule, _, _ in RULES))
    return [(match.group(), match.lastindex - 1) for match in pattern.finditer(text)]


def visible(piece: str) -> str:
    """The piece with its whitespace made visible: a space as ␣, a newline as ↵."""
    return piece.replace(" ", "␣").replace("\n", "↵")


def draw(path) -> None:
    """Notebook 00: the sentence, then its pieces, each in the colour of its rule, with the rule's name."""
    split = pieces(SENTENCE)
    assert "".join(piece for piece, _ in split) == SENTENCE  # the pieces cover the text exactly
    widths = [0.85 * len(piece) + 0.6 for piece, _ in split]
    right = LEFT + sum(widths) + GAP * (len(split) - 1) + 0.3
    fig, ax = new_figure(13.5, 4.4, (0, right), (0, 8.8), "GPT-2's pre-tokenization: the pattern cuts text into pieces")
    ax.text(0.3, 7.6, "text:", ha="left", va="center", fontsize=12, color=NOTE_COLOR)
    ax.text(LEFT, 7.6, repr(SENTENCE), ha="left", va="center", fontsize=15, **MONO)
    ax.text(0.3, 5.2, "pieces:", ha="left", va="center", fontsize=12, color=NOTE_COLOR)
    x = LEFT
    for (piece, rule), width in zip(split, widths):
        _, name, color = RULES[rule]
        draw_cell(ax, x + width / 2, 5.2, width, 1.5, visible(piece), color, fontsize=15, **MONO)
        ax.text(x + width / 2, 3.9, name.replace(", ", ",\n"), ha="center", va="top", fontsize=9.5, color=NOTE_COLOR)
        x += width + GAP
    note(ax, right / 2, 0.6, "Merges happen only inside a piece: no token spans two pieces. "
                             "A space joins the word after it ('␣Hello').", fontsize=11)
    save(fig, path)
