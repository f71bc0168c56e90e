"""Self-checks for the exercise notebooks (notebooks/exercises/), written by hand.

One module per notebook; each check takes the learner's function, tests it against the reference on fresh
random inputs, prints a short confirmation when it is right, and raises ExerciseError with a hint when it
is not (gpt2lib/checks/core.py):

    from gpt2lib.checks import scaffold as checks   # notebook 01's exercises
    checks.check_embed(embed)
"""

from gpt2lib.checks.core import ExerciseError

__all__ = ["ExerciseError"]
