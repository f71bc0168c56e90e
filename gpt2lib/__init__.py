"""gpt2lib: GPT-2 built step by step in the notebooks of this repository.

Most modules are generated from the notebooks (see `gpt2lib/exporter.py`); `tokenizer.py`
and `exporter.py` are written by hand.
"""

from gpt2lib.attention import CausalSelfAttention, reference_attention
from gpt2lib.layernorm import LayerNorm
from gpt2lib.scaffold import (
    GPT2_PRESETS,
    GPTConfig,
    GPTScaffold,
    ScaffoldBlock,
    check_token_ids,
    count_parameters,
    find_placeholders,
    placeholder_report,
)
from gpt2lib.tokenizer import END_OF_TEXT_ID, get_tokenizer

__all__ = [
    "CausalSelfAttention",
    "END_OF_TEXT_ID",
    "GPT2_PRESETS",
    "GPTConfig",
    "GPTScaffold",
    "LayerNorm",
    "ScaffoldBlock",
    "check_token_ids",
    "count_parameters",
    "find_placeholders",
    "get_tokenizer",
    "placeholder_report",
    "reference_attention",
]
