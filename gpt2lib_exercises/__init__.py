"""Self-checks for the exercise notebooks (notebooks/exercises/), written by hand.

Course material, not library: a sibling of `gpt2lib` in the same distribution, so `pip install gpt2lib` brings
it too. It uses only `gpt2lib`'s public names; `gpt2lib` never imports it.

One module per notebook; each check takes the learner's function, tests it against the reference on fresh
random inputs, prints a short confirmation when it is right, and raises ExerciseError with a hint when it
is not (gpt2lib_exercises/core.py). A check leaves the learner's session as it found it (torch's settings, random
state and the inputs it hands over) and stops a function that does not return in time (gpt2lib_exercises/guard.py):

    from gpt2lib_exercises import scaffold as checks   # notebook 01's exercises
    checks.check_embed(embed)
    checks.check_embed(embed, time_limit=60)           # seconds for the learner's calls; default 20, or the
                                                       # environment variable GPT2LIB_EXERCISE_TIME_LIMIT
"""

from gpt2lib_exercises.core import ExerciseError

__all__ = ["ExerciseError"]
