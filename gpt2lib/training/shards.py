"""Token shards: a corpus tokenized once into uint16 files, then read by memory map. Written by hand.

`python -m gpt2lib.prepare` (gpt2lib/training/prepare.py) writes a folder of shards:

    train_000000.bin   the training tokens, in order: GPT-2 token ids as uint16, little-endian, no header;
    train_000001.bin   each shard holds shard_tokens tokens (100 million, 200 MB, by default), the last one fewer
    val_000000.bin     the validation tokens, the same way
    meta.json          what the folder holds, written last: a folder without it is not a finished preparation

`open_shards` checks meta.json against the files' sizes (no pass over the tokens) and returns the two splits as
`TokenShards`: one long 1-D sequence of token ids whose pieces stay on disk. Indexing it with a tensor of
positions maps the shards it needs into memory (numpy.memmap), copies just those tokens, and unmaps them, so
training needs the same memory whatever the corpus's size and however many windows it reads: the operating system
keeps the pages read in its file cache, outside the process, and drops them when it needs the memory.

The shards are consecutive pieces of one token stream, so a training window may run from the end of one shard
into the next, just as it may run across the <|endoftext|> between two documents.

The data checks (check_token_data, gpt2lib/training/validation.py) never read the shards either: each shard's
largest token id was recorded in meta.json as it was written, and `TokenShards.check` reads it from there.
"""

import json
import re
from pathlib import Path

import numpy as np
import torch

FORMAT = "gpt2lib-token-shards-v1"
META_NAME = "meta.json"
TOKENIZER = "gpt2"
VOCAB_SIZE = 50257  # GPT-2's: 50,256 merged byte sequences + <|endoftext|>; all fit in uint16 (0..65535)
DTYPE = np.dtype("<u2")  # uint16, little-endian: 2 bytes a token
SPLITS = ("train", "val")
SHARD_NAME = re.compile(r"(train|val)_\d{6}\.bin")


class DataError(ValueError):
    """Training data (a corpus or its token shards) cannot be used. Nothing was changed."""


def shard_name(split: str, index: int) -> str:
    """The file name of a split's index-th shard: train_000000.bin, val_000003.bin, ..."""
    return f"{split}_{index:06d}.bin"


class TokenShards:
    """Token ids kept in uint16 pieces (shard files, or arrays in memory), seen as one 1-D sequence.

    len(tokens) is the number of tokens, and tokens[positions], for an integer tensor of positions of any shape,
    is an int64 tensor of the same shape: all that the windows of training and evaluation need (windows_at).
    A piece that is a shard file is mapped into memory for each read, and unmapped after it: the pages a read
    touched then leave the process (they stay in the kernel's file cache), so its memory does not grow with the
    number of windows read, as it would if every shard stayed mapped (nanoGPT maps its data anew for each batch,
    for the same reason). The largest id is known without a pass over the data (max_id): the data checks stay cheap.
    """

    def __init__(self, parts: list, max_id: int, source: str, vocab_size: int = VOCAB_SIZE):
        self.parts = parts  # 1-D uint16 arrays, or the Paths of shard files, in order
        lengths = [part.stat().st_size // DTYPE.itemsize if isinstance(part, Path) else len(part) for part in parts]
        self.ends = np.cumsum(lengths, dtype=np.int64)  # (n_parts,) where each part ends
        self.starts = self.ends - lengths  # (n_parts,) where each part begins
        self.max_id, self.source, self.vocab_size = max_id, source, vocab_size

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def on_disk(self) -> bool:
        """Whether every piece is a shard file read by memory map (True for prepared shards, False for text)."""
        return bool(self.parts) and all(isinstance(part, Path) for part in self.parts)

    def __getitem__(self, positions: torch.Tensor) -> torch.Tensor:
        """The token ids at positions (an integer tensor of any shape), as an int64 tensor of the same shape."""
        if not isinstance(positions, torch.Tensor) or positions.dtype not in (torch.long, torch.int32):
            raise TypeError(f"TokenShards are indexed with an integer tensor of positions, got {positions!r:.80}")
        flat = positions.reshape(-1).cpu().numpy().astype(np.int64)  # (N,)
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"positions must lie in 0..{len(self) - 1}, got {flat.min()}..{flat.max()}")
        part_of = np.searchsorted(self.ends, flat, side="right")  # (N,) the piece that holds each position
        ids = np.empty(flat.shape, dtype=np.int64)  # (N,)
        for part in np.unique(part_of):
            here = part_of == part
            ids[here] = self._read(part, flat[here] - self.starts[part])
        return torch.from_numpy(ids).view(positions.shape)

    def _read(self, part: int, offsets: np.ndarray) -> np.ndarray:
        """The tokens at offsets of one piece; a shard file is mapped for this read only."""
        piece = self.parts[part]
        if isinstance(piece, Path):
            piece = np.memmap(piece, dtype=DTYPE, mode="r")  # unmapped when it goes, at the end of this call
        return piece[offsets]  # fancy indexing copies: reads only these tokens' pages

    def check(self, name: str, min_length: int, vocab_size: int | None) -> None:
        """check_token_data for token shards: enough tokens, and ids inside the vocabulary (from max_id, no pass)."""
        if len(self) < min_length:
            raise ValueError(f"{name} ({self.source}) has {len(self)} tokens; at least {min_length} are needed "
                             "(one window of context_length tokens plus the target after it): use more text, or a "
                             "shorter context")
        if vocab_size is not None and self.max_id >= vocab_size:
            raise ValueError(f"{name} ({self.source}) holds token id {self.max_id}, outside the vocabulary "
                             f"(0..{vocab_size - 1})")

    def __repr__(self) -> str:
        kind = "shard files, read by memory map" if self.on_disk else "in memory"
        return f"TokenShards({len(self):,} tokens in {len(self.parts)} pieces, {kind}, {self.source})"


def _fail(path: Path, problem: str):
    raise DataError(f"{path}: {problem}")


def read_meta(directory) -> dict:
    """The checked meta.json of a folder of shards: every field it needs, and every shard file with its size.

    No token is read: each file's size must be 2 bytes a token, and the largest ids are meta.json's."""
    directory = Path(directory)
    path = directory / META_NAME
    if not directory.is_dir():
        _fail(directory, "does not exist or is not a folder: token shards are a folder that python -m gpt2lib.prepare "
                         "wrote")
    if not path.is_file():
        _fail(directory, f"holds no {META_NAME}, so it is not a finished preparation (python -m gpt2lib.prepare "
                         f"writes {META_NAME} last; prepare the corpus again into an empty folder)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(path, f"is not valid JSON: {error}")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"is not the meta.json of gpt2lib token shards (field 'format' must be {FORMAT!r})")
    for field, want in (("tokenizer", TOKENIZER), ("dtype", "uint16")):
        if meta.get(field) != want:
            _fail(path, f"field {field!r} is {meta.get(field)!r}; gpt2lib trains on {want!r} shards")
    vocab_size = meta.get("vocab_size")
    if not _is_count(vocab_size) or not 0 < vocab_size <= 2**16:
        _fail(path, f"field 'vocab_size' must be an integer in 1..65536 (ids stored as uint16), got {vocab_size!r}")
    shards, tokens = meta.get("shards"), meta.get("tokens")
    if not isinstance(shards, dict) or not isinstance(tokens, dict):
        _fail(path, "needs the fields 'shards' and 'tokens', each with 'train' and 'val'")
    for split in SPLITS:
        _check_split(directory, path, split, shards.get(split), tokens.get(split), vocab_size)
    return meta


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_split(directory: Path, path: Path, split: str, entries, total, vocab_size: int) -> None:
    """One split's list of shards: names, token counts, largest ids and file sizes, against meta.json's total."""
    if not isinstance(entries, list) or not entries:
        _fail(path, f"field 'shards' has no {split!r} shards: the preparation wrote no {split} tokens")
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else None
        count, max_id = (entry.get("tokens"), entry.get("max_id")) if isinstance(entry, dict) else (None, None)
        if not isinstance(name, str) or not SHARD_NAME.fullmatch(name) or not name.startswith(split):
            _fail(path, f"a {split!r} shard must be named like {shard_name(split, 0)}, got {name!r}")
        if not _is_count(count) or count < 1 or not _is_count(max_id) or not 0 <= max_id < vocab_size:
            _fail(path, f"shard {name} needs 'tokens' >= 1 and 'max_id' in 0..{vocab_size - 1}, got {count!r} "
                        f"and {max_id!r}")
        file = directory / name
        if not file.is_file():
            _fail(directory, f"shard {name} is missing (meta.json lists it)")
        if file.stat().st_size != count * DTYPE.itemsize:
            _fail(file, f"has {file.stat().st_size:,} bytes, but meta.json says {count:,} tokens "
                        f"({count * DTYPE.itemsize:,} bytes): the file was changed or cut short after the preparation")
    if total != sum(entry["tokens"] for entry in entries):
        _fail(path, f"field 'tokens' says {total!r} {split} tokens, its shards hold "
                    f"{sum(entry['tokens'] for entry in entries):,}")


def open_shards(directory) -> tuple[TokenShards, TokenShards]:
    """The training and validation tokens of a prepared folder, read by memory map (nothing is loaded)."""
    directory = Path(directory)
    meta = read_meta(directory)
    splits = []
    for split in SPLITS:
        entries = meta["shards"][split]
        parts = [directory / entry["file"] for entry in entries]  # mapped at each read (TokenShards._read)
        max_id = max(entry["max_id"] for entry in entries)
        splits.append(TokenShards(parts, max_id, f"the {split} shards of {directory}", meta["vocab_size"]))
    return splits[0], splits[1]
