"""Invariants that make nbval's comparison meaningful: notebooks are committed executed."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted((NOTEBOOK_DIR / "exercises").glob("[0-9][0-9]_*.ipynb"))
EVERY_NOTEBOOK = NOTEBOOKS + EXERCISES
IGNORE_MARK = "NBVAL_IGNORE_OUTPUT"
MAX_CODE_LINES = 30  # GUIDE.md: split longer cells and explain between the parts


def code_cells(path):
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_notebooks_exist_and_are_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers and numbers == list(range(len(numbers)))  # 00 (tokens, an optional prequel), 01, 02, ...


def test_every_notebook_has_one_exercise_notebook():
    assert [p.name[:2] for p in EXERCISES] == [p.name[:2] for p in NOTEBOOKS]


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_a_fresh_kernel(path):
    counts = [cell["execution_count"] for cell in code_cells(path)]
    assert None not in counts, f"{path.name}: code cells without execution count; run `make notebooks`"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: counts {counts} are not 1..N in order"


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.name)
def test_no_stored_errors_and_no_skipped_cells(path):
    for cell in code_cells(path):
        assert all(out["output_type"] != "error" for out in cell["outputs"]), f"{path.name}: stored error output"
        assert "NBVAL_SKIP" not in source(cell), f"{path.name}: cells must run, not be skipped"


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.name)
def test_ignored_outputs_are_marked_so_nbval_sees_it_and_say_why(path):
    """nbval only honours a comment line that is exactly the marker; the next line must give the reason."""
    for cell in code_cells(path):
        lines = [line.strip() for line in source(cell).splitlines()]
        for i, line in enumerate(lines):
            if IGNORE_MARK in line:
                assert line == f"# {IGNORE_MARK}", f"{path.name}: nbval ignores a malformed marker: {line!r}"
                reason = lines[i + 1] if i + 1 < len(lines) else ""
                assert re.match(r"# Why: \w+", reason), f"{path.name}: the line after {IGNORE_MARK} must be '# Why: ...'"


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.name)
def test_plots_store_no_figure_repr(path):
    """Plot cells end with plt.show(), so no '<Figure ...>' text repr is stored and compared."""
    for cell in code_cells(path):
        for out in (o for o in cell["outputs"] if o["output_type"] == "execute_result"):
            text = "".join(out.get("data", {}).get("text/plain", []))
            assert not text.startswith("<Figure"), f"{path.name}: end the plotting cell with plt.show()"


@pytest.mark.parametrize("path", EVERY_NOTEBOOK, ids=lambda p: p.name)
def test_no_code_cell_is_longer_than_30_lines(path):
    long_cells = [
        (index, len(source(cell).splitlines()))
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"])
        if cell["cell_type"] == "code" and len(source(cell).splitlines()) > MAX_CODE_LINES
    ]
    assert long_cells == [], f"{path.name}: (cell index, lines) over {MAX_CODE_LINES} lines: {long_cells}"
