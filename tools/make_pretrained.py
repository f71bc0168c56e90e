"""Rebuild the small pretrained model that ships in assets/pretrained/ (`make pretrained`, about 15 minutes on a 2-core CPU).

It runs the default training command (`python -m gpt2lib.train`, the run `make train` starts: 4 layers, width 192,
1,000 steps on tiny Shakespeare, seed 1234) into runs/pretrained, then stores its export in bfloat16, which halves
the file (about 23 MB instead of 46), together with provenance.json: the command, the seed, the versions, the
validation loss the run reported and that of the stored bfloat16 weights, and the SHA-256 of the weight file.

    python tools/make_pretrained.py              # train, then write assets/pretrained/shakespeare-4x192/
    python tools/make_pretrained.py --reuse      # skip the training when runs/pretrained has finished already

The weights are not bit-for-bit the same on every CPU: float sums are reordered by the instruction set and the
thread count. provenance.json records the machine's so that a difference can be explained.
"""

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "pretrained"
TARGET = ROOT / "assets" / "pretrained" / "shakespeare-4x192"
COMMAND = [sys.executable, "-m", "gpt2lib.train", "--out", str(RUN), "--resume", "auto", "--no-progress"]


def train(reuse: bool) -> dict:
    """Run (or, with reuse, find) the training; its summary.json."""
    summary_path = RUN / "summary.json"
    if reuse and summary_path.is_file() and json.loads(summary_path.read_text())["finished"]:
        print(f"reusing the finished run in {RUN}")
    else:
        subprocess.run(COMMAND, cwd=ROOT, check=True)
    return json.loads(summary_path.read_text())


def write_bfloat16(source: Path, target: Path) -> str:
    """Copy the export in source to target with its weights in bfloat16; the SHA-256 of the weight file."""
    from safetensors.torch import load_file, save_file

    target.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.to(torch.bfloat16) for name, tensor in load_file(source / "model.safetensors").items()}
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((source / "config.json").read_text())
    config["torch_dtype"] = "bfloat16"
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return hashlib.sha256((target / "model.safetensors").read_bytes()).hexdigest()


def bfloat16_val_loss(target: Path) -> float:
    """The validation loss of the stored bfloat16 weights, on the whole validation split, as the command measures."""
    from gpt2lib import from_pretrained
    from gpt2lib.training import evaluate, load_corpus, tokenize, train_val_split

    model = from_pretrained(str(target))
    _, val_data = train_val_split(tokenize(load_corpus()))
    return evaluate(model, val_data, model.cfg.context_length, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="reuse a finished run in runs/pretrained")
    summary = train(parser.parse_args().reuse)
    if not summary["finished"]:
        raise SystemExit(f"error: the run in {RUN} stopped early; run this again to continue it")
    sha256 = write_bfloat16(RUN / "model", TARGET)
    provenance = {
        "command": "python -m gpt2lib.train   (the defaults; tools/make_pretrained.py adds --out runs/pretrained)",
        "rebuild": "make pretrained",
        "seed": summary["train_config"]["seed"],
        "model_config": summary["model_config"],
        "train_config": summary["train_config"],
        "corpus": "tiny Shakespeare (gpt2lib/data/tinyshakespeare.txt), public domain",
        "val_loss_of_the_run": round(summary["val_loss"], 4),  # the command's own report, in the run's precision
        "val_loss_bfloat16": round(bfloat16_val_loss(TARGET), 4),  # the shipped weights, computed in float32
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
                   f"ATen CPU capability {torch.backends.cpu.get_cpu_capability()}",
        "model.safetensors sha256": sha256,
    }
    (TARGET / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    shutil.copyfile(RUN / "loss.png", TARGET / "loss.png")
    for path in TARGET.iterdir():
        path.chmod(0o644)  # readable by everyone, as the rest of the repository
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main()
