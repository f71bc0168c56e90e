"""The machinery every self-check shares, written by hand.

A check calls the learner's function on fresh random inputs, compares the result with the reference
and raises ExerciseError with a hint in the learner's terms when something is wrong. It never shows
the reference code. An unfinished stub (nbgrader's `raise NotImplementedError()`) gets a "not done yet"
hint instead of a traceback from deep inside torch.
"""

import functools
import os

import torch


class ExerciseError(AssertionError):
    """The learner's answer is unfinished or wrong; the message is the hint. nbgrader marks the cell failed."""


def attempt(exercise: str, function, *args, **kwargs):
    """function(*args, **kwargs), with a hint instead of a bare traceback when it is a stub or crashes."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseError(f"{exercise}: not done yet. Replace `raise NotImplementedError()` in your function "
                            "with your code, run that cell, then run this check again.") from None
    except ExerciseError:
        raise
    except Exception as error:
        raise ExerciseError(f"{exercise}: your code raised {type(error).__name__}: {error}") from error


def expect(condition: bool, exercise: str, hint: str) -> None:
    """Raise the hint unless condition holds."""
    if not condition:
        raise ExerciseError(f"{exercise}: {hint}")


def expect_tensor(result, exercise: str, shape: tuple, dtype: torch.dtype | None = None) -> None:
    """The result is a tensor of the given shape (and dtype), or a hint that says what it is instead."""
    expect(isinstance(result, torch.Tensor), exercise, f"return a torch.Tensor, not {type(result).__name__}")
    expect(tuple(result.shape) == tuple(shape), exercise,
           f"wrong shape: expected {tuple(shape)}, got {tuple(result.shape)}")
    if dtype is not None:
        expect(result.dtype == dtype, exercise, f"wrong dtype: expected {dtype}, got {result.dtype}")


def same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol)


def expect_close(result: torch.Tensor, reference: torch.Tensor, exercise: str,
                 mistakes: dict[str, torch.Tensor] | None = None, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """result equals reference to rounding; if not, the hint of the first known mistake it matches, if any.

    mistakes maps a hint to the value a learner gets when making that mistake (computed on the same inputs)."""
    if same(result, reference, atol, rtol):
        return
    for hint, wrong in (mistakes or {}).items():
        if same(result, wrong, atol, rtol):
            raise ExerciseError(f"{exercise}: {hint}")
    error = (result.double() - reference.double()).abs().max().item()
    raise ExerciseError(f"{exercise}: the shape is right but the values are not (largest difference {error:.3g}). "
                        "Check each step against the text above the exercise.")


def passed(exercise: str, detail: str = "") -> None:
    """Print the short confirmation of a check that passed."""
    print(f"✓ {exercise}: correct{' (' + detail + ')' if detail else ''}")


def pick(generator: torch.Generator, *options):
    """One of options, drawn with generator."""
    return options[int(torch.randint(len(options), (), generator=generator))]


def seed_from(generator: torch.Generator) -> None:
    """Seed torch's global generator from generator, for code that draws from it (a model's initialization).
    The checks run under keeps_random_state, so the learner's own random state is restored afterwards."""
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))


def fresh_generator() -> torch.Generator:
    """A generator with a new seed every call: the checks test on inputs the learner has not seen."""
    return torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))


def keeps_random_state(check):
    """Run check without touching the learner's random state: the random weights and inputs a check draws
    (and any seed it sets) come from a forked copy of torch's global generator."""
    @functools.wraps(check)
    def wrapped(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)
    return wrapped
