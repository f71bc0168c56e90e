"""Checks of user input, written by hand: no notebook teaches them, every module uses them.

Each check raises a clear error that names the argument, the value and what is allowed,
before any work is done, so that a refused call changes nothing.
"""

import math
import numbers

import torch
from torch import nn

CONFIG_SIZES = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers")
MIN_TEMPERATURE = 1e-3  # below this (except 0, greedy), logits / temperature can overflow


def is_int(value) -> bool:
    """A true integer: Python or NumPy ints, but not bools (True would silently mean 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_config(cfg) -> None:
    """Refuse anything but a GPTConfig whose sizes, dropout and q/k/v bias flag can be right."""
    if not all(hasattr(cfg, name) for name in CONFIG_SIZES + ("dropout", "qkv_bias")):
        raise TypeError(f"cfg must be a GPTConfig, got {type(cfg).__name__}")
    for name in CONFIG_SIZES:
        value = getattr(cfg, name)
        if not is_int(value) or value < 1:
            raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
    if not is_real(cfg.dropout) or not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"GPTConfig.dropout must be a number in [0, 1), got {cfg.dropout!r}")
    if not isinstance(cfg.qkv_bias, bool):
        raise ValueError(f"GPTConfig.qkv_bias must be True or False, got {cfg.qkv_bias!r}")


def check_token_ids(idx, cfg, name: str = "token ids", within_context: bool = True) -> None:
    """Refuse anything but a non-empty (batch, seq_len) integer tensor of ids in 0..vocab_size-1."""
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, seq_len), got {type(idx).__name__}")
    if idx.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{name} must be integers of dtype torch.long (or torch.int32), got dtype {idx.dtype}; "
                        "use ids.long()")
    if idx.dim() != 2:
        raise ValueError(
            f"{name} must have shape (batch, seq_len), got shape {tuple(idx.shape)}; "
            "for a single sequence use idx.unsqueeze(0)"
        )
    if idx.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(idx.shape)}")
    if within_context and idx.shape[1] > cfg.context_length:
        raise ValueError(f"sequence of {idx.shape[1]} tokens is longer than the context length ({cfg.context_length})")
    low, high = idx.min().item(), idx.max().item()
    if low < 0 or high >= cfg.vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"token id {bad} is out of range for vocab_size {cfg.vocab_size} (valid: 0..{cfg.vocab_size - 1})")


def check_flag(value, name: str) -> None:
    """Refuse anything but True or False for an on/off option."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_layer_norm_args(emb_dim, eps) -> None:
    """Refuse a LayerNorm width or epsilon that cannot be right."""
    if not is_int(emb_dim) or emb_dim < 1:
        raise ValueError(f"emb_dim must be a positive integer, got {emb_dim!r}")
    if not is_real(eps) or not 0 <= eps < math.inf:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


def check_hidden_states(x, emb_dim: int, context_length: int) -> None:
    """Refuse a layer input that is not a (batch, seq_len, emb_dim) tensor within the context length."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor of shape (batch, seq_len, {emb_dim}), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != emb_dim:
        raise ValueError(f"input must have shape (batch, seq_len, {emb_dim}), got {tuple(x.shape)}")
    if x.shape[1] > context_length:
        raise ValueError(f"sequence of {x.shape[1]} tokens is longer than the context length ({context_length})")


def check_sampling_options(temperature, top_k, top_p) -> None:
    """Refuse sampling options that cannot be right (temperature 0 means greedy)."""
    if not is_real(temperature) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if 0 < temperature < MIN_TEMPERATURE:
        raise ValueError(f"temperature {temperature!r} is too small: use 0 for greedy decoding, or at least {MIN_TEMPERATURE}")
    if top_k is not None and (not is_int(top_k) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (not is_real(top_p) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


def check_logits(logits) -> None:
    """Refuse next-token logits that are not a finite (batch, vocab_size) float tensor."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of shape (batch, vocab_size), got {type(logits).__name__}")
    if logits.dim() != 2 or 0 in logits.shape:
        raise ValueError(f"logits must have shape (batch, vocab_size), got {tuple(logits.shape)}; "
                         "for a model's output (B, T, vocab_size) pass logits[:, -1, :]")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("the logits hold NaN or infinite values: the model's weights or input are broken "
                         "(check the weights with torch.isfinite)")


def check_scaled_logits(logits, temperature) -> None:
    """Refuse logits that overflowed when divided by the temperature."""
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(f"temperature {temperature!r} is too small for these logits: logits / temperature overflow; "
                         "use a larger temperature, or 0 for greedy decoding")


def check_generator(generator, device: torch.device) -> None:
    """Refuse a random generator that is not a torch.Generator on the device where sampling runs."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(f"generator is on {generator.device}, but sampling runs on {device}: "
                         f"use torch.Generator(device={str(device)!r})")


def check_generation_options(max_new_tokens, temperature, top_k, top_p, eos_id, vocab_size: int) -> None:
    """Refuse generate() options that cannot be right."""
    if not is_int(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    check_sampling_options(temperature, top_k, top_p)
    if eos_id is not None and (not is_int(eos_id) or not 0 <= eos_id < vocab_size):
        raise ValueError(f"eos_id must be None or a token id in 0..{vocab_size - 1}, got {eos_id!r}")


def check_prompt(idx, cfg) -> None:
    """Like check_token_ids, but a prompt may be longer than the context: generation reads its last window."""
    check_token_ids(idx, cfg, "prompt", within_context=False)


def check_same_device(model, idx) -> None:
    """Refuse ids on another device than the model's weights."""
    weights_device = model.tok_emb.weight.device
    if idx.device != weights_device:
        raise ValueError(f"token ids are on {idx.device} but the model is on {weights_device}: use idx.to({str(weights_device)!r})")


def check_cache_size(batch_size, max_len, cfg) -> None:
    """Refuse KVCache sizes that cannot be right."""
    check_config(cfg)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not is_int(max_len) or not 1 <= max_len <= cfg.context_length:
        raise ValueError(f"max_len must be an integer in 1..{cfg.context_length} (the context length), got {max_len!r}")


def check_cache(cache, model, idx) -> None:
    """Refuse a KV cache that does not belong to this model and this batch of ids, or a model in training mode."""
    check_gpt_model(model)
    if model.training:
        raise ValueError("the cached forward pass has no dropout: call model.eval() first (generate() does this)")
    layers = getattr(cache, "layers", None)  # duck-typed, so that notebook 07's own KVCache passes too
    if not layers or not all(isinstance(getattr(layer, "keys", None), torch.Tensor) for layer in layers):
        raise TypeError(f"cache must be a gpt2lib KVCache, got {type(cache).__name__}")
    cfg, weights, keys = model.cfg, model.tok_emb.weight, cache.layers[0].keys
    names = ("layers", "batch size", "heads", "head size", "dtype", "device")
    have = (len(cache.layers), keys.shape[0], keys.shape[1], keys.shape[3], keys.dtype, keys.device)
    want = (cfg.n_layers, idx.shape[0], cfg.n_heads, cfg.emb_dim // cfg.n_heads, weights.dtype, weights.device)
    wrong = [f"{name} {got} (the model and input need {needed})" for name, got, needed in zip(names, have, want) if got != needed]
    if wrong:
        raise ValueError("the KV cache does not fit this model and input: it has " + ", ".join(wrong))


def check_gpt_model(model) -> None:
    """Refuse a model that is not a complete GPT-2 (a Hugging Face model, a scaffold with placeholders, ...)."""
    parts = ("cfg", "tok_emb", "pos_emb", "blocks", "final_norm", "out_head")  # duck-typed: notebooks define their own
    if not isinstance(model, nn.Module) or not all(hasattr(model, part) for part in parts):
        raise TypeError(f"model must be a gpt2lib GPTModel, got {type(model).__name__}")
    if any(isinstance(module, nn.Identity) for module in model.modules()):
        raise TypeError(f"model must be a gpt2lib GPTModel; this {type(model).__name__} still has nn.Identity placeholders")


def check_eval_mode(model) -> None:
    """Refuse a model in training mode where dropout would make the output random by accident."""
    if model.training:
        raise ValueError("the model is in training mode (dropout on): call model.eval() first")


def check_generate_call(model, idx, max_new_tokens, temperature, top_k, top_p, eos_id, generator=None) -> None:
    """Refuse a generate() call that cannot be right, before the model is touched."""
    check_gpt_model(model)
    check_prompt(idx, model.cfg)
    check_generation_options(max_new_tokens, temperature, top_k, top_p, eos_id, model.cfg.vocab_size)
    check_same_device(model, idx)
    check_generator(generator, idx.device)
