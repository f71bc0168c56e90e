# GENERATED FILE, edit the notebook instead.
# Source: notebooks/03_layer_normalization.ipynb. Regenerate with `make export`.

__all__ = ["layer_norm_reference", "LayerNorm"]


# %% notebooks/03_layer_normalization.ipynb, cell 5
import torch
import torch.nn.functional as F
from torch import nn


# %% notebooks/03_layer_normalization.ipynb, cell 6
def layer_norm_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm written out: normalize the last dimension to mean 0, variance 1, then scale and shift."""
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1), biased variance
    x_norm = (x - mean) / torch.sqrt(var + eps)
    return weight * x_norm + bias


class LayerNorm(nn.Module):
    """Layer normalization over the last dimension, with a learned scale and shift."""

    def __init__(self, emb_dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))  # scale (gamma)
        self.bias = nn.Parameter(torch.zeros(emb_dim))  # shift (beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., emb_dim) -> (..., emb_dim)
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)  # = layer_norm_reference

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"
