"""Build gpt2lib's wheel and smoke-test it on every supported Python found on this machine (`make smoke`).

For each of python3.11, python3.12 and python3.13 on the PATH or in pyenv's versions: a fresh virtual environment in
build/smoke/, the wheel installed alone (tokenize, build, generate; from_pretrained must ask for the
hf extra), then with the hf extra (convert random Hugging Face models). Versions come from
constraints.txt, and torch from PyPI (on Linux the CUDA build, several GB per Python) unless
PIP_EXTRA_INDEX_URL names another index, as `make smoke` does for TORCH=cpu.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "smoke"
PYTHONS = ("3.11", "3.12", "3.13")
CHECK = REPO / "tools" / "wheel_smoke_check.py"


def run(*command, cwd=REPO) -> str:
    """Run a command, echoing it; raise with its output if it fails."""
    print("$", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"failed ({result.returncode}): {' '.join(map(str, command))}\n{result.stdout}{result.stderr}")
    return result.stdout


def build_wheel() -> Path:
    """Build gpt2lib's wheel into build/smoke/dist (pip, in an isolated build environment)."""
    dist = OUT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", dist, REPO)
    (wheel,) = dist.glob("gpt2lib-*.whl")
    return wheel


def check_wheel_contents(wheel: Path) -> None:
    """The data, their licences and the exercises' self-checks are in; the repository's tools and tests are not."""
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = ["gpt2lib/data/gpt2.tiktoken", "gpt2lib/data/tinyshakespeare.txt",
              "gpt2lib/data/LICENSE-gpt2-vocabulary.txt", "gpt2lib/data/LICENSE-tinyshakespeare.txt",
              "gpt2lib_exercises/__init__.py"]
    missing = [name for name in needed if name not in names]
    missing += [] if any(name.endswith(".dist-info/licenses/LICENSE") for name in names) else ["LICENSE"]
    unwanted = [name for name in names if name.startswith(("tests/", "tools/", "notebooks/")) or "exporter" in name]
    if missing or unwanted:
        raise RuntimeError(f"{wheel.name}: missing {missing}, should not hold {unwanted}")
    print(f"ok  {wheel.name}: {len(names)} files, data, licences and exercise checks included, no tests or tools")


def candidates(version: str) -> list[Path]:
    """Every python<version> in the PATH's folders and in pyenv's versions (whose shims may not run it)."""
    folders = [Path(folder) for folder in os.environ.get("PATH", "").split(os.pathsep) if folder]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    folders += sorted(pyenv.glob(f"{version}*/bin"), reverse=True)
    return [folder / f"python{version}" for folder in folders if (folder / f"python{version}").is_file()]


def find_python(version: str) -> Path | None:
    """The first candidate that runs and really is that version."""
    for path in candidates(version):
        found = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True).stdout.strip()
        if found == version:
            return path
    return None


def smoke_test(python: Path, version: str, wheel: Path) -> str:
    """Fresh venv, the wheel alone, then with [hf]; returns the check lines."""
    venv = OUT / f"py{version}"
    shutil.rmtree(venv, ignore_errors=True)
    run(python, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-c", REPO / "constraints.txt"]
    run(*pip, wheel)
    alone = run(venv / "bin" / "python", "-I", CHECK, cwd=OUT)
    run(*pip, f"gpt2lib[hf] @ {wheel.as_uri()}")
    with_hf = run(venv / "bin" / "python", "-I", CHECK, "--hf", cwd=OUT)
    return alone + with_hf


def main() -> int:
    """Build, check the contents, smoke-test on each Python found; 0 if every one found passed."""
    OUT.mkdir(parents=True, exist_ok=True)
    wheel = build_wheel()
    check_wheel_contents(wheel)
    results = {}
    for version in PYTHONS:
        python = find_python(version)
        if python is None:
            results[version] = "not found on this machine"
            continue
        start = time.perf_counter()
        try:
            lines = smoke_test(python, version, wheel)
            print(lines, end="")
            versions = re.findall(r"(Python [\d.]+\d|torch [\d.]+\d(?:\+\w+)?|transformers [\d.]+\d)", lines)
            results[version] = (f"passed, {', '.join(dict.fromkeys(versions))} "
                                f"({time.perf_counter() - start:.0f} s with the installs)")
        except RuntimeError as error:
            print(error, file=sys.stderr)
            results[version] = "FAILED (see above)"
    print("\nwheel smoke test:", wheel.name)
    for version, result in results.items():
        print(f"  Python {version}: {result}")
    tested = [result for result in results.values() if result != "not found on this machine"]
    return 0 if tested and all(result.startswith("passed") for result in tested) else 1


if __name__ == "__main__":
    sys.exit(main())
