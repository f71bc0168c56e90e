"""gpt2lib: GPT-2 built step by step in the notebooks of this repository.

Most modules are generated from the notebooks (see `gpt2lib/exporter.py`); `tokenizer.py`
and `exporter.py` are written by hand.
"""

from gpt2lib.attention import CausalSelfAttention, reference_attention
from gpt2lib.feedforward import GELU, FeedForward, gelu_exact, gelu_tanh
from gpt2lib.layernorm import LayerNorm, layer_norm_reference
from gpt2lib.loading import (
    CheckpointMismatchError,
    WeightsUnavailableError,
    config_from_hf,
    empty_model,
    from_pretrained,
    hf_weight_mapping,
    load_hf_model,
    load_hf_weights,
    model_from_hf,
)
from gpt2lib.model import GPTModel, KVCache, TransformerBlock, generate, pick_next_token
from gpt2lib.scaffold import (
    GPT2_PRESETS,
    GPTConfig,
    GPTScaffold,
    Linear,
    ScaffoldBlock,
    check_token_ids,
    count_parameters,
    default_device,
    find_placeholders,
    placeholder_report,
)
from gpt2lib.tokenizer import END_OF_TEXT_ID, get_tokenizer

__all__ = [
    "END_OF_TEXT_ID",
    "GELU",
    "GPT2_PRESETS",
    "CausalSelfAttention",
    "CheckpointMismatchError",
    "FeedForward",
    "GPTConfig",
    "GPTModel",
    "GPTScaffold",
    "KVCache",
    "LayerNorm",
    "Linear",
    "ScaffoldBlock",
    "TransformerBlock",
    "WeightsUnavailableError",
    "check_token_ids",
    "config_from_hf",
    "count_parameters",
    "default_device",
    "empty_model",
    "find_placeholders",
    "from_pretrained",
    "gelu_exact",
    "gelu_tanh",
    "generate",
    "get_tokenizer",
    "hf_weight_mapping",
    "layer_norm_reference",
    "load_hf_model",
    "load_hf_weights",
    "model_from_hf",
    "pick_next_token",
    "placeholder_report",
    "reference_attention",
]
