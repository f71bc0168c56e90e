"""Reading Hugging Face GPT-2 checkpoints safely, written by hand (notebook 06 uses it).

Notebook 06 teaches the mapping from Hugging Face's names to ours. This module holds the
defensive part around it: which file formats are read and how, the different spellings of a
GPT-2 state dict, and which GPT-2 variants gpt2lib can compute.
"""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model. Nothing was loaded."""


def load_checkpoint_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weight file without executing code: .safetensors, or .bin/.pt with weights_only=True."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    if path.suffix in (".bin", ".pt", ".pth"):
        return torch.load(path, map_location="cpu", weights_only=True)
    raise ValueError(f"unsupported weight file {path.name!r}: use .safetensors, or .bin/.pt (loaded with weights_only=True)")


def normalize_hf_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Spell a GPT-2 checkpoint like GPT2LMHeadModel.state_dict(): 'transformer.' prefix, an lm_head, no buffers."""
    normalized = {}
    for name, tensor in state.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers of older Hugging Face checkpoints, not weights
        if not name.startswith(("transformer.", "lm_head.")):
            name = "transformer." + name
        normalized[name] = tensor
    if "lm_head.weight" not in normalized and "transformer.wte.weight" in normalized:
        normalized["lm_head.weight"] = normalized["transformer.wte.weight"]  # tied: stored once
    return normalized


def read_hf_state(source) -> dict[str, torch.Tensor]:
    """A normalized Hugging Face GPT-2 state dict from a transformers model, a state dict or a weight file path."""
    if isinstance(source, nn.Module):
        source = source.state_dict()
    elif isinstance(source, (str, Path)):
        source = load_checkpoint_file(source)
    elif not isinstance(source, Mapping):
        raise TypeError(
            "source must be a transformers GPT-2 model, a state dict (a mapping of names to tensors) "
            f"or the path of a weight file, got {type(source).__name__}"
        )
    return normalize_hf_state_dict(source)


def read_hf_config(hf_config) -> dict:
    """A Hugging Face GPT2Config (or its dict) as a plain dict, refused if gpt2lib does not compute that variant."""
    if isinstance(hf_config, Mapping):
        config = dict(hf_config)
    elif hasattr(hf_config, "to_dict"):
        config = hf_config.to_dict()
    else:
        raise TypeError(f"hf_config must be a transformers GPT2Config or a dict, got {type(hf_config).__name__}")
    emb_dim = config.get("n_embd")
    supported = {
        "activation_function": (config.get("activation_function", "gelu_new"), ("gelu_new", "gelu_pytorch_tanh")),
        "layer_norm_epsilon": (config.get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "n_inner": (config.get("n_inner"), (None, 4 * emb_dim if emb_dim else None)),
    }
    for key, (value, allowed) in supported.items():
        if value not in allowed:
            raise ValueError(f"unsupported GPT-2 variant: {key}={value!r} (gpt2lib supports {allowed})")
    return config
