# GENERATED FILE, edit the notebook instead.
# Source: notebooks/08_pretraining.ipynb. Regenerate with `make export`.

__all__ = ["load_corpus", "tokenize", "train_val_split", "windows_at", "random_windows"]


# %% notebooks/08_pretraining.ipynb, cell 3
from importlib import resources

import torch

from gpt2lib.tokenizer import get_tokenizer
from gpt2lib.training.validation import check_sampling_args, check_text, check_val_fraction, check_windows_args


# %% notebooks/08_pretraining.ipynb, cell 6
def load_corpus(name: str = "tinyshakespeare.txt") -> str:
    """The text of a corpus shipped in gpt2lib/data: tiny Shakespeare by default."""
    return resources.files("gpt2lib").joinpath("data", name).read_text(encoding="utf-8")


def tokenize(text: str) -> torch.Tensor:
    """All of text's GPT-2 token ids, in one long 1-D tensor."""
    check_text(text)  # the checks live in gpt2lib/training/validation.py
    return torch.tensor(get_tokenizer().encode(text), dtype=torch.long)


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first (1 - val_fraction) of the tokens for training, the rest for validation."""
    check_val_fraction(ids, val_fraction)
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


# %% notebooks/08_pretraining.ipynb, cell 15
def windows_at(data: torch.Tensor, starts: torch.Tensor, context_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (B, T) for windows of data beginning at starts (B,): targets are shifted by one token."""
    check_windows_args(data, starts, context_length)
    positions = starts[:, None] + torch.arange(context_length)  # (B, 1) + (T,) -> (B, T)
    return data[positions], data[positions + 1]  # (B, T) each


def random_windows(data: torch.Tensor, n_windows: int, context_length: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n_windows windows at random positions drawn with generator -> inputs, targets (n_windows, T)."""
    check_sampling_args(data, n_windows, context_length, generator)
    starts = torch.randint(len(data) - context_length, (n_windows,), generator=generator)  # (n_windows,)
    return windows_at(data, starts, context_length)
