"""The tables for notebook 00's self-checks (gpt2lib_exercises/tokens.py): right answers, deliberately wrong
answers (mutations) with the hint each must get, and answers that crash. tests/test_exercises.py runs them with
every other notebook's (right answers pass, stubs say "not done yet", mutations get their hint, crashes a hint,
changed settings are put back, a function that never returns is stopped)."""

from collections import Counter

from gpt2lib_exercises import tokens


# --- right answers ----------------------------------------------------------------------------------------------

def pair_counts(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids, pair, new_id, *, keep_last=True, from_the_right=False, first_only=False, skip=2):
    """The merge, with switches for the mutations below."""
    if from_the_right:
        return merge(ids[::-1], pair[::-1], new_id)[::-1]
    merged, i, done = [], 0, False
    while i < len(ids) - (0 if keep_last else 1):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair and not done:
            merged.append(new_id)
            i += skip
            done = first_only
        else:
            merged.append(ids[i])
            i += 1
    return merged


def encode_piece(piece, ranks, *, highest=False, once=False, leftmost=False, as_bytes=False):
    """Join the adjacent pair of lowest rank until none is in ranks, with switches for the mutations below."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        known = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in ranks]
        if not known:
            break
        i = known[0][1] if leftmost else (max(known)[1] if highest else min(known)[1])
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
        if once:
            break
    return parts if as_bytes else [ranks[part] for part in parts]


def longest_match(piece, ranks):
    ids, start = [], 0
    while start < len(piece):
        end = max(end for end in range(start + 1, len(piece) + 1) if piece[start:end] in ranks)
        ids.append(ranks[piece[start:end]])
        start = end
    return ids


def decode(ids, vocab, errors="replace", each=False, encoding="utf-8"):
    if each:
        return "".join(vocab[i].decode(encoding, errors=errors) for i in ids)
    return b"".join(vocab[i] for i in ids).decode(encoding, errors=errors)


def merges_needed(text, factor, measure=lambda text: len(text.encode("utf-8")), offset=0):
    ids, merges = list(text.encode("utf-8")), 0
    while len(ids) * factor > measure(text):
        counts = pair_counts(ids)
        ids = merge(ids, max(counts, key=counts.get), 256 + merges)
        merges += 1
    return merges + offset


def changes_its_input(ids):
    ids.append(0)
    return pair_counts(ids[:-1])


CHECKS = [
    (tokens.check_pair_counts, pair_counts, [
        (lambda ids: pair_counts(ids[:-1]), "a pair at an end is missing"),
        (lambda ids: pair_counts(ids[1:]), "a pair at an end is missing"),
        (lambda ids: dict(Counter(zip(ids[::2], ids[1::2]))), "pairs overlap"),
        (lambda ids: pair_counts(ids + ids[:1]), "no pair wraps around"),
        (lambda ids: dict.fromkeys(pair_counts(ids), 1), "count how often each pair occurs"),
        (lambda ids: dict(sorted(pair_counts(ids).items())), "in the order they first appear"),
        (lambda ids: list(zip(ids, ids[1:])), "return a dict"),
        (lambda ids: {f"{a},{b}": n for (a, b), n in pair_counts(ids).items()}, "the keys are pairs of ids"),
        (lambda ids: {(a, b): n + (a == b) for (a, b), n in pair_counts(ids).items()}, "should be .*, yours are"),
        (changes_its_input, "changed the ids it was given"),
    ]),
    (tokens.check_merge, merge, [
        (lambda ids, pair, new_id: merge(ids, pair, new_id, from_the_right=True), "scan from left to right"),
        (lambda ids, pair, new_id: merge(ids, pair, new_id, first_only=True), "replace every occurrence"),
        (lambda ids, pair, new_id: merge(ids, pair, new_id, keep_last=False), "the last id is missing"),
        (lambda ids, pair, new_id: merge(ids, pair, new_id, skip=1), r"should give \["),
        (lambda ids, pair, new_id: tuple(merge(ids, pair, new_id)), "return a list of ids, not tuple"),
        (lambda ids, pair, new_id: ids.clear() or [], "changed the ids it was given"),
    ]),
    (tokens.check_encode_piece, encode_piece, [
        (lambda piece, ranks: encode_piece(piece, ranks, leftmost=True), "not the leftmost pair"),
        (lambda piece, ranks: encode_piece(piece, ranks, highest=True), "not the highest"),
        (longest_match, "not the longest match"),
        (lambda piece, ranks: encode_piece(piece, ranks, once=True), "not just once"),
        (lambda piece, ranks: encode_piece(piece, ranks, as_bytes=True), "not their bytes"),
        (lambda piece, ranks: list(piece), "the ids should be"),
    ]),
    (tokens.check_decode, decode, [
        (lambda ids, vocab: decode(ids, vocab, each=True), "join the bytes of all the ids first"),
        (lambda ids, vocab: decode(ids, vocab, errors="ignore"), "errors='ignore'"),
        (lambda ids, vocab: decode(ids, vocab, encoding="latin-1"), "not Latin-1"),
        (lambda ids, vocab: decode(ids, vocab, errors="strict"), "must not fail on them"),
        (lambda ids, vocab: b"".join(vocab[i] for i in ids), "return a str, not bytes"),
        (lambda ids, vocab: decode(ids, vocab, errors="backslashreplace"), "should decode to"),
    ]),
    (tokens.check_merges_needed, merges_needed, [
        (lambda text, factor: merges_needed(text, factor, offset=1), "one merge too many"),
        (lambda text, factor: merges_needed(text, factor, offset=-1), "one merge too few"),
        (lambda text, factor: merges_needed(text, factor, offset=256), "not the size of the vocabulary"),
        (lambda text, factor: merges_needed(text, factor, measure=len), "in bytes"),
        (lambda text, factor: float(merges_needed(text, factor)), "return a Python int, not float"),
    ]),
]

MORE_RIGHT_ANSWERS = [
    (tokens.check_pair_counts, lambda ids: Counter(zip(ids, ids[1:]))),  # a Counter keeps first-appearance order too
]

CRASHING_ANSWERS = [
    (tokens.check_pair_counts, lambda ids: {(ids[0], ids[len(ids)]): 1}),
    (tokens.check_encode_piece, lambda piece, ranks: [ranks[piece]]),
    (tokens.check_merges_needed, lambda text, factor: text / factor),
]


def test_every_check_of_notebook_00_is_in_the_tables_and_public():
    checks = {f for name, f in vars(tokens).items() if name.startswith("check_")}
    assert checks == {check for check, _, _ in CHECKS} and set(tokens.__all__) == {c.__name__ for c in checks}
