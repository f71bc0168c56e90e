"""Finding OpenAI's GPT-2 weights on this machine or on the Hugging Face hub, written by hand.

`from_pretrained` ties together the download (through `transformers`, which keeps a local
cache) and the conversion that notebook 06 teaches. Offline, it fails within seconds with
WeightsUnavailableError instead of a minute of retries.
"""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from gpt2lib.loading import model_from_hf

OPENAI_GPT2_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")


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


def from_pretrained(name_or_path: str = "gpt2", cache_dir: str | None = None, device="cpu"):
    """gpt2lib's GPTModel, in eval mode, with OpenAI's weights ("gpt2", "gpt2-medium", "gpt2-large",
    "gpt2-xl") or those of a local directory holding config.json and the weights."""
    return model_from_hf(load_hf_model(name_or_path, cache_dir=cache_dir), device)
