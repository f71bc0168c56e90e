# GENERATED FILE, edit the notebook instead.
# Source: notebooks/08_pretraining.ipynb. Regenerate with `make export`.

__all__ = ["cross_entropy_loss"]


# %% notebooks/08_pretraining.ipynb, cell 18
import torch
import torch.nn.functional as F

from gpt2lib.training.validation import check_loss_args


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean negative log-likelihood of targets (B, T) under logits (B, T, vocab_size)."""
    check_loss_args(logits, targets)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B*T, vocab_size) against (B*T,)
