"""Where fine-tuning starts: OpenAI's GPT-2 when its weights are on this machine, else the small shipped model.

Written by hand (no notebook teaches finding files). Notebook 10 and the training command's `--init` start from a
pretrained model. OpenAI's 124M GPT-2 is the natural start, but it may be missing (offline, never downloaded);
the repository therefore ships a small model that `make train` produces (4 layers, width 192, trained on tiny
Shakespeare: `make pretrained` rebuilds it, assets/pretrained/shakespeare-4x192/provenance.json says how).

The choice is made in this order:
1. the environment variable GPT2LIB_START, when set: "shipped", an OpenAI name ("gpt2", ...) or a directory;
2. OpenAI's "gpt2", if it is in the local Hugging Face cache (never downloaded here: no waiting for a network);
3. the shipped model.
The test suite sets GPT2LIB_START=shipped, so that notebook 10's stored outputs do not depend on the machine's cache.
"""

import os
from pathlib import Path

from gpt2lib.hf.hub import OPENAI_GPT2_NAMES, WeightsUnavailableError, from_pretrained

SHIPPED_NAME = "shakespeare-4x192"
START_VARIABLE = "GPT2LIB_START"


def shipped_model_dir() -> Path:
    """The folder of the shipped small model: assets/pretrained/shakespeare-4x192 of a repository checkout.

    It is kept out of the wheel (23 MB); GPT2LIB_SHIPPED_DIR names another copy of the folder."""
    if os.environ.get("GPT2LIB_SHIPPED_DIR"):
        directory = Path(os.environ["GPT2LIB_SHIPPED_DIR"])
    else:
        directory = Path(__file__).resolve().parents[2] / "assets" / "pretrained" / SHIPPED_NAME
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"the small pretrained model is not at {directory}: it ships with the repository, not with the wheel. "
            "Clone the repository (git clone ...; the folder assets/pretrained/), rebuild it there with "
            "`make pretrained`, or set GPT2LIB_SHIPPED_DIR to a copy of the folder")
    return directory


def openai_gpt2_cached(name: str = "gpt2") -> bool:
    """Whether OpenAI's weights for name are in the local Hugging Face cache (no network is used)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ModuleNotFoundError:
        return False
    return any(isinstance(try_to_load_from_cache(name, file), str) for file in ("model.safetensors", "pytorch_model.bin"))


def start_choice() -> str:
    """What pretrained_start() loads: an OpenAI name, "shipped", or a directory (see the module's docstring)."""
    choice = os.environ.get(START_VARIABLE, "").strip()
    if choice:
        if choice != "shipped" and choice not in OPENAI_GPT2_NAMES and not Path(choice).is_dir():
            raise ValueError(f"{START_VARIABLE}={choice!r} is none of 'shipped', {', '.join(OPENAI_GPT2_NAMES)} "
                             "or an existing directory")
        return choice
    return "gpt2" if openai_gpt2_cached("gpt2") else "shipped"


def pretrained_start(device="cpu"):
    """(model, description): the pretrained model fine-tuning starts from, in eval mode, and which one it is."""
    choice = start_choice()
    if choice == "shipped":
        return from_pretrained(str(shipped_model_dir()), device=device), f"the shipped small model ({SHIPPED_NAME})"
    try:
        model = from_pretrained(choice, device=device)
    except WeightsUnavailableError as error:
        raise WeightsUnavailableError(f"{error} (set {START_VARIABLE}=shipped to start from the small shipped model)")
    return model, (f"OpenAI's {choice}" if choice in OPENAI_GPT2_NAMES else f"the model in {choice}")
