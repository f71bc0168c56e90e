# GENERATED FILE, edit the notebook instead.
# Source: notebooks/01_gpt2_scaffold.ipynb. Regenerate with `make export`.

__all__ = [
    "GPTConfig", "GPT2_PRESETS", "ScaffoldBlock", "GPTScaffold", "count_parameters", "find_placeholders",
    "placeholder_report",
]


# %% notebooks/01_gpt2_scaffold.ipynb, cell 6
import re
from collections import Counter
from dataclasses import dataclass, replace

import torch
from torch import nn

from gpt2lib.validation import check_config, check_module, check_preset


# %% notebooks/01_gpt2_scaffold.ipynb, cell 7
@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT-2 model. The defaults are GPT-2 small (124M)."""

    vocab_size: int = 50257  # tokens in the vocabulary
    context_length: int = 1024  # longest input, in tokens
    emb_dim: int = 768  # width of each token's vector
    n_heads: int = 12  # attention heads per block
    n_layers: int = 12  # transformer blocks
    dropout: float = 0.1  # dropout probability during training
    qkv_bias: bool = False  # bias in the query/key/value projections (True for OpenAI's weights)

    def __post_init__(self):
        check_config(self)  # a clear error for impossible sizes (gpt2lib/validation.py)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "GPTConfig":
        """The configuration of one of OpenAI's four GPT-2 sizes, e.g. "gpt2-medium"."""
        check_preset(name, overrides, GPT2_PRESETS)  # a known name, known fields (gpt2lib/validation.py)
        return replace(GPT2_PRESETS[name], **overrides)


GPT2_PRESETS = {
    "gpt2": GPTConfig(emb_dim=768, n_layers=12, n_heads=12),  # 124M parameters
    "gpt2-medium": GPTConfig(emb_dim=1024, n_layers=24, n_heads=16),  # 355M
    "gpt2-large": GPTConfig(emb_dim=1280, n_layers=36, n_heads=20),  # 774M
    "gpt2-xl": GPTConfig(emb_dim=1600, n_layers=48, n_heads=25),  # 1558M
}


# %% notebooks/01_gpt2_scaffold.ipynb, cell 14
class ScaffoldBlock(nn.Module):
    """A transformer block whose four parts are still nn.Identity placeholders."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = nn.Identity()  # layer norm, notebook 05
        self.attn = nn.Identity()  # causal self-attention, notebook 02
        self.norm2 = nn.Identity()  # layer norm, notebook 05
        self.mlp = nn.Identity()  # feed-forward network, notebook 04

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        x = self.attn(self.norm1(x))
        return self.mlp(self.norm2(x))


# %% notebooks/01_gpt2_scaffold.ipynb, cell 16
class GPTScaffold(nn.Module):
    """GPT-2's outer structure: embeddings -> dropout -> blocks -> final norm -> output head."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(self.make_block(cfg) for _ in range(cfg.n_layers))
        self.final_norm = self.make_final_norm(cfg)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.vocab_size, bias=False)

    def make_block(self, cfg: GPTConfig) -> nn.Module:
        return ScaffoldBlock(cfg)

    def make_final_norm(self, cfg: GPTConfig) -> nn.Module:
        return nn.Identity()  # layer norm, notebook 03

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Map token ids (B, T) to next-token logits (B, T, vocab_size)."""
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))  # (B, T, C) + (T, C) -> (B, T, C)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.out_head(self.final_norm(x))  # (B, T, vocab_size)


# %% notebooks/01_gpt2_scaffold.ipynb, cell 21
def count_parameters(model: nn.Module) -> int:
    """Number of numbers in a model's parameters (a shared tensor counts once, a frozen one counts too)."""
    check_module(model)  # gpt2lib/validation.py
    return sum(p.numel() for p in model.parameters())


# %% notebooks/01_gpt2_scaffold.ipynb, cell 24
def find_placeholders(model: nn.Module) -> list[str]:
    """Names of the submodules that are still nn.Identity placeholders."""
    check_module(model)  # gpt2lib/validation.py
    return [name for name, module in model.named_modules() if isinstance(module, nn.Identity)]


def placeholder_report(model: nn.Module) -> None:
    """Print how many placeholders are left, grouped by slot (blocks.*.attn, final_norm, ...)."""
    names = find_placeholders(model)
    print(f"placeholders left: {len(names)}")
    slots = Counter(re.sub(r"\.\d+\.", ".*.", name) for name in names)
    for slot, count in slots.items():
        print(f"  {slot:<16} x{count}")
