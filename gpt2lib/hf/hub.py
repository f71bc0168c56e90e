"""Finding GPT-2 weights on this machine or on the Hugging Face hub, written by hand.

`from_pretrained` ties together where the weights come from and the loader (gpt2lib.hf.loading,
the safe version of what notebook 06 teaches). A local directory is read by gpt2lib itself
(config.json and the weight files, checked before anything is built). A name such as "gpt2" goes through `transformers`, which
keeps a local cache; offline, it fails within seconds with WeightsUnavailableError instead of
a minute of retries.
"""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from gpt2lib.hf.convert import config_from_hf
from gpt2lib.hf.files import read_config_file, read_hf_config, read_hf_directory, weight_files
from gpt2lib.hf.loading import empty_model, load_hf_weights, model_from_hf
from gpt2lib.validation import check_device

OPENAI_GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
INSTALL_HINT = "pip install 'gpt2lib[hf]'   (transformers and safetensors; in this repository: make install)"


class WeightsUnavailableError(OSError):
    """Pretrained weights are neither on this machine nor downloadable right now."""


def import_transformers():
    """The transformers module, or an ImportError that says how to install it."""
    try:
        import transformers
    except ModuleNotFoundError as error:
        raise ImportError(f"loading Hugging Face's GPT-2 needs the transformers package: {INSTALL_HINT}") from error
    return transformers


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


def check_name_or_path(name_or_path) -> None:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path must be a str or a path, got {type(name_or_path).__name__}")
    if not Path(name_or_path).is_dir() and name_or_path not in OPENAI_GPT2_NAMES:
        raise ValueError(f"{str(name_or_path)!r} is neither a local directory nor one of {OPENAI_GPT2_NAMES}")


def load_hf_model(name_or_path: str = "gpt2", cache_dir: str | None = None):
    """Hugging Face's GPT2LMHeadModel with pretrained weights, in eval mode.

    name_or_path is a local directory (config.json + weights) or one of OPENAI_GPT2_NAMES. A name is
    looked up in the local cache first, then on the hub if it is reachable; otherwise this raises
    WeightsUnavailableError. Weight files are read as safetensors or with torch.load(weights_only=True).
    """
    check_name_or_path(name_or_path)
    GPT2LMHeadModel = import_transformers().GPT2LMHeadModel
    options = {"cache_dir": cache_dir, "weights_only": True}
    if Path(name_or_path).is_dir():
        read_hf_config(read_config_file(Path(name_or_path) / "config.json"))  # our checks first: no silent
        weight_files(Path(name_or_path))  # fallback to a default config or to random weights
        return GPT2LMHeadModel.from_pretrained(name_or_path, local_files_only=True, **options).eval()
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


def model_from_directory(directory: str | Path, device="cpu"):
    """A GPTModel, in eval mode, from a directory saved by save_pretrained: config.json and the weights."""
    config, state = read_hf_directory(directory)
    model = empty_model(config_from_hf(config), device, tie_weights=config.get("tie_word_embeddings", True))
    return load_hf_weights(model, state).eval()


def from_pretrained(name_or_path: str = "gpt2", cache_dir: str | None = None, device="cpu"):
    """gpt2lib's GPTModel, in eval mode, with OpenAI's weights ("gpt2", "gpt2-medium", "gpt2-large",
    "gpt2-xl") or those of a local directory holding config.json and the weights."""
    check_name_or_path(name_or_path)
    device = check_device(device)  # before any download: a device that exists here
    if Path(name_or_path).is_dir():
        return model_from_directory(name_or_path, device)
    return model_from_hf(load_hf_model(name_or_path, cache_dir=cache_dir), device)
