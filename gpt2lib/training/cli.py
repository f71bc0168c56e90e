"""Pretrain a small GPT-2 on tiny Shakespeare, or on your own data, from the command line.

    python -m gpt2lib.train                        # the default run (about 15 minutes on a 2-core CPU)
    python -m gpt2lib.train --steps 3 --layers 1 --emb-dim 32 --heads 2 --context 16 --out /tmp/tiny
    python -m gpt2lib.train --out runs/shakespeare --resume           # continue a stopped run
    torchrun --nproc_per_node=2 -m gpt2lib.train --resume auto         # 2 processes; start, or continue after a crash
    python -m gpt2lib.train --data my_text.txt --init shipped --out runs/mine   # your text, from a pretrained start
    python -m gpt2lib.prepare big_corpus/ --out data/big && python -m gpt2lib.train --data data/big --init gpt2

--data trains on a UTF-8 text file, a folder of *.txt files, or a folder of token shards that `python -m
gpt2lib.prepare` wrote (read by memory map: memory stays flat whatever the corpus's size). --init starts from
pretrained weights: gpt2, gpt2-medium, gpt2-large or gpt2-xl (OpenAI's, when cached or downloadable), a folder in
Hugging Face's format (a gpt2lib export too), or shipped (the small model shipped with the repository); the model's
sizes are then the pretrained model's. Both are checked before any work (gpt2lib/training/own_data.py).

Written by hand; `python -m gpt2lib.train` runs it (gpt2lib/train.py is a shim). The training code itself is in
gpt2lib/training/, exported from notebooks 08 and 09; this file reads the options, prepares the data and the output
directory, and reports. The run writes into --out:
checkpoint.pt (everything needed to resume), model/ (config.json + model.safetensors, loadable by
gpt2lib.from_pretrained and by transformers), loss.png and summary.json.

The defaults are TrainConfig's, and GPTConfig's with the named overrides of MODEL_OVERRIDES (a smaller model).
The learning-rate schedule spans --steps, so a run is reproducible. --minutes stops a run early,
at a step boundary, with a checkpoint; Ctrl+C and SIGTERM do the same. --resume continues it bit for bit.
A run killed outright (SIGKILL, a crash) continues from its last checkpoint: checkpoints are written atomically,
and what an interrupted save left behind is removed when the run resumes. A second Ctrl+C stops at once.
--out is the run's alone (gpt2lib/training/run_folder.py): checked for room and write access at the start, locked
while the run lasts, and refused if it holds another program's files (unless --overwrite-out). A full disk or a
failed write ends the run with one message; the previous checkpoint is intact. --resume auto starts the run when
--out has no checkpoint and continues it when it has one: one command for the first start and every restart.
The options, the --device, the --prompt, the memory the run needs and --out are checked before the data is read,
and a refused command leaves the thread count and the random state as they were. A run whose loss turns NaN or
infinite stops with an error; its last checkpoint, written before, is kept, and nothing is exported.
Under torchrun every process runs this file (gpt2lib/training/distributed.py).
"""

import argparse
import ctypes
import ctypes.util
import importlib.util
import json
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch

from gpt2lib.hf.export import export_hf
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.tokenizer import get_tokenizer
from gpt2lib.training.checkpoint import atomic_write, rng_state, set_rng_state
from gpt2lib.training.data import load_corpus, tokenize, train_val_split
from gpt2lib.training.distributed import Distributed, any_rank, rank_share, setup, teardown
from gpt2lib.training.run_folder import (RunFolder, RunFolderError, WriteFailedError, check_out_path,
                                         unfinished_writes)
from gpt2lib.training.sizes import describe_bytes, device_memory, run_files_bytes, training_memory
from gpt2lib.training import own_data
from gpt2lib.training.trainer import Trainer, TrainConfig, evaluate, plot_history, sample
from gpt2lib.training.validation import PRECISIONS, TrainingCheckpointError, TrainingDivergedError
from gpt2lib.validation import check_device, is_int

# The one place where the command's default run differs from the dataclasses' defaults. GPTConfig's defaults are
# GPT-2 small (124M parameters, days of training on a CPU); the command trains GPT-2's architecture and tokenizer
# with fewer, narrower layers and a shorter context, about 15 minutes on a 2-core CPU, and without dropout, which
# would only slow such a short run down. TrainConfig's defaults are the command's, unchanged.
MODEL_OVERRIDES = dict(n_layers=4, emb_dim=192, n_heads=6, context_length=128, dropout=0.0)
MODEL_DEFAULTS = {**asdict(GPTConfig()), **MODEL_OVERRIDES}  # the model the command trains without options
TRAIN_DEFAULTS = asdict(TrainConfig())
MAX_SAMPLE_TOKENS = 10_000  # the sample at the end; more is a long generation, better run on its own

# The options that set a GPTConfig or TrainConfig field: flag -> (field, type, help).
MODEL_OPTIONS = {
    "--layers": ("n_layers", int, "transformer blocks"),
    "--emb-dim": ("emb_dim", int, "width of each token's vector"),
    "--heads": ("n_heads", int, "attention heads per block"),
    "--context": ("context_length", int, "context length in tokens"),
    "--dropout": ("dropout", float, "dropout probability"),
}
TRAIN_OPTIONS = {
    "--steps": ("steps", int, "optimizer steps; the schedule spans them"),
    "--batch-size": ("batch_size", int, "windows per micro-batch"),
    "--grad-accum": ("grad_accum", int, "micro-batches per step"),
    "--lr": ("lr", float, "peak learning rate"),
    "--min-lr": ("min_lr", float, "final learning rate"),
    "--warmup-steps": ("warmup_steps", int, "linear warmup steps"),
    "--weight-decay": ("weight_decay", float, "AdamW weight decay"),
    "--grad-clip": ("grad_clip", float, "largest gradient norm"),
    "--eval-interval": ("eval_interval", int, "steps between evaluations"),
    "--eval-windows": ("eval_windows", int, "windows per evaluation"),
    "--seed": ("seed", int, "seed of the whole run"),
    "--precision": ("precision", str, "autocast dtype; auto = bfloat16 where supported"),
}


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse; True if it agreed (Linux with glibc only).

    Every training step allocates and frees tensors of hundreds of megabytes (the logits, their gradient).
    By default glibc hands each one back to the operating system when it is freed, and the next step pays for
    fresh zeroed pages again: on a 2-core CPU that costs about a fifth of the step. mallopt with M_MMAP_MAX = 0
    serves large blocks from the heap instead of separate mappings, and a high M_TRIM_THRESHOLD keeps the freed
    heap for the next step. The numbers computed do not change; the process keeps its peak memory until it exits.
    """
    if sys.platform != "linux" or not ctypes.util.find_library("c"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallopt"):  # musl and other C libraries have no mallopt
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # the option numbers of glibc's malloc.h
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**30))


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gpt2lib.train", description=__doc__.splitlines()[0])
    groups = [("model size (GPT-2's architecture, made smaller; defaults in brackets)", MODEL_OPTIONS, MODEL_DEFAULTS),
              ("training (TrainConfig's defaults in brackets)", TRAIN_OPTIONS, TRAIN_DEFAULTS)]
    for title, options, defaults in groups:
        group = parser.add_argument_group(title)
        for flag, (field, kind, text) in options.items():
            group.add_argument(flag, dest=field, type=kind, choices=PRECISIONS if field == "precision" else None,
                               help=f"{text} [{defaults[field]}]")
    own_data.add_options(parser)  # --data and --init
    session = parser.add_argument_group("this session")
    session.add_argument("--minutes", type=float, default=None, help="stop after this many minutes, with a checkpoint")
    session.add_argument("--out", default="runs/shakespeare", help="output directory [runs/shakespeare]")
    session.add_argument("--overwrite-out", action="store_true",
                         help="write into a non-empty --out that holds no checkpoint: files with the run's names "
                              "are replaced, others are left alone")
    session.add_argument("--resume", nargs="?", const="yes", default="no", choices=["yes", "no", "auto"],
                         help="continue the run saved in --out; auto: continue it if there is one, else start it")
    session.add_argument("--checkpoint-interval", type=int, default=100, help="steps between checkpoints [100]")
    session.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda [cpu]")
    session.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    session.add_argument("--no-progress", action="store_true", help="no progress bar")
    session.add_argument("--sample-tokens", type=int, default=120,
                         help=f"tokens to sample at the end, 0 for none, at most {MAX_SAMPLE_TOKENS:,} [120]")
    session.add_argument("--prompt", default="ROMEO:", help="prompt of the sample at the end [ROMEO:]")
    session.add_argument("--final-eval-windows", type=int, default=None,
                         help="validation windows for the final loss [all of the validation split; with --data, "
                              f"{own_data.FINAL_EVAL_WINDOWS} spread over it]")
    args = parser.parse_args(argv)
    if args.minutes is not None and not (args.minutes > 0 and math.isfinite(args.minutes * 60)):  # NaN, inf, 1e308
        parser.error(f"--minutes must be a finite number > 0, got {args.minutes}")
    if args.threads is not None and args.threads > 4 * (os.cpu_count() or 1):
        parser.error(f"--threads must be at most 4 x this machine's {os.cpu_count()} CPUs, got {args.threads}")
    for flag, low in [("--checkpoint-interval", 1), ("--threads", 1), ("--sample-tokens", 0),
                      ("--final-eval-windows", 1)]:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and value < low:
            parser.error(f"{flag} must be >= {low}, got {value}")
    if args.sample_tokens > MAX_SAMPLE_TOKENS:  # generated one at a time after the training: hours, not a sample
        parser.error(f"--sample-tokens must be at most {MAX_SAMPLE_TOKENS:,}, got {args.sample_tokens:,}")
    if not args.out:
        parser.error("--out is empty: name the folder for the run's files")
    return args


def _given(args, options: dict) -> dict:
    """The config fields of options that were given on the command line, with their values."""
    return {field: getattr(args, field) for field, _, _ in options.values() if getattr(args, field) is not None}


def _new_configs(args) -> tuple[GPTConfig, TrainConfig]:
    """The model and training configurations of a new run with these options (their checks raise if wrong)."""
    options = _given(args, TRAIN_OPTIONS)
    steps = options.get("steps", TRAIN_DEFAULTS["steps"])
    if "warmup_steps" not in options and is_int(steps) and steps > 0:
        options["warmup_steps"] = min(TRAIN_DEFAULTS["warmup_steps"], steps)  # a short run warms up for its length
    if args.init is not None:  # the model's sizes are the pretrained model's (gpt2lib/training/own_data.py)
        return own_data.init_config(args.init, _given(args, MODEL_OPTIONS)), TrainConfig(**options)
    return GPTConfig(**{**MODEL_OVERRIDES, **_given(args, MODEL_OPTIONS)}), TrainConfig(**options)


def _check_memory(args, cfg: GPTConfig, tcfg: TrainConfig) -> None:
    """Refuse, before anything is allocated, a run whose step cannot fit in the memory of --device."""
    memory = device_memory(check_device(args.device))
    need = training_memory(cfg, tcfg.batch_size, tcfg.grad_accum)
    if memory is None or sum(need.values()) <= memory:
        return
    largest = max(need, key=need.get)
    fix = {"activations": "lower --batch-size or --context (--grad-accum trains the same batch in smaller pieces)",
           "model": "lower --emb-dim or --layers", "batch": "lower --grad-accum or --batch-size"}[largest]
    raise SystemExit(
        f"error: this run needs at least about {describe_bytes(sum(need.values()))} of memory, more than the "
        f"{describe_bytes(memory)} of --device {args.device}: a micro-batch of --batch-size {tcfg.batch_size} "
        f"windows of --context {cfg.context_length} tokens takes about {describe_bytes(need['activations'])} of "
        f"activations, the model (--layers {cfg.n_layers}, --emb-dim {cfg.emb_dim}) with its gradients and "
        f"AdamW's moments about {describe_bytes(need['model'])}, and the step's token ids (--grad-accum "
        f"{tcfg.grad_accum} micro-batches) about {describe_bytes(need['batch'])}: {fix}")


def _check_session(args) -> None:
    """Refuse, before any data is read, a --device or --prompt the run could not use at its start or its end."""
    try:
        check_device(args.device, "--device")
    except ValueError as error:
        raise SystemExit(f"error: {error}") from error
    if args.sample_tokens > 0:  # the sample at the end encodes the prompt: check it now, not after the training
        if not args.prompt:
            raise SystemExit("error: --prompt is empty: the sample at the end needs at least one token of prompt "
                             "(e.g. --prompt $'\\n'), or pass --sample-tokens 0 for no sample")
        try:
            get_tokenizer().encode(args.prompt)
        except ValueError as error:  # <|endoftext|>, or text that is not valid Unicode
            raise SystemExit(f"error: --prompt cannot be encoded: {error}") from error


def _new_trainer(args, train_data, val_data, ctx: Distributed) -> Trainer:
    cfg, tcfg = _new_configs(args)
    torch.manual_seed(tcfg.seed)  # the initial weights, and then the dropout masks, follow from the seed
    model = own_data.init_model(args.init, cfg, ctx.device) if args.init else GPTModel(cfg).to(ctx.device)
    if ctx.rank > 0:
        torch.manual_seed(tcfg.seed + ctx.rank)  # other processes draw other dropout masks
    return Trainer(model, tcfg, train_data, val_data, ctx)


def _resumed_trainer(args, checkpoint: Path, train_data, val_data, ctx: Distributed) -> Trainer:
    caller_rng = rng_state()  # from_checkpoint restores the run's random state: a refusal puts the caller's back
    trainer = Trainer.from_checkpoint(checkpoint, train_data, val_data, ctx=ctx)
    saved = {**asdict(trainer.model.cfg), **asdict(trainer.tcfg)}
    options = {**_given(args, MODEL_OPTIONS), **_given(args, TRAIN_OPTIONS)}
    changed = sorted(field for field, value in options.items() if value != saved[field])
    if changed:
        set_rng_state(caller_rng)
        raise SystemExit(f"error: --resume continues the saved run with its own settings, and these options differ "
                         f"from them: {', '.join(changed)} (drop them, or train a new run in another --out directory)")
    return trainer


def _space_needed(args) -> int:
    """Bytes free space must hold for the run's files: for a resumed run, the next checkpoint beside the saved one
    (as large), and the export (about a third of it) beside an old export; a new run's come from its configs."""
    checkpoint = Path(args.out) / "checkpoint.pt"
    if args.resume != "no" and checkpoint.is_file():
        return checkpoint.stat().st_size * 5 // 3
    return run_files_bytes(_new_configs(args)[0])


def _claim_out(args, ctx: Distributed) -> RunFolder | None:
    """Rank 0 checks --out and locks it for the run (the RunFolder; None on other ranks). If rank 0 refuses,
    every process stops: none starts training."""
    folder = refusal = None
    if ctx.is_main:
        try:
            folder = RunFolder.claim(args.out, _space_needed(args), args.overwrite_out)
        except RunFolderError as error:
            refusal = error
    if any_rank(refusal is not None, ctx):
        raise SystemExit(f"error: {refusal}" if ctx.is_main else f"error: rank 0 refused --out {args.out}")
    return folder


def _remove_unfinished_writes(out: Path, say) -> None:
    """Delete the temporary files that this run's saves, killed half-way, left in out: their exact names only."""
    leftovers = unfinished_writes(out)
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        names = ", ".join(path.name for path in leftovers)
        say(f"removed {len(leftovers)} unfinished file(s) of an interrupted save: {names}")


def _interrupted(error: BaseException) -> bool:
    """A Ctrl+C, or an error that one caused (torch's zip writer wraps it in a RuntimeError)."""
    while error is not None and not isinstance(error, KeyboardInterrupt):
        error = error.__cause__ or error.__context__
    return error is not None


def _stopped_at_once(args) -> str:
    checkpoint = Path(args.out) / "checkpoint.pt"
    if not checkpoint.is_file():
        return "error: stopped at once (Ctrl+C), before any checkpoint was saved: there is nothing to resume"
    return (f"error: stopped at once (Ctrl+C); the last checkpoint, {checkpoint}, is intact (a save replaces it "
            f"only when complete). Continue with: python -m gpt2lib.train --out {args.out} --resume")


def _files_complete(out: Path) -> bool:
    """Whether a finished run's files are all there: its summary and both files of its export."""
    return all((out / name).is_file() for name in ("summary.json", "model/config.json", "model/model.safetensors"))


def _save_plot(trainer: Trainer, path: Path, data: str) -> None:
    try:
        from matplotlib.figure import Figure  # optional: matplotlib is not a dependency of gpt2lib
    except ModuleNotFoundError:
        return
    figure = Figure(figsize=(8, 5))
    ax = figure.subplots()
    plot_history(trainer.history, ax)
    ax.set_title(f"{trainer.model.cfg.n_layers} layers, width {trainer.model.cfg.emb_dim}: loss on {data}")
    figure.tight_layout()
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=100))


def main(argv=None) -> int:
    """Run the command with the options in argv (sys.argv's by default); the exit status."""
    args = _parse_args(argv)
    if importlib.util.find_spec("safetensors") is None:  # the export after training needs it: say so before
        raise SystemExit("error: the run ends by exporting the model to Hugging Face's format, which needs "
                         "safetensors: pip install 'gpt2lib[hf]'")
    _check_session(args)
    try:
        check_out_path(args.out)  # before anything looks inside --out (gpt2lib/training/run_folder.py)
    except RunFolderError as error:
        raise SystemExit(f"error: {error}") from None
    own_data.check_data(args.data)  # before any work: exists, text or shards, not empty, UTF-8
    own_data.check_init(args.init)  # its config, and weights that are here or downloadable
    tcfg = None
    if args.resume != "yes":  # a new run (or, with auto, perhaps one): its options are checked before any work
        try:
            cfg, tcfg = _new_configs(args)
        except (TypeError, ValueError) as error:
            raise SystemExit(f"error: {error}") from error
        _check_memory(args, cfg, tcfg)
        own_data.check_fit(args, cfg)  # the data's vocabulary and size against the model
    try:
        ctx = setup(args.device)  # under torchrun: join the other processes
    except (RuntimeError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    try:
        if tcfg is not None and not (Path(args.out) / "checkpoint.pt").is_file():
            _check_split(tcfg, ctx)  # a new run: before the data loads
        return _train(args, ctx)
    finally:
        teardown(ctx)


def _check_split(tcfg, ctx: Distributed) -> None:
    """Refuse a global batch that the processes cannot share evenly (rank_share's own check, made early)."""
    try:
        rank_share(tcfg.batch_size * tcfg.grad_accum, ctx)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from error


def _train(args, ctx: Distributed) -> int:
    """The run, with --out claimed for it; a full disk or a Ctrl+C during a save ends it with one message."""
    checkpoint = Path(args.out) / "checkpoint.pt"
    if args.resume == "yes" and not checkpoint.is_file():
        raise SystemExit(f"error: --resume, but there is no checkpoint at {checkpoint}")
    if args.resume == "no" and checkpoint.exists():
        raise SystemExit(f"error: {checkpoint} exists: add --resume to continue it, or choose another --out")
    with _claim_out(args, ctx) or nullcontext() as folder:  # the lock is held until the run ends
        try:
            return _run(args, ctx, folder)
        except WriteFailedError as error:  # a full disk, say: one message, no traceback
            resume = f". Continue with: python -m gpt2lib.train --out {args.out} --resume"
            raise SystemExit(f"error: {error}{resume if checkpoint.is_file() else ''}") from None
        except BaseException as error:
            if _interrupted(error):
                raise SystemExit(_stopped_at_once(args) if ctx.is_main else 1) from None
            raise


def _run(args, ctx: Distributed, folder: RunFolder | None) -> int:
    """Read the data, build or resume the Trainer, train, and report (rank 0)."""
    say = print if ctx.is_main else (lambda *args, **kwargs: None)  # only rank 0 reports
    out = Path(args.out)
    checkpoint = out / "checkpoint.pt"
    if folder is not None and folder.note:
        say(folder.note)
    if args.data is None:
        train_data, val_data = train_val_split(tokenize(load_corpus()))
    else:
        train_data, val_data = own_data.load_data(args, progress=ctx.is_main and not args.no_progress)
    if ctx.is_main:
        _remove_unfinished_writes(out, say)
    resume = args.resume == "yes" or (args.resume == "auto" and checkpoint.is_file())
    try:
        trainer = _resumed_trainer(args, checkpoint, train_data, val_data, ctx) if resume else None
    except (TrainingCheckpointError, TypeError, ValueError) as error:  # e.g. a saved precision this CPU lacks
        raise SystemExit(f"error: {error}") from error
    if trainer is None:
        try:
            trainer = _new_trainer(args, train_data, val_data, ctx)
        except (TypeError, ValueError) as error:
            raise SystemExit(f"error: {error}") from error
    if resume and trainer.step >= trainer.tcfg.steps and _files_complete(out):
        say(f"the run in {out} is finished (step {trainer.step} of {trainer.tcfg.steps}) and its files are complete: "
            "nothing to do, nothing changed")  # its summary keeps the figures of the sessions that trained
        return 0
    cfg, tcfg = trainer.model.cfg, trainer.tcfg
    say(f"model: {cfg.n_layers} layers, width {cfg.emb_dim}, {cfg.n_heads} heads, context {cfg.context_length}, "
        f"{sum(p.numel() for p in trainer.model.parameters()):,} parameters")
    say(f"data: {len(train_data):,} training and {len(val_data):,} validation tokens; "
        f"{trainer.tokens_per_step:,} tokens per step; precision {trainer.dtype or torch.float32}")
    try:
        share = rank_share(tcfg.batch_size * tcfg.grad_accum, ctx)  # this process's windows of every step
    except ValueError as error:
        raise SystemExit(f"error: {error}") from error
    if args.threads is not None:  # every check has passed: only now change the process's thread count
        torch.set_num_threads(args.threads)
    processes = f"; {ctx.world_size} processes, {share.stop - share.start} windows each per step" if ctx.active else ""
    space = f" (its files take about {describe_bytes(folder.need)}; {describe_bytes(folder.free)} free)" \
        if folder is not None else ""
    say(f"{'resuming at' if resume else 'starting at'} step {trainer.step} of {tcfg.steps}; writing to {out}{space}"
        f"{processes}")

    stop_requested = []

    def request_stop(signum, frame):  # Ctrl+C (SIGINT) or SIGTERM: a checkpoint, then a clean exit
        if stop_requested and signum == signal.SIGINT:  # Ctrl+C again stops at once; the last checkpoint is intact
            raise KeyboardInterrupt
        if stop_requested:  # a repeated SIGTERM (Linux may send a parent-death signal twice): already stopping
            return
        stop_requested.append(signum)
        if ctx.is_main:
            print("\nstopping after this step, with a checkpoint (Ctrl+C again to stop at once)...", file=sys.stderr)

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    start, start_step = time.perf_counter(), trainer.step
    try:
        finished = trainer.fit(max_seconds=None if args.minutes is None else args.minutes * 60,
                               progress=not args.no_progress, checkpoint_path=checkpoint,
                               checkpoint_interval=args.checkpoint_interval, stop=lambda: bool(stop_requested))
    except (TrainingDivergedError, ValueError) as error:  # a NaN loss, or weights that may not be saved
        raise SystemExit(f"error: {error}") from error
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    seconds = time.perf_counter() - start
    tokens_per_s = (trainer.step - start_step) * trainer.tokens_per_step / seconds if seconds > 0 else 0.0
    session = {"session_steps": trainer.step - start_step, "session_seconds": seconds, "tokens_per_s": tokens_per_s}
    if not ctx.is_main:
        return 0
    return _report(args, trainer, finished, session, out, val_data)


def _report(args, trainer, finished, session, out, val_data) -> int:
    print(f"reached step {trainer.step} of {trainer.tcfg.steps}; this session trained {session['session_steps']} steps "
          f"in {session['session_seconds'] / 60:.1f} minutes, {session['tokens_per_s']:,.0f} tokens/s (evaluations included)")
    windows = own_data.final_eval_windows(args)  # with --data, a sample of its validation split by default
    val_loss = evaluate(trainer.model, val_data, trainer.model.cfg.context_length, windows,
                        dtype=trainer.dtype)
    available = (len(val_data) - 1) // trainer.model.cfg.context_length  # what evaluate can take
    where = "the whole validation split" if windows is None or windows >= available else f"{windows} windows"
    print(f"validation loss on {where}: {val_loss:.3f}")
    if not math.isfinite(val_loss):  # every training loss was finite, but the weights grew until the logits overflow
        raise SystemExit(f"error: the training diverged: the validation loss at step {trainer.step} is {val_loss}. "
                         f"The model was not exported; {out / 'checkpoint.pt'} holds the diverged weights. Lower the "
                         "learning rate (--lr) or the weight decay, or clip gradients harder (--grad-clip), and train "
                         "again in a new --out")
    export_hf(trainer.model, out / "model")
    _save_plot(trainer, out / "loss.png", own_data.data_name(args))
    text = sample(trainer.model, args.prompt, args.sample_tokens) if args.sample_tokens > 0 else ""
    summary = {"finished": finished, "step": trainer.step, "steps": trainer.tcfg.steps, **session,
               "val_loss": val_loss, "model_config": asdict(trainer.model.cfg),
               "train_config": asdict(trainer.tcfg), "data": args.data, "init": args.init,
               "sample_prompt": args.prompt, "sample": text}
    atomic_write(out / "summary.json", lambda file: file.write((json.dumps(summary, indent=2) + "\n").encode()))
    print(f"wrote {out / 'checkpoint.pt'}, {out / 'model'} (Hugging Face format), {out / 'loss.png'}")
    if text:
        print(f"sample (temperature 0.8, top-k 50):\n{text}")
    if not finished:
        print(f"stopped early; continue with: python -m gpt2lib.train --out {args.out} --resume")
    return 0


def run() -> None:
    """The command as `python -m gpt2lib.train` runs it: freed memory kept for reuse, then main()."""
    keep_freed_memory()  # for this process only: the tests call main() without it
    sys.exit(main())


if __name__ == "__main__":
    run()
