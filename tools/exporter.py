"""Write the notebooks' `#| export` cells into gpt2lib modules (nbdev's conventions, a small subset).

The notebooks are the source of truth for the model code. A notebook names its default module
once, with a line `#| default_exp <module>` in any code cell; every code cell whose first line is
`#| export` then goes, in order, to that module. A cell whose first line is `#| export <module>`
goes to another module instead. Dotted names make packages: `training.data` is
`gpt2lib/training/data.py`. A module is written by one notebook only.

Each generated module starts with a header naming its notebook, then `__all__` (every top-level
name the cells define, except helpers whose names start with `_`), then the cells, each under a
comment that names its source cell.

A method may be written in a cell of its own, after its class, as nbdev does it:

    @patch
    def fit(self: Trainer, steps: int) -> None:
        ...

The annotation of the first argument names the class. The exporter writes such a function into
the class's body (without `@patch` and the annotation), so the library has one class with all its
methods; in the notebook, `patch` adds the function to the class at run time.

    python tools/exporter.py           # regenerate the modules (runs even if gpt2lib is broken)
    python tools/exporter.py --check   # exit 1 if gpt2lib differs from a fresh export
"""

import argparse
import ast
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

EXPORT_MARK = "#| export"
MODULE_MARK = "#| default_exp"
GENERATED_MARK = "# GENERATED FILE, edit the notebook instead."
PATCH_DECORATOR = "patch"
MODULE_NAME = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")
REPO_ROOT = Path(__file__).resolve().parent.parent


class ExportError(ValueError):
    """A notebook's export markers are inconsistent."""


@dataclass
class Cell:
    index: int  # position in the notebook
    source: str  # without the marker line


@dataclass
class NotebookExport:
    notebook: Path
    module: str | None  # the default module
    modules: dict[str, list[Cell]] = field(default_factory=dict)  # module -> its cells, in notebook order


def cell_lines(cell: dict) -> list[str]:
    source = cell["source"]
    text = "".join(source) if isinstance(source, list) else source
    return text.splitlines()


def checked_module_name(name: str, where: str) -> str:
    if not MODULE_NAME.fullmatch(name):
        raise ExportError(f"{where}: {name!r} is not a valid module name (e.g. 'attention' or 'training.data')")
    return name


def read_notebook(path: Path) -> NotebookExport:
    """Collect the default module and the export cells of one notebook, grouped by module."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    module, exported = None, []  # exported: (index, module named on the marker or None, source)
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        lines = cell_lines(cell)
        for line in lines:
            if line.startswith(MODULE_MARK):
                if module is not None:
                    raise ExportError(f"{path}, cell {index}: a second '{MODULE_MARK}' line; a notebook names its module once")
                module = checked_module_name(line[len(MODULE_MARK):].strip(), f"{path}, cell {index}")
        first = lines[0].strip() if lines else ""
        if first == EXPORT_MARK or first.startswith(EXPORT_MARK + " "):
            named = first[len(EXPORT_MARK):].strip() or None
            if named is not None:
                checked_module_name(named, f"{path}, cell {index}")
            exported.append((index, named, "\n".join(lines[1:]).strip("\n")))
    export = NotebookExport(path, module)
    for index, named, source in exported:
        if named is None and module is None:
            raise ExportError(
                f"{path}, cell {index}: this cell is marked '{EXPORT_MARK}' but the notebook "
                f"names no module; add a line '{MODULE_MARK} <module>' to one of its code cells"
            )
        export.modules.setdefault(named or module, []).append(Cell(index, source))
    return export


# --- @patch: methods written after their class ---------------------------------------------------

def patched_class(node: ast.FunctionDef) -> str | None:
    """The class a `@patch` function belongs to (its first argument's annotation), or None if not patched."""
    decorators = [d.id for d in node.decorator_list if isinstance(d, ast.Name)]
    if PATCH_DECORATOR not in decorators:
        return None
    args = node.args.posonlyargs + node.args.args
    if not args or not isinstance(args[0].annotation, ast.Name):
        raise ExportError(f"@patch function {node.name!r}: annotate its first argument with the class, "
                          f"e.g. def {node.name}(self: Trainer, ...)")
    return args[0].annotation.id


def as_method(lines: list[str], node: ast.FunctionDef) -> str:
    """A @patch function's text as a method of its class: no @patch line, no annotation on self, indented."""
    start = node.decorator_list[0].lineno - 1
    text = [line for line in lines[start:node.end_lineno] if line.strip() != "@" + PATCH_DECORATOR]
    text = "\n".join(text)
    first = (node.args.posonlyargs + node.args.args)[0]
    text = re.sub(rf"\(\s*{first.arg}\s*:\s*{first.annotation.id}\b", f"({first.arg}", text, count=1)
    return textwrap.indent(text, "    ")


def split_patches(cell: Cell, where: str) -> tuple[str, list[tuple[str, str]]]:
    """A cell's source without its @patch functions, and those functions as (class name, method text)."""
    lines = cell.source.splitlines()
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as error:
        raise ExportError(f"{where}, cell {cell.index}: not valid Python: {error}") from error
    methods, removed = [], set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (cls := patched_class(node)):
            methods.append((cls, as_method(lines, node)))
            removed.update(range(node.decorator_list[0].lineno - 1, node.end_lineno))
    rest = "\n".join(line for i, line in enumerate(lines) if i not in removed).strip("\n")
    return rest, methods


def with_methods(source: str, methods: dict[str, list[str]]) -> str:
    """source with each class's patched methods appended to the class's body."""
    lines = source.splitlines()
    classes = [node for node in ast.parse(source).body if isinstance(node, ast.ClassDef) and node.name in methods]
    for node in sorted(classes, key=lambda n: n.end_lineno, reverse=True):
        lines[node.end_lineno:node.end_lineno] = [line for text in methods.pop(node.name) for line in ("", text)]
    return "\n".join(lines)


# --- rendering -----------------------------------------------------------------------------------

def public_names(sources: list[str]) -> list[str]:
    """The top-level names the cells define (functions, classes, assignments), except _helpers."""
    names = []
    for source in sources:
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found = [node.name]
            elif isinstance(node, ast.Assign):
                found = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found = [node.target.id]
            else:
                found = []
            names += [name for name in found if not name.startswith("_") and name not in names]
    return names


def render_module(cells: list[Cell], source_name: str, where: str) -> str:
    """The text of a generated module: a header, __all__, then the cells, each under its source marker."""
    parts, methods = [], {}
    for cell in cells:
        rest, patched = split_patches(cell, where)
        for cls, text in patched:
            methods.setdefault(cls, []).append(f"    # %% {source_name}, cell {cell.index} (@patch)\n{text}")
        if rest:
            parts.append((cell.index, rest))
    sources = [with_methods(rest, methods) for _, rest in parts]
    if methods:
        raise ExportError(f"{where}: @patch methods for {sorted(methods)}, but the module defines no such class "
                          "before them")
    header = f"{GENERATED_MARK}\n# Source: {source_name}. Regenerate with `make export`.\n"
    names = ", ".join(f'"{name}"' for name in public_names(sources))
    wrapped = textwrap.fill(names, 110, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False)
    names = f"__all__ = [{names}]\n" if len(names) < 100 else f"__all__ = [\n{wrapped},\n]\n"
    body = "\n\n\n".join(f"# %% {source_name}, cell {index}\n{text}" for (index, _), text in zip(parts, sources))
    return header + "\n" + names + "\n\n" + body + "\n"


def render(export: NotebookExport, root: Path, module: str | None = None) -> str:
    """The text of one generated module of a notebook (its default module unless named)."""
    source_name = export.notebook.resolve().relative_to(root.resolve()).as_posix()
    module = module or export.module
    return render_module(export.modules[module], source_name, str(export.notebook))


def module_path(root: Path, module: str) -> Path:
    return root / "gpt2lib" / Path(*module.split(".")).with_suffix(".py")


def plan_export(root: Path = REPO_ROOT) -> dict[Path, str]:
    """Map each generated module's path to the text a fresh export would write there."""
    planned, owner = {}, {}
    for notebook in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        export = read_notebook(notebook)
        for module in export.modules:
            target = module_path(root, module)
            if target in planned:
                raise ExportError(f"{notebook}: module {module!r} is already exported by {owner[target].name}; "
                                  "a module is written by one notebook")
            planned[target], owner[target] = render(export, root, module), notebook
    return planned


def generated_files(root: Path = REPO_ROOT) -> list[Path]:
    """The modules in gpt2lib (and its packages) that carry the generated-file header."""
    return [p for p in sorted((root / "gpt2lib").rglob("*.py")) if p.read_text(encoding="utf-8").startswith(GENERATED_MARK)]


def out_of_sync(root: Path = REPO_ROOT) -> list[str]:
    """Describe every difference between gpt2lib and a fresh export (empty when in sync)."""
    planned = plan_export(root)
    problems = []
    for path, text in planned.items():
        if not path.exists():
            problems.append(f"{path.relative_to(root).as_posix()} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path.relative_to(root).as_posix()} differs from its notebook")
    for path in generated_files(root):
        if path not in planned:
            problems.append(f"{path.relative_to(root).as_posix()} is generated but no notebook exports it")
    return problems


def export(root: Path = REPO_ROOT) -> list[Path]:
    """Write every generated module and delete generated modules no notebook exports."""
    planned = plan_export(root)
    for path in generated_files(root):
        if path not in planned:
            path.unlink()
    for path, text in planned.items():
        if not (path.parent / "__init__.py").exists() and path.parent != root / "gpt2lib":
            raise ExportError(f"{path.relative_to(root)}: its package has no __init__.py; write one by hand first")
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
