# GENERATED FILE, edit the notebook instead.
# Source: notebooks/09_training_for_real.ipynb. Regenerate with `make export`.

__all__ = ["autocast", "train_step", "evaluate", "TrainConfig", "Trainer", "sample", "plot_history"]


# %% notebooks/09_training_for_real.ipynb, cell 8
from contextlib import nullcontext

import torch
from torch import nn

from gpt2lib.training.batches import batches_for_step
from gpt2lib.training.chunked_loss import chunked_cross_entropy  # a faster loss, written below
from gpt2lib.training.data import windows_at
from gpt2lib.training.precision import autocast_dtype, cpu_computes_bfloat16  # hand-written: bfloat16 or not
from gpt2lib.training.validation import check_evaluate_args


def autocast(device, dtype: torch.dtype | None):
    """A context that runs matrix products in dtype (autocast), or does nothing when dtype is None."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


# %% notebooks/09_training_for_real.ipynb, cell 18
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, micro_batches: list, lr: float,
               grad_clip: float = 1.0, dtype: torch.dtype | None = None) -> tuple[float, float]:
    """One optimizer step on micro_batches [(inputs, targets), ...] -> (mean loss, gradient norm before clipping).

    model may be wrapped in DistributedDataParallel: it then averages the gradients over the processes, once,
    during the backward pass of the last micro-batch (no_sync skips it for the others)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    device = next(model.parameters()).device
    n_windows = sum(len(inputs) for inputs, _ in micro_batches)
    total = torch.zeros((), device=device)
    for i, (inputs, targets) in enumerate(micro_batches):
        weight = len(inputs) / n_windows  # this micro-batch's share of the mean loss
        is_last = i == len(micro_batches) - 1
        with nullcontext() if is_last or not hasattr(model, "no_sync") else model.no_sync():
            with autocast(device, dtype):
                loss = chunked_cross_entropy(model(inputs.to(device)), targets.to(device))
            (loss * weight).backward()  # gradients add up: their sum is the gradient of the mean loss
        total += loss.detach() * weight
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip)  # rescale if the norm exceeds grad_clip
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total.item(), grad_norm.item()


# %% notebooks/09_training_for_real.ipynb, cell 21
@torch.no_grad()
def evaluate(model: nn.Module, data: torch.Tensor, context_length: int, max_windows: int | None = None,
             batch_size: int = 16, dtype: torch.dtype | None = None) -> float:
    """Mean loss over non-overlapping windows of data (at most max_windows, spread evenly), in eval mode."""
    check_evaluate_args(model, data, context_length, max_windows, batch_size, dtype)  # gpt2lib/training/validation.py
    n = (len(data) - 1) // context_length  # windows that fit, each with its shifted targets
    if max_windows is not None and n > max_windows:
        picked = torch.linspace(0, n - 1, max_windows).long()  # max_windows windows, spread evenly
    else:
        picked = torch.arange(n)  # every window (never a tensor of all n when max_windows is smaller)
    starts = picked * context_length  # where each window begins
    was_training, device = model.training, model.tok_emb.weight.device
    model.eval()  # no dropout
    total = 0.0
    for chunk in starts.split(batch_size):
        inputs, targets = windows_at(data, chunk, context_length)
        with autocast(device, dtype):
            total += chunked_cross_entropy(model(inputs.to(device)), targets.to(device)).item() * len(chunk)
    model.train(was_training)
    return total / len(starts)


# %% notebooks/09_training_for_real.ipynb, cell 23
import time
from dataclasses import asdict, dataclass

from tqdm import tqdm

from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.training.distributed import SINGLE, Distributed, any_rank, barrier, gather_to_main, mean_over_ranks
from gpt2lib.training.distributed import rank_share, wrap_for_ddp
from gpt2lib.training.optim import lr_at, make_optimizer
from gpt2lib.training.validation import check_finite_loss, check_fit_args, check_same_data, check_train_config
from gpt2lib.training.validation import check_trainer_args


# %% notebooks/09_training_for_real.ipynb, cell 24
@dataclass(frozen=True)
class TrainConfig:
    """How to train: the length of the run, the batches, the optimizer and the schedule."""

    steps: int = 1000  # optimizer steps; the learning-rate schedule spans them
    batch_size: int = 16  # windows per micro-batch
    grad_accum: int = 1  # micro-batches per step; a step sees batch_size * grad_accum windows
    lr: float = 3e-3  # peak learning rate, reached at the end of the warmup
    min_lr: float = 3e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 30  # steps of linear warmup, from lr / warmup_steps to lr
    weight_decay: float = 0.1  # AdamW's decoupled weight decay, on weight matrices only
    grad_clip: float = 1.0  # largest gradient norm
    eval_interval: int = 100  # steps between evaluations
    eval_windows: int = 64  # windows of each split per evaluation
    seed: int = 1234  # draws the batches; seed weights and dropout with torch.manual_seed, as the command does
    precision: str = "auto"  # "auto": bfloat16 autocast where supported; or "bfloat16", "float32"

    def __post_init__(self):
        check_train_config(self)  # gpt2lib/training/validation.py


# %% notebooks/09_training_for_real.ipynb, cell 26
class Trainer:
    """A training run: the model, its optimizer, the data, the step reached and the history of losses.

    ctx says which process this is when torchrun starts several (gpt2lib/training/distributed.py); by
    default, the only one."""

    def __init__(self, model: GPTModel, tcfg: TrainConfig, train_data: torch.Tensor, val_data: torch.Tensor,
                 ctx: Distributed = SINGLE):
        check_trainer_args(model, tcfg, train_data, val_data)  # gpt2lib/training/validation.py
        self.model, self.tcfg, self.ctx = model, tcfg, ctx
        self.train_data, self.val_data = train_data, val_data
        self.device = model.tok_emb.weight.device
        self.dtype = autocast_dtype(self.device, tcfg.precision)
        self.optimizer = make_optimizer(model, tcfg.lr, tcfg.weight_decay)
        self.step = 0  # steps done; also the position in the data, since step s trains on batches_for_step(s)
        self.history = {"train_loss": [], "lr": [], "eval_step": [], "eval_train_loss": [], "val_loss": []}
        self.ddp_model = wrap_for_ddp(model, ctx)  # the model itself in a single process

    def evaluate(self) -> tuple[float, float] | None:
        """Losses on eval_windows windows of each split, recorded at this step (on rank 0; None elsewhere)."""
        if not self.ctx.is_main:
            return None
        context, windows = self.model.cfg.context_length, self.tcfg.eval_windows
        train_loss = evaluate(self.model, self.train_data, context, windows, dtype=self.dtype)  # the function above
        val_loss = evaluate(self.model, self.val_data, context, windows, dtype=self.dtype)
        for key, value in (("eval_step", self.step), ("eval_train_loss", train_loss), ("val_loss", val_loss)):
            self.history[key].append(value)
        return train_loss, val_loss

    # %% notebooks/09_training_for_real.ipynb, cell 30 (@patch)
    def train_one_step(self) -> float:
        """Train on the batch of step self.step, record its loss and learning rate, and move to the next step."""
        t = self.tcfg
        batches = batches_for_step(self.train_data, self.step, t.seed, t.batch_size, self.model.cfg.context_length,
                                   t.grad_accum)  # the global batch: grad_accum pairs (inputs, targets), (batch_size, T)
        mine = rank_share(t.batch_size * t.grad_accum, self.ctx)  # this process's rows of it: all of them, if alone
        inputs = torch.cat([x for x, _ in batches])[mine]  # (batch_size * grad_accum, T) -> this process's rows
        targets = torch.cat([y for _, y in batches])[mine]  # the same rows of the targets
        lr = lr_at(self.step, t.lr, t.min_lr, t.warmup_steps, t.steps)
        micro_batches = list(zip(inputs.split(t.batch_size), targets.split(t.batch_size)))
        loss, _ = train_step(self.ddp_model, self.optimizer, micro_batches, lr, t.grad_clip, self.dtype)
        loss = mean_over_ranks(loss, self.ctx)  # the global batch's loss
        check_finite_loss(loss, self.step, lr)  # NaN or inf: the run diverged, stop here (training/validation.py)
        self.history["train_loss"].append(loss)
        self.history["lr"].append(lr)
        self.step += 1
        return loss

    # %% notebooks/09_training_for_real.ipynb, cell 30 (@patch)
    @property
    def tokens_per_step(self) -> int:
        return self.tcfg.batch_size * self.tcfg.grad_accum * self.model.cfg.context_length

    # %% notebooks/09_training_for_real.ipynb, cell 32 (@patch)
    def fit(self, max_seconds: float | None = None, progress: bool = True, checkpoint_path=None,
            checkpoint_interval: int | None = None, stop=None) -> bool:
        """Train to step tcfg.steps, evaluating every eval_interval steps; True when the run is complete.
        Stops at a step boundary after max_seconds or when stop() is True; saves every checkpoint_interval steps."""
        check_fit_args(max_seconds, checkpoint_path, checkpoint_interval, progress)
        start, start_step = time.perf_counter(), self.step
        self.model.train()
        if self.step == 0 and not self.history["eval_step"]:
            self.evaluate()  # the loss before any training
        show = progress and self.ctx.is_main  # with several processes, only rank 0 reports
        with tqdm(total=self.tcfg.steps, initial=self.step, disable=not show, unit="step", dynamic_ncols=True) as bar:
            while self.step < self.tcfg.steps:
                out_of_time = max_seconds is not None and time.perf_counter() - start >= max_seconds
                if any_rank(out_of_time or (stop is not None and stop()), self.ctx):  # all processes stop at one step
                    break
                loss = self.train_one_step()
                tokens_per_s = (self.step - start_step) * self.tokens_per_step / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{loss:.3f}", tok_per_s=f"{tokens_per_s:,.0f}", refresh=False)
                bar.update()
                if self.step % self.tcfg.eval_interval == 0 or self.step == self.tcfg.steps:
                    losses = self.evaluate()  # None except on rank 0
                    if show:
                        bar.write(f"step {self.step}: train loss {losses[0]:.3f}, val loss {losses[1]:.3f}")
                if checkpoint_path is not None and checkpoint_interval and self.step % checkpoint_interval == 0:
                    self.save(checkpoint_path)
        if checkpoint_path is not None:
            self.save(checkpoint_path)
        return self.step == self.tcfg.steps

    # %% notebooks/09_training_for_real.ipynb, cell 42 (@patch)
    def state_dict(self) -> dict:
        """Everything a run needs to continue exactly: weights, optimizer moments, step, history, random states."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model_config": asdict(self.model.cfg), "tie_weights": self.model.weights_tied,
            "train_config": asdict(self.tcfg),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "step": self.step, "history": self.history,
            "rng": gather_to_main(rng_state(), self.ctx),  # a list: one random state per process (None off rank 0)
            "data": {"train_tokens": len(self.train_data), "val_tokens": len(self.val_data)},
        }

    # %% notebooks/09_training_for_real.ipynb, cell 42 (@patch)
    def save(self, path) -> None:
        """Save the run to path atomically (see atomic_write). With several processes, all call it and rank 0 writes."""
        check_finite_weights(self.model, f"the checkpoint {path}")  # never a diverged model (gpt2lib/validation.py)
        state = self.state_dict()  # every process takes part: each sends its random state to rank 0
        if self.ctx.is_main:
            atomic_write(path, lambda file: torch.save(with_checksum(state), file))  # with a SHA-256, checked at load
        barrier(self.ctx)  # no process goes on, or exits, before the checkpoint is complete

    # %% notebooks/09_training_for_real.ipynb, cell 44 (@patch)
    @classmethod
    def from_checkpoint(cls, path, train_data, val_data, device=None, ctx: Distributed = SINGLE) -> "Trainer":
        """The run saved at path, ready to continue: fit() then gives the losses of an uninterrupted run."""
        state = load_checkpoint(path)
        check_same_data(state["data"], train_data, val_data, path)  # gpt2lib/training/validation.py
        device = ctx.device if device is None else device
        model = empty_model(GPTConfig(**state["model_config"]), device, tie_weights=state["tie_weights"])
        model.load_state_dict(state["model"])
        trainer = cls(model, TrainConfig(**state["train_config"]), train_data, val_data, ctx)
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.step, trainer.history = state["step"], state["history"]
        states = state["rng"]  # one per process of the saved run; rank 0's for a process it did not have
        set_rng_state(states[ctx.rank] if ctx.rank < len(states) else states[0])
        return trainer


# %% notebooks/09_training_for_real.ipynb, cell 34
from gpt2lib.generation import generate
from gpt2lib.tokenizer import get_tokenizer
from gpt2lib.training.validation import check_sample_args


def sample(model: GPTModel, prompt: str = "\n", max_new_tokens: int = 100, temperature: float = 0.8,
           top_k: int | None = 50, seed: int = 0) -> str:
    """A seeded sample of max_new_tokens tokens after prompt, as text (gpt2lib.generate, notebook 07).
    Temperature 0 is greedy decoding, to which top_k does not apply."""
    check_sample_args(model, prompt, temperature, top_k, seed)  # gpt2lib/training/validation.py
    device = model.tok_emb.weight.device
    prompt_ids = torch.tensor([get_tokenizer().encode(prompt)], device=device)  # (1, P)
    generator = torch.Generator(device).manual_seed(seed)
    top_k = top_k if temperature > 0 else None  # greedy: the likeliest token, no top-k
    ids = generate(model, prompt_ids, max_new_tokens, temperature=temperature, top_k=top_k, generator=generator)
    return get_tokenizer().decode(ids[0].tolist())


def plot_history(history: dict, ax) -> None:
    """Draw a run's loss curves on a matplotlib Axes: every step's training loss, and the evaluations."""
    ax.plot(range(1, len(history["train_loss"]) + 1), history["train_loss"], alpha=0.4, label="training batch")
    ax.plot(history["eval_step"], history["eval_train_loss"], "o-", label="training split (eval)")
    ax.plot(history["eval_step"], history["val_loss"], "s-", label="validation split (eval)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.legend()
    ax.grid(alpha=0.3)


# %% notebooks/09_training_for_real.ipynb, cell 42
from gpt2lib.training.checkpoint import CHECKPOINT_FORMAT, atomic_write, load_checkpoint, rng_state, set_rng_state
from gpt2lib.training.validation import with_checksum
from gpt2lib.validation import check_finite_weights


# %% notebooks/09_training_for_real.ipynb, cell 44
from gpt2lib.hf.loading import empty_model
