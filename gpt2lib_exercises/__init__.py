"""Self-checks for the exercise notebooks (notebooks/exercises/), written by hand.

Course material, not library: a sibling of `gpt2lib` in the same distribution, so `pip install gpt2lib` brings
it too. It uses only `gpt2lib`'s public names; `gpt2lib` never imports it.

One module per notebook; each check takes the learner's function, tests it against the reference on fresh
random inputs, prints a short confirmation when it is right, and raises ExerciseError with a hint when it
is not (gpt2lib_exercises/core.py):

    from gpt2lib_exercises import scaffold as checks   # notebook 01's exercises
    checks.check_embed(embed)
"""

from gpt2lib_exercises.core import ExerciseError

__all__ = ["ExerciseError"]
