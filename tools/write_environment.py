"""Write environment.yml from constraints.txt (run by `make lock`; a test checks the two agree).

The pip section lists every pin itself instead of pointing at constraints.txt: micromamba hands
that section to pip as a temporary file in another directory, where a relative `-c constraints.txt`
or `-r` line no longer resolves. Run `conda env create` and `micromamba create` from the repository's
root, so that `-e .` finds the project with either tool.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HEADER = """\
# A conda or micromamba environment like `make install` plus the site extra (Python 3.11, the same pins).
# Generated from constraints.txt by `make lock`; edit that instead. From the repository's root:
#   conda env create -f environment.yml && conda activate gpt2lib
#   micromamba create -f environment.yml && micromamba activate gpt2lib
# For CPU-only torch on Linux, first: export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
name: gpt2lib
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def pins(constraints: Path) -> list[str]:
    """The `name==version` lines of a constraints file."""
    lines = constraints.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if "==" in line and not line.lstrip().startswith("#")]


def environment_text(constraints: Path = REPO / "constraints.txt") -> str:
    """environment.yml's text: the header, every pin, then the project itself with its extras."""
    entries = pins(constraints) + ["-e .[dev,site]"]
    return HEADER + "".join(f"      - {entry}\n" for entry in entries)


if __name__ == "__main__":
    (REPO / "environment.yml").write_text(environment_text(), encoding="utf-8")
    print("wrote environment.yml")
