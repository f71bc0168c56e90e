# GENERATED FILE, edit the notebook instead.
# Source: notebooks/09_training_for_real.ipynb. Regenerate with `make export`.

__all__ = ["step_generator", "batches_for_step"]


# %% notebooks/09_training_for_real.ipynb, cell 3
import hashlib

import torch

from gpt2lib.training.data import random_windows
from gpt2lib.training.validation import check_seed_and_step


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator that draws the batch of one training step, from the run's seed and the step."""
    check_seed_and_step(seed, step)
    digest = hashlib.sha256(f"{seed}/{step}".encode()).digest()  # (seed, step) mixed into 32 well-shuffled bits,
    return torch.Generator().manual_seed(int.from_bytes(digest[:4], "little"))  # all that torch's CPU generator uses


def batches_for_step(data: torch.Tensor, step: int, seed: int, batch_size: int, context_length: int,
                     grad_accum: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The grad_accum micro-batches (inputs, targets), each (batch_size, T), of one training step."""
    inputs, targets = random_windows(data, batch_size * grad_accum, context_length, step_generator(seed, step))
    return list(zip(inputs.split(batch_size), targets.split(batch_size)))
