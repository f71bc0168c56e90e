# GENERATED FILE, edit the notebook instead.
# Source: notebooks/08_pretraining.ipynb. Regenerate with `make export`.

__all__ = ["param_groups", "make_optimizer", "lr_at"]


# %% notebooks/08_pretraining.ipynb, cell 29
import math

import torch
from torch import nn

from gpt2lib.training.validation import check_schedule_args


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: matrices (2 or more dimensions) decay, vectors (biases, norm scales and shifts) do not."""
    decay, no_decay = [], []
    for param in model.parameters():  # a tied weight is listed once
        (decay if param.dim() >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW with weight decay on the weight matrices only."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas)


# %% notebooks/08_pretraining.ipynb, cell 32
def lr_at(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate of a step: a linear warmup to max_lr, then a cosine decay to min_lr at total_steps."""
    check_schedule_args(step, max_lr, min_lr, warmup_steps, total_steps)
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))  # 0 -> 1
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
