"""Everything training: the modules of notebooks 08 and 09 and the hand-written ones beside them.

Generated from notebook 08: `data` (corpus, tokens, split, windows), `loss` (the cross-entropy) and `optim` (AdamW
and the learning-rate schedule). Generated from notebook 09: `batches` (the batches of a step, from the seed and the
step), `chunked_loss` (the cross-entropy computed a few rows at a time), `trainer` (autocast, the training step,
evaluation, TrainConfig, Trainer) and `checkpoint` (atomic writes, random states, the checkpoint format). Written by
hand: `validation` (the input checks), `precision` (whether this machine computes in bfloat16), `distributed`
(torchrun and DDP), `cli` (the command `python -m gpt2lib.train`), `run_folder` (the command's output folder: its
checks, its lock, file modes and write errors) and `sizes` (the disk and memory a run needs). Your own data, also by
hand: `corpus` (text files read in pieces and tokenized), `shards` (uint16 token shards read by memory map:
`TokenShards`, `open_shards`), `prepare` (the command `python -m gpt2lib.prepare`) and `own_data` (the training
command's --data and --init).
"""

from gpt2lib.training.batches import batches_for_step, step_generator
from gpt2lib.training.checkpoint import atomic_write, load_checkpoint
from gpt2lib.training.chunked_loss import chunked_cross_entropy
from gpt2lib.training.data import load_corpus, random_windows, tokenize, train_val_split, windows_at
from gpt2lib.training.loss import cross_entropy_loss
from gpt2lib.training.optim import lr_at, make_optimizer, param_groups
from gpt2lib.training.precision import autocast_dtype, cpu_computes_bfloat16
from gpt2lib.training.shards import DataError, TokenShards, open_shards
from gpt2lib.training.trainer import Trainer, TrainConfig, autocast, evaluate, plot_history, sample, train_step
from gpt2lib.training.validation import TrainingCheckpointError, TrainingDivergedError

__all__ = [
    "DataError",
    "TokenShards",
    "TrainConfig",
    "Trainer",
    "TrainingCheckpointError",
    "TrainingDivergedError",
    "atomic_write",
    "autocast",
    "autocast_dtype",
    "batches_for_step",
    "chunked_cross_entropy",
    "cpu_computes_bfloat16",
    "cross_entropy_loss",
    "evaluate",
    "load_checkpoint",
    "load_corpus",
    "lr_at",
    "make_optimizer",
    "open_shards",
    "param_groups",
    "plot_history",
    "random_windows",
    "sample",
    "step_generator",
    "tokenize",
    "train_step",
    "train_val_split",
    "windows_at",
]

# Names that lived in gpt2lib.training before the library was grouped by concept, and where they are now.
_MOVED = {"export_hf": "gpt2lib.hf", "hf_state_dict": "gpt2lib.hf", "hf_config": "gpt2lib.hf"}


def __getattr__(name: str):
    if name in _MOVED:
        raise ImportError(f"{name} moved to {_MOVED[name]}: use `from {_MOVED[name]} import {name}`")
    raise AttributeError(f"module 'gpt2lib.training' has no attribute {name!r}")
