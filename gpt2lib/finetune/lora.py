# GENERATED FILE, edit the notebook instead.
# Source: notebooks/10_fine_tuning.ipynb. Regenerate with `make export`.

__all__ = ["LoRALinear", "LORA_TARGETS", "add_lora", "merge_lora"]


# %% notebooks/10_fine_tuning.ipynb, cell 47
import torch
from torch import nn

from gpt2lib.finetune.validation import check_lora_args, check_merge_args


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update: base(x) + (alpha / rank) * x A^T B^T."""

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0):
        super().__init__()
        self.base, self.rank, self.alpha, self.scale = base, rank, alpha, alpha / rank
        like_base = dict(device=base.weight.device, dtype=base.weight.dtype)
        self.A = nn.Parameter(torch.randn(rank, base.in_features, **like_base) / base.in_features**0.5)  # (r, in)
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, **like_base))  # (out, r): 0, the layer starts unchanged

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        return self.base(x) + self.scale * ((x @ self.A.T) @ self.B.T)  # (..., in) -> (..., r) -> (..., out)


# %% notebooks/10_fine_tuning.ipynb, cell 49
LORA_TARGETS = ("attn.qkv", "attn.out_proj", "mlp.fc", "mlp.proj")


def add_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, targets=LORA_TARGETS, train=()) -> nn.Module:
    """Freeze model and wrap the targets of each of its blocks in a LoRALinear; the modules in train stay trainable."""
    check_lora_args(model, rank, alpha, targets, train)  # gpt2lib/finetune/validation.py
    model.requires_grad_(False)
    for block in model.blocks:
        for target in targets:
            owner_name, name = target.rsplit(".", 1)
            owner = block.get_submodule(owner_name)
            setattr(owner, name, LoRALinear(getattr(owner, name), rank, alpha))
    for module in train:
        module.requires_grad_(True)
    return model


# %% notebooks/10_fine_tuning.ipynb, cell 57
@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear in model by its base layer with W + (alpha / rank) B A: the same function, plain
    layers (still frozen, as add_lora left them)."""
    check_merge_args(model)  # gpt2lib/finetune/validation.py
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            module.base.weight += module.scale * (module.B @ module.A)  # (out, r) @ (r, in) -> (out, in)
            owner_name, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(owner_name), attribute, module.base)
    return model
