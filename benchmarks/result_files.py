"""The result files the benchmarks write: NAME.json (every number) and NAME.md (the tables), with the machine.

The site's performance page includes the .md files of benchmarks/results/ (see site/performance.md), so a
result is always shown with the machine, the versions and the command that produced it.
"""

import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"  # the folder the site's performance page reads


def cpu_model() -> str:
    """The CPU's name as the operating system gives it (Linux, macOS), else platform's guess."""
    try:
        if sys.platform == "linux":
            match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), flags=re.M)
            if match:
                return match.group(1).strip()
        elif sys.platform == "darwin":
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit() -> str | None:
    """The repository's commit, with '+changes' when the work tree differs from it; None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if dirty else "")


def machine(device: torch.device) -> dict:
    """What the numbers depend on: CPU, cores, accelerator, operating system and library versions."""
    import transformers

    info = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(device),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_info() -> dict:
    """When and how this run was made."""
    command = "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]])
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command, "commit": git_commit()}


def machine_markdown(run: dict, info: dict) -> str:
    """The header of a result file: when, how and on what the numbers were measured."""
    commit = f" at commit `{run['commit']}`" if run["commit"] else ""
    device = info["device"] + (f" ({info['gpu']})" if "gpu" in info else "")
    rows = [("CPU", f"{info['cpu']}, {info['logical_cores']} logical cores, torch uses {info['torch_threads']} "
                    f"threads, CPU capability {info['cpu_capability']}"),
            ("device", device),
            ("software", f"Python {info['python']}, torch {info['torch']}, transformers {info['transformers']}"),
            ("system", info["os"])]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"Run started on {run['date']} with `{run['command']}`{commit}.\n\n| machine | |\n|---|---|\n{table}\n"


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write(name: str, folder: Path, data: dict, markdown: str) -> None:
    """Write folder/name.json and folder/name.md, each complete or not at all (a temporary file is renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(data, indent=2) + "\n"), (".md", markdown)):
        path = folder / (name + suffix)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
        print(f"wrote {path}")
