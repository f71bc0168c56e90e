# GENERATED FILE, edit the notebook instead.
# Source: notebooks/09_training_for_real.ipynb. Regenerate with `make export`.

__all__ = ["export_hf"]


# %% notebooks/09_training_for_real.ipynb, cell 54
import json
from pathlib import Path

from gpt2lib.hf.convert import hf_config, hf_state_dict
from gpt2lib.model import GPTModel
from gpt2lib.training.checkpoint import atomic_write
from gpt2lib.validation import check_directory_target, check_finite_weights, check_plain_layers


def export_hf(model: GPTModel, directory) -> Path:
    """Write config.json and model.safetensors into directory, loadable by gpt2lib.from_pretrained(directory)
    and by transformers' GPT2LMHeadModel.from_pretrained(directory). Each file is written atomically."""
    check_plain_layers(model, "Hugging Face's format")  # no adapters left unmerged (gpt2lib/validation.py)
    directory = check_directory_target(directory)
    check_finite_weights(model, f"the export to {directory}")  # no meta, NaN or infinite weights written
    try:
        from safetensors.torch import save as safetensors_bytes
    except ModuleNotFoundError as error:
        raise ImportError("exporting to Hugging Face's format needs safetensors: pip install 'gpt2lib[hf]'") from error
    state = {name: tensor.detach().cpu().float() for name, tensor in hf_state_dict(model).items()}
    weights = safetensors_bytes(state, metadata={"format": "pt"})
    config = json.dumps(hf_config(model), indent=2) + "\n"
    atomic_write(directory / "model.safetensors", lambda file: file.write(weights))
    atomic_write(directory / "config.json", lambda file: file.write(config.encode("utf-8")))
    return directory
