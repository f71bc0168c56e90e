# GENERATED FILE, edit the notebook instead.
# Source: notebooks/06_loading_pretrained_weights.ipynb. Regenerate with `make export`.

__all__ = [
    "BLOCK_WEIGHT_NAMES", "hf_weight_mapping", "HF_CONFIG_KEYS", "config_from_hf", "hf_state_dict",
    "hf_config",
]


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 12
import torch

from gpt2lib.hf.files import read_hf_config
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.tokenizer import END_OF_TEXT_ID
from gpt2lib.validation import check_gpt_model


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


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 21
# GPTConfig field -> Hugging Face GPT2Config key
HF_CONFIG_KEYS = {"vocab_size": "vocab_size", "context_length": "n_positions", "emb_dim": "n_embd",
                  "n_heads": "n_head", "n_layers": "n_layer"}


def config_from_hf(hf_config) -> GPTConfig:
    """GPTConfig for a Hugging Face GPT2Config (or its dict): same sizes, q/k/v bias, no dropout."""
    hf = read_hf_config(hf_config)  # a dict; refuses variants gpt2lib does not compute (gpt2lib/hf/files.py)
    sizes = {field: hf[hf_key] for field, hf_key in HF_CONFIG_KEYS.items()}
    return GPTConfig(**sizes, dropout=0.0, qkv_bias=True)


# %% notebooks/06_loading_pretrained_weights.ipynb, cell 52
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
