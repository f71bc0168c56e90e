# GENERATED FILE, edit the notebook instead.
# Source: notebooks/09_training_for_real.ipynb. Regenerate with `make export`.

__all__ = ["chunked_cross_entropy"]


# %% notebooks/09_training_for_real.ipynb, cell 11
import torch

from gpt2lib.training.validation import check_loss_args, check_positive_int


# %% notebooks/09_training_for_real.ipynb, cell 12
class _ChunkedCrossEntropy(torch.autograd.Function):
    """F.cross_entropy(logits, targets) for logits (N, vocab_size), computed chunk_rows rows at a time in float32.

    The softmax of a few rows fits in the CPU's cache; the full (N, vocab_size) float32 softmax never exists."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int) -> torch.Tensor:
        dtype = torch.promote_types(logits.dtype, torch.float32)  # float32, or float64 for float64 logits
        lse = torch.empty(len(logits), dtype=dtype, device=logits.device)  # (N,): log of each row's softmax sum
        for start in range(0, len(logits), chunk_rows):
            lse[start:start + chunk_rows] = torch.logsumexp(logits[start:start + chunk_rows].to(dtype), dim=-1)
        target_logits = logits.gather(1, targets[:, None]).squeeze(1).to(dtype)  # (N,)
        ctx.save_for_backward(logits, targets, lse)
        ctx.chunk_rows = chunk_rows
        return (lse - target_logits).mean()  # -log softmax(logits)[target], averaged over the rows

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, targets, lse = ctx.saved_tensors
        grad_logits = torch.empty_like(logits)
        for start in range(0, len(logits), ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            probs = torch.exp(logits[rows].to(lse.dtype) - lse[rows, None])  # (chunk, vocab_size): the softmax
            probs[torch.arange(len(probs), device=probs.device), targets[rows]] -= 1.0  # minus the one-hot target
            grad_logits[rows] = probs * (grad / len(logits))  # d(mean loss) / d(logits)
        return grad_logits, None, None


# %% notebooks/09_training_for_real.ipynb, cell 13
def chunked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int = 32) -> torch.Tensor:
    """cross_entropy_loss(logits, targets), computed in chunks of rows: the same value, less memory traffic."""
    check_loss_args(logits, targets)  # gpt2lib/training/validation.py
    check_positive_int(chunk_rows, "chunk_rows")
    return _ChunkedCrossEntropy.apply(logits.flatten(0, 1), targets.flatten(), chunk_rows)  # (B*T, vocab_size), (B*T,)
