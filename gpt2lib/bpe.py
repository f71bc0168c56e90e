# GENERATED FILE, edit the notebook instead.
# Source: notebooks/00_tokens.ipynb. Regenerate with `make export`.

__all__ = [
    "pair_counts", "merge_pair", "GPT2_PATTERN", "encode_piece", "BPETokenizer", "train_bpe", "load_gpt2_bpe",
]


# %% notebooks/00_tokens.ipynb, cell 5
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence

import regex  # like re, plus Unicode classes: \p{L} matches any letter, \p{N} any digit or numeral

from gpt2lib.tokenizer import END_OF_TEXT, END_OF_TEXT_ID, load_bpe_ranks
from gpt2lib.validation import check_bpe_table, check_encode_call, check_pattern, check_text, is_int


# %% notebooks/00_tokens.ipynb, cell 6
def pair_counts(ids: list[int], counts: dict | None = None) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs in ids (added to counts, if given), in order of first appearance."""
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


# %% notebooks/00_tokens.ipynb, cell 9
def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """A copy of ids with each occurrence of pair, from left to right, replaced by new_id."""
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


# %% notebooks/00_tokens.ipynb, cell 14
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


# %% notebooks/00_tokens.ipynb, cell 19
def encode_piece(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """The ids of one piece: from single bytes, join the adjacent pair of lowest rank until no pair is in ranks."""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        pair_ranks = [ranks.get(left + right) for left, right in zip(parts, parts[1:])]
        known = [(rank, i) for i, rank in enumerate(pair_ranks) if rank is not None]
        if not known:
            break
        _, i = min(known)  # the lowest rank; for the same pair twice, the leftmost
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[part] for part in parts]


# %% notebooks/00_tokens.ipynb, cell 23
class BPETokenizer:
    """Byte-level BPE: text -> pieces (split by pattern) -> ids (ranks: token bytes -> id), plus special tokens.

    load_gpt2_bpe() is GPT-2's, train_bpe() trains new ones; get_tokenizer() (tiktoken) gives GPT-2's ids faster."""

    def __init__(self, ranks: dict[bytes, int], pattern: str | None = GPT2_PATTERN,
                 special_tokens: dict[str, int] | None = None):
        check_bpe_table(ranks, pattern, special_tokens)
        self.ranks, self.pattern, self.special_tokens = dict(ranks), pattern, dict(special_tokens or {})
        self.vocab = {i: token for token, i in self.ranks.items()}  # id -> bytes, for decoding
        self.vocab.update({i: name.encode("utf-8") for name, i in self.special_tokens.items()})
        self.n_vocab = max(self.vocab) + 1
        self._regex = regex.compile(pattern) if pattern is not None else None  # None: the whole text is one piece
        self._cache = {}  # piece -> its ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of text, reading special tokens' text as ordinary text."""
        check_text(text)
        ids = []
        for piece in self._regex.findall(text) if self._regex is not None else [text] if text else []:
            if piece not in self._cache:
                if len(self._cache) >= 100_000:
                    self._cache.clear()  # bounded memory
                self._cache[piece] = encode_piece(piece.encode("utf-8"), self.ranks)
            ids += self._cache[piece]
        return ids

    def __repr__(self) -> str:
        return f"BPETokenizer(n_vocab={self.n_vocab}, special_tokens={self.special_tokens})"

    # %% notebooks/00_tokens.ipynb, cell 25 (@patch)
    def encode(self, text: str, allowed_special: Collection[str] | str = frozenset(),
               disallowed_special: Collection[str] | str = "all") -> list[int]:
        """Token ids of text. A special token's text inside text is refused unless the arguments say what it means:
        allowed_special={"<|endoftext|>"} encodes it as its id, disallowed_special=() as ordinary text."""
        allowed = check_encode_call(text, allowed_special, disallowed_special, self.special_tokens)
        if not allowed:
            return self.encode_ordinary(text)
        specials = regex.compile("|".join(regex.escape(token) for token in sorted(allowed, key=len, reverse=True)))
        ids, start = [], 0
        for match in specials.finditer(text):
            ids += self.encode_ordinary(text[start:match.start()])
            ids.append(self.special_tokens[match.group()])
            start = match.end()
        return ids + self.encode_ordinary(text[start:])

    # %% notebooks/00_tokens.ipynb, cell 26 (@patch)
    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes of token ids (a list of ints, or a 1-D tensor or array), joined."""
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise TypeError(f"ids must be a list of token ids or a 1-D tensor, got {type(ids).__name__}")
        bad = [i for i in ids if not is_int(i) or i not in self.vocab]
        if bad:
            raise ValueError(f"token id {bad[0]!r} is not an integer in 0..{self.n_vocab - 1}"
                             + ("" if len(self.vocab) == self.n_vocab else " that this tokenizer knows"))
        return b"".join(self.vocab[i] for i in ids)

    # %% notebooks/00_tokens.ipynb, cell 26 (@patch)
    def decode(self, ids: Sequence[int]) -> str:
        """The text of token ids; bytes that are not valid UTF-8 (a character cut off) become U+FFFD, as in tiktoken."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")


# %% notebooks/00_tokens.ipynb, cell 29
def _most_frequent(counts: dict, where: dict, words: list[list[int]]) -> tuple[int, int]:
    """The most frequent pair; on a tie, the one that appears first (the words are in order of first appearance)."""
    best = max(counts.values())
    tied = [pair for pair, count in counts.items() if count == best]
    if len(tied) == 1:
        return tied[0]

    def first_place(pair):
        for w in sorted(where[pair]):  # where may still list words that lost the pair: skip those
            ids = words[w]
            for i in range(len(ids) - 1):
                if (ids[i], ids[i + 1]) == pair:
                    return w, i
        raise AssertionError(f"{pair} is counted but occurs nowhere")

    return min(tied, key=first_place)


# %% notebooks/00_tokens.ipynb, cell 30
def _pair_index(words: list[list[int]], freqs: list[int]) -> tuple[dict, dict]:
    """How often each pair occurs (each word counts freqs[w] times), and which words hold it."""
    counts, where = {}, defaultdict(set)
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + freqs[w]
            where[pair].add(w)
    return counts, where


def _merge_everywhere(pair, new_id: int, words: list[list[int]], freqs: list[int], counts: dict, where: dict):
    """Merge pair in every word that holds it, and update the counts of the pairs those words hold."""
    for w in where.pop(pair):
        old = words[w]
        words[w] = new = merge_pair(old, pair, new_id)
        if len(new) == len(old):
            continue  # an old entry of where: this word no longer holds the pair
        for p in zip(old, old[1:]):
            counts[p] -= freqs[w]
            if counts[p] == 0:
                del counts[p]
        for p in zip(new, new[1:]):
            counts[p] = counts.get(p, 0) + freqs[w]
            where[p].add(w)


# %% notebooks/00_tokens.ipynb, cell 32
def train_bpe(text: str, vocab_size: int, pattern: str | None = GPT2_PATTERN) -> BPETokenizer:
    """Learn vocab_size - 256 merges from text and return the tokenizer of the learned table.

    The text is split with pattern (GPT-2's by default; None keeps it whole), and the most frequent adjacent pair
    inside the pieces is merged into a new token, again and again; ties go to the pair that appears first.
    A ValueError says so when the text runs out of pairs before vocab_size is reached."""
    check_text(text)
    if not is_int(vocab_size) or vocab_size < 256:
        raise ValueError(f"vocab_size must be an integer >= 256 (the 256 byte tokens plus one per merge), "
                         f"got {vocab_size!r}")
    check_pattern(pattern)
    pieces = Counter(regex.findall(pattern, text) if pattern is not None else [text] if text else [])
    words = [list(piece.encode("utf-8")) for piece in pieces]  # each distinct piece once, in order of appearance
    freqs = list(pieces.values())
    counts, where = _pair_index(words, freqs)  # pair -> times it occurs in text, pair -> the words that hold it
    ranks = {bytes([b]): b for b in range(256)}
    tokens = list(ranks)  # id -> bytes
    while len(ranks) < vocab_size:
        if not counts:
            raise ValueError(f"text has no adjacent pair left to merge after {len(ranks) - 256} merges; "
                             f"use vocab_size <= {len(ranks)}, or more text")
        pair = _most_frequent(counts, where, words)
        joined = tokens[pair[0]] + tokens[pair[1]]
        if joined not in ranks:
            ranks[joined] = len(tokens)
            tokens.append(joined)
        _merge_everywhere(pair, ranks[joined], words, freqs, counts, where)
    return BPETokenizer(ranks, pattern)


# %% notebooks/00_tokens.ipynb, cell 41
from gpt2lib.unicode_tiktoken import NEWER_THAN_TIKTOKEN  # ranges such as \U000323b0-\U00033479 (Extension J)


def _as_in_tiktoken(pattern: str) -> str:
    """pattern, with letters and numbers limited to those that tiktoken's regex knows."""
    newer = f"[{NEWER_THAN_TIKTOKEN}]"
    return "(?V1)" + pattern.replace(r"\p{L}", rf"[\p{{L}}--{newer}]").replace(r"\p{N}", rf"[\p{{N}}--{newer}]")


def load_gpt2_bpe() -> BPETokenizer:
    """GPT-2's tokenizer in Python, from the shipped table: the ids of get_tokenizer() (tiktoken), computed slower."""
    return BPETokenizer(load_bpe_ranks(), _as_in_tiktoken(GPT2_PATTERN), {END_OF_TEXT: END_OF_TEXT_ID})
