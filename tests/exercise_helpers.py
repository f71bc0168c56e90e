"""What the exercise tests use: the blank stub of a student copy, and a check that must fail with a hint."""

import pytest

from gpt2lib_exercises import ExerciseError


def stub(*args, **kwargs):
    raise NotImplementedError()  # what nbgrader leaves in the student copy


def fails_with(check, answer, hint: str, **options) -> ExerciseError:
    """check(answer, **options) raises ExerciseError whose message matches the regular expression hint."""
    with pytest.raises(ExerciseError, match=hint) as caught:
        check(answer, **options)
    return caught.value
