# GENERATED FILE, edit the notebook instead.
# Source: notebooks/09_training_for_real.ipynb. Regenerate with `make export`.

__all__ = ["atomic_write", "rng_state", "set_rng_state", "CHECKPOINT_FORMAT", "load_checkpoint"]


# %% notebooks/09_training_for_real.ipynb, cell 36
import os
import tempfile
from pathlib import Path

import torch

from gpt2lib.training.run_folder import check_write_error, file_mode  # hand-written helpers, see below
from gpt2lib.training.validation import check_checkpoint_contents, check_checkpoint_file, checkpoint_read_errors


# %% notebooks/09_training_for_real.ipynb, cell 37
def atomic_write(path, write) -> None:
    """Create or replace the file at path with what write(file) writes: after a crash, the old file or the new one.

    The data goes to a temporary file in the same directory, is flushed and fsynced to the disk, and only then
    replaces path, with os.replace: an atomic rename on the same file system. A failed write (a full disk) raises
    one clear OSError that names path and says the previous file is intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp_name, file_mode())  # mkstemp made the file private (0600): give it the user's umask instead
        os.replace(tmp_name, path)
    except BaseException as error:
        Path(tmp_name).unlink(missing_ok=True)  # never leave a half-written file behind
        check_write_error(path, error)  # an OSError (a full disk, even inside torch.save's error): one clear message
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# %% notebooks/09_training_for_real.ipynb, cell 38
def rng_state() -> dict:
    """torch's global random states (dropout draws from them): the CPU's, and every CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random states that rng_state returned (the CUDA ones where there is CUDA)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# %% notebooks/09_training_for_real.ipynb, cell 40
CHECKPOINT_FORMAT = "gpt2lib-training-checkpoint-v2"


def load_checkpoint(path) -> dict:
    """A training checkpoint's contents, read with weights_only=True: tensors and plain values, never code."""
    path = Path(path)
    check_checkpoint_file(path)  # a file, a zip archive as torch.save writes (gpt2lib/training/validation.py)
    with checkpoint_read_errors(path):  # gpt2lib's own message for a file that torch refuses: one holding code
        state = torch.load(path, map_location="cpu", weights_only=True)
    check_checkpoint_contents(state, path, CHECKPOINT_FORMAT)  # gpt2lib/training/validation.py
    return state
