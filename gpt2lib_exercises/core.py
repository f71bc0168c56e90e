"""The machinery every self-check shares, written by hand.

A check calls the learner's function on fresh random inputs, compares the result with the reference
and raises ExerciseError with a hint in the learner's terms when something is wrong. It never shows
the reference code. An unfinished stub (nbgrader's `raise NotImplementedError()`) gets a "not done yet"
hint instead of a traceback from deep inside torch.

Every check is decorated with `self_check`, and calls the learner's code through `attempt` (or `attempt_without`,
for exercises that forbid some calls). Together they leave the learner's session as they found it (guard.py):
- torch's global settings (grad mode, default dtype and device, threads, backend switches, global module hooks, ...),
  Python's (working directory, recursion limit, warning filters, Ctrl+C handler), and torch's functions and
  Tensor/Module methods are put back after every call; a function that changed one fails with a hint that says
  what it changed;
- the random states of torch, Python and NumPy are put back after every check (drawing random numbers is no
  mistake: building a layer does);
- the inputs a call gets must come back unchanged (unless the check marks one `Mutable`), so that a function that
  changes them cannot change the reference either; checks compute their reference before the call all the same;
- the learner's calls share a time limit (GPT2LIB_EXERCISE_TIME_LIMIT seconds, 20 by default, or
  `check(answer, time_limit=...)`): a function that never returns is stopped, with a hint, and one that swallowed
  the stop and returned late fails with the same hint;
- whatever escapes (a crash, sys.exit(), an answer that cannot even be compared) becomes a hint, never a bare
  traceback; only KeyboardInterrupt (the learner's Ctrl+C) goes through.
"""

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import math
import numbers
import os
import re
import sys

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from gpt2lib_exercises import guard
from gpt2lib_exercises.guard import Mutable

__all__ = ["ExerciseError", "Forbidden", "Mutable", "attempt", "attempt_without", "expect", "expect_close",
           "expect_int", "expect_module", "expect_number", "expect_tensor", "fresh_generator", "kind_of", "passed",
           "pick", "same", "seed_from", "self_check"]


class ExerciseError(AssertionError):
    """The learner's answer is unfinished or wrong; the message is the hint. nbgrader marks the cell failed."""


# --- the check's session: its time budget and its confirmation ----------------------------------------------------

@dataclasses.dataclass
class _Session:
    name: str  # the exercise's name, as the hints write it
    limit: float  # seconds for all the learner's calls together
    used: float = 0.0
    calls: int = 0
    confirmations: list = dataclasses.field(default_factory=list)


_SESSION: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("gpt2lib_exercises_session", default=None)


def self_check(check):
    """The wrapper every check goes through: check(answer, time_limit=None) runs with its own session (the time
    budget of the learner's calls), with the random states of torch, Python and NumPy forked, and with the global
    settings and functions of guard.py put back afterwards. Whatever escapes the check becomes an ExerciseError with a hint. The
    confirmation ("✓ ...: correct") is printed only once nothing is left to complain about.

    A check whose answer is named like a class (`LayerCache`, `layer_norm_class`) takes a class; any other takes a
    function, and a class passed to it (nn.CrossEntropyLoss for cross_entropy) gets a hint at once."""
    takes_class = _takes_class(check)

    @functools.wraps(check)
    def wrapped(answer, *args, time_limit: float | None = None, **kwargs):
        if isinstance(answer, type) and not takes_class:
            raise ExerciseError(f"{check.__name__.removeprefix('check_')}: you passed the class {answer.__name__} "
                                "where this check expects a function: pass the function you wrote, by its name "
                                "and without parentheses")
        session = _Session(check.__name__.removeprefix("check_"), guard.time_limit_seconds(time_limit))
        token = _SESSION.set(session)
        learners = guard.Settings()  # the learner's session as it is, put back silently at the end
        guard.use_defaults()
        settings, functions = guard.Settings(), guard.Functions()
        failure = None
        try:
            with guard.forked_random_state():
                check(answer, *args, **kwargs)
        except ExerciseError as error:
            failure = error
        except (Exception, SystemExit, GeneratorExit) as error:
            failure = ExerciseError(f"{session.name}: {_explain(error, 'the check could not use your answer')}")
            failure.__cause__ = error
        finally:
            _SESSION.reset(token)
            changes = settings.restore() + functions.restore()
            learners.restore()
        if changes:  # the cause of whatever else went wrong
            raise ExerciseError(f"{session.name}: your code {'; '.join(changes)}. The check has put it back.")
        if failure is not None:
            raise failure
        for confirmation in session.confirmations:
            print(confirmation)
    wrapped.is_self_check = True
    return wrapped


def _takes_class(check) -> bool:
    """Whether check's answer (its first parameter) is a class: named LikeThis or like_this_class."""
    name = next(iter(inspect.signature(check).parameters))
    return name[:1].isupper() or name.endswith("_class")


def _session(exercise: str) -> _Session:
    """The running check's session, or a fresh one for a call made outside any check."""
    session = _SESSION.get()
    if session is None:
        return _Session(exercise, guard.time_limit_seconds())
    return session


# --- calling the learner's code -----------------------------------------------------------------------------------

_FORGOT_SUPER = re.compile(r"Module\.__init__\(\) call|has no attribute '_(parameters|buffers|modules|[a-z_]*hooks?"
                           r"|non_persistent_buffers_set|is_full_backward_hook|compiled_call_impl)'")


_ENDS_THE_PROGRAM = {
    SystemExit: "sys.exit() and exit() end the whole program: return your answer instead",
    GeneratorExit: "it is how Python closes a generator: raise an ordinary exception, such as ValueError, instead",
}


def _explain(error: BaseException, prefix: str) -> str:
    """The hint for an exception: prefix plus the error, or what the error usually means."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, AttributeError) and _FORGOT_SUPER.search(str(error)):
        return ("your class's __init__ must call super().__init__() first, before it assigns any layer or parameter: "
                f"that is where nn.Module sets itself up ({text})")
    if type(error) in _ENDS_THE_PROGRAM:
        return f"{prefix}: {text} ({_ENDS_THE_PROGRAM[type(error)]})"
    return f"{prefix}: {text}"


def _out_of_time(session: _Session) -> str:
    """The hint of a check whose calls ran past its time limit."""
    alone = "" if session.calls == 1 else " (the time this check allows all its calls together)"
    return (f"your function did not return within {session.limit:g} s{alone}, so the check stopped it. Look for a "
            "loop that never ends (a `while` whose condition stays true) or for far more work than the exercise "
            f"needs. (The limit can be changed with {guard.TIME_LIMIT_VARIABLE}.)")


def attempt(exercise: str, function, *args, **kwargs):
    """function(*args, **kwargs), the learner's code, guarded: a hint instead of a bare traceback when it is a stub,
    crashes or runs out of time, and a hint when it changed torch's global settings (put back at once) or one of
    its inputs (arguments marked Mutable may change)."""
    return _call(exercise, None, function, args, kwargs)


def attempt_without(exercise: str, forbidden: "Forbidden", function, *args, **kwargs):
    """attempt(), failing with a hint that names the call when the learner's code calls something forbidden,
    even if it also computed the right answer, caught an error, or crashed afterwards."""
    return _call(exercise, forbidden, function, args, kwargs)


def _call(exercise: str, forbidden: "Forbidden | None", function, args: tuple, kwargs: dict):
    session = _session(exercise)
    session.calls += 1
    inputs = guard.InputWatch(function, args, kwargs)
    args, kwargs = guard.unwrap(args, kwargs)
    recorder = _Recorder(forbidden or Forbidden({}))
    failure = cause = result = None
    clock = guard.Clock()
    with _watching(recorder) if forbidden else contextlib.nullcontext():
        settings = guard.Settings()  # inside the watch, so that a mode the learner left on comes off before it
        try:
            with guard.time_limit(max(session.limit - session.used, 1e-3)) as clock:
                result = function(*args, **kwargs)
        except guard.OutOfTime:
            failure = _out_of_time(session)
        except NotImplementedError:
            failure = ("not done yet. Replace `raise NotImplementedError()` in your function with your code, run "
                       "that cell, then run this check again.")
        except ExerciseError as error:  # raised by one of the check's own parts that the learner's code called
            failure, cause = str(error).removeprefix(f"{exercise}: "), error.__cause__
        except (Exception, SystemExit, GeneratorExit) as error:  # not KeyboardInterrupt: the learner pressed Ctrl+C
            failure, cause = _explain(error, "your code raised"), error
        finally:
            session.used += clock.elapsed
            changes = settings.restore()
    if session.used > session.limit:  # it swallowed the stop (a bare `except:`) and went on: too late all the same
        failure, cause = _out_of_time(session), None
    if recorder.calls:
        others = f"; it also calls {', '.join(recorder.calls[1:])}" if len(recorder.calls) > 1 else ""
        raise ExerciseError(f"{exercise}: write the steps yourself: your code calls {recorder.calls[0]}, and this "
                            f"exercise does not allow it{others}")
    expect(not changes, exercise, f"your function {'; '.join(changes)}. The check has put it back.")  # the cause
    if failure is not None:                                                                     # of what follows
        raise ExerciseError(f"{exercise}: {failure}") from cause
    changed = inputs.changed()
    if changed is not None:
        argument, what, is_module = changed
        advice = ("use its layers and weights without changing them" if is_module else
                  "work on a copy, or build new tensors: an in-place operation (masked_fill_, add_, x += ..., "
                  "x[...] = ..., .copy_()) changes the caller's tensor")
        raise ExerciseError(f"{exercise}: your function changed the {argument} it was given ({what}): leave its "
                            f"inputs as they are; {advice}")
    return result


# --- what the answer must be ----------------------------------------------------------------------------------------

def expect(condition: bool, exercise: str, hint: str) -> None:
    """Raise the hint unless condition holds."""
    if not condition:
        raise ExerciseError(f"{exercise}: {hint}")


def kind_of(value) -> str:
    """What a value is, for a hint: its type's name, with a word about None."""
    return "None (is a `return` missing?)" if value is None else type(value).__name__


def expect_tensor(result, exercise: str, shape: tuple, dtype: torch.dtype | None = None) -> None:
    """The result is a tensor of the given shape (and dtype), or a hint that says what it is instead."""
    expect(isinstance(result, torch.Tensor), exercise, f"return a torch.Tensor, not {kind_of(result)}")
    expect(tuple(result.shape) == tuple(shape), exercise,
           f"wrong shape: expected {tuple(shape)}, got {tuple(result.shape)}")
    if dtype is not None:
        expect(result.dtype == dtype, exercise, f"wrong dtype: expected {dtype}, got {result.dtype}")


def expect_int(result, exercise: str) -> int:
    """The result is a Python int of a sensible size (a count), or a hint."""
    expect(isinstance(result, int) and not isinstance(result, bool), exercise,
           f"return a Python int, not {kind_of(result)}")
    expect(result.bit_length() < 300, exercise, f"your answer has about {int(result.bit_length() * 0.30103) + 1} "
                                                 "digits: far too large for this count")
    return result


def expect_number(result, exercise: str, what: str = "a number") -> float:
    """The result is a finite real number (a Python int or float), or a hint; returns it as a float."""
    hint = f"return {what}, not {kind_of(result)}"
    if isinstance(result, torch.Tensor):
        hint += " (a tensor's .item() gives its number)"
    expect(isinstance(result, numbers.Real) and not isinstance(result, bool), exercise, hint)
    try:
        value = float(result)
    except OverflowError:
        raise ExerciseError(f"{exercise}: your answer is far too large to be right") from None
    expect(math.isfinite(value), exercise, f"your answer is {value}, not a finite number: look for a division by zero "
                                           "or an overflow")
    return value


def expect_module(module, exercise: str, class_name: str) -> None:
    """module is a set-up nn.Module: its class subclasses nn.Module and its __init__ called super().__init__()."""
    expect(isinstance(module, nn.Module), exercise, f"{class_name}(...) should build an nn.Module, not "
           f"{kind_of(module)}: write `class {class_name}(nn.Module)` and call super().__init__() first in __init__")
    expect("_parameters" in vars(module), exercise, "your class's __init__ must call super().__init__() first: that "
                                                    "is where nn.Module sets itself up")


def same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol)


def distinguishable(reference: torch.Tensor, mistakes: dict[str, torch.Tensor], atol: float = 1e-5,
                    rtol: float = 1e-4) -> bool:
    """Whether the reference and every known mistake differ from each other on these inputs, so that each mistake
    gets its own hint: on small random inputs two mistakes can happen to give the same answer."""
    values = [reference, *mistakes.values()]
    return not any(same(a, b, atol, rtol) for i, a in enumerate(values) for b in values[i + 1:])


def _distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest difference between two tensors of one shape; equal entries (infinite ones too) differ by 0."""
    a, b = a.double(), b.double()
    return float(torch.where(a == b, 0.0, (a - b).abs()).max()) if a.numel() else 0.0


def expect_close(result, reference: torch.Tensor, exercise: str,
                 mistakes: dict[str, torch.Tensor] | None = None, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """result equals reference to rounding; if not, the hint of the known mistake it matches (the closest), if any.

    mistakes maps a hint to the value a learner gets when making that mistake (computed on the same inputs).
    The result must also have the reference's dtype and device, and a non-finite value gets a hint of its own."""
    expect_tensor(result, exercise, tuple(reference.shape))
    expect(result.device == reference.device, exercise, f"your result is on the {result.device.type} device, the "
                                                        f"inputs on {reference.device.type}: create tensors on the "
                                                        "inputs' device (device=x.device)")
    expect(result.dtype == reference.dtype, exercise, f"wrong dtype: expected {reference.dtype} (that of the "
                                                      f"inputs), got {result.dtype}: keep the inputs' dtype (a tensor "
                                                      "you create takes dtype=x.dtype)")
    result = result.detach()
    if same(result, reference, atol, rtol):
        return
    matches = [(_distance(result, wrong), hint) for hint, wrong in (mistakes or {}).items()
               if same(result, wrong, atol, rtol)]
    if matches:  # the first of the closest: on random inputs another mistake may land within tolerance by chance
        closest = min(difference for difference, _ in matches)
        raise ExerciseError(f"{exercise}: {next(hint for d, hint in matches if d <= closest + 1e-6)}")
    broken = ~torch.isfinite(result) & torch.isfinite(reference)
    expect(not broken.any(), exercise, f"your result holds {int(broken.sum())} NaN or infinite values where the right "
                                       "ones are finite: look for 0 / 0, inf - inf, a log or a square root of a "
                                       "negative number, or an exp that overflows")
    error = (result.double() - reference.double()).abs().max().item()
    raise ExerciseError(f"{exercise}: the shape is right but the values are not (largest difference {error:.3g}). "
                        "Check each step against the text above the exercise.")


def passed(exercise: str, detail: str = "") -> None:
    """The short confirmation of a check that passed, printed by self_check once it has nothing to complain about."""
    text = f"✓ {exercise}: correct{' (' + detail + ')' if detail else ''}"
    session = _SESSION.get()
    if session is None:
        print(text)
    else:
        session.confirmations.append(text)


def pick(generator: torch.Generator, *options):
    """One of options, drawn with generator."""
    return options[int(torch.randint(len(options), (), generator=generator))]


def seed_from(generator: torch.Generator) -> None:
    """Seed torch's global generator from generator, for code that draws from it (a model's initialization).
    The checks run under self_check, so the learner's own random state is restored afterwards."""
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))


def fresh_generator() -> torch.Generator:
    """A generator with a new seed every call: the checks test on inputs the learner has not seen."""
    return torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))


# --- "write it yourself": calls an exercise forbids -----------------------------------------------------------

class Forbidden:
    """What an exercise forbids: torch operations by name, however the learner reaches them (torch.nn.functional,
    torch, torch._C._nn, torch.ops.aten, or a module such as nn.LayerNorm that calls one), and Python functions
    (gpt2lib's own solutions) by their code. Each maps to the call the hint names: names holds exact operation
    names, prefixes the start of operation names (the kernels a function dispatches to), functions the functions."""

    def __init__(self, names: dict[str, str], prefixes: dict[str, str] | None = None, functions: dict | None = None):
        self.names, self.prefixes = names, prefixes or {}
        self.codes = {function.__code__: shown for function, shown in (functions or {}).items()}

    def name_of(self, op_name: str) -> str | None:
        """The call a hint names for a torch operation, or None when the operation is allowed."""
        if op_name in self.names:
            return self.names[op_name]
        return next((shown for prefix, shown in self.prefixes.items() if op_name.startswith(prefix)), None)


class _Recorder:
    """Records forbidden calls (the first one named in the hint) without stopping them: a learner's try/except
    cannot hide one, and code that calls the forbidden function and then computes the answer itself still fails."""

    def __init__(self, forbidden: Forbidden):
        self.forbidden, self.calls = forbidden, []

    def note(self, op_name: str) -> None:
        shown = self.forbidden.name_of(op_name)
        if shown is not None and shown not in self.calls:
            self.calls.append(shown)


class _FunctionWatch(TorchFunctionMode):
    """Sees every torch function the learner's code calls, by any of its public paths."""

    def __init__(self, recorder: _Recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.recorder.note(_op_name(func))
        return func(*args, **(kwargs or {}))


class _DispatchWatch(TorchDispatchMode):
    """Sees the operations that reach PyTorch's dispatcher, the kernels the public functions end in."""

    def __init__(self, recorder: _Recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.recorder.note(_op_name(func))
        return func(*args, **(kwargs or {}))


def _op_name(func) -> str:
    """'gelu' for F.gelu, torch._C._nn.gelu, torch.ops.aten.gelu and torch.ops.aten.gelu.default alike."""
    name = getattr(func, "__name__", "") or ""
    return name.split("::")[-1].split(".")[0]


@contextlib.contextmanager
def _watching(recorder: _Recorder):
    """Record the forbidden calls made inside the block: torch operations through two modes, Python functions
    through a profile hook (chained to any profiler already running, and restored afterwards)."""
    previous = sys.getprofile()
    codes = recorder.forbidden.codes

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes and codes[frame.f_code] not in recorder.calls:
            recorder.calls.append(codes[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile if codes else previous)
    try:
        with _FunctionWatch(recorder), _DispatchWatch(recorder):
            yield recorder
    finally:
        sys.setprofile(previous)
