"""One training step of gpt2lib versus Hugging Face transformers' GPT2LMHeadModel, side by side in one process.

    make bench-train      # or: .venv/bin/python benchmarks/bench_training.py [--repeats 9] [--device cuda]

A step is forward, loss, backward, gradient clipping and AdamW, on the model `make train` trains by default
(4 layers, width 192, 6 heads, context 128, GPT-2's 50,257-token vocabulary) with batches of 16 windows.
Both models start from the same random weights, see the same batches and use the same optimizer settings.
Hugging Face is called two ways, and the faster one counts: as its documentation shows, `model(ids,
labels=ids)`, and with its logits passed to `F.cross_entropy` (skipping its copy of the shifted logits).
Runs are interleaved (gpt2lib, HF, HF, gpt2lib, ...) and each figure is the median of --repeats rounds,
so that a noisy machine slows both alike. The same run measures the machine's matmul peak, to say how
much of the hardware each reaches, and profiles gpt2lib's step to show where its time goes.

The comparison runs twice, each in a fresh process: with glibc's default malloc, as any Python program
gets, and with the malloc settings `make train` uses (keep_freed_memory in gpt2lib/training/cli.py), which
spare both libraries the page faults of their large per-step tensors. Not part of the test suite: timings are not tests.

The tables go to benchmarks/results/bench_training.md and .json (--results DIR for another folder), with the
machine they were measured on; the site's performance page shows the .md file.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

import result_files  # benchmarks/, the script's own folder
from bench_gpt2 import seconds, synchronize  # the same timing as the inference benchmark
from gpt2lib import model_from_hf
from gpt2lib.training.cli import MODEL_DEFAULTS, TRAIN_DEFAULTS, keep_freed_memory
from gpt2lib.training.optim import make_optimizer
from gpt2lib.training.trainer import autocast, autocast_dtype, train_step

TARGET = 1.2  # gpt2lib's training tokens/s over Hugging Face's, in each precision
HEAD = "output layer and loss (tensors with a 50,257-long side)"


def hf_config(cfg: dict) -> GPT2Config:
    return GPT2Config(n_layer=cfg["n_layers"], n_embd=cfg["emb_dim"], n_head=cfg["n_heads"],
                      n_positions=cfg["context_length"], resid_pdrop=cfg["dropout"], embd_pdrop=cfg["dropout"],
                      attn_pdrop=cfg["dropout"])


def hf_step(model, optimizer, inputs, targets, dtype, use_labels: bool) -> float:
    """One training step of Hugging Face's model, the way its users write it."""
    with autocast(inputs.device, dtype):
        if use_labels:  # HF shifts the labels itself, so it scores T - 1 of the T positions
            loss = model(inputs, labels=inputs).loss
        else:
            logits = model(inputs).logits  # (B, T, vocab_size)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN_DEFAULTS["grad_clip"])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of the best of repeats square matrix products in dtype: what this machine's matmul can do."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def flops_per_token(cfg: dict) -> float:
    """Matmul FLOPs of one training step per token: 3x the forward's (backward = 2x forward).

    Forward: 2 FLOPs per weight of the blocks' linear layers (12 * d^2 per block) and of the output head
    (vocab * d), plus attention's two products (4 * T * d per block, causal half not discounted)."""
    d, n_layers, context = cfg["emb_dim"], cfg["n_layers"], cfg["context_length"]
    forward = 2 * (12 * n_layers * d * d + 50257 * d) + 4 * n_layers * context * d
    return 3 * forward


def measure(precision: str, device: torch.device, repeats: int, steps: int) -> dict:
    """Median tokens/s of steps training steps, for gpt2lib and both ways of calling HF, interleaved."""
    cfg, batch_size = MODEL_DEFAULTS, TRAIN_DEFAULTS["batch_size"]
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(hf_config(cfg))
    twin = GPT2LMHeadModel(hf_config(cfg))
    twin.load_state_dict(hf_model.state_dict())  # each way of calling HF trains its own copy of the same weights
    ours = model_from_hf(hf_model).to(device).train()
    hf_models = {"HF labels=": hf_model.to(device).train(), "HF logits + F.cross_entropy": twin.to(device).train()}
    dtype = autocast_dtype(device, precision)
    lr, decay = TRAIN_DEFAULTS["min_lr"], TRAIN_DEFAULTS["weight_decay"]  # a small rate: the weights stay sane
    optimizers = {name: make_optimizer(model, lr, decay) for name, model in [("gpt2lib", ours), *hf_models.items()]}
    ids = torch.randint(0, 50257, (steps, batch_size, cfg["context_length"] + 1), device=device)
    batches = [(window[:, :-1], window[:, 1:]) for window in ids]  # (B, T) inputs and their next tokens

    def run(name):
        for inputs, targets in batches:
            if name == "gpt2lib":
                train_step(ours, optimizers[name], [(inputs, targets)], lr, TRAIN_DEFAULTS["grad_clip"], dtype)
            else:
                hf_step(hf_models[name], optimizers[name], inputs, targets, dtype, name == "HF labels=")

    names = ["gpt2lib", *hf_models]
    times = {name: [] for name in names}
    for name in names:
        run(name)  # warm-up
    for round_ in range(repeats):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(seconds(lambda: run(name), device))
    tokens = steps * batch_size * cfg["context_length"]
    return {name: tokens / statistics.median(values) for name, values in times.items()}


def where_time_goes(precision: str, device: torch.device) -> dict[str, float]:
    """Shares of gpt2lib's step, from torch's profiler over 2 steps: the operations on (., vocab_size) tensors
    (output layer and loss), the optimizer, and the rest (embeddings, blocks, clipping)."""
    cfg, batch_size = MODEL_DEFAULTS, TRAIN_DEFAULTS["batch_size"]
    torch.manual_seed(0)
    model = model_from_hf(GPT2LMHeadModel(hf_config(cfg))).to(device).train()
    optimizer, dtype = make_optimizer(model, 3e-4), autocast_dtype(device, precision)
    ids = torch.randint(0, 50257, (batch_size, cfg["context_length"] + 1), device=device)
    step = lambda: train_step(model, optimizer, [(ids[:, :-1], ids[:, 1:])], 3e-4, 1.0, dtype)  # noqa: E731
    step()  # warm-up
    with torch.profiler.profile(record_shapes=True) as profile:
        step(), step()
    shares = {HEAD: 0.0, "AdamW": 0.0, "the rest": 0.0}
    for event in profile.events():  # each operation's own time, without the operations it called
        ancestors, parent = [], event.cpu_parent
        while parent is not None:
            ancestors.append(parent.name)
            parent = parent.cpu_parent
        on_vocab = "50257" in str(event.input_shapes) or "CrossEntropy" in event.name
        part = "AdamW" if any(name.startswith("Optimizer.") for name in ancestors) else HEAD if on_vocab else "the rest"
        shares[part] += event.self_cpu_time_total
    total = sum(shares.values())
    return {part: value / total for part, value in shares.items()}


def run_setting(args) -> dict:
    """Measure, in this process, with the malloc setting args.malloc; print and return the numbers."""
    device = torch.device(args.device)
    kept = args.malloc == "keep" and keep_freed_memory()
    print(f"\n=== malloc: {'freed memory kept, as make train does' if kept else 'glibc default'} ===")
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} CPU threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    cfg = MODEL_DEFAULTS
    print(f"model: {cfg['n_layers']} layers, width {cfg['emb_dim']}, {cfg['n_heads']} heads, context "
          f"{cfg['context_length']}; batch {TRAIN_DEFAULTS['batch_size']} windows; AdamW; medians of {args.repeats} "
          f"interleaved rounds of {args.steps} steps")
    results = []
    precisions = ["float32"] + (["bfloat16"] if autocast_dtype(device, "auto") == torch.bfloat16 else [])
    for precision in precisions:
        dtype = getattr(torch, precision)
        peak = matmul_peak(dtype, device)
        speeds = measure(precision, device, args.repeats, args.steps)
        best_hf = max((name for name in speeds if name != "gpt2lib"), key=speeds.get)
        print(f"\n{precision} (autocast)" if precision == "bfloat16" else f"\n{precision}")
        print(f"  matmul peak measured now: {peak / 1e9:,.0f} GFLOP/s")
        for name, speed in speeds.items():
            share = speed * flops_per_token(cfg) / peak
            print(f"  {name:<30} {speed:>9,.0f} tokens/s  {share:>5.0%} of the matmul peak")
        ratio = speeds["gpt2lib"] / speeds[best_hf]
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(f"  gpt2lib / best HF ({best_hf}): {ratio:.2f}x  (target >= {TARGET}x: {verdict})")
        shares = where_time_goes(precision, device)
        print("  where gpt2lib's step spends its time: " + ", ".join(f"{part} {share:.0%}"
                                                                  for part, share in shares.items()))
        results.append({"precision": precision, "matmul_peak_gflops": round(peak / 1e9, 1),
                        "tokens_per_s": {name: round(speed, 1) for name, speed in speeds.items()},
                        "peak_share": {name: round(speed * flops_per_token(cfg) / peak, 3)
                                       for name, speed in speeds.items()},
                        "best_hf": best_hf, "ratio": round(ratio, 3), "target": TARGET, "met": ratio >= TARGET,
                        "time_shares": {part: round(share, 3) for part, share in shares.items()}})
    return {"malloc": "kept" if kept else "default", "precisions": results}


def markdown(run: dict, info: dict, settings: dict, parts: list[dict]) -> str:
    """The result file shown on the site: the machine, then the tables."""
    malloc = {"default": "glibc default", "kept": "kept, as `make train`"}
    text = result_files.machine_markdown(run, info)
    text += (f"\nModel: {settings['n_layers']} layers, width {settings['emb_dim']}, {settings['n_heads']} heads, "
             f"context {settings['context_length']}; batches of {settings['batch_size']} windows; medians of "
             f"{settings['repeats']} interleaved rounds of {settings['steps']} steps. Training tokens/s:\n\n")
    names = ["gpt2lib", "HF labels=", "HF logits + F.cross_entropy"]
    text += result_files.markdown_table(
        ["malloc", "precision", "gpt2lib", "HF `labels=`", "HF logits + `F.cross_entropy`",
         "gpt2lib / best HF (target)"],
        [[malloc[part["malloc"]], r["precision"], *(f"{r['tokens_per_s'][name]:,.0f}" for name in names),
          f"{r['ratio']:.2f}x (≥ {r['target']}x: {'met' if r['met'] else 'missed'})"]
         for part in parts for r in part["precisions"]])
    text += "\nHow much of the machine's matrix-product peak (a 2048 × 2048 product) gpt2lib's step reaches, and " \
            "where it spends its time (torch's profiler):\n\n"
    text += result_files.markdown_table(
        ["malloc", "precision", "matmul peak", "gpt2lib's share of it", "where gpt2lib's step spends its time"],
        [[malloc[part["malloc"]], r["precision"], f"{r['matmul_peak_gflops']:,.0f} GFLOP/s",
          f"{r['peak_share']['gpt2lib']:.0%}",
          ", ".join(f"{'output layer and loss' if k == HEAD else k} {v:.0%}" for k, v in r["time_shares"].items())]
         for part in parts for r in part["precisions"]])
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds; the median counts [9]")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed run [3]")
    parser.add_argument("--device", default="cpu", help="cpu or cuda [cpu]")
    parser.add_argument("--malloc", choices=["default", "keep"],
                        help="one malloc setting only (default: both, in turn)")
    parser.add_argument("--results", type=Path, default=result_files.RESULTS,
                        help="folder for bench_training.md and .json [benchmarks/results, shown on the site]")
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)  # a child process's numbers, for its parent
    args = parser.parse_args()
    if args.repeats < 1 or args.steps < 1:
        parser.error(f"--repeats and --steps must be at least 1, got {args.repeats} and {args.steps}")
    if args.malloc is None:  # each setting in a process of its own: malloc's settings last for the process
        with tempfile.TemporaryDirectory() as folder:
            parts = []
            for malloc in ("default", "keep"):
                part = Path(folder) / f"{malloc}.json"
                subprocess.run([sys.executable, __file__, *sys.argv[1:], "--malloc", malloc, "--part", str(part)],
                               check=True)
                parts.append(json.loads(part.read_text()))
    else:
        parts = [run_setting(args)]
        if args.part:
            args.part.write_text(json.dumps(parts[0]))
            return
    run, info = result_files.run_info(), result_files.machine(torch.device(args.device))
    settings = {**MODEL_DEFAULTS, "batch_size": TRAIN_DEFAULTS["batch_size"], "repeats": args.repeats,
                "steps": args.steps}
    data = {"benchmark": "bench_training", "run": run, "machine": info, "settings": settings, "results": parts}
    result_files.write("bench_training", args.results, data, markdown(run, info, settings, parts))


if __name__ == "__main__":
    main()
