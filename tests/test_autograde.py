"""nbgrader's autograder, run as a teacher would: the reference solutions get full marks, the blank student
copies get zero. It executes every exercise notebook twice, so it runs in `make autograde`, not in `make test`."""

import os
import shutil
import sys
from pathlib import Path

import pytest

from test_student_copies import EXERCISES, nbgrader

pytestmark = pytest.mark.skipif(os.environ.get("GPT2LIB_AUTOGRADE") != "1",
                                reason="slow: run with `make autograde` (GPT2LIB_AUTOGRADE=1)")


def test_the_autograder_gives_full_marks_to_the_solutions_and_zero_to_the_stubs(tmp_path):
    course = tmp_path / "course"  # a fresh course directory, as a teacher would set up
    shutil.copytree(EXERCISES[0].parent, course / "source" / "exercises")
    options = [f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"]
    nbgrader("generate_assignment", "exercises", "--force", *options, cwd=tmp_path)
    for student, folder in [("solutions", course / "source" / "exercises"), ("stubs", course / "release" / "exercises")]:
        shutil.copytree(folder, course / "submitted" / student / "exercises")
        nbgrader("autograde", "exercises", "--create", "--force", f"--student={student}", *options, cwd=tmp_path)

    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        solutions = gradebook.find_submission("exercises", "solutions")
        stubs = gradebook.find_submission("exercises", "stubs")
        print(f"solutions: {solutions.score} of {solutions.max_score}; stubs: {stubs.score} of {stubs.max_score}",
              file=sys.stderr)
        assert solutions.max_score >= 5 * len(EXERCISES)
        assert solutions.score == solutions.max_score
        assert stubs.score == 0
