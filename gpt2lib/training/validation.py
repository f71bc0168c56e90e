"""Checks of the training code's input, written by hand: gpt2lib/training's generated modules call them.

Like `gpt2lib/validation.py`, each check raises a clear error that names the argument, the value
and what is allowed, before any work is done, so that a refused call changes nothing.
"""

import contextlib
import hashlib
import math
import os
import pickle
import warnings
from pathlib import Path

import torch

from gpt2lib.training.shards import TokenShards
from gpt2lib.validation import as_python_numbers, check_gpt_model, check_sampling_options, is_int, is_real

PRECISIONS = ("auto", "bfloat16", "float32")
MAX_SEED = 2**32 - 1  # torch's CPU generator uses 32-bit seeds
MAX_SAMPLE_SEED = 2**63 - 1  # the largest seed torch.Generator.manual_seed takes as a signed 64-bit number
AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)  # what torch.autocast computes in; None means float32 throughout


class TrainingCheckpointError(ValueError):
    """A training checkpoint cannot be read, or does not belong to this run. Nothing was changed."""


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite: the run stopped, and no checkpoint was written after it."""


def check_finite_loss(loss: float, step: int, lr: float) -> None:
    """Stop a run whose training loss at step (0-based, before the step's update counts) is NaN or infinite."""
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"the training diverged: the loss of step {step + 1} is {loss} at learning rate {lr:.3g}. Nothing was "
            "saved after it; the last checkpoint saved before it, if there is one, is kept. Lower the learning rate "
            "(TrainConfig.lr, --lr) or the weight decay, or raise warmup_steps, and train again")


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
    """Refuse anything but a 1-D tensor of token ids (or TokenShards) with at least min_length tokens."""
    if isinstance(data, TokenShards):  # uint16 shards (training/shards.py): checked from their recorded largest id
        data.check(name, min_length, vocab_size)
        return
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


def check_evaluate_args(model, data, context_length, max_windows, batch_size, dtype=None) -> None:
    """Refuse an evaluation that would fail half-way, before the model is put in eval mode."""
    check_gpt_model(model)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype in AUTOCAST_DTYPES):
        raise ValueError(f"dtype must be None (float32 throughout) or one of autocast's dtypes, torch.bfloat16 or "
                         f"torch.float16, got {dtype!r}")
    check_positive_int(context_length, "context_length")
    if context_length > model.cfg.context_length:
        raise ValueError(f"context_length {context_length} exceeds the model's context of "
                         f"{model.cfg.context_length} tokens")
    check_token_data(data, "data", context_length + 1, model.cfg.vocab_size)
    if max_windows is not None:
        check_positive_int(max_windows, "max_windows")
    check_positive_int(batch_size, "batch_size")


def check_sample_args(model, prompt, temperature, top_k, seed) -> None:
    """Refuse a sample() call that cannot be right, before any work (generate checks the rest: max_new_tokens).
    With temperature 0 (greedy) top_k does not apply, and sample leaves it out; a given one must still be valid."""
    check_gpt_model(model)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt:
        raise ValueError("prompt is empty: the model needs at least one token to continue, e.g. prompt='\\n'")
    if "<|endoftext|>" in prompt:
        raise ValueError(f"prompt {prompt[:60]!r} contains '<|endoftext|>', which sample does not encode: to start "
                         "after the end-of-text token, call gpt2lib.generate with the ids [[50256]]")
    check_sampling_options(temperature, None, None)
    if top_k is not None and (not is_int(top_k) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if not is_int(seed) or not 0 <= seed <= MAX_SAMPLE_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SAMPLE_SEED} (2**63 - 1), got {seed!r}")


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
    if checkpoint_path is not None:
        check_checkpoint_path(checkpoint_path)
    if checkpoint_interval is not None:
        check_positive_int(checkpoint_interval, "checkpoint_interval")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")


def check_checkpoint_path(path, name: str = "checkpoint_path") -> None:
    """Refuse, before the training, a checkpoint path that no save could write: an existing directory, or a path
    whose folder is a file or cannot be written. The folder may be missing: the save creates it (atomic_write)."""
    path = Path(path).absolute()
    if path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a directory; it must be the path of a file, e.g. "
                         f"{str(path / 'checkpoint.pt')!r}")
    folder = next(folder for folder in path.parents if folder.exists())  # the nearest one that exists, at worst /
    if not folder.is_dir():
        raise ValueError(f"{name} {str(path)!r} cannot be written: {str(folder)!r} is a file, not a directory; "
                         "it must be the path of a file in a directory that exists or can be created")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r} cannot be written: the directory {str(folder)!r} is not writable; "
                         "choose a directory you can write to")


# --- training checkpoints ------------------------------------------------------------------------------------

CHECKPOINT_KEYS = ("format", "model_config", "tie_weights", "train_config", "model", "optimizer", "step", "history",
                   "rng", "data", "checksum")


def checkpoint_checksum(state: dict) -> str:
    """The SHA-256 of a checkpoint's contents: every tensor's dtype, shape and bytes, and every plain value.

    Stored at save time (with_checksum) and recomputed at load, it catches what a disk, a copy or a transfer
    changed by accident: a flipped byte, a truncated tensor. It cannot catch a deliberate change: whoever edits
    a checkpoint can recompute the checksum too (it is not a signature). The content checks that follow it
    (shapes, finite values, ranges) still apply to such a file, and weights_only loading never runs its code.
    """
    digest = hashlib.sha256()
    _feed(digest, {key: value for key, value in state.items() if key != "checksum"})
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{data.dtype}{tuple(value.shape)}:".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key, item in value.items():  # in order: torch.load gives the dict back as it was saved
            _feed(digest, key)
            _feed(digest, item)
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def with_checksum(state: dict) -> dict:
    """state with its 'checksum' field set (see checkpoint_checksum): what a checkpoint file stores."""
    return {**state, "checksum": checkpoint_checksum(state)}


ZIP_MAGIC = b"PK\x03\x04"  # how every file that torch.save writes begins: it is a zip archive


def check_checkpoint_file(path) -> None:
    """Refuse, before torch.load reads it, what cannot be a checkpoint that gpt2lib wrote: no file, an empty one,
    one that is not a zip archive (torch.save writes zip archives)."""
    path = Path(path)
    if not path.is_file():
        raise TrainingCheckpointError(f"no checkpoint at {path}")
    size = path.stat().st_size
    if size == 0:
        raise TrainingCheckpointError(f"{path} is not a checkpoint written by gpt2lib: it is an empty file")
    with open(path, "rb") as file:
        start = file.read(len(ZIP_MAGIC))
    if start != ZIP_MAGIC:
        raise TrainingCheckpointError(f"{path} is not a checkpoint written by gpt2lib: {size} bytes, not a zip "
                                      "archive (torch.save writes checkpoints as zip archives)")


@contextlib.contextmanager
def checkpoint_read_errors(path):
    """Around torch.load(path, weights_only=True): gpt2lib's own message when torch refuses the file, and none of
    torch's warnings about the file's pickle protocol.

    torch's own message for a file that holds other objects advises loading it with weights_only=False, which could
    run the code such a file carries: gpt2lib never writes those objects, and never gives that advice."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            yield
    except pickle.UnpicklingError:
        raise TrainingCheckpointError(
            f"{path} is not a checkpoint written by gpt2lib: it holds Python objects other than tensors and plain "
            "data, which gpt2lib never writes; it was not loaded, because loading it could run code") from None
    except Exception as error:  # noqa: BLE001  (a truncated or damaged archive: zip, pickle or storage errors)
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise TrainingCheckpointError(f"{path} cannot be read as a checkpoint: it is damaged or truncated "
                                      f"({reason})") from error


def check_checkpoint_contents(state, path, expected_format: str) -> None:
    """Refuse a loaded object that is not a gpt2lib training checkpoint, or whose fields do not fit together: every
    field that from_checkpoint uses is checked here, so that a refusal comes before anything changes."""
    if not isinstance(state, dict) or state.get("format") != expected_format:
        raise TrainingCheckpointError(f"{path} is not a gpt2lib training checkpoint (format {expected_format!r})")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise TrainingCheckpointError(f"{path} is incomplete: it lacks {', '.join(missing)}")
    if not isinstance(state["rng"], list) or not state["rng"] or not all(isinstance(s, dict) for s in state["rng"]):
        raise TrainingCheckpointError(f"{path} holds no random state per process (key 'rng')")
    if state["checksum"] != checkpoint_checksum(state):
        raise TrainingCheckpointError(f"{path}: field 'checksum' does not match the contents: the file was changed "
                                      "or damaged after it was saved (a flipped byte, a bad copy)")
    model = _model_of(state, path)  # on the meta device: the shapes the saved config implies, no memory
    _check_weights(state["model"], model, path)
    _check_step(state, path)
    tcfg = _train_config_of(state["train_config"], path)
    _check_optimizer(state["optimizer"], model, state["model"], tcfg, state["step"], path)
    _check_history(state["history"], state["step"], path)
    for rank, rng in enumerate(state["rng"]):
        _check_rng_state(rng, f"rng[{rank}]", path)
    _check_data_sizes(state["data"], path)


def _model_of(state: dict, path):
    """The GPTModel that the checkpoint's 'model_config' and 'tie_weights' describe, built on the meta device."""
    from gpt2lib.model import GPTModel  # imported here: only this check needs the model classes
    from gpt2lib.scaffold import GPTConfig
    from gpt2lib.validation import check_config

    if not isinstance(state["tie_weights"], bool):
        raise TrainingCheckpointError(f"{path}: field 'tie_weights' must be True or False, "
                                      f"got {state['tie_weights']!r}")
    try:
        cfg = GPTConfig(**state["model_config"])
        check_config(cfg)
        with torch.device("meta"):
            return GPTModel(cfg, tie_weights=state["tie_weights"])
    except (TypeError, ValueError) as error:
        raise TrainingCheckpointError(f"{path}: field 'model_config' is not a valid GPTConfig: {error}") from None


def _train_config_of(saved: dict, path):
    """The TrainConfig that the checkpoint's 'train_config' holds: its fields, with valid values."""
    from gpt2lib.training.trainer import TrainConfig  # here: the trainer imports this module

    try:
        return TrainConfig(**saved)
    except (TypeError, ValueError) as error:
        raise TrainingCheckpointError(f"{path}: field 'train_config' is not a valid TrainConfig: {error}") from None


def _check_weights(weights, model, path) -> None:
    """Every weight the config implies, with its shape, and no other; all floating-point and finite. Every mismatch
    is named."""
    if not isinstance(weights, dict) or not all(isinstance(t, torch.Tensor) for t in weights.values()):
        raise TrainingCheckpointError(f"{path}: field 'model' must map weight names to tensors")
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    problems = [f"{name} is missing" for name in expected if name not in weights]
    problems += [f"{name} is not a weight of this model" for name in weights if name not in expected]
    problems += [f"{name} has shape {tuple(weights[name].shape)}, the config implies {shape}"
                 for name, shape in expected.items() if name in weights and tuple(weights[name].shape) != shape]
    if problems:
        count = f"{len(problems)} mismatch{'es' if len(problems) > 1 else ''}"
        raise TrainingCheckpointError(f"{path}: field 'model' does not fit field 'model_config' "
                                      f"({count}): {'; '.join(problems)}")
    not_float = [f"{name} ({t.dtype})" for name, t in weights.items() if not t.is_floating_point()]
    if not_float:
        raise TrainingCheckpointError(f"{path}: field 'model' must hold floating-point weights; these are not: "
                                      f"{', '.join(not_float)}")
    bad = [name for name, t in weights.items() if not torch.isfinite(t).all()]
    if bad:
        raise TrainingCheckpointError(f"{path}: field 'model' holds NaN or infinite values in {', '.join(bad)}")


def _check_step(state: dict, path) -> None:
    steps = state["train_config"].get("steps") if isinstance(state["train_config"], dict) else None
    if not is_int(steps) or steps < 1:
        raise TrainingCheckpointError(f"{path}: field 'train_config' has no valid 'steps', got {steps!r}")
    step = state["step"]
    if not is_int(step) or not 0 <= step <= steps:
        raise TrainingCheckpointError(f"{path}: field 'step' must be an integer in 0..{steps} "
                                      f"(the run's total steps), got {step!r}")


ADAM_STATE = ("step", "exp_avg", "exp_avg_sq")  # what AdamW keeps per parameter (amsgrad=False)


def _check_optimizer(saved, model, weights: dict, tcfg, step: int, path) -> None:
    """AdamW's state, as the Trainer saves it after step steps: its groups and their settings, and its state for
    exactly this model's parameters, in param_groups' order, each like its weight in the checkpoint."""
    from gpt2lib.training.optim import make_optimizer  # here: optim imports this module

    field = f"{path}: field 'optimizer'"
    if not isinstance(saved, dict) or set(saved) != {"state", "param_groups"} \
            or not isinstance(saved["state"], dict) or not isinstance(saved["param_groups"], list):
        raise TrainingCheckpointError(f"{field} is not an optimizer state (keys 'state' and 'param_groups')")
    fresh = make_optimizer(model, tcfg.lr, tcfg.weight_decay).state_dict()["param_groups"]  # a fresh Trainer's
    _check_param_ids(saved["param_groups"], fresh, field)
    for index, (group, fresh_group) in enumerate(zip(saved["param_groups"], fresh)):
        _check_param_group(group, fresh_group, f"{field}: param_groups[{index}]")
    names = _parameter_names(model)  # parameter number -> its weight's name
    _check_adam_state(saved["state"], {index: weights[name] for index, name in enumerate(names)}, step, field)


def _check_param_ids(groups: list, fresh: list, field: str) -> None:
    """The groups list the parameters 0, 1, ... as a fresh optimizer does."""
    saved_ids = [group.get("params") if isinstance(group, dict) else None for group in groups]
    expected_ids = [group["params"] for group in fresh]
    if saved_ids != expected_ids:
        counts = [len(ids) if isinstance(ids, list) else ids for ids in saved_ids]
        raise TrainingCheckpointError(f"{field} is for other parameters: groups of {counts} parameters, "
                                      f"this model's AdamW has {[len(ids) for ids in expected_ids]}")


def _parameter_names(model) -> list[str]:
    """The names of the model's parameters in the optimizer's numbering: param_groups' order."""
    from gpt2lib.training.optim import param_groups

    name_of = {id(p): name for name, p in model.named_parameters()}
    return [name_of[id(p)] for group in param_groups(model, 0.0) for p in group["params"]]


def _check_param_group(group: dict, fresh: dict, where: str) -> None:
    """One AdamW group: the keys a fresh one has (torch fills in one that is missing), its learning rate a finite
    number >= 0 (each step sets it), and every other setting as gpt2lib's AdamW for this run has it (betas, eps,
    TrainConfig's weight_decay, amsgrad off, ...)."""
    unknown = sorted(str(key) for key in group if key not in fresh)
    if unknown:
        raise TrainingCheckpointError(f"{where} has keys that gpt2lib's AdamW does not: {', '.join(unknown)}")
    missing = [key for key in ("lr", "betas", "eps", "weight_decay") if key not in group]
    if missing:
        raise TrainingCheckpointError(f"{where} lacks {', '.join(missing)}")
    lr = group["lr"]
    if not is_real(lr) or not math.isfinite(lr) or lr < 0:
        raise TrainingCheckpointError(f"{where}['lr'] must be a finite number >= 0, got {lr!r}")
    for key, value in group.items():
        want = fresh[key]
        same = (list(value) == list(want) if isinstance(want, tuple) and isinstance(value, (list, tuple))
                else type(value) is type(want) and value == want)
        if key not in ("params", "lr") and not same:
            raise TrainingCheckpointError(f"{where}[{key!r}] is {value!r}; gpt2lib's AdamW for this run has {want!r}")


def _check_adam_state(state: dict, weights: dict, step: int, field: str) -> None:
    """AdamW's moments for every parameter (weights: parameter number -> its weight) once a step was taken, none
    before: finite tensors of the weight's shape and dtype, exp_avg_sq >= 0, and a 'step' count equal to the
    checkpoint's step."""
    unknown = [key for key in state if key not in weights]
    if unknown:
        raise TrainingCheckpointError(f"{field}: state entry {unknown[0]!r} belongs to no parameter of this model")
    if step == 0 and state:
        raise TrainingCheckpointError(f"{field}: state holds entries for {len(state)} parameters at step 0; AdamW "
                                      "has none before its first step")
    missing = [key for key in weights if key not in state]
    if step > 0 and missing:
        raise TrainingCheckpointError(f"{field}: state has no entry for parameter {missing[0]} ({len(missing)} "
                                      f"missing in all); after {step} steps AdamW has one for every parameter")
    for key, entry in state.items():
        if not isinstance(entry, dict) or set(entry) != set(ADAM_STATE):
            got = sorted(map(str, entry)) if isinstance(entry, dict) else type(entry).__name__
            raise TrainingCheckpointError(f"{field}: state[{key}] must hold {', '.join(ADAM_STATE)}, got {got}")
        for name, value in entry.items():
            like = None if name == "step" else weights[key]  # step: a floating-point number (a 0-dim tensor)
            _check_adam_tensor(value, like, f"{field}: state[{key}][{name!r}]")
        if (entry["exp_avg_sq"] < 0).any():
            raise TrainingCheckpointError(f"{field}: state[{key}]['exp_avg_sq'] holds negative values; it is a mean "
                                          "of squares, >= 0")
        if entry["step"].item() != step:
            raise TrainingCheckpointError(f"{field}: state[{key}]['step'] is {entry['step'].item():g}; the "
                                          f"checkpoint is at step {step}")


def _check_adam_tensor(value, like: torch.Tensor | None, where: str) -> None:
    """A finite floating-point tensor with like's shape and dtype (a 0-dim one when like is None)."""
    if not isinstance(value, torch.Tensor):
        raise TrainingCheckpointError(f"{where} is not a tensor")
    shape = () if like is None else tuple(like.shape)
    if tuple(value.shape) != shape:
        raise TrainingCheckpointError(f"{where} has shape {tuple(value.shape)}, the parameter needs {shape}")
    if not value.is_floating_point() or (like is not None and value.dtype != like.dtype):
        want = "a floating-point dtype" if like is None else f"its weight's, {like.dtype}"
        raise TrainingCheckpointError(f"{where} has dtype {value.dtype}; it needs {want}")
    if not torch.isfinite(value).all():
        raise TrainingCheckpointError(f"{where} holds NaN or infinite values")


HISTORY_KEYS = ("train_loss", "lr", "eval_step", "eval_train_loss", "val_loss")  # Trainer.history's


def _check_history(history, step: int, path) -> None:
    """The Trainer's history after step steps: a loss and a learning rate per step, and the evaluations (a step
    in 0..step and two losses each), all finite numbers."""
    field = f"{path}: field 'history'"
    if not isinstance(history, dict) or set(history) != set(HISTORY_KEYS):
        got = sorted(map(str, history)) if isinstance(history, dict) else type(history).__name__
        raise TrainingCheckpointError(f"{field} must be a dict with the keys {', '.join(HISTORY_KEYS)}, got {got}")
    for key, values in history.items():
        if not isinstance(values, list) or not all(is_real(v) and math.isfinite(v) for v in values):
            raise TrainingCheckpointError(f"{field}: {key!r} must be a list of finite numbers, got {values!r:.80}")
    for key in ("train_loss", "lr"):
        if len(history[key]) != step:
            raise TrainingCheckpointError(f"{field}: {key!r} has {len(history[key])} values; after {step} steps "
                                          f"it has {step}")
    lengths = {len(history[key]) for key in ("eval_step", "eval_train_loss", "val_loss")}
    if len(lengths) > 1:
        raise TrainingCheckpointError(f"{field}: 'eval_step', 'eval_train_loss' and 'val_loss' must have one value "
                                      "per evaluation each, but their lengths differ")
    if not all(is_int(s) and 0 <= s <= step for s in history["eval_step"]):
        raise TrainingCheckpointError(f"{field}: 'eval_step' must hold steps in 0..{step}, got "
                                      f"{history['eval_step']!r:.80}")


def _check_rng_state(rng: dict, name: str, path) -> None:
    """A CPU generator state that torch accepts, and CUDA ones (if saved) as byte vectors, which torch accepts too
    where there is CUDA: each is tried on a scratch generator, so that the global ones are never touched."""
    cpu = rng.get("cpu")
    size = torch.get_rng_state().numel()
    if not isinstance(cpu, torch.Tensor) or cpu.dtype != torch.uint8 or tuple(cpu.shape) != (size,):
        got = f"{cpu.dtype} of shape {tuple(cpu.shape)}" if isinstance(cpu, torch.Tensor) else type(cpu).__name__
        raise TrainingCheckpointError(f"{path}: field '{name}' must hold a 'cpu' random state "
                                      f"(a uint8 tensor of shape ({size},)), got {got}")
    _try_rng_state(cpu, "cpu", f"{path}: field '{name}'")
    cuda = rng.get("cuda", [])
    if not isinstance(cuda, (list, tuple)) or not all(
            isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1 for t in cuda):
        raise TrainingCheckpointError(f"{path}: field '{name}' has a 'cuda' entry that is not a list of "
                                      "uint8 random states")
    if torch.cuda.is_available():  # without CUDA, set_rng_state leaves the CUDA states aside
        for index, state in enumerate(cuda):
            _try_rng_state(state, "cuda", f"{path}: field '{name}', 'cuda'[{index}]")


def _try_rng_state(state: torch.Tensor, device: str, where: str) -> None:
    try:
        torch.Generator(device).set_state(state)
    except RuntimeError as error:
        raise TrainingCheckpointError(f"{where} is not a random state that torch accepts ({error})") from None


def _check_data_sizes(data, path) -> None:
    """The sizes of the splits the run was trained on, which check_same_data compares with the data given."""
    if not isinstance(data, dict) or set(data) != {"train_tokens", "val_tokens"} or \
            not all(is_int(n) and n > 0 for n in data.values()):
        raise TrainingCheckpointError(f"{path}: field 'data' must be {{'train_tokens': n, 'val_tokens': m}} with "
                                      f"positive integers (the sizes of the splits), got {data!r:.80}")


def check_same_data(saved: dict, train_data, val_data, path) -> None:
    """Refuse to resume a run on other data than it was trained on (the batches would silently change)."""
    have = {"train_tokens": len(train_data), "val_tokens": len(val_data)}
    if saved != have:
        raise TrainingCheckpointError(f"{path} was trained on {saved}, but the data given has {have}: "
                                      "resume with the same train and validation splits")
