# GENERATED FILE, edit the notebook instead.
# Source: notebooks/06_loading_pretrained_weights.ipynb. Regenerate with `make export`.

__all__ = [
    "BLOCK_WEIGHT_NAMES", "hf_weight_mapping", "convert_hf_state", "load_hf_weights", "HF_CONFIG_KEYS",
    "config_from_hf", "empty_model", "model_from_hf", "hf_state_dict", "hf_config",
]


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 12
import torch

from gpt2lib.hf.files import (
    WeightsMismatchError, check_values_fit, copy_weights, read_hf_config, read_hf_model_config, read_hf_state,
)
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.tokenizer import END_OF_TEXT_ID
from gpt2lib.validation import check_config, check_device, check_gpt_model, check_loadable_model


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 14
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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 15
def hf_weight_mapping(model: GPTModel) -> list[tuple[str, str, bool]]:
    """(our name, Hugging Face name, transposed?) for every entry of model.state_dict()."""
    check_gpt_model(model)  # gpt2lib/validation.py
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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 19
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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 21
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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 23
# GPTConfig field -> Hugging Face GPT2Config key
HF_CONFIG_KEYS = {"vocab_size": "vocab_size", "context_length": "n_positions", "emb_dim": "n_embd",
                  "n_heads": "n_head", "n_layers": "n_layer"}


def config_from_hf(hf_config) -> GPTConfig:
    """GPTConfig for a Hugging Face GPT2Config (or its dict): same sizes, q/k/v bias, no dropout."""
    hf = read_hf_config(hf_config)  # a dict; refuses variants gpt2lib does not compute (gpt2lib/hf/files.py)
    sizes = {field: hf[hf_key] for field, hf_key in HF_CONFIG_KEYS.items()}
    return GPTConfig(**sizes, dropout=0.0, qkv_bias=True)


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 24
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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 45
def hf_state_dict(model: GPTModel) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face GPT-2's names and layout: hf_weight_mapping run backwards."""
    ours, state = model.state_dict(), {}
    for our_name, hf_name, transposed in hf_weight_mapping(model):
        tensor = ours[our_name]
        state[hf_name] = (tensor.T if transposed else tensor).contiguous()  # Conv1D stores (in, out)
    if not model.cfg.qkv_bias:  # Hugging Face's GPT-2 always has a q/k/v bias: zeros compute the same thing
        for i in range(model.cfg.n_layers):
            state[f"transformer.h.{i}.attn.c_attn.bias"] = ours["tok_emb.weight"].new_zeros(3 * model.cfg.emb_dim)
    if model.weights_tied:
        del state["lm_head.weight"]  # tied to wte: stored once, tied again when loaded
    return state


def hf_config(model: GPTModel) -> dict:
    """config.json for Hugging Face's GPT2LMHeadModel with this model's sizes: config_from_hf run backwards."""
    cfg = model.cfg
    sizes = {hf_key: getattr(cfg, field) for field, hf_key in HF_CONFIG_KEYS.items()}
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", **sizes, "n_inner": None,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout, "attn_pdrop": cfg.dropout,
            "bos_token_id": END_OF_TEXT_ID, "eos_token_id": END_OF_TEXT_ID, "tie_word_embeddings": model.weights_tied}
