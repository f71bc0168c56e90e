# GENERATED FILE, edit the notebook instead.
# Source: notebooks/06_loading_pretrained_weights.ipynb. Regenerate with `make export`.

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig

OPENAI_GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model. Nothing was loaded."""


class WeightsUnavailableError(OSError):
    """Pretrained weights are neither on this machine nor downloadable right now."""


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub accepts a connection within timeout seconds (False if HF_HUB_OFFLINE is set)."""
    if any(os.environ.get(var, "").lower() in ("1", "true", "yes", "on") for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return False
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_hf_model(name_or_path: str = "gpt2", cache_dir: str | None = None):
    """Hugging Face's GPT2LMHeadModel with pretrained weights, in eval mode.

    name_or_path is a local directory (config.json + weights) or one of OPENAI_GPT2_NAMES. A name is
    looked up in the local cache first, then on the hub if it is reachable; otherwise this raises
    WeightsUnavailableError. Weight files are read as safetensors or with torch.load(weights_only=True).
    """
    from transformers import GPT2LMHeadModel

    options = {"cache_dir": cache_dir, "weights_only": True}
    if Path(name_or_path).is_dir():
        return GPT2LMHeadModel.from_pretrained(name_or_path, local_files_only=True, **options).eval()
    if name_or_path not in OPENAI_GPT2_NAMES:
        raise ValueError(f"{name_or_path!r} is neither a local directory nor one of {OPENAI_GPT2_NAMES}")
    try:
        return GPT2LMHeadModel.from_pretrained(name_or_path, local_files_only=True, **options).eval()
    except OSError:
        pass  # not in the local cache
    if not hub_reachable():
        raise WeightsUnavailableError(
            f"The {name_or_path!r} weights are not in the local Hugging Face cache and the hub is not reachable "
            "(offline, or HF_HUB_OFFLINE is set). Download them once while online, e.g. "
            f"GPT2LMHeadModel.from_pretrained({name_or_path!r}), or pass a local directory."
        )
    return GPT2LMHeadModel.from_pretrained(name_or_path, **options).eval()


# Inside block N: (our name, Hugging Face name, stored transposed by Conv1D?)
BLOCK_WEIGHT_NAMES = [
    ("norm1.weight", "ln_1.weight", False),
    ("norm1.bias", "ln_1.bias", False),
    ("attn.qkv.weight", "attn.c_attn.weight", True),
    ("attn.qkv.bias", "attn.c_attn.bias", False),
    ("attn.out_proj.weight", "attn.c_proj.weight", True),
    ("attn.out_proj.bias", "attn.c_proj.bias", False),
    ("norm2.weight", "ln_2.weight", False),
    ("norm2.bias", "ln_2.bias", False),
    ("mlp.fc.weight", "mlp.c_fc.weight", True),
    ("mlp.fc.bias", "mlp.c_fc.bias", False),
    ("mlp.proj.weight", "mlp.c_proj.weight", True),
    ("mlp.proj.bias", "mlp.c_proj.bias", False),
]


def hf_weight_mapping(model: GPTModel) -> list[tuple[str, str, bool]]:
    """(our name, Hugging Face name, transposed?) for every entry of model.state_dict()."""
    mapping = [("tok_emb.weight", "transformer.wte.weight", False), ("pos_emb.weight", "transformer.wpe.weight", False)]
    for i in range(model.cfg.n_layers):
        mapping += [(f"blocks.{i}.{ours}", f"transformer.h.{i}.{theirs}", t) for ours, theirs, t in BLOCK_WEIGHT_NAMES]
    mapping += [
        ("final_norm.weight", "transformer.ln_f.weight", False),
        ("final_norm.bias", "transformer.ln_f.bias", False),
        ("out_head.weight", "lm_head.weight", False),
    ]
    ours = model.state_dict()
    return [row for row in mapping if row[0] in ours]  # e.g. no q/k/v bias when cfg.qkv_bias is False


def normalize_hf_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Spell a GPT-2 checkpoint like GPT2LMHeadModel.state_dict(): 'transformer.' prefix, an lm_head, no buffers."""
    normalized = {}
    for name, tensor in state.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers of older checkpoints, not weights
        if not name.startswith(("transformer.", "lm_head.")):
            name = "transformer." + name
        normalized[name] = tensor
    if "lm_head.weight" not in normalized and "transformer.wte.weight" in normalized:
        normalized["lm_head.weight"] = normalized["transformer.wte.weight"]  # tied: stored once
    return normalized


def load_checkpoint_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weight file without executing code: .safetensors, or .bin/.pt with weights_only=True."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    if path.suffix in (".bin", ".pt", ".pth"):
        return torch.load(path, map_location="cpu", weights_only=True)
    raise ValueError(f"unsupported weight file {path.name!r}: use .safetensors, or .bin/.pt (loaded with weights_only=True)")


def check_and_convert(model: GPTModel, hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict built from a normalized HF state dict, or CheckpointMismatchError naming every problem."""
    expected = model.state_dict()
    hf_state, converted, problems = dict(hf_state), {}, []
    for ours, theirs, transposed in hf_weight_mapping(model):
        want = tuple(expected[ours].shape)
        if theirs not in hf_state:
            problems.append(f"missing {theirs} (for {ours}, shape {want})")
            continue
        tensor = hf_state.pop(theirs)
        tensor = tensor.T if transposed else tensor
        if tuple(tensor.shape) != want:
            note = " after transposing" if transposed else ""
            problems.append(f"{theirs}: checkpoint has {tuple(tensor.shape)}{note}, model's {ours} needs {want}")
            continue
        converted[ours] = tensor
    problems += [f"unexpected {name} {tuple(t.shape)}: the model has no such weight" for name, t in hf_state.items()]
    if not problems and model.weights_tied:
        if not torch.equal(converted["out_head.weight"], converted["tok_emb.weight"]):
            problems.append("lm_head.weight differs from wte.weight, but the model ties them (use tie_weights=False)")
    if problems:
        raise CheckpointMismatchError(
            f"checkpoint does not fit the model ({len(problems)} problems); nothing was loaded:\n  " + "\n  ".join(problems)
        )
    return converted


def load_hf_weights(model: GPTModel, source) -> GPTModel:
    """Copy Hugging Face GPT-2 weights into model and return it.

    source: a transformers GPT-2 model, a state dict, or a weight file path. The model is only
    changed if every key and shape fits; otherwise CheckpointMismatchError names each mismatch.
    """
    if isinstance(source, nn.Module):
        source = source.state_dict()
    elif isinstance(source, (str, Path)):
        source = load_checkpoint_file(source)
    converted = check_and_convert(model, normalize_hf_state_dict(source))
    with torch.no_grad():
        model.load_state_dict(converted)  # copies into the existing tensors, tied ones included
    return model


def config_from_hf(hf_config) -> GPTConfig:
    """GPTConfig for a Hugging Face GPT2Config (or its dict): same sizes, q/k/v bias, no dropout."""
    get = hf_config.get if isinstance(hf_config, Mapping) else (lambda key, default=None: getattr(hf_config, key, default))
    emb_dim = get("n_embd")
    supported = {
        "activation_function": (get("activation_function", "gelu_new"), ("gelu_new", "gelu_pytorch_tanh")),
        "layer_norm_epsilon": (get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "n_inner": (get("n_inner"), (None, 4 * emb_dim)),
    }
    for key, (value, allowed) in supported.items():
        if value not in allowed:
            raise ValueError(f"unsupported GPT-2 variant: {key}={value!r} (gpt2lib supports {allowed})")
    return GPTConfig(
        vocab_size=get("vocab_size"), context_length=get("n_positions"), emb_dim=emb_dim,
        n_heads=get("n_head"), n_layers=get("n_layer"), dropout=0.0, qkv_bias=True,
    )


def empty_model(cfg: GPTConfig, device="cpu") -> GPTModel:
    """A tied GPTModel with uninitialized weights, to be filled by load_hf_weights.

    Built on the meta device, it skips GPT-2's random initialization (seconds for 124M weights).
    """
    with torch.device("meta"):
        model = GPTModel(cfg)
    model = model.to_empty(device=device)
    model.out_head.weight = model.tok_emb.weight  # to_empty gives every parameter its own memory: tie again
    return model


def model_from_hf(hf_model, device="cpu") -> GPTModel:
    """Our GPTModel, in eval mode, with the weights of a transformers GPT-2 model."""
    return load_hf_weights(empty_model(config_from_hf(hf_model.config), device), hf_model).eval()


def from_pretrained(name_or_path: str = "gpt2", cache_dir: str | None = None, device="cpu") -> GPTModel:
    """Our GPTModel with OpenAI's weights ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl") or a local directory's."""
    return model_from_hf(load_hf_model(name_or_path, cache_dir=cache_dir), device)
