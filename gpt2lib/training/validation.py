"""Checks of the training code's input, written by hand: gpt2lib/training's generated modules call them.

Like `gpt2lib/validation.py`, each check raises a clear error that names the argument, the value
and what is allowed, before any work is done, so that a refused call changes nothing.
"""

import math
from pathlib import Path

import torch

from gpt2lib.validation import as_python_numbers, check_gpt_model, is_int, is_real

PRECISIONS = ("auto", "bfloat16", "float32")
MAX_SEED = 2**32 - 1  # torch's CPU generator uses 32-bit seeds


class TrainingCheckpointError(ValueError):
    """A training checkpoint cannot be read, or does not belong to this run. Nothing was changed."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite: the run stopped, and no checkpoint was written after it."""


def check_finite_loss(loss: float, step: int, lr: float) -> None:
    """Stop a run whose training loss at step (0-based, before the step's update counts) is NaN or infinite."""
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"the training diverged: the loss of step {step + 1} is {loss} at learning rate {lr:.3g}. Nothing was "
            "saved after it; the last checkpoint saved before it is kept. Lower the learning rate (TrainConfig.lr, "
            "--lr), or raise warmup_steps, and train again")


def check_positive_int(value, name: str) -> None:
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_non_negative_int(value, name: str) -> None:
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def check_finite_number(value, name: str, low: float = 0.0, include_low: bool = True) -> None:
    """Refuse anything but a finite real number >= low (or > low)."""
    ok = is_real(value) and math.isfinite(value) and (value >= low if include_low else value > low)
    if not ok:
        bound = ">=" if include_low else ">"
        raise ValueError(f"{name} must be a finite number {bound} {low}, got {value!r}")


def check_text(text) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: there is nothing to train on")


def check_token_data(data, name: str = "data", min_length: int = 2, vocab_size: int | None = None) -> None:
    """Refuse anything but a 1-D tensor of token ids with at least min_length tokens."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{name} must be a 1-D torch.Tensor of token ids, got {type(data).__name__}")
    if data.dtype not in (torch.long, torch.int32):
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {data.dtype}")
    if data.dim() != 1:
        raise ValueError(f"{name} must be 1-D (all token ids in one row), got shape {tuple(data.shape)}")
    if len(data) < min_length:
        raise ValueError(f"{name} has {len(data)} tokens; at least {min_length} are needed "
                         "(one window of context_length tokens plus the target after it)")
    low, high = data.min().item(), data.max().item()
    if low < 0 or (vocab_size is not None and high >= vocab_size):
        bad = low if low < 0 else high
        limit = f"0..{vocab_size - 1}" if vocab_size is not None else ">= 0"
        raise ValueError(f"{name} holds token id {bad}, outside the vocabulary ({limit})")


def check_val_fraction(ids, val_fraction) -> None:
    check_token_data(ids, "ids")
    if not is_real(val_fraction) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
    n_train = int(len(ids) * (1 - val_fraction))
    if n_train < 1 or n_train >= len(ids):
        raise ValueError(f"val_fraction {val_fraction!r} leaves an empty split of {len(ids)} tokens")


def check_windows_args(data, starts, context_length) -> None:
    check_token_data(data, "data")
    check_positive_int(context_length, "context_length")
    if not isinstance(starts, torch.Tensor) or starts.dim() != 1 or starts.dtype not in (torch.long, torch.int32):
        raise TypeError("starts must be a 1-D integer tensor of window start positions")
    if len(starts) and (starts.min().item() < 0 or starts.max().item() + context_length >= len(data)):
        raise ValueError(f"window starts must lie in 0..{len(data) - context_length - 1} for {len(data)} tokens "
                         f"and context_length {context_length} (the last target needs one more token)")


def check_sampling_args(data, n_windows, context_length, generator) -> None:
    check_token_data(data, "data")
    check_positive_int(n_windows, "n_windows")
    check_positive_int(context_length, "context_length")
    if len(data) <= context_length:
        raise ValueError(f"data has {len(data)} tokens; a window of context_length {context_length} "
                         f"needs at least {context_length + 1}")
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(f"generator must be a CPU torch.Generator, got {generator!r}")


def check_seed(seed, name: str = "seed") -> None:
    if not is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in 0..{MAX_SEED}, got {seed!r}")


def check_seed_and_step(seed, step) -> None:
    check_seed(seed)
    check_non_negative_int(step, "step")


def check_evaluate_args(data, context_length, max_windows, batch_size) -> None:
    check_positive_int(context_length, "context_length")
    check_token_data(data, "data", context_length + 1)
    if max_windows is not None:
        check_positive_int(max_windows, "max_windows")
    check_positive_int(batch_size, "batch_size")


def check_loss_args(logits, targets) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or not logits.dtype.is_floating_point:
        raise ValueError("logits must be a floating-point tensor of shape (batch, seq_len, vocab_size)")
    if not isinstance(targets, torch.Tensor) or targets.dtype not in (torch.long, torch.int32):
        raise TypeError("targets must be an integer tensor of token ids, shape (batch, seq_len)")
    if tuple(targets.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"targets have shape {tuple(targets.shape)} but the logits need {tuple(logits.shape[:2])} "
                         "(one target per position)")
    if targets.numel():  # one min and max: cheap, but on a GPU .item() waits for the values (one sync per call)
        low, high = (value.item() for value in torch.aminmax(targets))
        vocab_size = logits.shape[-1]
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            ignore = (" gpt2lib's losses have no ignore index: -100 is not skipped; drop those positions instead"
                      if bad == -100 else "")
            raise ValueError(f"targets hold token id {bad}, outside the vocabulary of the logits "
                             f"(0..{vocab_size - 1}).{ignore}")


def check_schedule(max_lr, min_lr, warmup_steps, total_steps,
                   names=("max_lr", "min_lr", "warmup_steps", "total_steps")) -> None:
    """Refuse a learning-rate schedule that cannot be right; names are the arguments' names in the caller."""
    max_name, min_name, warmup_name, total_name = names
    check_finite_number(max_lr, max_name, 0.0, include_low=False)
    check_finite_number(min_lr, min_name)
    if min_lr > max_lr:
        raise ValueError(f"{min_name} ({min_lr!r}) must not exceed {max_name} ({max_lr!r})")
    check_non_negative_int(warmup_steps, warmup_name)
    check_positive_int(total_steps, total_name)
    if warmup_steps > total_steps:
        raise ValueError(f"{warmup_name} ({warmup_steps}) must not exceed {total_name} ({total_steps})")


def check_schedule_args(step, max_lr, min_lr, warmup_steps, total_steps) -> None:
    check_non_negative_int(step, "step")
    check_schedule(max_lr, min_lr, warmup_steps, total_steps)


def check_train_config(tcfg) -> None:
    """Refuse a TrainConfig whose values cannot be right."""
    for name in ("steps", "batch_size", "grad_accum", "eval_interval", "eval_windows"):
        check_positive_int(getattr(tcfg, name), f"TrainConfig.{name}")
    check_schedule(tcfg.lr, tcfg.min_lr, tcfg.warmup_steps, tcfg.steps,
                   names=("TrainConfig.lr", "TrainConfig.min_lr", "TrainConfig.warmup_steps", "TrainConfig.steps"))
    check_finite_number(tcfg.weight_decay, "TrainConfig.weight_decay")
    check_finite_number(tcfg.grad_clip, "TrainConfig.grad_clip", 0.0, include_low=False)
    check_seed(tcfg.seed, "TrainConfig.seed")
    check_precision(tcfg.precision, "TrainConfig.precision")
    fields = ("steps", "batch_size", "grad_accum", "lr", "min_lr", "warmup_steps", "weight_decay", "grad_clip",
              "eval_interval", "eval_windows", "seed", "precision")
    as_python_numbers(tcfg, fields)  # np.float64(1e-3) -> 1e-3: a checkpoint can store it


def check_precision(precision, name: str = "precision") -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"{name} must be one of {PRECISIONS}, got {precision!r}")


def check_trainer_args(model, tcfg, train_data, val_data) -> None:
    """Refuse a Trainer whose model, configuration or data cannot work together."""
    check_gpt_model(model)
    if not all(hasattr(tcfg, name) for name in ("steps", "batch_size", "lr", "seed", "precision")):
        raise TypeError(f"tcfg must be a TrainConfig, got {type(tcfg).__name__}")
    check_train_config(tcfg)
    need = model.cfg.context_length + 1
    check_token_data(train_data, "train_data", need, model.cfg.vocab_size)
    check_token_data(val_data, "val_data", need, model.cfg.vocab_size)


def check_fit_args(max_seconds, checkpoint_path, checkpoint_interval, progress) -> None:
    if max_seconds is not None:
        check_finite_number(max_seconds, "max_seconds", 0.0, include_low=False)
    if checkpoint_path is not None and not isinstance(checkpoint_path, (str, Path)):
        raise TypeError(f"checkpoint_path must be a str, a Path or None, got {type(checkpoint_path).__name__}")
    if checkpoint_interval is not None:
        check_positive_int(checkpoint_interval, "checkpoint_interval")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")


CHECKPOINT_KEYS = ("format", "model_config", "tie_weights", "train_config", "model", "optimizer", "step", "history",
                   "rng", "data")


def check_checkpoint_contents(state, path, expected_format: str) -> None:
    """Refuse a loaded object that is not a gpt2lib training checkpoint."""
    if not isinstance(state, dict) or state.get("format") != expected_format:
        raise TrainingCheckpointError(f"{path} is not a gpt2lib training checkpoint (format {expected_format!r})")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise TrainingCheckpointError(f"{path} is incomplete: it lacks {', '.join(missing)}")
    if not isinstance(state["rng"], list) or not state["rng"] or not all(isinstance(s, dict) for s in state["rng"]):
        raise TrainingCheckpointError(f"{path} holds no random state per process (key 'rng')")


def check_same_data(saved: dict, train_data, val_data, path) -> None:
    """Refuse to resume a run on other data than it was trained on (the batches would silently change)."""
    have = {"train_tokens": len(train_data), "val_tokens": len(val_data)}
    if saved != have:
        raise TrainingCheckpointError(f"{path} was trained on {saved}, but the data given has {have}: "
                                      "resume with the same train and validation splits")
