"""gpt2lib: GPT-2 built step by step in the notebooks of this repository.

    from gpt2lib import GPTConfig, GPTModel, generate, get_tokenizer

The model's chapters sit at the top level, one module each (bpe, the optional prequel on tokens;
scaffold, attention, layernorm, feedforward, model, generation); `gpt2lib.hf` holds everything Hugging Face (conversion both ways,
weight files, the hub, export) and `gpt2lib.training` everything training (data, loss, the Trainer,
checkpoints, torchrun, the command). Most modules are generated from the notebooks by the
repository's `tools/exporter.py`; the hand-written ones say so at the top. Input is checked at the
doors (`validation.py`): the config, the model's forward, generation, the loaders, the tokenizer and
the trainer. The layers themselves carry no checks.
"""

from gpt2lib.attention import CausalSelfAttention, reference_attention
from gpt2lib.bpe import GPT2_PATTERN, BPETokenizer, load_gpt2_bpe, train_bpe
from gpt2lib.feedforward import GELU, FeedForward, gelu_exact, gelu_tanh
from gpt2lib.generation import (
    KVCache, decode_step, default_device, forward_with_cache, generate, pad_left, pick_next_token,
)
from gpt2lib.hf import (
    CheckpointMismatchError, WeightsMismatchError, WeightsUnavailableError, config_from_hf, empty_model, export_hf,
    from_pretrained, hf_weight_mapping, load_hf_model, load_hf_weights, model_from_hf,
)
from gpt2lib.layernorm import LayerNorm, layer_norm_reference
from gpt2lib.model import GPTModel, TransformerBlock, generate_simple
from gpt2lib.scaffold import (
    GPT2_PRESETS, GPTConfig, GPTScaffold, ScaffoldBlock, count_parameters, find_placeholders, placeholder_report,
)
from gpt2lib.tokenizer import END_OF_TEXT_ID, get_tokenizer
from gpt2lib.training import Trainer, TrainConfig, TrainingCheckpointError
from gpt2lib.validation import check_token_ids

__all__ = [
    "END_OF_TEXT_ID",
    "GELU",
    "GPT2_PATTERN",
    "GPT2_PRESETS",
    "BPETokenizer",
    "CausalSelfAttention",
    "CheckpointMismatchError",
    "FeedForward",
    "GPTConfig",
    "GPTModel",
    "GPTScaffold",
    "KVCache",
    "LayerNorm",
    "ScaffoldBlock",
    "TrainConfig",
    "Trainer",
    "TrainingCheckpointError",
    "TransformerBlock",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "check_token_ids",
    "config_from_hf",
    "count_parameters",
    "decode_step",
    "default_device",
    "empty_model",
    "export_hf",
    "find_placeholders",
    "forward_with_cache",
    "from_pretrained",
    "gelu_exact",
    "gelu_tanh",
    "generate",
    "generate_simple",
    "get_tokenizer",
    "hf_weight_mapping",
    "layer_norm_reference",
    "load_hf_model",
    "load_gpt2_bpe",
    "load_hf_weights",
    "model_from_hf",
    "pad_left",
    "pick_next_token",
    "placeholder_report",
    "reference_attention",
    "train_bpe",
]
