"""Checks of the fine-tuning code's input, written by hand: gpt2lib/finetune's generated modules call them.

Each check raises before any work is done, naming the argument, its value and what is allowed; the layers
themselves (LoRALinear, GPTClassifier.forward) carry none.
"""

import inspect
import math

import torch
from torch import nn

from gpt2lib.validation import check_gpt_model, check_model_input, check_module, is_int, is_real


def check_rows(rows, pad_id) -> None:
    """pad_right's input: a non-empty list of non-empty lists of token ids (ints >= 0), and an int pad_id >= 0."""
    if not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError(f"rows must be a non-empty list of token-id lists, got {type(rows).__name__} {rows!r:.60}")
    for i, row in enumerate(rows):
        if not isinstance(row, (list, tuple)) or not row:
            raise ValueError(f"rows[{i}] must be a non-empty list of token ids, got {row!r:.60}")
        if not all(is_int(token) and 0 <= token < 2**63 for token in row):
            raise ValueError(f"rows[{i}] must hold only ints in 0..2**63 - 1 (what torch.long holds), got {row!r:.60}")
    if not is_int(pad_id) or pad_id < 0:
        raise ValueError(f"pad_id must be an int >= 0, got {pad_id!r}")


def check_lengths(lengths, idx) -> None:
    """GPTClassifier's guard: lengths (B,) of integers with 1 <= lengths <= T, one per row of idx (B, T)."""
    if (not isinstance(lengths, torch.Tensor) or lengths.shape != idx.shape[:1] or lengths.is_floating_point()
            or lengths.is_complex() or lengths.dtype == torch.bool):
        shape = tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__
        dtype = f" of dtype {lengths.dtype}" if isinstance(lengths, torch.Tensor) else ""
        raise ValueError(f"lengths must be an integer tensor of shape ({idx.shape[0]},), one length per row of idx, "
                         f"got {shape}{dtype}")
    if bool(((lengths < 1) | (lengths > idx.shape[1])).any()):
        raise ValueError(f"lengths must be between 1 and idx's {idx.shape[1]} positions (the last real token of "
                         f"each right-padded row is at lengths - 1), got {lengths.tolist()}")


def check_classifier_args(body, n_classes) -> None:
    check_gpt_model(body)
    if not is_int(n_classes) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")


def check_train_classifier_args(classifier, steps, lr) -> None:
    if not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier must be an nn.Module, got {type(classifier).__name__}")
    try:
        inspect.signature(classifier.forward).bind(None, None)
    except TypeError:
        raise TypeError(f"classifier must be called as classifier(idx, lengths), as GPTClassifier is; this "
                        f"{type(classifier).__name__}'s forward takes other arguments") from None
    if not any(p.requires_grad for p in classifier.parameters()):
        raise ValueError("classifier has no trainable parameter (every one has requires_grad=False): nothing to train")
    if not is_int(steps) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not is_real(lr) or not (0 < lr < math.inf):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")


def check_hidden_states_args(model, idx) -> None:
    """hidden_states' input: a GPTModel (adapters inside are fine) and ids it can read."""
    check_gpt_model(model)
    check_model_input(idx, model.cfg, model.tok_emb.weight.device)  # GPTModel.forward's cheap guard


def check_prompt_args(instruction, input_text) -> None:
    for name, value in (("instruction", instruction), ("input_text", input_text)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def check_example_args(tokenizer, instruction, input_text, response, eos_id) -> None:
    """encode_example's input: a tokenizer with encode and n_vocab (tiktoken's), three strings, and an end id."""
    if not (callable(getattr(tokenizer, "encode", None)) and is_int(getattr(tokenizer, "n_vocab", None))):
        raise TypeError(f"tokenizer must be a tokenizer such as gpt2lib.get_tokenizer(), with encode and n_vocab, "
                        f"got {type(tokenizer).__name__}")
    check_prompt_args(instruction, input_text)
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}")
    if not instruction.strip():
        raise ValueError("instruction is empty: an example needs an instruction")
    if not is_int(eos_id) or not 0 <= eos_id < tokenizer.n_vocab:
        raise ValueError(f"eos_id must be a token id in 0..{tokenizer.n_vocab - 1}, got {eos_id!r}")


def check_response_args(model, idx, response_mask) -> None:
    """response_loss's input: a GPTModel, ids (B, T) with T >= 2 that it can read (the targets too), and a 0/1 mask
    of the same shape that counts some target."""
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] < 2:
        shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(f"idx must be a (B, T) tensor of token ids with T >= 2, got {shape}")
    check_gpt_model(model)  # hidden_states checks the inputs, idx[:, :-1]; the last token is only a target:
    check_model_input(idx[:, -1:], model.cfg, model.tok_emb.weight.device)  # its range too
    if not isinstance(response_mask, torch.Tensor) or response_mask.shape != idx.shape:
        shape = tuple(response_mask.shape) if isinstance(response_mask, torch.Tensor) else type(response_mask).__name__
        raise ValueError(f"response_mask must be a tensor of idx's shape {tuple(idx.shape)}, got {shape}")
    if response_mask.is_floating_point() or response_mask.is_complex():
        raise TypeError(f"response_mask must hold integers or booleans (1 = counted), got {response_mask.dtype}")
    if bool(((response_mask != 0) & (response_mask != 1)).any()):
        raise ValueError("response_mask must hold only 0 and 1 (1 = a response token whose prediction is counted)")
    if not bool(response_mask[:, 1:].any()):
        raise ValueError("response_mask counts no target: it is 0 everywhere after the first position, so the loss "
                         "would be the mean of nothing (NaN)")


def check_lora_args(model, rank, alpha, targets, train) -> None:
    from gpt2lib.finetune.lora import LoRALinear  # the module that calls this check

    check_gpt_model(model)
    if not is_int(rank) or rank < 1:
        raise ValueError(f"rank must be an int >= 1, got {rank!r}")
    if not is_real(alpha) or not (0 < alpha < math.inf):
        raise ValueError(f"alpha must be a finite number > 0, got {alpha!r}")
    if not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError(f"targets must be a non-empty list of layer names such as 'attn.qkv', got {targets!r}")
    if len(set(targets)) < len(targets):
        raise ValueError(f"targets names a layer twice: {list(targets)!r}; each layer gets one adapter")
    for target in targets:
        layer = model.blocks[0].get_submodule(target) if _has(model.blocks[0], target) else None
        if isinstance(layer, LoRALinear):
            raise ValueError(f"{target} is already wrapped in a LoRALinear: add_lora was called twice on this model")
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"targets: {target!r} is not an nn.Linear of the blocks (e.g. 'attn.qkv', 'mlp.fc')")
        if rank > min(layer.in_features, layer.out_features):
            raise ValueError(f"rank {rank} is larger than {target}'s smaller side "
                             f"({min(layer.in_features, layer.out_features)}): nothing low-rank about it")
    if not isinstance(train, (list, tuple)) or not all(isinstance(module, nn.Module) for module in train):
        raise TypeError(f"train must be a list of modules to keep trainable, e.g. [classifier.head], got "
                        f"{type(train).__name__}")


def _has(module: nn.Module, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return False
    return True


def check_merge_args(model) -> None:
    """merge_lora's input: a module whose adapters hold finite numbers (NaN would be written into the weights)."""
    from gpt2lib.finetune.lora import LoRALinear  # the module that calls this check

    check_module(model)
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear) and not (module.A.isfinite().all() and module.B.isfinite().all()):
            raise ValueError(f"the adapter {name} holds NaN or infinite values (the training diverged): merging "
                             "would write them into the weights. Train again with a lower learning rate")
