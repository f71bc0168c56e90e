"""Checks of user input at the library's doors, written by hand: no notebook teaches them.

The doors are where a user's data enters: GPTConfig, GPTModel.forward (one cheap guard),
generate/generate_simple and pick_next_token, the KV cache, the weight loaders (gpt2lib.hf) and
the tokenizers (notebook 00's BPETokenizer and train_bpe call the checks at the end of this file); the trainer and the training command check theirs in gpt2lib/training/validation.py.
The layers themselves carry no checks, so the code the notebooks teach is the math.

Each check raises a clear error that names the argument, the value and what is allowed,
before any work is done, so that a refused call changes nothing. Types are checked by what an
object has, not by its class, so that the classes a notebook defines pass as well as gpt2lib's.
"""

import dataclasses
import fractions
import json
import math
import numbers
from collections.abc import Collection, Mapping
from pathlib import Path

import regex
import torch
from torch import nn

CONFIG_SIZES = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers")
CONFIG_FIELDS = CONFIG_SIZES + ("dropout", "qkv_bias")
MIN_TEMPERATURE = 1e-3  # below this (except 0, greedy), logits / temperature can overflow
GPT_MODEL_PARTS = ("cfg", "tok_emb", "pos_emb", "blocks", "final_norm", "out_head")


def is_int(value) -> bool:
    """A true integer: Python or NumPy ints, but not bools (True would silently mean 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A real number that tensors can be divided by: ints and floats (NumPy's too), not bools or fractions."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, fractions.Fraction))


def as_python_numbers(config, names) -> None:
    """Turn the NumPy (or other non-builtin) numbers in a checked dataclass's fields into Python ints and floats.

    A checkpoint stores a run's configurations, and its safe loader (torch.load with weights_only=True) reads
    plain Python values only: a NumPy scalar such as np.float64(1e-3) would make the run impossible to resume.
    Called at the end of a config's check, from its __post_init__, so frozen dataclasses are set directly."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return
    for name in names:
        value = getattr(config, name)
        if is_int(value) and type(value) is not int:
            object.__setattr__(config, name, int(value))
        elif is_real(value) and not is_int(value) and type(value) is not float:
            object.__setattr__(config, name, float(value))
        elif isinstance(value, str) and type(value) is not str:  # np.str_("float32")
            object.__setattr__(config, name, str(value))


# --- configuration and modules -------------------------------------------------------------------

def check_config(cfg) -> None:
    """Refuse anything but a GPTConfig whose sizes, dropout and q/k/v bias flag can be right."""
    if not all(hasattr(cfg, name) for name in CONFIG_FIELDS):
        raise TypeError(f"cfg must be a GPTConfig, got {type(cfg).__name__}")
    for name in CONFIG_SIZES:
        value = getattr(cfg, name)
        if not is_int(value) or value < 1:
            raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
    if cfg.emb_dim % cfg.n_heads != 0:
        raise ValueError(f"GPTConfig.emb_dim ({cfg.emb_dim}) must be divisible by n_heads ({cfg.n_heads}) "
                         "so that every head gets the same width")
    if not is_real(cfg.dropout) or not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"GPTConfig.dropout must be a number in [0, 1), got {cfg.dropout!r}")
    if not isinstance(cfg.qkv_bias, bool):
        raise ValueError(f"GPTConfig.qkv_bias must be True or False, got {cfg.qkv_bias!r}")
    as_python_numbers(cfg, CONFIG_SIZES + ("dropout",))  # np.int64(2) -> 2: a checkpoint can store it


def check_preset(name, overrides: dict, presets: dict) -> None:
    """Refuse an unknown preset name or an override that is not a GPTConfig field."""
    if not isinstance(name, str) or name not in presets:
        raise ValueError(f"unknown GPT-2 preset {name!r}; choose one of {sorted(presets)}")
    unknown = sorted(set(overrides) - set(CONFIG_FIELDS))
    if unknown:
        raise ValueError(f"unknown GPTConfig fields {unknown}; the fields are {list(CONFIG_FIELDS)}")


def check_module(model) -> None:
    """Refuse anything but a torch module (an instance, not the class)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module instance, got {type(model).__name__}")


def check_flag(value, name: str) -> None:
    """Refuse anything but True or False for an on/off option."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_device(device, name: str = "device") -> torch.device:
    """The torch.device for device, refused if it cannot hold weights here (unknown, meta, a type gpt2lib does not
    support, a device number that does not exist, CUDA without a GPU)."""
    if device is None:
        raise ValueError(f"{name} must be a device such as 'cpu' or 'cuda', got None")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{name} must be a device such as 'cpu' or 'cuda', got {device!r}") from error
    if device.type == "meta":
        raise ValueError(f"{name} 'meta' holds shapes but no values; choose a device such as 'cpu' or 'cuda'")
    if device.type not in ("cpu", "cuda", "mps"):  # torch knows more (xla, xpu, hpu...); gpt2lib runs on these three
        raise ValueError(f"{name} {str(device)!r} is not a device gpt2lib supports: use 'cpu', 'cuda' or 'cuda:N' "
                         "(an NVIDIA GPU), or 'mps' (Apple's GPU)")
    if device.type in ("cpu", "mps") and device.index not in (None, 0):
        raise ValueError(f"{name} {str(device)!r} does not exist: there is one {device.type} device, "
                         f"{device.type!r} (or '{device.type}:0')")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {str(device)!r} asks for CUDA, but no CUDA GPU is available here; use 'cpu'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"{name} {str(device)!r} asks for GPU number {device.index}, but there are {count} CUDA "
                         f"GPU(s) here, cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} 'mps' asks for Apple's GPU, which is not available here; use 'cpu'")
    return device


def check_finite_weights(model, what: str) -> None:
    """Refuse to write what (a checkpoint, an export) from a model with meta or non-finite weights, naming the first.

    One pass over the state dict (what is written), with one host-device synchronization: it runs once per save."""
    check_gpt_model(model)
    tensors = [(name, tensor) for name, tensor in model.state_dict().items() if tensor.is_floating_point()]  # written
    meta = [name for name, tensor in tensors if tensor.is_meta]
    if meta:
        raise ValueError(f"cannot write {what}: weight {meta[0]} is on the meta device (shapes, no values); "
                         "load or initialize the weights first")
    if not tensors:
        return
    flags = [torch.isfinite(tensor).all() for _, tensor in tensors]  # on the weights' device: no copy, no wait
    finite = torch.stack([flag.to(flags[0].device) for flag in flags]).tolist()  # the one synchronization
    bad = [name for (name, _), ok in zip(tensors, finite) if not ok]
    if bad:
        raise ValueError(f"cannot write {what}: {len(bad)} weight tensor(s) hold NaN or infinite values, "
                         f"first {bad[0]}; nothing was written")


def check_plain_layers(model, what: str) -> None:
    """Refuse to write what (Hugging Face's format) from a model whose linear layers are wrapped (e.g. LoRA adapters):
    that format has a place for GPT-2's own weights only."""
    check_gpt_model(model)
    wrapped = [name for name, module in model.named_modules()
               if name.endswith(("attn.qkv", "attn.out_proj", "mlp.fc", "mlp.proj", "out_head"))
               and not isinstance(module, nn.Linear)]
    if wrapped:
        raise ValueError(f"cannot write {what}: layer {wrapped[0]} is a {type(model.get_submodule(wrapped[0])).__name__}, "
                         f"not an nn.Linear ({len(wrapped)} such layers). Hugging Face's GPT-2 has no place for adapters: "
                         "merge them into the weights first (gpt2lib.finetune.merge_lora for LoRA)")


def check_gpt_model(model) -> None:
    """Refuse a model that is not a complete GPT-2 (a Hugging Face model, a scaffold with placeholders, ...)."""
    if not isinstance(model, nn.Module) or not all(hasattr(model, part) for part in GPT_MODEL_PARTS):
        raise TypeError(f"model must be a gpt2lib GPTModel, got {type(model).__name__}")
    if not all(is_real_block(block) for block in model.blocks) or isinstance(model.final_norm, nn.Identity):
        raise TypeError(f"model must be a gpt2lib GPTModel; this {type(model).__name__} still has nn.Identity placeholders")


def is_real_block(block) -> bool:
    """Whether a block has its real parts (norms with weights, attention and MLP projections), not placeholders."""
    norms = all(hasattr(getattr(block, name, None), "weight") for name in ("norm1", "norm2"))
    return norms and hasattr(getattr(block, "attn", None), "qkv") and hasattr(getattr(block, "mlp", None), "fc")


def check_loadable_model(model) -> None:
    """Refuse a model that cannot receive weights: not a GPTModel, or built on the meta device."""
    check_gpt_model(model)
    if model.tok_emb.weight.is_meta:
        raise ValueError("model is on the meta device (shapes, no memory): build it on a real device, "
                         "e.g. with empty_model(cfg, device='cpu')")


def check_eval_mode(model) -> None:
    """Refuse a model in training mode where dropout would make the output random by accident."""
    if model.training:
        raise ValueError("the model is in training mode (dropout on): call model.eval() first")


def shown_path(path) -> str:
    """path for a message: one longer than 80 characters (a name the file system refused, say) cut short."""
    return str(path) if len(str(path)) <= 80 else f"{str(path)[:80]}..."


def check_directory_target(directory) -> Path:
    """A directory path for an export to write into: refused if it is empty, a file, under a file, a name the file
    system cannot take, or a folder whose config.json is not a GPT-2 model's (the export would replace it)."""
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a str or a Path, got {type(directory).__name__}")
    if str(directory) == "":
        raise ValueError("directory is empty: name the folder to write config.json and model.safetensors into")
    directory = Path(directory)
    for path in (directory, *directory.parents):
        try:
            if path.exists() and not path.is_dir():
                raise ValueError(f"directory {str(directory)!r} cannot be written: {path} is a file, not a folder")
        except OSError as error:  # e.g. a name longer than the file system allows
            raise ValueError(f"directory {shown_path(directory)!r} cannot be written: {error.strerror}") from None
    _check_config_to_replace(directory / "config.json")
    return directory


def _check_config_to_replace(path: Path) -> None:
    """Refuse to replace a config.json that is not a GPT-2 model's: another program's file, or another model's."""
    if not path.exists():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict) or config.get("model_type") != "gpt2":
        raise ValueError(f"{path} exists and is not a GPT-2 model's config (its model_type is not 'gpt2'): the export "
                         "would replace it. Choose a new or empty folder, or one that holds an earlier GPT-2 export")


# --- tensors -------------------------------------------------------------------------------------

def check_token_ids(idx, cfg, name: str = "token ids", within_context: bool = True, device=None) -> None:
    """Refuse anything but a non-empty (batch, seq_len) integer tensor of ids in 0..vocab_size-1 (on device)."""
    check_config(cfg)
    _check_ids(idx, cfg, name, within_context, device)


def _check_ids(idx, cfg, name: str = "token ids", within_context: bool = True, device=None,
               check_range: bool = True) -> None:
    """check_token_ids for a checked cfg; check_range=False skips the one check that reads the ids' values."""
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, seq_len), got {type(idx).__name__}")
    if idx.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{name} must be integers of dtype torch.long (or torch.int32), got dtype {idx.dtype}; "
                        "use ids.long()")
    if idx.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got shape {tuple(idx.shape)}; "
                         "for a single sequence use idx.unsqueeze(0)")
    if idx.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(idx.shape)}")
    if idx.is_meta:
        raise ValueError(f"{name} are on the meta device: they have a shape but no values")
    if device is not None and idx.device != device:
        raise ValueError(f"{name} are on {idx.device} but the model is on {device}: use idx.to({str(device)!r})")
    if within_context and idx.shape[1] > cfg.context_length:
        raise ValueError(f"sequence of {idx.shape[1]} tokens is longer than the context length ({cfg.context_length})")
    if not check_range:
        return
    low, high = idx.min().item(), idx.max().item()
    if low < 0 or high >= cfg.vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"token id {bad} is out of range for vocab_size {cfg.vocab_size} (valid: 0..{cfg.vocab_size - 1})")


def check_model_input(idx, cfg, device: torch.device) -> None:
    """GPTModel.forward's guard: shape, dtype, length and device of the ids, and their range except on CUDA.

    Reading a CUDA tensor's values makes the CPU wait for the GPU, at every forward pass: there, an id out of
    range is left to PyTorch's own device-side assertion (which stops the CUDA context).
    """
    on_cuda = isinstance(idx, torch.Tensor) and idx.device.type == "cuda"
    _check_ids(idx, cfg, device=device, check_range=not on_cuda)


# --- sampling and generation ---------------------------------------------------------------------

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
    if temperature == 0 and (top_k is not None or top_p is not None):
        raise ValueError("top_k and top_p only apply when sampling: with temperature=0 (greedy) leave them None")


def check_logits(logits, name: str = "logits") -> None:
    """Refuse next-token logits that are not a (batch, vocab_size) float tensor with a finite value in every row.

    -inf is allowed: it marks a token that must not be picked.
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, vocab_size), got {type(logits).__name__}")
    if logits.dim() != 2 or 0 in logits.shape:
        raise ValueError(f"{name} must have shape (batch, vocab_size), got {tuple(logits.shape)}; "
                         "for a model's output (B, T, vocab_size) pass logits[:, -1, :]")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating point, got dtype {logits.dtype}")
    if logits.is_meta:
        raise ValueError(f"{name} are on the meta device: they have a shape but no values")
    if not bool(torch.isfinite(logits.amax(dim=-1)).all()):  # a row's max is NaN, +inf, or -inf when all are -inf
        raise ValueError(f"the {name} hold NaN or +inf values, or a row without any finite value: "
                         "the model's weights or input are broken (check the weights with torch.isfinite)")


def check_scaled_logits(logits, temperature) -> None:
    """Refuse logits that overflowed when divided by the temperature."""
    if not bool(torch.isfinite(logits.amax(dim=-1)).all()):  # NaN or +inf in a row
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


MAX_NEW_TOKENS = 1_000_000  # tokens one generate() call may add


def check_generation_options(max_new_tokens, temperature, top_k, top_p, eos_id, vocab_size: int) -> None:
    """Refuse generate() options that cannot be right."""
    if not is_int(max_new_tokens) or not 0 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be a non-negative integer, at most {MAX_NEW_TOKENS:,} (a call "
                         f"generates one token at a time: hours of work), got {max_new_tokens!r}")
    check_sampling_options(temperature, top_k, top_p)
    if eos_id is not None and (not is_int(eos_id) or not 0 <= eos_id < vocab_size):
        raise ValueError(f"eos_id must be None or a token id in 0..{vocab_size - 1}, got {eos_id!r}")


def check_generate_call(model, idx, max_new_tokens, temperature, top_k, top_p, eos_id, generator=None,
                        use_cache=True, attention_mask=None) -> None:
    """Refuse a generate() call that cannot be right, before the model is touched."""
    check_gpt_model(model)
    device = model.tok_emb.weight.device
    check_token_ids(idx, model.cfg, "prompt", within_context=False, device=device)  # generation reads the last window
    check_generation_options(max_new_tokens, temperature, top_k, top_p, eos_id, model.cfg.vocab_size)
    check_generator(generator, device)
    check_flag(use_cache, "use_cache")
    check_attention_mask(attention_mask, idx)


# --- the key/value cache -------------------------------------------------------------------------

def check_cache_size(cfg, batch_size, max_len, device, dtype) -> None:
    """Refuse KVCache sizes, devices or dtypes that cannot be right."""
    check_config(cfg)
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not is_int(max_len) or not 1 <= max_len <= cfg.context_length:
        raise ValueError(f"max_len must be an integer in 1..{cfg.context_length} (the context length), got {max_len!r}")
    if device is not None:
        check_device(device)
    if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
        raise ValueError(f"dtype must be None or a floating-point torch.dtype (the model's), got {dtype!r}")


def check_cache(cache, model, idx) -> None:
    """Refuse a KV cache that does not belong to this model and this batch of ids, or a model in training mode."""
    check_gpt_model(model)
    if model.training:
        raise ValueError("the cached forward pass has no dropout: call model.eval() first (generate() does this)")
    layers = getattr(cache, "layers", None)  # duck-typed, so that notebook 07's own KVCache passes too
    if not layers or not all(isinstance(getattr(layer, "keys", None), torch.Tensor) for layer in layers):
        raise TypeError(f"cache must be a gpt2lib KVCache, got {type(cache).__name__}")
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2:
        return  # check_token_ids explains what is wrong with idx
    cfg, weights, keys = model.cfg, model.tok_emb.weight, cache.layers[0].keys
    names = ("layers", "batch size", "heads", "head size", "dtype", "device")
    have = (len(cache.layers), keys.shape[0], keys.shape[1], keys.shape[3], keys.dtype, keys.device)
    want = (cfg.n_layers, idx.shape[0], cfg.n_heads, cfg.emb_dim // cfg.n_heads, weights.dtype, weights.device)
    wrong = [f"{name} {got} (the model and input need {needed})" for name, got, needed in zip(names, have, want) if got != needed]
    if wrong:
        raise ValueError("the KV cache does not fit this model and input: it has " + ", ".join(wrong))


# --- padded batches (notebook 07): Hugging Face's attention mask, with left padding --------------

MASK_ALLOWED = "a tensor of 0 (padding) and 1 (token), integer or bool, with the token ids' shape"


def _row(values: torch.Tensor) -> str:
    """A mask row for a message, cut after 16 values."""
    shown = values[:16].long().tolist()
    return str(shown)[:-1] + (", ...]" if len(values) > 16 else "]")


def check_attention_mask(attention_mask, idx, cache=None) -> None:
    """Refuse an attention mask that is not a left-padded 0/1 mask for the token ids idx (B, T), on idx's device.

    Each row must be zeros (padding), then ones (tokens); for generate (no cache), with at least one token. In the
    cached forward, the mask covers the new tokens only and must continue the cache's rows: a row whose cached keys
    already end in a token (every key, when cache.key_mask is None) takes no more padding. idx is checked first."""
    if attention_mask is None:
        return
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be {MASK_ALLOWED} {tuple(idx.shape)}, got {type(attention_mask).__name__}")
    if attention_mask.dtype.is_floating_point or attention_mask.dtype.is_complex:
        raise TypeError(f"attention_mask must be {MASK_ALLOWED}, got dtype {attention_mask.dtype}; use mask.long()")
    if attention_mask.shape != idx.shape:
        raise ValueError(f"attention_mask must have the token ids' shape {tuple(idx.shape)}, "
                         f"got shape {tuple(attention_mask.shape)}")
    if attention_mask.device != idx.device:
        raise ValueError(f"attention_mask is on {attention_mask.device} but the token ids are on {idx.device}: "
                         f"use attention_mask.to({str(idx.device)!r})")
    values = attention_mask.long()
    odd = values[(values != 0) & (values != 1)]
    if odd.numel():
        raise ValueError(f"attention_mask must hold only 0 (padding) and 1 (token), got {odd[0].item()}")
    past = getattr(cache, "length", 0)
    if past:  # the last cached key of each row comes first: 1 when the cache holds no padding
        key_mask = getattr(cache, "key_mask", None)
        last = torch.ones_like(values[:, :1]) if key_mask is None else key_mask[:, past - 1:past].long()
        values = torch.cat([last, values], dim=1)
    wrong = (values[:, 1:] < values[:, :-1]).any(dim=1)  # a token followed by padding
    if wrong.any():
        row = int(wrong.nonzero()[0])
        after = f" after {past} cached tokens" if past else ""
        raise ValueError(f"attention_mask row {row} is {_row(attention_mask[row])}{after}: only left padding is "
                         "allowed (each row zeros, then ones); pad with gpt2lib.pad_left")
    empty = values[:, -1] == 0  # left padding: a row with a token ends with one
    if cache is None and empty.any():  # the cached forward may take a prompt's padding in several parts
        raise ValueError(f"attention_mask row {int(empty.nonzero()[0])} is all 0: every row needs at least one token")


def check_pad_left_call(sequences, pad_id, device=None) -> None:
    """Refuse pad_left input that is not a non-empty list of non-empty lists of token ids, a bad pad_id or device."""
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise TypeError(f"sequences must be a non-empty list of token id lists, got {sequences!r:.80}")
    for i, ids in enumerate(sequences):
        if not isinstance(ids, (list, tuple)) or not ids:
            raise ValueError(f"sequences[{i}] must be a non-empty list of token ids, got {ids!r:.80}")
        bad = next((x for x in ids if not is_int(x) or x < 0), None)
        if bad is not None:
            raise ValueError(f"sequences[{i}] must hold token ids (integers >= 0), got {bad!r}")
    if not is_int(pad_id) or pad_id < 0:
        raise ValueError(f"pad_id must be a token id (an integer >= 0), got {pad_id!r}")
    if device is not None:
        check_device(device)


# --- the byte-pair-encoding tokenizer (notebook 00) ----------------------------------------------
# The messages and error types are get_tokenizer()'s (gpt2lib/tokenizer.py), so that notebook 00's tokenizer refuses
# what tiktoken's wrapper refuses, in the same words; tests/test_bpe.py compares them.


def check_text(text) -> None:
    """Refuse text that is not a str, or that UTF-8 cannot encode (a lone surrogate)."""
    if not isinstance(text, str):
        hint = "; decode bytes first, e.g. data.decode('utf-8')" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"text must be a str, got {type(text).__name__}{hint}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"text is not valid Unicode at position {error.start}: {error.reason}") from error


def check_pattern(pattern) -> None:
    """Refuse a pre-tokenization pattern that is not None or a regular expression the regex package compiles."""
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regular expression (a str) or None, got {type(pattern).__name__}")
    try:
        regex.compile(pattern or "")
    except regex.error as error:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {error}") from error


def check_encode_call(text, allowed_special, disallowed_special, special_tokens: dict[str, int]) -> set[str]:
    """The special tokens to encode as their ids; refuses bad arguments, and text holding a disallowed special token
    (as tiktoken does: the caller must say whether "<|endoftext|>" in text is the special token or ordinary text)."""
    check_text(text)
    for name, value in (("allowed_special", allowed_special), ("disallowed_special", disallowed_special)):
        if value != "all" and (isinstance(value, str) or not isinstance(value, Collection)
                               or not all(isinstance(token, str) for token in value)):
            raise TypeError(f'{name} must be "all" or a set of special-token strings such as '
                            f"{{'<|endoftext|>'}}, got {value!r}")
    allowed = set(special_tokens) if allowed_special == "all" else set(special_tokens) & set(allowed_special)
    disallowed = set(special_tokens) - allowed if disallowed_special == "all" else set(disallowed_special)
    for token in sorted(disallowed):
        if token in text and disallowed_special == "all":
            raise ValueError(f"text contains {token!r}: pass allowed_special={{{token!r}}} to encode it as the special "
                             f"token {special_tokens[token]}, or disallowed_special=() to encode it as ordinary text")
        if token in text:
            raise ValueError(f"text contains {token!r}, which disallowed_special refuses")
    return allowed


def check_bpe_table(ranks, pattern, special_tokens) -> None:
    """Refuse a tokenizer's table unless ranks maps bytes to distinct ids >= 0 and holds the 256 single bytes,
    pattern compiles, and the special tokens map non-empty strings to ids of their own."""
    if not isinstance(ranks, Mapping) or not all(isinstance(token, bytes) and is_int(rank) and rank >= 0
                                                 for token, rank in ranks.items()):
        raise TypeError("ranks must map token bytes to ids >= 0, such as {b'a': 97, b'th': 256}, "
                        f"got {type(ranks).__name__}")
    missing = [bytes([b]) for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise ValueError(f"ranks must hold all 256 single bytes, so that any text can be encoded; {missing[0]!r} "
                         f"and {len(missing) - 1} more are missing")
    if len(set(ranks.values())) != len(ranks):
        raise ValueError("ranks gives two tokens the same id; each id must stand for one token")
    check_pattern(pattern)
    special = {} if special_tokens is None else special_tokens
    if not isinstance(special, Mapping) or not all(isinstance(name, str) and name and is_int(i) and i >= 0
                                                   for name, i in special.items()):
        raise TypeError("special_tokens must map strings to ids >= 0, such as {'<|endoftext|>': 50256}, "
                        f"got {special_tokens!r}")
    clashes = set(ranks.values()) & set(special.values())
    if clashes or len(set(special.values())) != len(special):
        raise ValueError(f"special_tokens must use ids of their own; {sorted(clashes) or sorted(special.values())} "
                         "are taken")
