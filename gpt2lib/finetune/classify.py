# GENERATED FILE, edit the notebook instead.
# Source: notebooks/10_fine_tuning.ipynb. Regenerate with `make export`.

__all__ = ["hidden_states", "pad_right", "GPTClassifier", "train_classifier"]


# %% notebooks/10_fine_tuning.ipynb, cell 18
import torch
from torch import nn
import torch.nn.functional as F

from gpt2lib.finetune.validation import (check_classifier_args, check_hidden_states_args, check_lengths, check_rows,
                                         check_train_classifier_args)


def hidden_states(model: nn.Module, idx: torch.Tensor) -> torch.Tensor:
    """The model's final-normed vectors, without the output head: ids (B, T) -> (B, T, C)."""
    check_hidden_states_args(model, idx)  # gpt2lib/finetune/validation.py: GPTModel.forward's cheap guard
    positions = torch.arange(idx.shape[1], device=idx.device)  # 0, 1, ..., T-1
    x = model.drop(model.tok_emb(idx) + model.pos_emb(positions))  # (B, T, C)
    for block in model.blocks:
        x = block(x)
    return model.final_norm(x)  # (B, T, C)


# %% notebooks/10_fine_tuning.ipynb, cell 19
def pad_right(rows: list[list[int]], pad_id: int = 50256) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists of different lengths -> ids (B, T) padded on the right with pad_id, and lengths (B,)."""
    check_rows(rows, pad_id)  # gpt2lib/finetune/validation.py
    lengths = torch.tensor([len(row) for row in rows])  # (B,)
    idx = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long)  # (B, T)
    for i, row in enumerate(rows):
        idx[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return idx, lengths


# %% notebooks/10_fine_tuning.ipynb, cell 20
class GPTClassifier(nn.Module):
    """A pretrained GPT body with a new linear head on each row's last real token: (B, T) -> (B, n_classes)."""

    def __init__(self, body: nn.Module, n_classes: int):
        super().__init__()
        check_classifier_args(body, n_classes)  # gpt2lib/finetune/validation.py
        self.body = body
        self.head = nn.Linear(body.cfg.emb_dim, n_classes)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        check_lengths(lengths, idx)  # 1 <= lengths <= T: a cheap guard, as GPTModel.forward keeps one
        h = hidden_states(self.body, idx)  # (B, T, C)
        last = h[torch.arange(idx.shape[0], device=idx.device), lengths - 1]  # (B, C): row i at lengths[i] - 1
        return self.head(last)  # (B, n_classes)


# %% notebooks/10_fine_tuning.ipynb, cell 26
def train_classifier(classifier: nn.Module, batches, steps: int, lr: float = 5e-4) -> list[float]:
    """Train classifier with AdamW for steps steps on batches(step) -> (idx, lengths, labels); the losses."""
    check_train_classifier_args(classifier, steps, lr)  # gpt2lib/finetune/validation.py
    params = [p for p in classifier.parameters() if p.requires_grad]  # LoRA (part 4) freezes the rest
    optimizer, losses = torch.optim.AdamW(params, lr=lr, weight_decay=0.0), []
    classifier.train()
    for step in range(steps):
        idx, lengths, labels = batches(step)
        loss = F.cross_entropy(classifier(idx, lengths), labels)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
    classifier.eval()
    return losses
