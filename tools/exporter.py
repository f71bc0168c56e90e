"""Write the notebooks' `#| export` cells into gpt2lib modules.

The notebooks are the source of truth for the model code. A notebook names its module
once, with a line `#| default_exp <module>` in any code cell. Every code cell whose first
line is `#| export` then goes, in order, to `gpt2lib/<module>.py`.

    python tools/exporter.py           # regenerate the modules (runs even if gpt2lib is broken)
    python tools/exporter.py --check   # exit 1 if gpt2lib differs from a fresh export
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

EXPORT_MARK = "#| export"
MODULE_MARK = "#| default_exp"
GENERATED_MARK = "# GENERATED FILE, edit the notebook instead."
REPO_ROOT = Path(__file__).resolve().parent.parent


class ExportError(ValueError):
    """A notebook's export markers are inconsistent."""


@dataclass
class NotebookExport:
    notebook: Path
    module: str | None
    cells: list[str]  # source of each export cell, without the marker line


def cell_lines(cell: dict) -> list[str]:
    source = cell["source"]
    text = "".join(source) if isinstance(source, list) else source
    return text.splitlines()


def read_notebook(path: Path) -> NotebookExport:
    """Collect the module name and the export cells of one notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    module, exported = None, []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = cell_lines(cell)
        for line in lines:
            if line.startswith(MODULE_MARK):
                name = line[len(MODULE_MARK):].strip()
                if module is not None:
                    raise ExportError(f"{path}, cell {index}: a second '{MODULE_MARK}' line; a notebook names its module once")
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    raise ExportError(f"{path}, cell {index}: {name!r} is not a valid module name")
                module = name
        if lines and lines[0].strip() == EXPORT_MARK:
            exported.append((index, "\n".join(lines[1:]).strip("\n")))
    if exported and module is None:
        first_index = exported[0][0]
        raise ExportError(
            f"{path}, cell {first_index}: this cell is marked '{EXPORT_MARK}' but the notebook "
            f"names no module; add a line '{MODULE_MARK} <module>' to one of its code cells"
        )
    return NotebookExport(path, module, [source for _, source in exported])


def render(export: NotebookExport, root: Path) -> str:
    """The text of the generated module: a header, then the cells in notebook order."""
    source = export.notebook.resolve().relative_to(root.resolve()).as_posix()
    header = f"{GENERATED_MARK}\n# Source: {source}. Regenerate with `make export`.\n"
    return header + "\n" + "\n\n\n".join(export.cells) + "\n"


def plan_export(root: Path = REPO_ROOT) -> dict[Path, str]:
    """Map each generated module's path to the text a fresh export would write there."""
    planned = {}
    for notebook in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        export = read_notebook(notebook)
        if not export.cells:
            continue
        target = root / "gpt2lib" / f"{export.module}.py"
        if target in planned:
            raise ExportError(f"{notebook}: module {export.module!r} is already exported by another notebook")
        planned[target] = render(export, root)
    return planned


def generated_files(root: Path = REPO_ROOT) -> list[Path]:
    """The modules in gpt2lib that carry the generated-file header."""
    return [p for p in sorted((root / "gpt2lib").glob("*.py")) if p.read_text(encoding="utf-8").startswith(GENERATED_MARK)]


def out_of_sync(root: Path = REPO_ROOT) -> list[str]:
    """Describe every difference between gpt2lib and a fresh export (empty when in sync)."""
    planned = plan_export(root)
    problems = []
    for path, text in planned.items():
        if not path.exists():
            problems.append(f"{path.relative_to(root)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(root)} differs from its notebook")
    for path in generated_files(root):
        if path not in planned:
            problems.append(f"{path.relative_to(root)} is generated but no notebook exports it")
    return problems


def export(root: Path = REPO_ROOT) -> list[Path]:
    """Write every generated module and delete generated modules no notebook exports."""
    planned = plan_export(root)
    for path in generated_files(root):
        if path not in planned:
            path.unlink()
    for path, text in planned.items():
        path.write_text(text, encoding="utf-8")
    return list(planned)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = out_of_sync()
            for problem in problems:
                print(problem)
            return 1 if problems else 0
        for path in export():
            print(f"wrote {path.relative_to(REPO_ROOT)}")
    except ExportError as error:
        print(f"export failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
