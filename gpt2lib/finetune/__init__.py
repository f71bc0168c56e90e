"""Fine-tuning: the modules of notebook 10 and the hand-written ones beside them.

    from gpt2lib.finetune import GPTClassifier, add_lora, merge_lora, response_loss, pretrained_start

classify (a head on the last real token), instructions (the prompt format and the response-only loss) and lora
(LoRALinear, add_lora, merge_lora) are generated from notebooks/10_fine_tuning.ipynb; start (where fine-tuning
starts: OpenAI's GPT-2 or the shipped small model) and validation (the checks) are written by hand.
"""

from gpt2lib.finetune.classify import GPTClassifier, hidden_states, pad_right, train_classifier
from gpt2lib.finetune.instructions import PROMPT_FORMAT, encode_example, format_prompt, response_loss
from gpt2lib.finetune.lora import LORA_TARGETS, LoRALinear, add_lora, merge_lora
from gpt2lib.finetune.start import pretrained_start, shipped_model_dir

__all__ = [
    "GPTClassifier",
    "LORA_TARGETS",
    "LoRALinear",
    "PROMPT_FORMAT",
    "add_lora",
    "encode_example",
    "format_prompt",
    "hidden_states",
    "merge_lora",
    "pad_right",
    "pretrained_start",
    "response_loss",
    "shipped_model_dir",
    "train_classifier",
]
