r"""The letters and numbers that tiktoken does not know yet: data for load_gpt2_bpe (notebook 00), written by hand.

`\p{L}` (letters) and `\p{N}` (numbers) mean what the Unicode standard says, and each version of Unicode adds
characters. tiktoken's regex, written in Rust, follows Unicode 16.0; the `regex` package follows a newer version. So
that notebook 00's encoder gives tiktoken's ids on all text, load_gpt2_bpe() takes the characters below out of
`\p{L}` and `\p{N}`.

How the list was found: for each of the classes `\p{L}` and `\p{N}`, every code point (surrogates excepted) was
matched by the `regex` package and by tiktoken (an encoding whose pattern is only that class keeps exactly the
characters of the class); the characters that `regex` puts in the class and tiktoken does not are these ranges.
tiktoken has none that `regex` lacks.

How it is guarded: tests/test_bpe.py (test_our_letters_numbers_and_spaces_are_tiktokens_for_every_code_point) repeats
the comparison on every code point, so an upgrade of either library that changes the list fails a test; recompute the
ranges then, as above.
"""

# A regex character-class body (the text between [ and ]): single code points and ranges, as escapes.
NEWER_THAN_TIKTOKEN = (
    r"\u0558\u058b-\u058c\u088f\u0c5c\u0cdc\u208f\u209d-\u209f\ua7ce-\ua7cf\ua7d2\ua7d4\ua7dd\ua7e2\ua7f1"
    r"\uab6c-\uab6d\U000107bb-\U000107bf\U00010940-\U00010959\U00010ec5-\U00010ec7\U00010ed9-\U00010eee"
    r"\U00011b0a\U00011db0-\U00011ddb\U00011de0-\U00011de9\U00011df1\U0001246f\U00012475-\U0001247f"
    r"\U00012550-\U00012686\U00016ea0-\U00016eb8\U00016ebb-\U00016ed3\U00016ff2-\U00016ff6"
    r"\U000187f8-\U000187ff\U00018cd6-\U00018cda\U00018d09-\U00018d20\U00018d80-\U00018df2"
    r"\U00018e00-\U00019191\U000191a0-\U000191d2\U0001b123-\U0001b128\U0001b168\U0001d6a6"
    r"\U0001df1f-\U0001df24\U0001df2b-\U0001df81\U0001df90-\U0001df96\U0001dfcd-\U0001dfff"
    r"\U0001e6c0-\U0001e6de\U0001e6e0-\U0001e6e2\U0001e6e4-\U0001e6e5\U0001e6e7-\U0001e6ed"
    r"\U0001e6f0-\U0001e6f4\U0001e6fe-\U0001e6ff\U0002b73a-\U0002b73f\U0002b81e\U0002cea2-\U0002cead"
    r"\U000323b0-\U00033479\U0003d000-\U0003fc3f"
)
TIKTOKEN_UNICODE = "16.0"  # the Unicode version of tiktoken's regex, for which the list above was computed
