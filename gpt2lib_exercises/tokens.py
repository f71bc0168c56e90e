"""Self-checks for the exercises of notebook 00 (tokens: byte-pair encoding), written by hand.

The references are a few lines each, here, so that the checks need nothing from gpt2lib.bpe. Each check draws fresh
random inputs (Python's random, seeded from the operating system), so a learner cannot tune an answer to them."""

import functools
import os
import random
from importlib import resources

from gpt2lib_exercises.core import ExerciseError, attempt, expect, expect_int, kind_of, passed, self_check

__all__ = ["check_pair_counts", "check_merge", "check_encode_piece", "check_decode", "check_merges_needed"]


def _fresh_random() -> random.Random:
    """A generator with a new seed every call: the checks test on inputs the learner has not seen."""
    return random.Random(int.from_bytes(os.urandom(8), "little"))


def _pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def _random_ids(rng: random.Random) -> list[int]:
    """Ids from a small alphabet, so that pairs repeat, with a run of one id, so that pairs overlap.

    The last id differs from the first, so that a pair wrapping around, (ids[-1], ids[0]), is never a repeat
    of the same id, and a wrong answer that miscounts (a, a) pairs cannot pass for the wrap-around mistake.
    """
    alphabet = rng.sample([3, 7, 42, 97, 98, 255, 256, 300], 4)
    ids = [rng.choice(alphabet) for _ in range(rng.randint(8, 14))]
    at = rng.randrange(len(ids))
    ids[at:at] = [alphabet[0]] * 3  # a run: (a, a) occurs twice, overlapping; inserted before the last id
    ids[-1] = rng.choice([i for i in alphabet if i != ids[0]])
    return ids


# --- exercise 1: pair counts ---------------------------------------------------------------------------------------

def _counts_mistakes(ids: list[int]) -> list[tuple[str, dict]]:
    """What the usual mistakes give for ids: (hint, wrong counts)."""
    every_other = {}
    for pair in zip(ids[::2], ids[1::2]):
        every_other[pair] = every_other.get(pair, 0) + 1
    an_end = "a pair at an end is missing: the pairs run from (ids[0], ids[1]) to (ids[-2], ids[-1])"
    return [
        (an_end, _pair_counts(ids[:-1])),
        (an_end, _pair_counts(ids[1:])),
        ("count every adjacent pair, (ids[0], ids[1]), (ids[1], ids[2]), ...: pairs overlap, and [7, 7, 7] holds "
         "(7, 7) twice", every_other),
        ("no pair wraps around from the last id to the first", _pair_counts(ids + ids[:1])),
        ("count how often each pair occurs, not only which pairs occur", dict.fromkeys(_pair_counts(ids), 1)),
    ]


def _ids_telling_mistakes_apart(rng: random.Random) -> list[int]:
    """Random ids on which the right counts and each usual mistake all differ, so that each mistake gets its own
    hint: on a few random ids two mistakes can give the same counts."""
    while True:
        ids = _random_ids(rng)
        answers = [_pair_counts(ids)] + [wrong for hint, wrong in _counts_mistakes(ids)]
        if all(a != b for i, a in enumerate(answers) for b in answers[i + 1:]):
            return ids


@self_check
def check_pair_counts(pair_counts) -> None:
    """pair_counts(ids) -> {pair: count} for the adjacent pairs of ids, in order of first appearance."""
    name = "pair_counts"
    rng = _fresh_random()
    for ids in [_ids_telling_mistakes_apart(rng) for _ in range(4)] + [[4, 4, 4, 9, 4, 4], [5], []]:
        result = attempt(name, pair_counts, list(ids))
        expect(isinstance(result, dict), name, f"return a dict that maps each pair to its count, not {kind_of(result)}")
        reference = _pair_counts(ids)
        keys_ok = all(isinstance(key, tuple) and len(key) == 2 for key in result)
        expect(keys_ok, name, f"the keys are pairs of ids, tuples such as {next(iter(reference), (3, 7))}, not "
                              f"{kind_of(next(iter(result), None))}")
        if dict(result) != reference:
            for hint, wrong in _counts_mistakes(ids):
                expect(dict(result) != wrong, name, hint)
            raise ExerciseError(f"{name}: for ids = {ids} the counts should be {reference}, yours are {dict(result)}")
        expect(list(result) == list(reference), name,
               "the counts are right, but keep the pairs in the order they first appear in ids (a dict keeps the "
               "order in which keys were first inserted): the training loop uses it to break ties")
    passed(name, "on random ids, with overlapping pairs, and on lists of one id and of none")


# --- exercise 2: one merge -----------------------------------------------------------------------------------------

def _merge_from_the_right(ids, pair, new_id):
    return _merge(ids[::-1], pair[::-1], new_id)[::-1]


def _merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)


@self_check
def check_merge(merge) -> None:
    """merge(ids, pair, new_id) -> a new list: each occurrence of pair, scanning left to right, becomes new_id."""
    name = "merge"
    rng = _fresh_random()
    cases = []
    for _ in range(4):
        ids = _random_ids(rng)
        cases.append((ids, rng.choice(list(_pair_counts(ids))), rng.randint(400, 999)))
    run = rng.choice([3, 42, 97])
    cases += [([run] * 5 + [1], (run, run), 500), ([1, 2, 3], (2, 3), 501), ([1, 2, 3], (3, 1), 502), ([], (1, 2), 503)]
    for ids, pair, new_id in cases:
        result = attempt(name, merge, list(ids), pair, new_id)
        expect(isinstance(result, list), name, f"return a list of ids, not {kind_of(result)}")
        reference = _merge(ids, pair, new_id)
        if result == reference:
            continue
        mistakes = {
            "scan from left to right: in [a, a, a] the pair (a, a) becomes [new_id, a]":
                _merge_from_the_right(ids, pair, new_id),
            "replace every occurrence of the pair, not only the first": _merge_first_only(ids, pair, new_id),
            "the last id is missing: when the loop ends on a single id, keep it": reference[:-1],
        }
        for hint, wrong in mistakes.items():
            expect(result != wrong, name, hint)
        raise ExerciseError(f"{name}: merge({ids}, {pair}, {new_id}) should give {reference}, yours gives {result}")
    passed(name, "on random ids, on overlapping pairs, at the end of the list and with no pair to merge")


# --- exercise 3: encoding one piece ----------------------------------------------------------------------------------

def _encode_piece(piece: bytes, ranks: dict[bytes, int], choose=min, once: bool = False) -> list[int]:
    """Join the adjacent pair of lowest rank (choose=max: the highest) until none is in ranks (once: a single join)."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        known = [(ranks[a + b], i) for i, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in ranks]
        if not known:
            break
        _, i = choose(known, key=lambda item: (item[0], -item[1] if choose is max else item[1]))
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
        if once:
            break
    return [ranks[part] for part in parts]


def _leftmost_first(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """The mistake of joining the leftmost pair in the table, whatever its rank."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while True:
        known = [i for i, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in ranks]
        if not known:
            return [ranks[part] for part in parts]
        i = known[0]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def _longest_match(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """The mistake of taking, from the left, the longest token of the table each time."""
    ids, start = [], 0
    while start < len(piece):
        end = max(end for end in range(start + 1, len(piece) + 1) if piece[start:end] in ranks)
        ids.append(ranks[piece[start:end]])
        start = end
    return ids


def _random_table(rng: random.Random, alphabet: bytes) -> dict[bytes, int]:
    """256 single bytes plus merges learned from random text over alphabet (the notebook's training loop)."""
    ids = [rng.choice(alphabet) for _ in range(300)]
    vocab = {i: bytes([i]) for i in range(256)}
    for new_id in range(256, 256 + rng.randint(8, 14)):
        counts = _pair_counts(ids)
        pair = max(counts, key=counts.get)
        ids = _merge(ids, pair, new_id)
        vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
    return {token: i for i, token in vocab.items()}


# Pieces and merged tokens (ids 256, 257, ... in this order) on which the usual mistakes differ from the right answer
# and from each other, in the order the mistakes are tried below; then "bc" before "ab", which steals the "b" of "abc".
_TABLES = [
    (b"dacaa", [b"ac", b"bd", b"cc", b"ca"]),  # the highest rank first goes wrong here
    (b"aaacc", [b"caa", b"aac", b"dda", b"ccb"]),  # the longest match goes wrong here
    (b"dbdad", [b"dca", b"db", b"ad"]),  # a single join goes wrong here
    (b"abc", [b"bc", b"ab"]), (b"abcd", [b"bc", b"ab", b"cd"]), (b"abab", [b"ab"]), (b"", [b"ab"]), (b"z", [b"ab"]),
]


@self_check
def check_encode_piece(encode_piece) -> None:
    """encode_piece(piece: bytes, ranks: dict[bytes, int]) -> ids: join the lowest-ranked adjacent pair, repeat."""
    name = "encode_piece"
    rng = _fresh_random()
    singles = {bytes([b]): b for b in range(256)}
    cases = [(piece, {**singles, **{token: 256 + i for i, token in enumerate(tokens)}}) for piece, tokens in _TABLES]
    for _ in range(3):
        alphabet = bytes(rng.sample(b"abcdeno ", 4))
        table = _random_table(rng, alphabet)
        cases += [(bytes(rng.choice(alphabet) for _ in range(rng.randint(3, 12))), table) for _ in range(5)]
    for piece, ranks in cases:
        result = attempt(name, encode_piece, piece, dict(ranks))
        expect(isinstance(result, list), name, f"return a list of ids, not {kind_of(result)}")
        reference = _encode_piece(piece, ranks)
        if result == reference:
            continue
        expect(not all(isinstance(part, bytes) for part in result) or not result, name,
               "return the ids of the parts (ranks[part]), not their bytes")
        mistakes = {
            "join the pair with the lowest rank first (it was learned first), not the leftmost pair in the table":
                _leftmost_first(piece, ranks),
            "the lowest rank goes first (it was learned first), not the highest": _encode_piece(piece, ranks, max),
            "BPE is not the longest match from the left: it replays the merges in the order they were learned, "
            "joining the pair of lowest rank each time": _longest_match(piece, ranks),
            "keep joining until no adjacent pair is in the table, not just once":
                _encode_piece(piece, ranks, once=True),
        }
        for hint, wrong in mistakes.items():
            expect(result != wrong, name, hint)
        learned = {token: rank for token, rank in ranks.items() if rank >= 256}
        raise ExerciseError(f"{name}: for piece {piece!r} and the merges {learned} (with the 256 single bytes), the "
                            f"ids should be {reference}, yours are {result}")
    passed(name, "on tables where the lowest rank steals a byte, and on random tables and pieces")


# --- exercise 4: decoding --------------------------------------------------------------------------------------------

_PIECES = [b"caf", "é".encode(), " 🦙".encode(), b" the", "中文".encode(), b"!", b" naive", b"\n"]


def _vocab_and_ids(rng: random.Random) -> tuple[dict[int, bytes], list[list[int]]]:
    """A vocabulary whose tokens cut multi-byte characters in two, and id sequences: whole characters, broken ones."""
    merged = [b"caf", b" \xf0\x9f", b"\xa6\x99", b" the", b"\xe4\xb8", b"\xad\xe6\x96", b" naive"]  # cut " 🦙", "中文"
    tokens = [bytes([b]) for b in range(256)] + merged
    order = list(range(256, 256 + len(tokens) - 256))
    rng.shuffle(order)
    vocab = {i: token for i, token in zip(list(range(256)) + order, tokens)}
    ids_of = {token: i for i, token in vocab.items()}

    def ids(data: bytes) -> list[int]:  # greedy longest match is fine for building test input
        out, start = [], 0
        while start < len(data):
            end = max(end for end in range(start + 1, len(data) + 1) if data[start:end] in ids_of)
            out.append(ids_of[data[start:end]])
            start = end
        return out

    pieces = [rng.choice(_PIECES) for _ in range(rng.randint(4, 8))]
    pieces.insert(rng.randint(0, len(pieces)), rng.choice(_PIECES[1:3]))  # "é" or " 🦙": split across tokens
    whole = b"".join(pieces)
    sequences = [ids(whole), ids(whole + " 🦙".encode()[:3]), ids(b"\xff" + whole), ids(" 🦙".encode())[1:]]
    return vocab, sequences


@self_check
def check_decode(decode) -> None:
    """decode(ids, vocab: dict[int, bytes]) -> str: the ids' bytes joined, read as UTF-8; bad bytes become U+FFFD."""
    name = "decode"
    rng = _fresh_random()
    for _ in range(3):
        vocab, sequences = _vocab_and_ids(rng)
        for ids in sequences:
            try:
                result = attempt(name, decode, list(ids), dict(vocab))
            except ExerciseError as error:
                if isinstance(error.__cause__, UnicodeDecodeError):
                    raise ExerciseError(f"{name}: a model can produce ids whose bytes are not valid UTF-8, and decode "
                                        "must not fail on them: decode with errors='replace', which writes '\\ufffd' "
                                        "for each broken character") from None
                raise
            expect(isinstance(result, str), name, f"return a str, not {kind_of(result)}")
            data = b"".join(vocab[i] for i in ids)
            reference = data.decode("utf-8", errors="replace")
            if result == reference:
                continue
            mistakes = {
                "join the bytes of all the ids first, then decode: one character can be split across tokens, and "
                "each part alone is not valid UTF-8": "".join(vocab[i].decode("utf-8", errors="replace") for i in ids),
                "bytes that are not valid UTF-8 must become '\\ufffd' (errors='replace'), as in tiktoken; with "
                "errors='ignore' they vanish without a trace": data.decode("utf-8", errors="ignore"),
                "the bytes are UTF-8, not Latin-1": data.decode("latin-1"),
            }
            for hint, wrong in mistakes.items():
                expect(result != wrong, name, hint)
            raise ExerciseError(f"{name}: the bytes {data!r} should decode to {reference!r}, yours give {result!r}")
    passed(name, "on characters split across tokens, and on bytes that are not valid UTF-8")


# --- question: sizing a vocabulary -----------------------------------------------------------------------------------

def merges_needed_reference(text: str, factor: float, measure=lambda text: len(text.encode("utf-8"))) -> int:
    """Merges of plain byte-level BPE (ties: the pair that appears first) until tokens <= bytes / factor."""
    ids, size, merges = list(text.encode("utf-8")), measure(text), 0
    while len(ids) * factor > size:
        counts = _pair_counts(ids)
        ids = _merge(ids, max(counts, key=counts.get), 256 + merges)
        merges += 1
    return merges


_WORDS = ["the", " cat", " naïve", " café", " sat", " on", " the", " mat", ",", " 日本", " —", "\n", " déjà", " vu",
          " ça", " été", " über"]


@self_check
def check_merges_needed(merges_needed) -> None:
    """merges_needed(text, factor) -> int: merges until the text is at most len(its bytes) / factor tokens."""
    name = "merges_needed"
    rng = _fresh_random()
    for _ in range(3):
        text = "".join(rng.choice(_WORDS) for _ in range(rng.randint(60, 120)))
        factor = rng.choice([1.25, 1.5, 2.0, 3.0])
        result = expect_int(attempt(name, merges_needed, text, factor), name)
        reference = merges_needed_reference(text, factor)
        if result == reference:
            continue
        hints = {}  # answer -> hint; the first mistake that gives an answer names it
        for value, hint in [
            (reference + 1, "one merge too many: stop as soon as the tokens are at most bytes / factor"),
            (reference - 1, "one merge too few: go on while the tokens are more than bytes / factor"),
            (reference + 256, "return the number of merges, not the size of the vocabulary (256 + merges)"),
            (merges_needed_reference(text, factor, len), "measure the text in bytes (UTF-8), not in characters: "
                                                         "'é' is one character and two bytes"),
        ]:
            hints.setdefault(value, hint)
        size = len(text.encode("utf-8"))
        raise ExerciseError(f"{name}: " + hints.get(result, f"for factor {factor} and a text of {size} bytes, "
                                                            f"{reference} merges are needed, not {result}; on a tie, "
                                                            "merge the pair that appears first"))
    passed(name, "the first 3,000 characters of Shakespeare need {} merges to shrink 1.5 times, {} to halve"
           .format(*_shakespeare_sizes()))


@functools.cache
def _shakespeare_sizes() -> tuple[int, int]:
    """The merges that the first 3,000 characters of the shipped corpus need to shrink 1.5 and 2 times."""
    text = resources.files("gpt2lib").joinpath("data/tinyshakespeare.txt").read_text("utf-8")[:3000]
    return merges_needed_reference(text, 1.5), merges_needed_reference(text, 2.0)
