"""Tokenize a corpus of any size into uint16 token shards: `python -m gpt2lib.prepare`. Written by hand.

    python -m gpt2lib.prepare corpus.txt --out data/corpus       # one UTF-8 text file
    python -m gpt2lib.prepare texts/ --out data/texts            # a folder of *.txt files, sorted by name
    python -m gpt2lib.train --data data/texts --out runs/texts   # then train on the shards

The corpus is read in pieces of a few megabytes, never whole, and tokenized with GPT-2's tokenizer; its tokens go
to shards of --shard-tokens tokens, 2 bytes a token, so memory stays flat whatever the corpus's size.
gpt2lib/training/corpus.py says how the text is read, how documents are separated (<|endoftext|>) and how the
validation split is chosen (the last --val-fraction of each document, from a line break on);
gpt2lib/training/shards.py describes the files and meta.json.

Before anything is written, the input is checked: it must exist, hold some text, and be UTF-8 throughout (every
file is read once; a bad byte is named with its file and offset). --out is the preparation's own folder:
- a new or empty folder is used;
- a folder holding a finished preparation of the same input files (names, sizes, modification times) and the
  same settings is left as it is: there is nothing to do;
- a folder that this command left unfinished (its lock file, and only its own file names) is taken over: its
  files are removed, by their exact names, and the preparation starts again;
- any other non-empty folder is refused, naming the files in the way. Nothing this command did not write is ever
  overwritten or deleted.
Each shard is written under a temporary name and renamed when complete, and meta.json is written last, so an
interrupted preparation never leaves a folder that looks finished: training refuses a folder without meta.json.
While it runs, the folder is locked (fcntl.flock on LOCK_NAME; not on Windows): a second preparation is refused.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from gpt2lib.training.checkpoint import atomic_write
from gpt2lib.training.corpus import CHUNK_BYTES, VAL_FRACTION, check_splits, check_text_files, corpus_tokens
from gpt2lib.training.corpus import text_files
from gpt2lib.training.run_folder import file_mode, some_names
from gpt2lib.training.shards import DTYPE, FORMAT, META_NAME, SHARD_NAME, SPLITS, TOKENIZER, VOCAB_SIZE, DataError
from gpt2lib.training.shards import read_meta, shard_name
from gpt2lib.training.sizes import describe_bytes
from gpt2lib.validation import shown_path

SHARD_TOKENS = 100_000_000  # tokens per shard: 200 MB files
LOCK_NAME = ".gpt2lib-prepare.lock"
TEMPORARY = re.compile(r"\.((train|val)_\d{6}\.bin|meta\.json)\.[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp's names
MIN_FREE_PER_BYTE = 0.5  # shards take about 0.6 bytes per byte of English text (0.3 tokens a byte, 2 bytes a token)


class PrepareError(ValueError):
    """The preparation's options or its --out folder cannot be used. Nothing was changed."""


def settings_of(input_path: Path, files: list[Path], val_fraction: float, shard_tokens: int) -> dict:
    """What decides the shards: the input files (path, sizes, modification times) and the options."""
    root = input_path if input_path.is_dir() else input_path.parent
    return {"format": FORMAT, "tokenizer": TOKENIZER, "val_fraction": val_fraction, "shard_tokens": shard_tokens,
            "chunk_bytes": CHUNK_BYTES, "input": str(input_path.resolve()),
            "files": [{"name": file.relative_to(root).as_posix(), "bytes": file.stat().st_size,
                       "mtime_ns": file.stat().st_mtime_ns} for file in files]}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _is_ours(name: str) -> bool:
    """Whether a file name in --out is one this command writes."""
    return name in (LOCK_NAME, META_NAME) or bool(SHARD_NAME.fullmatch(name) or TEMPORARY.fullmatch(name))


def _is_our_lock(path: Path) -> bool:
    """Whether path is a lock file as _lock writes it ("pid N on HOST", or nothing yet), not another file so named."""
    if path.is_symlink() or not path.is_file():
        return False
    return bool(re.fullmatch(rb"(pid \d+ on \S+\n)?", path.read_bytes()[:4096]))


def check_out(out: Path, digest: str) -> str:
    """What --out is: "new" (missing or empty), "done" (a finished preparation of these settings) or "unfinished"
    (this command's, interrupted). Raises PrepareError for anything else; writes nothing."""
    if out.is_symlink() and not out.exists():
        raise PrepareError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist")
    if out.exists() and not out.is_dir():
        raise PrepareError(f"--out {out} is a file, not a folder: choose a new folder for the shards")
    names = sorted(path.name for path in out.iterdir()) if out.is_dir() else []
    if not names:
        return "new"
    if META_NAME in names:
        try:
            same = read_meta(out).get("settings_hash") == digest
        except DataError as error:
            raise PrepareError(f"--out {out} holds a {META_NAME} that is not a finished preparation ({error}): "
                               "choose a new or empty folder") from None
        if not same:
            raise PrepareError(f"--out {out} holds a finished preparation of another corpus or other settings: "
                               "choose a new or empty folder (nothing there is overwritten)")
        return "done"
    if (LOCK_NAME not in names or not all(_is_ours(name) for name in names) or not _is_our_lock(out / LOCK_NAME)
            or any((out / name).is_symlink() or not (out / name).is_file() for name in names)):
        shown = [name + ("/" if (out / name).is_dir() else "") for name in names]
        raise PrepareError(f"--out {out} is not empty and is not a preparation of this command: {some_names(shown)}. "
                           "Choose a new or empty folder (nothing there is overwritten)")
    return "unfinished"


def check_space(out: Path, input_bytes: int) -> None:
    """Refuse an --out whose file system cannot hold the shards of a corpus this large."""
    existing = next(path for path in (out, *out.parents) if path.exists())
    free, need = shutil.disk_usage(existing).free, int(input_bytes * MIN_FREE_PER_BYTE)
    if free < need:
        raise PrepareError(f"--out {out} has {describe_bytes(free)} free, but the shards of "
                           f"{describe_bytes(input_bytes)} of text take about {describe_bytes(need)} or more: free "
                           "some space or choose another --out")


class ShardWriter:
    """One split's tokens, written into shards of shard_tokens tokens: each under a temporary name, renamed when
    complete. shards lists the finished ones as meta.json records them."""

    def __init__(self, folder: Path, split: str, shard_tokens: int):
        self.folder, self.split, self.shard_tokens = folder, split, shard_tokens
        self.shards = []  # {"file", "tokens", "max_id"} of each finished shard
        self.file = self.temporary = None  # the shard being written, and its temporary path
        self.count = self.max_id = 0  # tokens in the shard being written, and its largest id

    @property
    def tokens(self) -> int:
        return sum(shard["tokens"] for shard in self.shards) + self.count

    def write(self, ids: np.ndarray) -> None:
        """Append ids (a 1-D uint16 array) to the split."""
        while len(ids):
            if self.file is None:
                fd, name = tempfile.mkstemp(prefix=f".{shard_name(self.split, len(self.shards))}.", suffix=".tmp",
                                            dir=self.folder)
                self.file, self.temporary = os.fdopen(fd, "wb"), Path(name)
            part, ids = ids[:self.shard_tokens - self.count], ids[self.shard_tokens - self.count:]
            self.file.write(part.astype(DTYPE, copy=False).tobytes())
            self.count, self.max_id = self.count + len(part), max(self.max_id, int(part.max()))  # the range check
            if self.count == self.shard_tokens:
                self.finish()

    def finish(self) -> None:
        """Complete the shard being written (if any): flushed to the disk, then renamed to its final name."""
        if self.file is None:
            return
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.chmod(self.temporary, file_mode())  # mkstemp made it private (0600): give it the user's umask
        name = shard_name(self.split, len(self.shards))
        os.replace(self.temporary, self.folder / name)
        self.shards.append({"file": name, "tokens": self.count, "max_id": self.max_id})
        self.file = self.temporary = None
        self.count = self.max_id = 0

    def abort(self) -> None:
        """Close and remove the shard being written: no half shard is left behind."""
        if self.file is not None:
            self.file.close()
            self.temporary.unlink(missing_ok=True)
            self.file = self.temporary = None


def _lock(out: Path):
    """Lock out/LOCK_NAME for this process (the open file; None where there is no flock)."""
    try:
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, file_mode())
    except OSError as error:
        raise PrepareError(f"--out {out} is not writable: {error.strerror}") from None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(out / LOCK_NAME).read_text(errors="replace").strip()
            os.close(fd)
            raise PrepareError(f"--out {out} is being written by another preparation ({holder or 'unknown'})") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


def _remove_own_files(out: Path, say) -> None:
    """Remove what an interrupted preparation left in out: its shards and temporary files, by their exact names."""
    leftovers = sorted(path for path in out.iterdir() if path.name not in (LOCK_NAME, META_NAME)
                       and _is_ours(path.name) and path.is_file() and not path.is_symlink())
    for path in leftovers:
        path.unlink()
    say(f"{out} holds an unfinished preparation: removed its {len(leftovers)} file(s), starting again")


def _check_options(val_fraction, shard_tokens) -> None:
    if not isinstance(val_fraction, float) or not 0 < val_fraction < 1:
        raise PrepareError(f"--val-fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
    if not isinstance(shard_tokens, int) or shard_tokens < 1:
        raise PrepareError(f"--shard-tokens must be a positive integer, got {shard_tokens!r}")


def prepare(input_path, out, val_fraction: float = VAL_FRACTION, shard_tokens: int = SHARD_TOKENS,
            progress: bool = True, say=print) -> dict:
    """Tokenize the corpus at input_path (a text file or a folder of *.txt files) into shards in out -> meta.json's
    contents. Every check comes before anything is written (see the module's docstring)."""
    _check_options(val_fraction, shard_tokens)
    input_path, out = Path(input_path), Path(out)
    if input_path.is_dir() and (input_path / META_NAME).is_file():
        raise DataError(f"{input_path} holds token shards already ({META_NAME}): train on them with "
                        f"python -m gpt2lib.train --data {input_path}")
    files = text_files(input_path)
    settings = settings_of(input_path, files, val_fraction, shard_tokens)
    digest = settings_hash(settings)
    try:
        state = check_out(out, digest)
    except OSError as error:  # e.g. a name longer than the file system takes
        raise PrepareError(f"--out {shown_path(out)} cannot be used: {error.strerror or error}") from None
    if state == "done":
        say(f"{out} holds this preparation already (same files and settings): nothing to do")
        return read_meta(out)
    total = sum(file["bytes"] for file in settings["files"])
    check_space(out, total)
    with tqdm(total=total, unit="B", unit_scale=True, desc="checking UTF-8", disable=not progress,
              dynamic_ncols=True) as bar:
        check_text_files(files, bar.update)
    return _write(out, files, settings, digest, state, total, progress, say)


def _write(out: Path, files: list[Path], settings: dict, digest: str, state: str, total: int, progress: bool,
           say) -> dict:
    """Tokenize the checked corpus into out (locked meanwhile); meta.json last."""
    created = [path for path in (out, *out.parents) if not path.exists()]  # deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PrepareError(f"--out {out} cannot be created: {error.strerror}") from None
    lock = _lock(out)
    writers = {split: ShardWriter(out, split, settings["shard_tokens"]) for split in SPLITS}
    try:
        if state == "unfinished":
            _remove_own_files(out, say)
        start = time.perf_counter()
        with tqdm(total=total, unit="B", unit_scale=True, desc="tokenizing", disable=not progress,
                  dynamic_ncols=True) as bar:
            for split, ids in corpus_tokens(files, settings["val_fraction"], progress=bar.update):
                writers[split].write(ids)
                bar.set_postfix_str(f"{writers['train'].tokens + writers['val'].tokens:,} tokens", refresh=False)
        for writer in writers.values():
            writer.finish()
        seconds = time.perf_counter() - start
        _check_both_splits(out, writers, settings["val_fraction"], created)
        meta = _meta(settings, digest, writers)
        atomic_write(out / META_NAME, lambda file: file.write((json.dumps(meta, indent=2) + "\n").encode()))
        (out / LOCK_NAME).unlink(missing_ok=True)  # finished: meta.json marks the folder as this command's now
    except BaseException as error:
        for writer in writers.values():
            writer.abort()
        if isinstance(error, OSError):  # a full disk, say
            raise PrepareError(f"could not write the shards into {out}: {error.strerror or error}. The shard being "
                               f"written was removed and {out} holds no {META_NAME}: make room and run the same "
                               "command again") from None
        raise
    finally:
        os.close(lock)
    tokens = meta["tokens"]["train"] + meta["tokens"]["val"]
    say(f"wrote {meta['tokens']['train']:,} training tokens ({len(meta['shards']['train'])} shard(s)) and "
        f"{meta['tokens']['val']:,} validation tokens ({len(meta['shards']['val'])} shard(s)) to {out}, "
        f"{tokens / seconds:,.0f} tokens/s")
    return meta


def _check_both_splits(out: Path, writers: dict, val_fraction: float, created: list[Path]) -> None:
    """Refuse a corpus that gave no validation (or no training) tokens, removing the shards written for it."""
    tokens = {split: writer.tokens for split, writer in writers.items()}
    if all(tokens.values()):
        return
    for writer in writers.values():
        for shard in writer.shards:
            (out / shard["file"]).unlink(missing_ok=True)
    (out / LOCK_NAME).unlink(missing_ok=True)
    for folder in created:  # the folders made for the shards, if nothing else is in them
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    check_splits(tokens, val_fraction)


def _meta(settings: dict, digest: str, writers: dict) -> dict:
    """meta.json: what the shards are, how they were made, and from what."""
    return {
        "format": FORMAT, "tokenizer": TOKENIZER, "vocab_size": VOCAB_SIZE, "dtype": "uint16", "byte_order": "little",
        "documents": "each input file is a document; <|endoftext|> (50256) separates two documents in each split",
        "validation": "the end of each document: from the first line break followed by a non-space character at or "
                      "after (1 - val_fraction) of its bytes",
        "val_fraction": settings["val_fraction"], "shard_tokens": settings["shard_tokens"],
        "tokens": {split: writer.tokens for split, writer in writers.items()},
        "shards": {split: writer.shards for split, writer in writers.items()},
        "sources": {"input": settings["input"], "files": settings["files"]},
        "settings": {key: settings[key] for key in ("tokenizer", "val_fraction", "shard_tokens", "chunk_bytes")},
        "settings_hash": digest,
    }


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gpt2lib.prepare",
                                     description="Tokenize a corpus of any size into uint16 token shards, read "
                                                 "in pieces (memory stays flat), with a validation split.",
                                     epilog="Then: python -m gpt2lib.train --data OUT")
    parser.add_argument("input", help="a UTF-8 text file, or a folder of *.txt files (sorted by name, one document "
                                      "each)")
    parser.add_argument("--out", required=True, help="a new or empty folder for the shards and meta.json")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help=f"the end of each document that goes to validation [{VAL_FRACTION}]")
    parser.add_argument("--shard-tokens", type=int, default=SHARD_TOKENS,
                        help=f"tokens per shard file, 2 bytes each [{SHARD_TOKENS:,}]")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    for name, value in (("input", args.input), ("--out", args.out)):
        if not value:  # "" would mean the current folder
            parser.error(f"{name} is empty: name a file or folder")
    return args


def main(argv=None) -> int:
    """Run the command with the options in argv (sys.argv's by default); the exit status."""
    args = _parse_args(argv)
    try:
        prepare(args.input, args.out, args.val_fraction, args.shard_tokens, progress=not args.no_progress)
    except (DataError, PrepareError) as error:
        raise SystemExit(f"error: {error}") from None
    except KeyboardInterrupt:
        if not (Path(args.out) / LOCK_NAME).exists():
            raise SystemExit("error: stopped (Ctrl+C) before anything was written") from None
        raise SystemExit(f"error: stopped (Ctrl+C); {args.out} holds no {META_NAME}, so nothing will train on it. "
                         "Run the same command again to start over") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
