"""The student copies that nbgrader makes from the exercise notebooks (`make student`): solutions replaced by stubs,
nothing of them left, and every check cell answering the blank copy with its "not done yet" hint."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "notebooks" / "exercises").glob("[0-9][0-9]_*_exercises.ipynb"))
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.DOTALL | re.MULTILINE)


def nbgrader(*args: str, cwd: Path) -> None:
    """Run nbgrader with this environment's tools on the PATH (it calls alembic for its gradebook)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def student_copies(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("nbgrader")
    nbgrader("generate_assignment", "exercises", "--force", f"--CourseDirectory.release_directory={tmp / 'student'}",
             f"--CourseDirectory.db_url=sqlite:///{tmp / 'gradebook.db'}", cwd=ROOT)  # the repository's config
    return tmp / "student" / "exercises"


def grade_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]


def test_every_exercise_notebook_gets_a_student_copy(student_copies):
    assert EXERCISES
    assert sorted(p.name for p in student_copies.glob("*.ipynb")) == [p.name for p in EXERCISES]


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_the_student_copy_has_stubs_and_no_trace_of_the_solutions(path, student_copies):
    ours, theirs = nbformat.read(path, as_version=4), nbformat.read(student_copies / path.name, as_version=4)
    assert len(ours.cells) == len(theirs.cells)
    for mine, student in zip(ours.cells, theirs.cells):
        expected = SOLUTION.sub(lambda m: "\n".join(m.group(1) + line for line in STUB.splitlines()), mine.source)
        assert student.source == expected  # each solution became the stub, and nothing else changed
        assert "SOLUTION" not in student.source
        assert student.get("outputs", []) == []  # no stored output can show a solution's result
    assert any(SOLUTION.search(cell.source) for cell in ours.cells)


@pytest.fixture(scope="module")
def blank_copies_run(student_copies) -> dict:
    """Every blank student copy, executed: one after the other in one kernel, the session's names cleared
    (%reset -f) before each, so that the kernel starts and torch is imported once, not once per notebook."""
    copies = {path.name: nbformat.read(student_copies / path.name, as_version=4) for path in EXERCISES}
    resets = [nbformat.v4.new_code_cell("%reset -f") for _ in copies]
    cells = [cell for reset, nb in zip(resets, copies.values()) for cell in [reset, *nb.cells]]
    for number, cell in enumerate(cells):
        cell.id = f"cell-{number}"  # unique in the one notebook (the copies share ids such as "code-1")
    together = nbformat.v4.new_notebook(cells=cells, metadata=next(iter(copies.values())).metadata)
    NotebookClient(together, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(student_copies)}}).execute()  # outputs land in copies' cells
    assert all(reset.outputs == [] for reset in resets)
    return copies


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_the_blank_student_copy_runs_and_every_check_says_not_done_yet(path, blank_copies_run):
    nb = blank_copies_run[path.name]
    checks = grade_cells(nb)
    assert 3 <= len(checks)
    for cell in nb.cells:
        errors = [out for out in cell.get("outputs", []) if out.output_type == "error"]
        if cell in checks:
            assert errors and "not done yet" in errors[0].evalue, (cell.source, errors)
        else:
            assert not errors, (cell.source, errors)  # setup and stub cells run; only the checks complain
