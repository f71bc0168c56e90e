"""Reading Hugging Face GPT-2 weights safely, written by hand (notebook 06's gpt2lib.hf.convert uses it).

Notebook 06 teaches the mapping from Hugging Face's names to ours. This module holds the
defensive part around it: which weight-file formats are read and how, what is wrong with a file
that cannot be read, the different spellings of a GPT-2 state dict, the checks every tensor must
pass before the model is touched, and which GPT-2 variants gpt2lib can compute.

A weight file holds a model's weights only; a training run's saved state is a checkpoint
(gpt2lib.training.checkpoint).
"""

import json
import os
import pickle
import struct
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".bin", ".pt", ".pth")
# Hugging Face options that change what GPT-2 computes: the only value gpt2lib supports (None: key may be absent)
SUPPORTED_HF_OPTIONS = {
    "scale_attn_weights": True,  # divide attention scores by sqrt(head_dim)
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "add_cross_attention": False,
}


class WeightsMismatchError(ValueError):
    """The weights do not fit the model, or are not usable weights. Nothing was loaded."""


CheckpointMismatchError = WeightsMismatchError  # its name before the library was grouped by concept; old code still runs


class WeightFileError(ValueError):
    """A weight file cannot be read: missing, empty, corrupt, truncated or in another format than its name says."""


def file_kind(path: Path) -> str:
    """What the first bytes of a file say it is: "safetensors", "torch-zip", "pickle" or "unknown"."""
    with open(path, "rb") as file:
        head = file.read(9)
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"  # torch.save's format since PyTorch 1.6
    if head[:1] == b"\x80":
        return "pickle"  # an older torch.save file
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < 100_000_000:
        return "safetensors"  # an 8-byte header length, then a JSON header
    return "unknown"


def check_weight_file(path: Path) -> None:
    """Refuse a path that is not a readable weight file of a supported format, saying what is wrong."""
    if path.suffix not in SAFETENSORS_SUFFIXES + TORCH_SUFFIXES:
        raise WeightFileError(
            f"unsupported weight file {path.name!r}: use .safetensors, or .bin/.pt/.pth (loaded with weights_only=True)"
        )
    if not path.exists():
        raise WeightFileError(f"weight file {path} does not exist")
    if not path.is_file():
        raise WeightFileError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise WeightFileError(f"weight file {path} is empty (0 bytes): download or save it again")
    kind = file_kind(path)
    if path.suffix in SAFETENSORS_SUFFIXES and kind in ("torch-zip", "pickle"):
        raise WeightFileError(f"{path} is named .safetensors but holds a torch.save file; rename it to .bin")
    if path.suffix in TORCH_SUFFIXES and kind == "safetensors":
        raise WeightFileError(f"{path} is named {path.suffix} but holds a safetensors file; rename it to .safetensors")


def load_weight_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weight file without executing code: .safetensors, or .bin/.pt/.pth with weights_only=True."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    check_weight_file(path)
    if path.suffix in SAFETENSORS_SUFFIXES:
        try:
            from safetensors import SafetensorError
            from safetensors.torch import load_file
        except ModuleNotFoundError as error:
            raise ImportError(f"reading {path.name} needs the safetensors package: pip install 'gpt2lib[hf]'") from error
        try:
            state = load_file(path)
        except (SafetensorError, OSError, ValueError) as error:
            raise WeightFileError(f"{path} is not a valid safetensors file (corrupt or truncated?): {error}") from error
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:  # unsafe objects are never unpickled; garbage fails here too
            raise WeightFileError(f"{path} could not be read safely: it is corrupt, or it holds objects other "
                                  f"than tensors, which are never unpickled ({error})") from error
        except Exception as error:  # noqa: BLE001 - any other failure of torch.load means a broken file
            raise WeightFileError(f"{path} is not a readable PyTorch weight file (corrupt or truncated?): "
                                  f"{type(error).__name__}: {error}") from error
    if not isinstance(state, Mapping):
        raise WeightFileError(f"{path} holds a {type(state).__name__}, not a state dict of named tensors")
    return dict(state)


def normalize_hf_state_dict(state: Mapping[str, torch.Tensor], tied: bool = True) -> dict[str, torch.Tensor]:
    """Spell a GPT-2 state dict like GPT2LMHeadModel.state_dict(): 'transformer.' prefix, no buffers, and, for
    a tied model, an lm_head (a tied weight file stores the matrix once, as wte)."""
    normalized = {}
    for name, tensor in state.items():
        if not isinstance(name, str):
            raise WeightsMismatchError(f"state dict keys must be weight names (str), got {name!r}; nothing was loaded")
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers saved in older Hugging Face PyTorch weight files, not weights
        full_name = name if name.startswith(("transformer.", "lm_head.")) else "transformer." + name
        if full_name in normalized:
            raise WeightsMismatchError(f"the weights hold {full_name} twice (as {name} too); nothing was loaded")
        normalized[full_name] = tensor
    if tied and "lm_head.weight" not in normalized and "transformer.wte.weight" in normalized:
        normalized["lm_head.weight"] = normalized["transformer.wte.weight"]
    return normalized


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value is finite. One cheap sum answers for nearly all tensors: NaN and inf spread into it."""
    if bool(torch.isfinite(tensor.sum())):
        return True
    return bool(torch.isfinite(tensor).all())  # the sum may overflow although every value is finite


WEIGHT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def tensor_problem(tensor) -> str | None:
    """Why a state-dict entry cannot be a weight, or None if it can."""
    if not isinstance(tensor, torch.Tensor):
        return f"is a {type(tensor).__name__}, not a tensor"
    if tensor.is_meta:
        return "is on the meta device: it has a shape but no values"
    if tensor.layout != torch.strided or tensor.is_nested:
        return f"has layout {tensor.layout}; weights must be ordinary dense tensors"
    if tensor.dtype not in WEIGHT_DTYPES:
        return f"has dtype {tensor.dtype}; weights must be float32, bfloat16, float16 or float64"
    if not all_finite(tensor):
        return "holds NaN or infinite values"
    return None


def check_tensors(state: Mapping[str, torch.Tensor]) -> None:
    """Refuse a state dict with any entry that is not a usable weight, naming every such entry."""
    problems = [f"{name} {problem}" for name, tensor in state.items() if (problem := tensor_problem(tensor))]
    if problems:
        raise WeightsMismatchError(
            f"the weights have {len(problems)} unusable tensors; nothing was loaded:\n  " + "\n  ".join(problems)
        )


def read_hf_state(source, tied: bool = True) -> dict[str, torch.Tensor]:
    """A checked, normalized GPT-2 state dict from a transformers model, a state dict or a weight file path."""
    if isinstance(source, nn.Module):
        source = source.state_dict()
    elif isinstance(source, (str, Path)):
        source = load_weight_file(source)
    elif not isinstance(source, Mapping):
        raise TypeError(
            "source must be a transformers GPT-2 model, a state dict (a mapping of names to tensors) "
            f"or the path of a weight file, got {type(source).__name__}"
        )
    state = normalize_hf_state_dict(source, tied)
    check_tensors(state)
    return state


def check_values_fit(converted: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights that would overflow the model's dtype (e.g. 1e6 into float16), naming every such weight."""
    problems = []
    for name, tensor in converted.items():
        dtype = target[name].dtype
        if dtype.is_floating_point and torch.finfo(dtype).max < torch.finfo(tensor.dtype).max:
            largest = tensor.abs().max().item() if tensor.numel() else 0.0
            if largest > torch.finfo(dtype).max:
                problems.append(f"{name} holds {largest:.3g}, more than {dtype} can store")
    if problems:
        raise WeightsMismatchError(
            "weight values overflow the model's dtype; nothing was loaded:\n  " + "\n  ".join(problems)
        )


def copy_weights(model: nn.Module, converted: Mapping[str, torch.Tensor]) -> None:
    """model.load_state_dict(converted) for a state dict already checked key by key and shape by shape, faster.

    PyTorch copies a transposed matrix on one thread, and the transposed Conv1D weights are most of
    GPT-2: a few threads copying different tensors at once roughly halve the time on two cores. A
    tied weight appears twice in the state dict and is copied once.
    """
    targets = model.state_dict()  # tensors sharing memory with the model's parameters
    pairs = {targets[name].data_ptr(): (targets[name], tensor) for name, tensor in converted.items()}
    with ThreadPoolExecutor(max_workers=torch.get_num_threads()) as pool:
        list(pool.map(lambda pair: pair[0].copy_(pair[1]), pairs.values()))  # list(): raise any error here


def read_hf_config(hf_config) -> dict:
    """A Hugging Face GPT2Config (or its dict) as a plain dict, refused if gpt2lib does not compute that variant."""
    if isinstance(hf_config, Mapping):
        config = dict(hf_config)
    elif hasattr(hf_config, "to_dict"):
        config = hf_config.to_dict()
    else:
        raise TypeError(f"hf_config must be a transformers GPT2Config or a dict, got {type(hf_config).__name__}")
    if config.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"not a GPT-2 config: model_type={config['model_type']!r} (gpt2lib loads model_type 'gpt2')")
    from gpt2lib.hf.convert import HF_CONFIG_KEYS  # the one config-key table (notebook 06); convert imports us

    for field, key in HF_CONFIG_KEYS.items():
        if key not in config:
            raise ValueError(f"the Hugging Face config has no {key!r} (GPT-2's name for GPTConfig.{field})")
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"the Hugging Face config's {key!r} must be a positive integer, got {value!r}")
    if not isinstance(config.get("tie_word_embeddings", True), bool):
        raise ValueError(f"the Hugging Face config's 'tie_word_embeddings' must be true or false, "
                         f"got {config['tie_word_embeddings']!r}")
    emb_dim = config["n_embd"]
    supported = {
        "activation_function": (config.get("activation_function", "gelu_new"), ("gelu_new", "gelu_pytorch_tanh")),
        "layer_norm_epsilon": (config.get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "n_inner": (config.get("n_inner"), (None, 4 * emb_dim)),
        **{key: (config.get(key, value), (value,)) for key, value in SUPPORTED_HF_OPTIONS.items()},
    }
    for key, (value, allowed) in supported.items():
        if value not in allowed:
            raise ValueError(f"unsupported GPT-2 variant: {key}={value!r} (gpt2lib computes only {key} in {allowed})")
    return config


def read_hf_model_config(hf_model) -> dict:
    """The checked config of a transformers GPT-2 model, as read_hf_config gives it."""
    if not isinstance(hf_model, nn.Module) or not hasattr(hf_model, "config"):
        raise TypeError(f"hf_model must be a transformers GPT-2 model (e.g. GPT2LMHeadModel), got {type(hf_model).__name__}")
    return read_hf_config(hf_model.config)


def read_config_file(path: Path) -> dict:
    """The dict in a config.json file, with a clear error if it is missing or not JSON."""
    if not path.is_file():
        raise WeightFileError(
            f"{path.parent} has no config.json: gpt2lib needs it to know the model's sizes "
            "(save the model with save_pretrained, or copy the config.json that came with the weights)"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightFileError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise WeightFileError(f"{path} holds a JSON {type(config).__name__}, not an object of settings")
    return config


def weight_files(directory: Path) -> list[Path]:
    """The weight file(s) of a saved Hugging Face model: one file, or the shards an index names."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (directory / name).is_file():
            return [directory / name]
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / name
        if index.is_file():
            return shard_files(index)
    raise WeightFileError(
        f"{directory} has no weights: expected model.safetensors or pytorch_model.bin (or a sharded index of them)"
    )


def shard_files(index: Path) -> list[Path]:
    """The weight files a sharded model's index names, each inside the index's directory."""
    weight_map = read_config_file(index).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str) for v in weight_map.values()):
        raise WeightFileError(f"{index} has no 'weight_map' of weight names to file names")
    directory = index.parent.resolve()
    shards = [(index.parent / shard).resolve() for shard in sorted(set(weight_map.values()))]
    outside = [str(path) for path in shards if path.parent != directory]
    if outside:
        raise WeightFileError(f"{index} names weight files outside its directory: {outside}")
    return shards


def read_hf_directory(directory: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The checked config and the checked, normalized state dict of a model saved with save_pretrained."""
    directory = Path(directory)
    config = read_hf_config(read_config_file(directory / "config.json"))
    state = {}
    for path in weight_files(directory):
        shard = load_weight_file(path)
        twice = sorted(set(shard) & set(state))
        if twice:
            raise WeightFileError(f"{path.name} holds weights another shard holds too: {twice[:5]}")
        state.update(shard)
    return config, read_hf_state(state, tied=config.get("tie_word_embeddings", True))
