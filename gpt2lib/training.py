# GENERATED FILE, edit the notebook instead.
# Source: notebooks/08_pretraining.ipynb. Regenerate with `make export`.

import hashlib
import json
import math
import os
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gpt2lib.distributed import (
    SINGLE, Distributed, any_rank, barrier, gather_to_main, mean_over_ranks, rank_share, wrap_for_ddp,
)
from gpt2lib.generation import generate
from gpt2lib.loading import empty_model, hf_weight_mapping
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.tokenizer import END_OF_TEXT_ID, get_tokenizer
from gpt2lib.training_checks import (
    TrainingCheckpointError, check_checkpoint_contents, check_directory_target, check_evaluate_args, check_fit_args,
    check_loss_args, check_positive_int, check_precision, check_same_data, check_sampling_args, check_schedule_args,
    check_seed_and_step, check_text, check_train_config, check_trainer_args, check_val_fraction, check_windows_args,
)


def load_corpus(name: str = "tinyshakespeare.txt") -> str:
    """The text of a corpus shipped in gpt2lib/data: tiny Shakespeare by default."""
    return resources.files("gpt2lib").joinpath("data", name).read_text(encoding="utf-8")


def tokenize(text: str) -> torch.Tensor:
    """All of text's GPT-2 token ids, in one long 1-D tensor."""
    check_text(text)  # these checks live in gpt2lib/training_checks.py
    return torch.tensor(get_tokenizer().encode(text), dtype=torch.long)


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first (1 - val_fraction) of the tokens for training, the rest for validation."""
    check_val_fraction(ids, val_fraction)
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


def windows_at(data: torch.Tensor, starts: torch.Tensor, context_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets (B, T) for windows of data beginning at starts (B,): targets are shifted by one token."""
    check_windows_args(data, starts, context_length)
    positions = starts[:, None] + torch.arange(context_length)  # (B, 1) + (T,) -> (B, T)
    return data[positions], data[positions + 1]  # (B, T) each


def random_windows(data: torch.Tensor, n_windows: int, context_length: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n_windows windows at random positions drawn with generator -> inputs, targets (n_windows, T)."""
    check_sampling_args(data, n_windows, context_length, generator)
    starts = torch.randint(len(data) - context_length, (n_windows,), generator=generator)  # (n_windows,)
    return windows_at(data, starts, context_length)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator that draws the batch of one training step, from the run's seed and the step."""
    check_seed_and_step(seed, step)
    digest = hashlib.sha256(f"{seed}/{step}".encode()).digest()  # (seed, step) mixed into 32 well-shuffled bits,
    return torch.Generator().manual_seed(int.from_bytes(digest[:4], "little"))  # all that torch's CPU generator uses


def batches_for_step(data: torch.Tensor, step: int, seed: int, batch_size: int, context_length: int,
                     grad_accum: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The grad_accum micro-batches (inputs, targets), each (batch_size, T), of one training step."""
    inputs, targets = random_windows(data, batch_size * grad_accum, context_length, step_generator(seed, step))
    return list(zip(inputs.split(batch_size), targets.split(batch_size)))


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean negative log-likelihood of targets (B, T) under logits (B, T, vocab_size)."""
    check_loss_args(logits, targets)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B*T, vocab_size) against (B*T,)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: matrices (2 or more dimensions) decay, vectors (biases, norm scales and shifts) do not."""
    decay, no_decay = [], []
    for param in model.parameters():  # a tied weight is listed once
        (decay if param.dim() >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW with weight decay on the weight matrices only."""
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas)


def lr_at(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate of a step: a linear warmup to max_lr, then a cosine decay to min_lr at total_steps."""
    check_schedule_args(step, max_lr, min_lr, warmup_steps, total_steps)
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))  # 0 -> 1
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cpu_computes_bfloat16() -> bool:
    """Whether PyTorch runs bfloat16 natively on this CPU: oneDNN's bfloat16 matrix products, and AVX-512 kernels,
    which attention's bfloat16 kernel needs (ATEN_CPU_CAPABILITY=avx2 makes torch use AVX2 kernels only)."""
    try:
        return torch.backends.cpu.get_cpu_capability() == "AVX512" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device, precision: str = "auto") -> torch.dtype | None:
    """bfloat16 where the device supports it (precision "auto"), or as asked; None means float32 throughout."""
    check_precision(precision)  # gpt2lib/training_checks.py
    device = torch.device(device)
    if precision == "bfloat16" and device.type == "cpu" and not cpu_computes_bfloat16():
        raise ValueError(f"precision 'bfloat16' needs a CPU on which PyTorch computes in bfloat16 (see "
                         f"cpu_computes_bfloat16); PyTorch uses {torch.backends.cpu.get_cpu_capability()} kernels "
                         "here: use 'auto' or 'float32'")
    if precision != "auto":
        return torch.bfloat16 if precision == "bfloat16" else None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if device.type == "cpu" and cpu_computes_bfloat16() else None


def autocast(device, dtype: torch.dtype | None):
    """A context that runs matrix products in dtype (autocast), or does nothing when dtype is None."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


class ChunkedCrossEntropy(torch.autograd.Function):
    """F.cross_entropy(logits, targets) for logits (N, vocab_size), computed chunk_rows rows at a time in float32.

    The softmax of a few rows fits in the CPU's cache; the full (N, vocab_size) float32 softmax never exists."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int) -> torch.Tensor:
        dtype = torch.promote_types(logits.dtype, torch.float32)  # float32, or float64 for float64 logits
        lse = torch.empty(len(logits), dtype=dtype, device=logits.device)  # (N,): log of each row's softmax sum
        for start in range(0, len(logits), chunk_rows):
            lse[start:start + chunk_rows] = torch.logsumexp(logits[start:start + chunk_rows].to(dtype), dim=-1)
        target_logits = logits.gather(1, targets[:, None]).squeeze(1).to(dtype)  # (N,)
        ctx.save_for_backward(logits, targets, lse)
        ctx.chunk_rows = chunk_rows
        return (lse - target_logits).mean()  # -log softmax(logits)[target], averaged over the rows

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        logits, targets, lse = ctx.saved_tensors
        grad_logits = torch.empty_like(logits)
        for start in range(0, len(logits), ctx.chunk_rows):
            rows = slice(start, start + ctx.chunk_rows)
            probs = torch.exp(logits[rows].to(lse.dtype) - lse[rows, None])  # (chunk, vocab_size): the softmax
            probs[torch.arange(len(probs), device=probs.device), targets[rows]] -= 1.0  # minus the one-hot target
            grad_logits[rows] = probs * (grad / len(logits))  # d(mean loss) / d(logits)
        return grad_logits, None, None


def chunked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, chunk_rows: int = 32) -> torch.Tensor:
    """cross_entropy_loss(logits, targets), computed in chunks of rows: the same value, less memory traffic."""
    check_loss_args(logits, targets)  # gpt2lib/training_checks.py
    check_positive_int(chunk_rows, "chunk_rows")
    return ChunkedCrossEntropy.apply(logits.flatten(0, 1), targets.flatten(), chunk_rows)  # (B*T, vocab_size), (B*T,)


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


@torch.no_grad()
def evaluate(model: nn.Module, data: torch.Tensor, context_length: int, max_windows: int | None = None,
             batch_size: int = 16, dtype: torch.dtype | None = None) -> float:
    """Mean loss over non-overlapping windows of data (at most max_windows, spread evenly), in eval mode."""
    check_evaluate_args(data, context_length, max_windows, batch_size)  # gpt2lib/training_checks.py
    n = (len(data) - 1) // context_length  # windows that fit, each with its shifted targets
    starts = torch.arange(n) * context_length
    if max_windows is not None and n > max_windows:
        starts = starts[torch.linspace(0, n - 1, max_windows).long()]
    was_training, device = model.training, model.tok_emb.weight.device
    model.eval()  # no dropout
    total = 0.0
    for chunk in starts.split(batch_size):
        inputs, targets = windows_at(data, chunk, context_length)
        with autocast(device, dtype):
            total += chunked_cross_entropy(model(inputs.to(device)), targets.to(device)).item() * len(chunk)
    model.train(was_training)
    return total / len(starts)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the length of the run, the batches, the optimizer and the schedule."""

    steps: int = 1000  # optimizer steps; the learning-rate schedule spans them
    batch_size: int = 16  # windows per micro-batch
    grad_accum: int = 1  # micro-batches per step; a step sees batch_size * grad_accum windows
    lr: float = 3e-3  # peak learning rate, reached at the end of the warmup
    min_lr: float = 3e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 50
    weight_decay: float = 0.1  # AdamW's decoupled weight decay, on weight matrices only
    grad_clip: float = 1.0  # largest gradient norm
    eval_interval: int = 100  # steps between evaluations
    eval_windows: int = 32  # windows of each split per evaluation
    seed: int = 1234  # model initialization, batches and dropout all follow from it
    precision: str = "auto"  # "auto": bfloat16 autocast where supported; or "bfloat16", "float32"

    def __post_init__(self):
        check_train_config(self)  # gpt2lib/training_checks.py


class Trainer:
    """A training run: the model, its optimizer, the data, the step reached and the history of losses.

    ctx says which process this is when torchrun starts several (gpt2lib/distributed.py); by default, the only one."""

    def __init__(self, model: GPTModel, tcfg: TrainConfig, train_data: torch.Tensor, val_data: torch.Tensor,
                 ctx: Distributed = SINGLE):
        check_trainer_args(model, tcfg, train_data, val_data)  # gpt2lib/training_checks.py
        self.model, self.tcfg, self.ctx = model, tcfg, ctx
        self.train_data, self.val_data = train_data, val_data
        self.device = model.tok_emb.weight.device
        self.dtype = autocast_dtype(self.device, tcfg.precision)
        self.optimizer = make_optimizer(model, tcfg.lr, tcfg.weight_decay)
        self.step = 0  # steps done; also the position in the data, since step s trains on batches_for_step(s)
        self.history = {"train_loss": [], "lr": [], "eval_step": [], "eval_train_loss": [], "val_loss": []}
        self.ddp_model = wrap_for_ddp(model, ctx)  # the model itself in a single process

    @property
    def tokens_per_step(self) -> int:
        return self.tcfg.batch_size * self.tcfg.grad_accum * self.model.cfg.context_length


def trainer_train_one_step(self) -> float:
    """Train on the batch of step self.step, record its loss and learning rate, and move to the next step."""
    t = self.tcfg
    batches = batches_for_step(self.train_data, self.step, t.seed, t.batch_size, self.model.cfg.context_length,
                               t.grad_accum)  # the global batch, the same whatever the number of processes
    mine = rank_share(t.batch_size * t.grad_accum, self.ctx)  # this process's part of it: all of it, if alone
    inputs, targets = (torch.cat(parts)[mine] for parts in zip(*batches))
    lr = lr_at(self.step, t.lr, t.min_lr, t.warmup_steps, t.steps)
    micro_batches = list(zip(inputs.split(t.batch_size), targets.split(t.batch_size)))
    loss, _ = train_step(self.ddp_model, self.optimizer, micro_batches, lr, t.grad_clip, self.dtype)
    loss = mean_over_ranks(loss, self.ctx)  # the global batch's loss
    self.history["train_loss"].append(loss)
    self.history["lr"].append(lr)
    self.step += 1
    return loss


Trainer.train_one_step = trainer_train_one_step


def trainer_evaluate(self) -> tuple[float, float] | None:
    """Losses on eval_windows windows of the training and the validation split, recorded at this step (rank 0 only)."""
    if not self.ctx.is_main:
        return None
    context, windows = self.model.cfg.context_length, self.tcfg.eval_windows
    train_loss = evaluate(self.model, self.train_data, context, windows, dtype=self.dtype)
    val_loss = evaluate(self.model, self.val_data, context, windows, dtype=self.dtype)
    for key, value in (("eval_step", self.step), ("eval_train_loss", train_loss), ("val_loss", val_loss)):
        self.history[key].append(value)
    return train_loss, val_loss


Trainer.evaluate = trainer_evaluate


def trainer_fit(self, max_seconds: float | None = None, progress: bool = True, checkpoint_path=None,
                checkpoint_interval: int | None = None, stop=None) -> bool:
    """Train to step tcfg.steps, evaluating every eval_interval steps; True when the run is complete. Stops early,
    at a step boundary, after max_seconds or when stop() is True; saves to checkpoint_path every checkpoint_interval."""
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


Trainer.fit = trainer_fit


def sample(model: GPTModel, prompt: str = "\n", max_new_tokens: int = 100, temperature: float = 0.8,
           top_k: int | None = 50, seed: int = 0) -> str:
    """A seeded sample of max_new_tokens tokens after prompt, as text (gpt2lib.generate, notebook 07)."""
    device = model.tok_emb.weight.device
    prompt_ids = torch.tensor([get_tokenizer().encode(prompt)], device=device)  # (1, P)
    generator = torch.Generator(device).manual_seed(seed)
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


def atomic_write(path, write) -> None:
    """Create or replace the file at path with what write(file) writes, so that a crash leaves the old file or the new one.

    The data goes to a temporary file in the same directory, is flushed and fsynced to the disk, and only then
    replaces path, with os.replace: an atomic rename on the same file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)  # never leave a half-written file behind
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def rng_state() -> dict:
    """torch's global random states (dropout draws from them): the CPU's, and every CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


CHECKPOINT_FORMAT = "gpt2lib-training-checkpoint-v2"


def trainer_state_dict(self) -> dict:
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


def trainer_save(self, path) -> None:
    """Save the run to path atomically (see atomic_write). With several processes, all call it and rank 0 writes."""
    state = self.state_dict()  # every process takes part: each sends its random state to rank 0
    if self.ctx.is_main:
        atomic_write(path, lambda file: torch.save(state, file))
    barrier(self.ctx)  # no process goes on, or exits, before the checkpoint is complete


Trainer.state_dict, Trainer.save = trainer_state_dict, trainer_save


def load_checkpoint(path) -> dict:
    """A training checkpoint's contents, read with weights_only=True: tensors and plain values, never code."""
    path = Path(path)
    if not path.is_file():
        raise TrainingCheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, corrupt, or holding objects other than tensors and plain values
        raise TrainingCheckpointError(f"{path} cannot be read as a checkpoint: {error}") from error
    check_checkpoint_contents(state, path, CHECKPOINT_FORMAT)  # gpt2lib/training_checks.py
    return state


def trainer_from_checkpoint(cls, path, train_data, val_data, device=None, ctx: Distributed = SINGLE) -> "Trainer":
    """The run saved at path, ready to continue where it stopped: fit() then gives the same losses as an uninterrupted run."""
    state = load_checkpoint(path)
    check_same_data(state["data"], train_data, val_data, path)
    device = ctx.device if device is None else device
    model = empty_model(GPTConfig(**state["model_config"]), device, tie_weights=state["tie_weights"])
    model.load_state_dict(state["model"])
    trainer = cls(model, TrainConfig(**state["train_config"]), train_data, val_data, ctx)
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.step, trainer.history = state["step"], state["history"]
    states = state["rng"]  # one per process of the saved run; rank 0's for a process it did not have
    set_rng_state(states[ctx.rank] if ctx.rank < len(states) else states[0])
    return trainer


Trainer.from_checkpoint = classmethod(trainer_from_checkpoint)


def hf_state_dict(model: GPTModel) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face GPT-2's names and layout: notebook 06's mapping, run backwards."""
    ours = model.state_dict()
    state = {}
    for our_name, hf_name, transposed in hf_weight_mapping(model):
        tensor = ours[our_name]
        state[hf_name] = (tensor.T if transposed else tensor).contiguous()  # Conv1D stores (in, out)
    if not model.cfg.qkv_bias:  # HF's GPT-2 always has a q/k/v bias: zeros compute the same thing
        for i in range(model.cfg.n_layers):
            state[f"transformer.h.{i}.attn.c_attn.bias"] = torch.zeros(3 * model.cfg.emb_dim)
    if model.weights_tied:
        del state["lm_head.weight"]  # tied to wte: stored once, tied again when loaded
    return state


def hf_config(model: GPTModel) -> dict:
    """config.json for Hugging Face's GPT2LMHeadModel with this model's sizes."""
    cfg = model.cfg
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": cfg.vocab_size,
            "n_positions": cfg.context_length, "n_embd": cfg.emb_dim, "n_layer": cfg.n_layers, "n_head": cfg.n_heads,
            "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout, "attn_pdrop": cfg.dropout,
            "bos_token_id": END_OF_TEXT_ID, "eos_token_id": END_OF_TEXT_ID, "tie_word_embeddings": model.weights_tied}


def export_hf(model: GPTModel, directory) -> Path:
    """Write config.json and model.safetensors into directory, loadable by gpt2lib.from_pretrained(directory)
    and by transformers' GPT2LMHeadModel.from_pretrained(directory). Each file is written atomically."""
    directory = check_directory_target(directory)  # gpt2lib/training_checks.py
    try:
        from safetensors.torch import save as safetensors_bytes
    except ModuleNotFoundError as error:
        raise ImportError("exporting to Hugging Face's format needs safetensors: pip install 'gpt2lib[hf]'") from error
    state = {name: tensor.detach().cpu().float() for name, tensor in hf_state_dict(model).items()}
    weights = safetensors_bytes(state, metadata={"format": "pt"})
    config = json.dumps(hf_config(model), indent=2) + "\n"
    atomic_write(directory / "model.safetensors", lambda file: file.write(weights))
    atomic_write(directory / "config.json", lambda file: file.write(config.encode("utf-8")))
    return directory
