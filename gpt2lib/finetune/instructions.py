# GENERATED FILE, edit the notebook instead.
# Source: notebooks/10_fine_tuning.ipynb. Regenerate with `make export`.

__all__ = ["PROMPT_FORMAT", "format_prompt", "encode_example", "response_loss"]


# %% notebooks/10_fine_tuning.ipynb, cell 30
import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib.finetune.classify import hidden_states
from gpt2lib.finetune.validation import check_example_args, check_prompt_args, check_response_args

PROMPT_FORMAT = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


def format_prompt(instruction: str, input_text: str) -> str:
    """The prompt of an example, up to the point where the response begins."""
    check_prompt_args(instruction, input_text)  # gpt2lib/finetune/validation.py
    return PROMPT_FORMAT.format(instruction=instruction, input=input_text)


# %% notebooks/10_fine_tuning.ipynb, cell 34
def encode_example(tokenizer, instruction: str, input_text: str, response: str,
                   eos_id: int = 50256) -> tuple[list[int], list[int]]:
    """Tokens of prompt + response + <|endoftext|>, and a mask that is 1 on the response and the end token."""
    check_example_args(tokenizer, instruction, input_text, response, eos_id)  # gpt2lib/finetune/validation.py
    prompt = tokenizer.encode(format_prompt(instruction, input_text))
    answer = tokenizer.encode(response) + [eos_id]
    return prompt + answer, [0] * len(prompt) + [1] * len(answer)


# %% notebooks/10_fine_tuning.ipynb, cell 37
def response_loss(model: nn.Module, idx: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss over the response tokens: idx (B, T), response_mask (B, T) of 0/1 -> a scalar."""
    check_response_args(model, idx, response_mask)  # gpt2lib/finetune/validation.py
    h = hidden_states(model, idx[:, :-1])  # (B, T-1, C): position t predicts token t + 1
    targets, counted = idx[:, 1:], response_mask[:, 1:].bool()  # (B, T-1) each
    logits = model.out_head(h[counted])  # (N, vocab_size): only the N positions that count
    return F.cross_entropy(logits, targets[counted])
