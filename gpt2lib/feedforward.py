# GENERATED FILE, edit the notebook instead.
# Source: notebooks/04_the_mlp.ipynb. Regenerate with `make export`.

__all__ = ["gelu_exact", "gelu_tanh", "GELU", "FeedForward"]


# %% notebooks/04_the_mlp.ipynb, cell 3
import math

import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib.scaffold import GPTConfig


# %% notebooks/04_the_mlp.ipynb, cell 4
def gelu_exact(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x * Phi(x), with Phi the standard normal CDF written through erf."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's tanh approximation of GELU."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class GELU(nn.Module):
    """GELU activation; approximate="tanh" (GPT-2's choice) or "none" (exact)."""

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate=self.approximate)  # fused kernel; equals gelu_tanh / gelu_exact

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


# %% notebooks/04_the_mlp.ipynb, cell 10
class FeedForward(nn.Module):
    """Position-wise MLP: emb_dim -> 4 * emb_dim -> GELU -> emb_dim, applied to each token alone."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim)
        self.act = GELU(approximate="tanh")
        self.proj = nn.Linear(4 * cfg.emb_dim, cfg.emb_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        return self.proj(self.act(self.fc(x)))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)
