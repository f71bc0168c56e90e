"""The training command's output folder (--out): the run's, and only the run's. Written by hand.

`python -m gpt2lib.train --out DIR` claims DIR before it reads any data (`RunFolder.claim`):
- DIR must be, or be made, a writable directory with room for a checkpoint and the export;
- a non-empty DIR that holds no checkpoint was not written by this command: it is refused, naming the
  files in the way, unless the user asks to write there anyway (--overwrite-out);
- the run holds a lock on DIR for its lifetime (under torchrun, rank 0 does): a second run started on
  it is refused, naming the process that holds it. The lock is `fcntl.flock` on the file LOCK_NAME in
  DIR, which the kernel releases when the process dies, however it dies: a lock left by a killed run
  is taken over, and the command says so. flock is local to a machine on some network file systems
  (an SMB share; NFS before Linux 2.6.12): there, two machines can both take it. Windows has no flock:
  there the folder is checked for other files and space, but neither locked nor tried for writing
  (the lock file is that try elsewhere);
- only the run's own temporary files are removed, by their exact names (`unfinished_writes`).

atomic_write (notebook 09, gpt2lib/training/checkpoint.py) uses two helpers from here: `file_mode`,
so that files get the user's umask like any other program's, and `check_write_error`, which turns a
full disk or a failed write into one clear error.
"""

import errno
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from gpt2lib.training.sizes import describe_bytes
from gpt2lib.validation import shown_path

LOCK_NAME = ".gpt2lib-train.lock"
RUN_FILES = ("checkpoint.pt", "summary.json", "loss.png", "model/config.json", "model/model.safetensors")
SHOWN = 5  # files named when a folder is refused


class RunFolderError(Exception):
    """--out cannot be this run's folder. Nothing was changed."""


class WriteFailedError(OSError):
    """A file could not be written (a full disk, a read-only file system...). The previous file is intact."""


def file_mode() -> int:
    """The mode a new file gets under the user's umask (0o666 & ~umask): 0o644 for the usual umask 022."""
    try:  # Linux shows the umask without changing it
        status = Path("/proc/self/status").read_text()
        return 0o666 & ~int(re.search(r"^Umask:\s*(\d+)", status, re.M).group(1), 8)
    except (OSError, AttributeError):
        umask = os.umask(0o022)  # elsewhere, reading it means setting it: set it straight back
        os.umask(umask)
        return 0o666 & ~umask


def check_write_error(path, error: BaseException) -> None:
    """Raise one clear WriteFailedError if error, raised while writing path, comes from the operating system.

    torch.save wraps the OSError of a full disk in a RuntimeError ("enforce fail at inline_container.cc");
    the OSError is then its __context__. Other errors (a Ctrl+C, a bug) are left to the caller to re-raise."""
    cause = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if cause is None or isinstance(error, WriteFailedError):
        return
    path = Path(path)
    if cause.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif cause.errno == getattr(errno, "EDQUOT", None):
        reason = "the disk quota is exceeded"
    else:
        reason = cause.strerror or str(cause)
    kept = (f"the previous {path.name} is intact (the write went to a temporary file, now removed)"
            if path.exists() else "nothing was written")
    failure = WriteFailedError(f"could not write {path}: {reason}; {kept}")
    failure.errno = cause.errno
    raise failure from error


# How each of the run's files begins: a temporary file of a save killed half-way holds a beginning of one. A
# safetensors file begins with 8 bytes (its header's size), then its JSON header: "{" at offset 8.
FILE_MAGIC = {"checkpoint.pt": (0, b"PK\x03\x04"),  # torch.save writes a zip archive
              "summary.json": (0, b"{"), "config.json": (0, b"{"), "loss.png": (0, b"\x89PNG\r\n\x1a\n"),
              "model.safetensors": (8, b"{")}


def unfinished_writes(out) -> list[Path]:
    """The temporary files that saves of this run, killed half-way, left in out: atomic_write's exact names,
    tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp"), that is "." + name + "." + 8 of [a-z0-9_] + ".tmp",
    holding nothing or a beginning of such a file (another program's file so named is left alone)."""
    found = []
    for relative in RUN_FILES:
        target = Path(out) / relative
        pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
        if target.parent.is_dir():
            found += [path for path in target.parent.iterdir() if pattern.fullmatch(path.name) and path.is_file()
                      and not path.is_symlink() and _begins_like(path, target.name)]
    return sorted(found)


def _begins_like(path: Path, name: str) -> bool:
    """Whether path holds what a file of the run named name begins with, as far as it goes (or nothing yet)."""
    offset, magic = FILE_MAGIC[name]
    try:
        with open(path, "rb") as file:
            head = file.read(offset + len(magic))[offset:]
    except OSError:  # unreadable: not a file this run wrote
        return False
    return head == magic[:len(head)]


def _wrong_kind(out: Path) -> list[str]:
    """What stands where the run writes and cannot be replaced: a folder named like a file of the run, a file
    named model."""
    links = [f"{name} (a symbolic link to {os.readlink(out / name)})" for name in ("model", LOCK_NAME, *RUN_FILES)
             if (out / name).is_symlink()]  # writing through one would change files outside --out
    wrong = links + [f"{name} (a folder)" for name in RUN_FILES if (out / name).is_dir()]
    if (out / "model").exists() and not (out / "model").is_dir():
        wrong.append("model (a file; the export is a folder)")
    return wrong


def _foreign_files(out: Path) -> list[str]:
    """The entries of out, if out holds no checkpoint: then no run of this command wrote them, except for
    its lock file and the temporary files of a save killed before the first checkpoint was complete."""
    if (out / "checkpoint.pt").is_file():
        return []
    ours = {LOCK_NAME} | {path.name for path in unfinished_writes(out) if path.parent == out}
    return sorted(path.name + ("/" if path.is_dir() else "") for path in out.iterdir() if path.name not in ours)


def some_names(names: list[str]) -> str:
    """The first SHOWN names, and how many more there are: for a message about a folder's files."""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def check_out_path(out) -> None:
    """Refuse, looking only, an --out that no run can use: a dangling link, a file, a path too long for the files
    the run writes inside it, or a name the file system cannot take. Raises RunFolderError."""
    out = Path(out)
    try:
        if out.is_symlink() and not out.exists():
            raise RunFolderError(f"--out {out} is a symbolic link to {os.readlink(out)}, which does not exist")
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {out} is a file, not a folder: choose a folder for the run's files")
    except OSError as error:  # e.g. a name longer than the file system takes
        raise RunFolderError(f"--out {shown_path(out)} cannot be used: {error.strerror or error}") from None
    longest = len(os.fsencode(out.absolute())) + len("/model/.model.safetensors.12345678.tmp")
    if longest >= _path_max(out):
        raise RunFolderError(f"--out {shown_path(out)} is too long a path: the run's files inside it would have "
                             f"paths of {longest} bytes, and this system allows {_path_max(out) - 1}")


class RunFolder:
    """One run's claim on its output folder: the lock, held until release() (or the end of a with block)."""

    def __init__(self, out: Path, created: list[Path]):
        self.out = out
        self.created = created  # the folders the claim made, deepest first: removed again if the run leaves them empty
        self.fd = None  # the lock file, open and locked
        self.note = None  # what the command says about the lock: taken over from a killed run, or not available
        self.need = self.free = None  # bytes the run's files take, and bytes free on out's file system

    @classmethod
    def claim(cls, out, need: int, overwrite: bool = False) -> "RunFolder":
        """Check out (see the module's docstring) and lock it; need is the bytes a checkpoint and the export take.
        Raises RunFolderError, having changed nothing, if the run may not use out."""
        out = Path(out)
        try:
            return cls._claim(out, need, overwrite)
        except OSError as error:  # e.g. a name too long for the file system, found while looking at out
            raise RunFolderError(f"--out {shown_path(out)} cannot be used: {error.strerror or error}") from None

    @classmethod
    def _claim(cls, out: Path, need: int, overwrite: bool) -> "RunFolder":
        check_out_path(out)
        folder = cls(out, [path for path in (out, *out.parents) if not path.exists()])
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a parent is a file, or may not be written
            folder.release()
            raise RunFolderError(f"--out {out} cannot be created: {error.strerror}") from None
        try:
            folder.fd, folder.note = _lock(out)
            folder._check(need, overwrite)
        except BaseException:
            folder.release()
            raise
        return folder

    def _check(self, need: int, overwrite: bool) -> None:
        """Refuse a folder with files in the way, or without room for the run's files (the lock is held)."""
        if wrong := _wrong_kind(self.out):
            raise RunFolderError(f"--out {self.out}: {some_names(wrong)} stands where the run writes: move it away, "
                                 "or choose another --out")
        if (foreign := _foreign_files(self.out)) and not overwrite:
            raise RunFolderError(
                f"--out {self.out} is not empty and holds no checkpoint of a run, so this command did not write it: "
                f"{some_names(foreign)}. The run writes {', '.join(RUN_FILES)} there. Choose a new or empty folder, or "
                "pass --overwrite-out to write there anyway (files with those names are replaced, no other is "
                "touched)")
        self.need, self.free = need, shutil.disk_usage(self.out).free
        if self.free < need:
            raise RunFolderError(f"--out {self.out} has {describe_bytes(self.free)} free, but a checkpoint and the "
                                 f"export of this model need about {describe_bytes(need)}: free some space or choose "
                                 "another --out")

    def release(self) -> None:
        """Give the lock up, and remove the folders the claim made if the run left them empty."""
        if self.fd is not None:
            Path(self.out, LOCK_NAME).unlink(missing_ok=True)  # while still locked: no one else holds this file
            os.close(self.fd)
            self.fd = None
        for folder in self.created:
            try:
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            except OSError:  # a name the file system refused: it was never created
                pass

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _lock(out: Path) -> tuple[int | None, str | None]:
    """Lock out/LOCK_NAME and write this process into it -> (the open lock file, a note for the user or None).

    A lock file whose holder died is unlocked (the kernel released it) but still names that holder: the note
    says it was taken over. The loop tries again when the holder removed the file between our open and our
    flock (we would then hold a lock on a file no one else can see)."""
    path = out / LOCK_NAME
    if path.is_file() and not path.is_symlink() and not _is_lock_text(path.read_bytes()[:4096]):
        raise RunFolderError(f"--out {out} holds a file named {LOCK_NAME} that this command did not write (it is "
                             "not a lock of a run): the run would replace it. Move it away, or choose another --out")
    if fcntl is None:
        return None, "--out is not locked: Windows has no flock, so nothing stops a second run on the same folder"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), file_mode())
        except OSError as error:
            raise RunFolderError(f"--out {out} is not writable: {error.strerror} (the run writes its files "
                                 "there)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunFolderError(f"--out {out} is in use by another run of this command: {_describe(holder)}. "
                                 "Wait for it to end or stop it (Ctrl+C or SIGTERM save a checkpoint), or choose "
                                 "another --out") from None
        except OSError as error:  # a file system without flock (some network and FUSE file systems)
            os.close(fd)
            path.unlink(missing_ok=True)
            return None, f"--out is not locked: its file system does not support flock ({error.strerror})"
        if _same_file(fd, path):
            break
        os.close(fd)
    holder = _read_holder(fd)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    taken_over = None if holder is None else (f"took over the lock of a run that ended without releasing it "
                                              f"({_describe(holder)}: killed or crashed)")
    return fd, taken_over


def _is_lock_text(data: bytes) -> bool:
    """Whether data is what _lock writes into a lock file (or nothing yet: a run killed as it started)."""
    try:
        holder = json.loads(data.decode() or "{}")
    except ValueError:
        return False
    return isinstance(holder, dict) and set(holder) <= {"pid", "host", "started"}


def _path_max(out: Path) -> int:
    """The longest path the file system of out's nearest existing folder takes, in bytes (4096 on Linux)."""
    existing = next((path for path in (out, *out.parents) if path.exists()), Path("."))
    try:
        return os.pathconf(existing, "PC_PATH_MAX")
    except (AttributeError, ValueError, OSError):  # Windows has no pathconf
        return 260


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _read_holder(fd: int) -> dict | None:
    """The pid, host and start time written in a lock file; None if it is empty or unreadable."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: dict | None) -> str:
    if holder is None:
        return "a process that is just starting (its pid is not written yet)"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
