"""gpt2lib versus Hugging Face transformers' GPT2LMHeadModel and the weight-streaming bound, in one process.

    make bench            # or: .venv/bin/python benchmarks/bench_gpt2.py [--repeats 5] [--device cuda]

Both models have the GPT-2 124M shape and the same random weights (no download). Hugging Face
is called in each of its documented ways (with and without an attention mask; its default
attention is PyTorch's sdpa) and its fastest counts. The bound is the time to apply every
weight matrix of the model to a vector once per token, for each layout a weight can be
stored in. All runs of a dtype are interleaved (one of each, then again) so that a noisy
machine slows all alike, and each number is a median. Not part of the tests: timings are not tests.

The tables go to benchmarks/results/bench_gpt2.md and .json (--results DIR for another folder), with the
machine they were measured on; the site's performance page shows the .md file.
"""

import argparse
import gc
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

import result_files  # benchmarks/, the script's own folder
from gpt2lib import default_device, generate, model_from_hf

PROMPT_LEN, NEW_TOKENS = 8, 128  # cached decoding: one prompt
BATCH, BATCH_NEW_TOKENS = 8, 64  # batch generation: 8 prompts of equal length
FORWARD_SHAPES = [(1, 1024), (8, 128)]
SPEEDUP_TARGETS = {"forward": 1.05, "decode": 1.15, "batch": 1.15}  # gpt2lib / best HF, in both dtypes
BOUND_TARGET = 0.85  # gpt2lib's cached decoding / weight-streaming bound of the layout it stores
CONVERSION_TARGETS = (1.0, 2.0)  # seconds, extra peak memory / model size


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def seconds(fn, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved_medians(runs: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each named function, after one warm-up each, running them in turn repeats times."""
    for fn in runs.values():
        fn()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(seconds(fn, device))
    return {name: statistics.median(values) for name, values in times.items()}


def hf_generate(hf_model, prompts, new_tokens: int, with_mask: bool):
    mask = {"attention_mask": torch.ones_like(prompts)} if with_mask else {}
    return hf_model.generate(prompts, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=0, **mask)


def streaming_runs(model, dtype: torch.dtype, device: torch.device) -> dict:
    """For each layout, a function that applies every weight matrix of model to a vector, NEW_TOKENS times."""
    matrices = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]  # (out, in), as gpt2lib stores
    layouts = {"(out, in)": matrices, "(in, out)": [w.t().contiguous().t() for w in matrices]}  # same values
    vectors = [torch.randn(w.shape[1], dtype=dtype, device=device) for w in matrices]

    def stream(weights):
        def run():
            for _ in range(NEW_TOKENS):
                for w, v in zip(weights, vectors):
                    torch.mv(w, v)
        return run
    return {f"bound {layout}": stream(weights) for layout, weights in layouts.items()}


def measure(dtype: torch.dtype, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of every run for one dtype, all interleaved."""
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(GPT2Config()).eval().to(dtype)
    assert hf_model.config._attn_implementation == "sdpa", "Hugging Face should use its default, sdpa"
    ours = model_from_hf(hf_model).to(device, dtype)
    hf_model = hf_model.to(device)
    prompt = torch.randint(0, 50257, (1, PROMPT_LEN), device=device)
    prompts = torch.randint(0, 50257, (BATCH, PROMPT_LEN), device=device)
    runs = {}
    for shape in FORWARD_SHAPES:
        idx = torch.randint(0, 50257, shape, device=device)
        runs[f"forward {shape} gpt2lib"] = lambda idx=idx: ours(idx)
        runs[f"forward {shape} HF"] = lambda idx=idx: hf_model(idx).logits
        runs[f"forward {shape} HF+mask"] = lambda idx=idx: hf_model(idx, attention_mask=torch.ones_like(idx)).logits
    for kind, ids, new in (("decode", prompt, NEW_TOKENS), ("batch", prompts, BATCH_NEW_TOKENS)):
        runs[f"{kind} gpt2lib"] = lambda ids=ids, new=new: generate(ours, ids, new)
        runs[f"{kind} HF"] = lambda ids=ids, new=new: hf_generate(hf_model, ids, new, with_mask=False)
        runs[f"{kind} HF+mask"] = lambda ids=ids, new=new: hf_generate(hf_model, ids, new, with_mask=True)
    runs.update(streaming_runs(ours, dtype, device))
    with torch.no_grad():
        if dtype == torch.float32:  # in bfloat16, rounding differences may flip a near-tied argmax
            for ids, new in ((prompt, NEW_TOKENS), (prompts, BATCH_NEW_TOKENS)):
                assert torch.equal(generate(ours, ids, new), hf_generate(hf_model, ids, new, True)), "models disagree"
        medians = interleaved_medians(runs, repeats, device)
    del hf_model, ours, runs
    gc.collect()
    return medians


def verdict(row: dict) -> str:
    return f">= {row['target']:.2f} {'met' if row['met'] else 'MISSED'}"


def compare(dtype: torch.dtype, medians: dict[str, float]) -> tuple[list[dict], list[dict]]:
    """One dtype's results: gpt2lib against Hugging Face at its best, and the weight-streaming bounds."""
    name = str(dtype).removeprefix("torch.")
    rows = [(f"forward {shape}", f"forward {shape}", "forward", 1, "ms") for shape in FORWARD_SHAPES]
    rows += [(f"cached decoding, {NEW_TOKENS} tokens", "decode", "decode", NEW_TOKENS, "tok/s"),
             (f"batch of {BATCH}, {BATCH_NEW_TOKENS} tokens each", "batch", "batch", BATCH * BATCH_NEW_TOKENS, "tok/s")]
    comparisons = []
    for label, key, kind, tokens, unit in rows:
        ours = medians[f"{key} gpt2lib"]
        hf_way, theirs = min([(way, medians[f"{key} {way}"]) for way in ("HF", "HF+mask")], key=lambda pair: pair[1])
        shown = (ours * 1e3, theirs * 1e3) if unit == "ms" else (tokens / ours, tokens / theirs)
        comparisons.append({"dtype": name, "measurement": label, "gpt2lib": round(shown[0], 1),
                            "hf_best": round(shown[1], 1), "unit": unit, "hf_way": hf_way,
                            "speedup": round(theirs / ours, 3), "target": SPEEDUP_TARGETS[kind],
                            "met": theirs / ours >= SPEEDUP_TARGETS[kind]})
    bounds = []
    for layout in ("(out, in)", "(in, out)"):
        bound = medians[f"bound {layout}"]
        row = {"dtype": name, "layout": layout, "bound_tok_s": round(NEW_TOKENS / bound, 1)}
        if layout == "(out, in)":  # nn.Linear's layout, the one gpt2lib stores
            fraction = bound / medians["decode gpt2lib"]
            row.update(gpt2lib_fraction=round(fraction, 3), target=BOUND_TARGET, met=fraction >= BOUND_TARGET)
        bounds.append(row)
    return comparisons, bounds


def print_rows(comparisons: list[dict], bounds: list[dict]) -> None:
    """One dtype's rows as a text table."""
    for r in comparisons:
        print(f"{r['dtype']:<9} {r['measurement']:<30} {r['gpt2lib']:>9.1f} {r['hf_best']:>9.1f} {r['unit']:<6} "
              f"{r['hf_way']:<8} {r['speedup']:>6.2f}x  {verdict(r)}")
    for r in bounds:
        note = f"gpt2lib decodes at {r['gpt2lib_fraction']:.0%} of it  {verdict(r)}" \
            if "target" in r else "(Hugging Face's Conv1D layout)"
        print(f"{r['dtype']:<9} {'bound, weights ' + r['layout']:<30} {r['bound_tok_s']:>9.1f} {'':>9} tok/s  {note}")


CONVERSION_SCRIPT = """
import re, time, torch
from transformers import GPT2Config, GPT2LMHeadModel
from gpt2lib import model_from_hf

def status_bytes(field):  # Linux: resident memory now (VmRSS) or its peak since the last reset (VmHWM)
    text = open("/proc/self/status").read()
    return int(re.search(field + r":\\s+(\\d+) kB", text).group(1)) * 1024

hf_model = GPT2LMHeadModel(GPT2Config()).eval()
size = sum(p.numel() * p.element_size() for p in hf_model.parameters())
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current resident size
before = status_bytes("VmRSS")
start = time.perf_counter()
model = model_from_hf(hf_model)
seconds = time.perf_counter() - start
print(seconds, status_bytes("VmHWM") - before, size)
"""


def measure_conversion(repeats: int = 3) -> tuple[float, int, int]:
    """Median seconds, extra peak memory (bytes) and model size for converting HF weights, each in a fresh process."""
    results = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", CONVERSION_SCRIPT], capture_output=True, text=True, check=True)
        elapsed, extra, size = out.stdout.split()
        results.append((float(elapsed), int(extra), int(size)))
    return statistics.median(r[0] for r in results), max(r[1] for r in results), results[0][2]


def conversion_line(c: dict) -> str:
    """The weight conversion's time and extra peak memory, each against its target."""
    seconds_met = c["seconds"] < c["seconds_target"]
    memory_met = c["extra_bytes"] < c["memory_target"] * c["model_bytes"]
    return (f"weight conversion (CPU, float32, median of 3 fresh processes): {c['seconds']:.2f} s  "
            f"{'met' if seconds_met else 'MISSED'} (< {c['seconds_target']:.0f} s); extra peak memory "
            f"{c['extra_bytes'] / 1e6:.0f} MB = {c['extra_bytes'] / c['model_bytes']:.2f}x the model's "
            f"{c['model_bytes'] / 1e6:.0f} MB  {'met' if memory_met else 'MISSED'} (< {c['memory_target']:.0f}x)")


NOTE = ("speedup: HF's time / gpt2lib's (> 1: gpt2lib is faster). HF way: the faster of HF without and with an "
        "attention mask. bound: every weight matrix applied to a vector with torch.mv, once per token.")


def markdown(run: dict, info: dict, settings: dict, comparisons: list[dict], bounds: list[dict],
             conversion: dict | None) -> str:
    """The result file shown on the site: the machine, then the tables."""
    text = result_files.machine_markdown(run, info)
    text += (f"\nMedians of {settings['repeats']} interleaved runs. Speedup: Hugging Face's time over gpt2lib's "
             "(above 1, gpt2lib is faster); HF way: the faster of Hugging Face without and with an attention mask.\n\n")
    text += result_files.markdown_table(
        ["dtype", "measurement", "gpt2lib", "HF at its best", "HF way", "speedup (target)"],
        [[r["dtype"], f"{r['measurement']}, {r['unit']}", f"{r['gpt2lib']:,.1f}", f"{r['hf_best']:,.1f}", r["hf_way"],
          f"{r['speedup']:.2f}x (≥ {r['target']:.2f}x: {'met' if r['met'] else 'missed'})"] for r in comparisons])
    text += ("\nThe weight-streaming bound: every weight matrix applied to a vector with `torch.mv`, once per "
             f"token, for {NEW_TOKENS} tokens, in each layout a matrix can be stored in.\n\n")
    text += result_files.markdown_table(
        ["dtype", "weights stored as", "bound", "gpt2lib's cached decoding (target)"],
        [[r["dtype"], f"{r['layout']}" + (", as gpt2lib" if "target" in r else ", as Hugging Face's Conv1D"),
          f"{r['bound_tok_s']:,.1f} tok/s",
          f"{r['gpt2lib_fraction']:.0%} of the bound (≥ {r['target']:.0%}: {'met' if r['met'] else 'missed'})"
          if "target" in r else ""] for r in bounds])
    if conversion:
        line = " ".join(conversion_line(conversion).split())
        text += f"\n{line[0].upper()}{line[1:]}.\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement (default 5)")
    parser.add_argument("--device", default=str(default_device()), help="cpu, cuda or mps (default: the fastest here)")
    parser.add_argument("--results", type=Path, default=result_files.RESULTS,
                        help="folder for bench_gpt2.md and bench_gpt2.json (default: benchmarks/results, "
                             "which the site's performance page shows)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    device = torch.device(args.device)
    transformers.logging.set_verbosity_error()
    run, info = result_files.run_info(), result_files.machine(device)
    print(f"torch {torch.__version__}, transformers {transformers.__version__} on {device}, "
          f"{torch.get_num_threads()} CPU threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"medians of {args.repeats} interleaved runs")
    print(f"{'dtype':<9} {'measurement':<30} {'gpt2lib':>9} {'HF best':>9} {'unit':<6} {'HF way':<8} "
          f"{'speedup':>7}  target")
    conversion = None
    if sys.platform == "linux":  # first, before this process grows
        (seconds_, extra, size), (seconds_target, memory_target) = measure_conversion(), CONVERSION_TARGETS
        conversion = {"seconds": round(seconds_, 3), "extra_bytes": extra, "model_bytes": size,
                      "seconds_target": seconds_target, "memory_target": memory_target}
    comparisons, bounds = [], []
    for dtype in (torch.float32, torch.bfloat16):
        rows, bound_rows = compare(dtype, measure(dtype, args.repeats, device))
        print_rows(rows, bound_rows)
        comparisons += rows
        bounds += bound_rows
    if conversion:
        print(conversion_line(conversion))
    print(NOTE)
    settings = {"repeats": args.repeats, "prompt_tokens": PROMPT_LEN, "new_tokens": NEW_TOKENS, "batch": BATCH,
                "batch_new_tokens": BATCH_NEW_TOKENS, "forward_shapes": FORWARD_SHAPES}
    data = {"benchmark": "bench_gpt2", "run": run, "machine": info, "settings": settings,
            "comparisons": comparisons, "bounds": bounds, "conversion": conversion}
    result_files.write("bench_gpt2", args.results, data,
                       markdown(run, info, settings, comparisons, bounds, conversion))


if __name__ == "__main__":
    main()
