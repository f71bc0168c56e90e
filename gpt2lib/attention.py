# GENERATED FILE, edit the notebook instead.
# Source: notebooks/02_causal_self_attention.ipynb. Regenerate with `make export`.

__all__ = ["reference_attention", "CausalSelfAttention"]


# %% notebooks/02_causal_self_attention.ipynb, cell 11
import math

import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib.scaffold import GPTConfig


# %% notebooks/02_causal_self_attention.ipynb, cell 12
def reference_attention(q, k, v, dropout_p: float = 0.0):
    """Causal scaled dot-product attention, written out step by step.

    q, k, v: (..., T, head_dim). Returns the output (..., T, head_dim) and the weights (..., T, T).
    """
    T, head_dim = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)  # (..., T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=q.device), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))  # a query never sees later keys
    weights = torch.softmax(scores, dim=-1)  # (..., T, T), rows sum to 1
    weights = F.dropout(weights, p=dropout_p, training=dropout_p > 0)
    return weights @ v, weights  # (..., T, head_dim), (..., T, T)


# %% notebooks/02_causal_self_attention.ipynb, cell 21
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: (B, T, emb_dim) -> (B, T, emb_dim)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.emb_dim // cfg.n_heads
        self.dropout = cfg.dropout  # on the attention weights, during training only
        self.qkv = nn.Linear(cfg.emb_dim, 3 * cfg.emb_dim, bias=cfg.qkv_bias)  # fused q, k, v
        self.out_proj = nn.Linear(cfg.emb_dim, cfg.emb_dim)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, C = t.shape
        return t.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)

    def merge_heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).flatten(2)  # (B, nh, T, hd) -> (B, T, nh, hd) -> (B, T, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # (B, T, 3C) -> 3 x (B, T, C)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)  # (B, nh, T, hd)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)  # (B, nh, T, hd)
        return self.out_proj(self.merge_heads(y))  # (B, T, C)
