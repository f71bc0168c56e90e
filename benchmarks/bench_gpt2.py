"""gpt2lib versus Hugging Face transformers' GPT2LMHeadModel, side by side in one process.

    make bench            # or: .venv/bin/python benchmarks/bench_gpt2.py [--repeats 7]

Both models have the GPT-2 124M shape and the same random weights (no download). Runs are
interleaved (ours, theirs, ours, ...) so that a noisy machine slows both alike, and each
number is the median of --repeats runs. Not part of the test suite: timings are not tests.
"""

import argparse
import gc
import statistics
import subprocess
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2lib import default_device, generate, model_from_hf

PROMPT_LEN, NEW_TOKENS = 8, 128
FORWARD_SHAPES = [(1, 1024), (8, 128)]
TARGETS = {  # (measurement, dtype): the least acceptable ratio gpt2lib / HF, in "higher is better" form
    ("forward", torch.float32): 1.0,  # HF time / our time: at most 1.0x HF's time
    ("generate", torch.float32): 1.05,  # our tokens/s / HF tokens/s
    ("generate", torch.bfloat16): 1.5,
}


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


def interleaved(ours, theirs, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median seconds of two functions, alternating runs after one warm-up each."""
    ours(), theirs()
    ours_times, theirs_times = [], []
    for _ in range(repeats):
        ours_times.append(seconds(ours, device))
        theirs_times.append(seconds(theirs, device))
    return statistics.median(ours_times), statistics.median(theirs_times)


def hf_generate(hf_model, prompt):
    return hf_model.generate(
        prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
        do_sample=False, pad_token_id=0,
    )


def measure(dtype: torch.dtype, repeats: int, device: torch.device) -> list[tuple[str, float, float, str]]:
    """Rows of (what, ours, theirs, unit) for one dtype."""
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(GPT2Config()).eval().to(dtype)
    ours = model_from_hf(hf_model).to(device, dtype)
    hf_model = hf_model.to(device)
    rows = []
    with torch.no_grad():
        for shape in FORWARD_SHAPES:
            idx = torch.randint(0, 50257, shape, device=device)
            t_ours, t_hf = interleaved(lambda: ours(idx), lambda: hf_model(idx).logits, repeats, device)
            rows.append((f"forward {shape}", t_ours * 1e3, t_hf * 1e3, "ms"))
        prompt = torch.randint(0, 50257, (1, PROMPT_LEN), device=device)
        if dtype == torch.float32:  # in bfloat16, rounding differences may flip a near-tied argmax
            assert torch.equal(generate(ours, prompt, NEW_TOKENS), hf_generate(hf_model, prompt)), "models disagree"
        t_ours, t_hf = interleaved(
            lambda: generate(ours, prompt, NEW_TOKENS), lambda: hf_generate(hf_model, prompt), repeats, device
        )
        rows.append((f"generate {NEW_TOKENS} tokens, cached", NEW_TOKENS / t_ours, NEW_TOKENS / t_hf, "tok/s"))
    del hf_model, ours
    gc.collect()
    return rows


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


def measure_conversion() -> tuple[float, int, int]:
    """Seconds, extra peak memory (bytes) and model size for converting HF weights, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CONVERSION_SCRIPT], capture_output=True, text=True, check=True)
    elapsed, extra, size = out.stdout.split()
    return float(elapsed), int(extra), int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default=str(default_device()), help="cpu, cuda or mps (default: the fastest here)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} CPU threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'dtype':<9} {'measurement':<30} {'gpt2lib':>10} {'HF':>10} {'unit':<6} {'gpt2lib/HF':>10}  target")
    for dtype in (torch.float32, torch.bfloat16):
        for what, ours, theirs, unit in measure(dtype, args.repeats, device):
            speedup = theirs / ours if unit == "ms" else ours / theirs  # > 1 means gpt2lib is faster
            kind = "forward" if what.startswith("forward") else "generate"
            target = TARGETS.get((kind, dtype))
            verdict = "" if target is None else f">= {target:.2f}x {'met' if speedup >= target else 'MISSED'}"
            print(f"{str(dtype).removeprefix('torch.'):<9} {what:<30} {ours:>10.1f} {theirs:>10.1f} {unit:<6} {speedup:>9.2f}x  {verdict}")
    conversion_s, extra, size = measure_conversion()
    print(f"weight conversion (CPU, Linux): {conversion_s:.2f} s (target < 1 s), extra peak memory {extra / 1e6:.0f} MB = "
          f"{extra / size:.2f}x the model's {size / 1e6:.0f} MB (target < 2x)")
    print("(speedup > 1 means gpt2lib is faster: HF time / our time, or our tokens/s / HF tokens/s)")


if __name__ == "__main__":
    main()
