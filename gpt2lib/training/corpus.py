"""A text corpus of any size, read in pieces and tokenized with GPT-2's tokenizer. Written by hand.

Used by `python -m gpt2lib.prepare` (which writes the tokens to shards, gpt2lib/training/prepare.py) and by
`python -m gpt2lib.train --data` on text (which keeps them in memory, `tokenize_files`). Both give the same tokens
and the same split:

- The corpus is one text file, or the `*.txt` files of a folder (not its subfolders), sorted by name. Each file is
  a document; the token <|endoftext|> (50256) separates two documents, as in GPT-2's training data. The text is
  encoded as ordinary text: the characters "<|endoftext|>" inside a file are not the special token.
- The validation split is the end of each document: it begins at the first line break at or after
  (1 - val_fraction) of the file's bytes (90% by default) that is followed by a character other than a space.
  A document with no such line break in its last part gives all its text to training.
- A file is read in pieces of about CHUNK_BYTES, never whole. Each piece ends just before a line break that is
  followed by a non-space character. GPT-2's pre-tokenization never joins text across such a place, so the tokens
  equal those of the whole file; only a line longer than a piece is cut elsewhere (at a character boundary), and
  the tokens there may differ from the whole file's.
- The text must be UTF-8, without NUL bytes (a NUL is the mark of a binary file, or of UTF-16 text).
  `check_text_files` reads every file once, before any work, and names the file and the byte offset of the first
  bad byte.
"""

import codecs
from pathlib import Path

import numpy as np

from gpt2lib.tokenizer import END_OF_TEXT_ID, get_tokenizer
from gpt2lib.training.shards import DTYPE, META_NAME, SHARD_NAME, DataError, TokenShards

CHUNK_BYTES = 4 * 2**20  # a piece of text read, decoded and tokenized at once (about 1.2 million tokens)
VAL_FRACTION = 0.1


def text_files(path) -> list[Path]:
    """The corpus's files: [path] for a file, the sorted *.txt files of a folder. Refuses a missing path, a folder
    without text files and an empty corpus."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist: give a UTF-8 text file, a folder of *.txt files, or a folder of "
                        "token shards made by python -m gpt2lib.prepare")
    if path.is_dir():
        files = sorted(file for file in path.glob("*.txt") if file.is_file())
        if not files and any(SHARD_NAME.fullmatch(file.name) for file in path.iterdir()):
            raise DataError(f"{path} holds token shards but no {META_NAME}: it is an unfinished preparation "
                            f"(python -m gpt2lib.prepare writes {META_NAME} last). Run the preparation again")
        if not files:
            raise DataError(f"{path} holds no *.txt files (and no {META_NAME} of prepared token shards)")
    elif path.name == META_NAME:
        raise DataError(f"{path} is the {META_NAME} of token shards: give the folder that holds it, {path.parent}")
    else:
        files = [path]
    if sum(file.stat().st_size for file in files) == 0:
        raise DataError(f"{path} is an empty corpus: its {len(files)} file(s) hold 0 bytes of text")
    return files


def check_text_files(files: list[Path], progress=None) -> None:
    """Read every file once and refuse the first that is not UTF-8 text, naming the file and the byte offset.

    progress(n) is called with the number of bytes of each block read."""
    for path in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0  # bytes of the file read so far
        with open(path, "rb") as file:
            while block := file.read(CHUNK_BYTES):
                nul = block.find(b"\0")
                if nul >= 0:
                    raise DataError(f"{path} is not a text file: it holds a NUL byte at byte offset {offset + nul} "
                                    "(a binary file, or text in UTF-16; gpt2lib reads UTF-8 text)")
                pending = len(decoder.getstate()[0])  # bytes of a character that began in the previous block
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:
                    raise DataError(_not_utf8(path, offset - pending + error.start, error)) from None
                offset += len(block)
                if progress is not None:
                    progress(len(block))
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as error:
                raise DataError(_not_utf8(path, offset - len(error.object) + error.start, error)) from None


def _not_utf8(path: Path, offset: int, error: UnicodeDecodeError) -> str:
    byte = error.object[error.start]
    return (f"{path} is not UTF-8 text: the byte 0x{byte:02x} at byte offset {offset} cannot be decoded "
            f"({error.reason}); convert the file to UTF-8, e.g. iconv -f LATIN1 -t UTF-8")


def _after_line_break(data: bytes, i: int) -> bool:
    """Whether data[i] is a line break followed by a whole character in data that is not a space."""
    following = data[i + 1:i + 5]
    if not following:
        return False
    if following[0] < 0x80:  # ASCII: a printable character other than a space
        return 0x21 <= following[0] <= 0x7E
    length = 2 if following[0] < 0xE0 else 3 if following[0] < 0xF0 else 4  # the lead byte says how long
    char = following[:length].decode("utf-8", errors="replace")
    return len(following) >= length and len(char) == 1 and not char.isspace()


def _first_cut(data: bytes, low: int) -> int | None:
    """The first offset >= max(low, 1) where data has a line break followed by a non-space character."""
    i = data.find(b"\n", max(low, 1))
    while i != -1 and not _after_line_break(data, i):
        i = data.find(b"\n", i + 1)
    return None if i == -1 else i


def _last_cut(data: bytes) -> int:
    """Where to end a piece of data: before its last line break followed by a non-space character; else (one long
    line) before its last character, which may be incomplete."""
    i = data.rfind(b"\n", 1)
    while i != -1 and not _after_line_break(data, i):
        i = data.rfind(b"\n", 1, i)
    if i != -1:
        return i
    end = len(data) - 1
    while end > 1 and 0x80 <= data[end] < 0xC0:  # a UTF-8 continuation byte: back to its character's first byte
        end -= 1
    return end


def document_pieces(path: Path, val_fraction: float = VAL_FRACTION, chunk_bytes: int = CHUNK_BYTES):
    """The text of one document in pieces, in order: (split, offset, bytes), "train" pieces then "val" pieces."""
    split_at = int(path.stat().st_size * (1 - val_fraction))  # validation begins at the first cut from here on
    split, buffer, start = "train", b"", 0  # buffer: bytes read and not yet given out, from file offset start
    with open(path, "rb") as file:
        at_end = False
        while buffer or not at_end:
            if not at_end and len(buffer) < chunk_bytes:
                block = file.read(chunk_bytes)
                at_end, buffer = not block, buffer + block
                continue
            if split == "train" and start + len(buffer) > split_at:
                cut = _first_cut(buffer, split_at - start)
                if cut is not None:  # the validation part begins here
                    yield "train", start, buffer[:cut]
                    split, buffer, start = "val", buffer[cut:], start + cut
                    continue
            cut = len(buffer) if at_end else _last_cut(buffer)
            yield split, start, buffer[:cut]
            buffer, start = buffer[cut:], start + cut


def _decode(piece: bytes, path: Path, offset: int) -> str:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as error:  # the file changed since check_text_files read it
        raise DataError(_not_utf8(path, offset + error.start, error)) from None


def corpus_tokens(files: list[Path], val_fraction: float = VAL_FRACTION, chunk_bytes: int = CHUNK_BYTES,
                  progress=None):
    """Yield (split, ids) for the corpus in order: ids a uint16 array, <|endoftext|> between two documents.

    progress(n) is called with the number of bytes of each piece tokenized."""
    encode = get_tokenizer().encode_ordinary  # tiktoken's: no special tokens in the text
    separator = np.array([END_OF_TEXT_ID], dtype=DTYPE)
    written = {"train": False, "val": False}  # whether the split holds tokens already
    for path in files:
        begun = {"train": False, "val": False}  # whether this document's part of the split has begun
        for split, offset, piece in document_pieces(path, val_fraction, chunk_bytes):
            if written[split] and not begun[split]:
                yield split, separator
            begun[split] = written[split] = True
            yield split, np.array(encode(_decode(piece, path, offset)), dtype=DTYPE)
            if progress is not None:
                progress(len(piece))


def check_splits(tokens: dict, val_fraction: float) -> None:
    """Refuse a corpus that gave no tokens to a split: tokens maps "train" and "val" to their counts."""
    for split, count in tokens.items():
        if count == 0:
            raise DataError(f"the corpus gives no {split} tokens: the validation split begins, in each file, at the "
                            f"first line break followed by a non-space character in its last {val_fraction:.0%}, "
                            "and no file has one there. Use more text, or text with line breaks (prepare: or a larger "
                            "--val-fraction)")


def tokenize_files(files: list[Path], source: str, val_fraction: float = VAL_FRACTION,
                   progress=None) -> tuple[TokenShards, TokenShards]:
    """The corpus's training and validation tokens, in memory (2 bytes a token), as TokenShards."""
    pieces = {"train": [], "val": []}
    for split, ids in corpus_tokens(files, val_fraction, progress=progress):
        pieces[split].append(ids)
    splits = []
    for split, arrays in pieces.items():
        ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=DTYPE)  # (n_tokens,)
        max_id = int(ids.max()) if len(ids) else 0
        splits.append(TokenShards([ids], max_id, f"the {split} split of {source}"))
    check_splits({"train": len(splits[0]), "val": len(splits[1])}, val_fraction)
    return splits[0], splits[1]
