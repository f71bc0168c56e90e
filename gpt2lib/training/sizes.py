"""How much disk and memory a training run needs, estimated from its configs before anything is allocated.

Written by hand for the training command (gpt2lib/training/cli.py), which refuses, before it reads any data,
a run that cannot fit: a --batch-size of 10**12, an --emb-dim of a million. The estimates are simple sums of
float32 tensors, meant to catch the impossible, not to predict a run's peak to the megabyte.
"""

import os

import torch

FLOAT32 = 4  # bytes
INT64 = 8  # bytes: a token id in a batch
MEGABYTE = 2**20
ACTIVATIONS_PER_LAYER = 16  # float32 values a block keeps per token and per unit of width for backward (about)


def parameter_count(cfg, tie_weights: bool = True) -> int:
    """GPTModel(cfg)'s parameters, counted from the sizes (tests compare it with the model itself)."""
    d, vocab = cfg.emb_dim, cfg.vocab_size
    embeddings = vocab * d + cfg.context_length * d
    attention = 3 * d * d + (3 * d if cfg.qkv_bias else 0) + d * d + d  # q, k, v and the output projection
    mlp = d * 4 * d + 4 * d + 4 * d * d + d
    block = attention + mlp + 2 * 2 * d  # and two LayerNorms (scale and shift)
    head = 0 if tie_weights else vocab * d
    return embeddings + cfg.n_layers * block + 2 * d + head


def run_files_bytes(cfg) -> int:
    """The disk space a run's files take at their largest: the checkpoint (weights and AdamW's two moments, 3x the
    float32 weights, plus the random states and history) twice, since a save writes the new one beside the old one
    before it replaces it, the Hugging Face export (the weights again), and a plot."""
    weights = parameter_count(cfg) * FLOAT32
    return 2 * 3 * weights + weights + MEGABYTE


def training_memory(cfg, batch_size: int, grad_accum: int = 1) -> dict[str, int]:
    """Bytes a training step needs, at least about, in three parts: the model's state (weights, gradients, AdamW's
    two moments), the activations of one micro-batch (the blocks', and the logits with their gradient), and the
    step's whole batch of token ids, inputs and targets (int64), drawn at once."""
    tokens = batch_size * cfg.context_length
    activations = tokens * (cfg.n_layers * ACTIVATIONS_PER_LAYER * cfg.emb_dim + 2 * cfg.vocab_size) * FLOAT32
    batch = 2 * grad_accum * tokens * INT64
    return {"model": 4 * parameter_count(cfg) * FLOAT32, "activations": activations, "batch": batch}


def device_memory(device) -> int | None:
    """The memory of device in bytes: a CUDA GPU's own, else this machine's RAM; None where it is not known."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device.index or 0).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None


def describe_bytes(n: int) -> str:
    """n bytes as a short text: 850 MB, 12.3 GB."""
    if n < 1024 * MEGABYTE:
        return f"{n / MEGABYTE:,.0f} MB" if n >= MEGABYTE else f"{n / MEGABYTE:.1f} MB"
    return f"{n / 2**30:,.1f} GB"
