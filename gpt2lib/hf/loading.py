"""The library's loader, written by hand: notebook 06's mapping, with every check a real file needs.

Notebook 06 teaches the mapping (gpt2lib.hf.convert) and loads it with a plain loop of a dozen
lines. This module is that loop made safe for any input: every expected weight present, every
shape right after transposing, nothing left over, tied weights equal, every value finite and
representable, and only then a copy, so a refused load changes nothing. `empty_model` builds the
model on the meta device first (notebook 05), which skips GPT-2's random initialization.
"""

import torch

from gpt2lib.hf.convert import config_from_hf, hf_weight_mapping
from gpt2lib.hf.files import WeightsMismatchError, check_values_fit, copy_weights, read_hf_model_config, read_hf_state
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.validation import check_config, check_device, check_loadable_model

__all__ = ["convert_hf_state", "empty_model", "load_hf_weights", "model_from_hf"]


def convert_hf_state(model: GPTModel, hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict built from a normalized HF state dict, or WeightsMismatchError naming every problem."""
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
            problems.append(f"{theirs}: the weights have {tuple(tensor.shape)}{note}, model's {ours} needs {want}")
            continue
        converted[ours] = tensor
    problems += [f"unexpected {name} {tuple(t.shape)}: the model has no such weight" for name, t in hf_state.items()]
    if not problems and model.weights_tied:
        if not torch.equal(converted["out_head.weight"], converted["tok_emb.weight"]):
            problems.append("lm_head.weight differs from wte.weight, but the model ties them: load into "
                            "GPTModel(cfg, tie_weights=False); model_from_hf and from_pretrained do so by themselves")
    if problems:
        raise WeightsMismatchError(
            f"the weights do not fit the model ({len(problems)} problems); nothing was loaded:\n  " + "\n  ".join(problems)
        )
    return converted


def load_hf_weights(model: GPTModel, source) -> GPTModel:
    """Copy Hugging Face GPT-2 weights into model and return it.

    source: a transformers GPT-2 model, a state dict, or a weight file path. The model is only
    changed if every key and shape fits; otherwise WeightsMismatchError names each mismatch.
    """
    check_loadable_model(model)  # a GPTModel with real memory (gpt2lib/validation.py)
    converted = convert_hf_state(model, read_hf_state(source, tied=model.weights_tied))  # gpt2lib/hf/files.py
    check_values_fit(converted, model.state_dict())  # e.g. no 1e6 into float16
    copy_weights(model, converted)  # = model.load_state_dict(converted), on several threads (gpt2lib/hf/files.py)
    return model


def empty_model(cfg: GPTConfig, device="cpu", tie_weights: bool = True) -> GPTModel:
    """A GPTModel with uninitialized weights, to be filled by load_hf_weights.

    Built on the meta device, it skips GPT-2's random initialization (seconds for 124M weights).
    """
    check_config(cfg)
    device = check_device(device)  # both checks: gpt2lib/validation.py
    with torch.device("meta"):
        model = GPTModel(cfg, tie_weights=tie_weights)
    model = model.to_empty(device=device)
    if tie_weights:
        model.out_head.weight = model.tok_emb.weight  # to_empty gave each parameter its own memory: tie again
    return model


def model_from_hf(hf_model, device="cpu") -> GPTModel:
    """Our GPTModel, in eval mode, with the weights of a transformers GPT-2 model (tied or not, as its config says)."""
    config = read_hf_model_config(hf_model)  # a checked dict (gpt2lib/hf/files.py)
    model = empty_model(config_from_hf(config), device, tie_weights=config.get("tie_word_embeddings", True))
    return load_hf_weights(model, hf_model).eval()
