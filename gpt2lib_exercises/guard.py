"""What a self-check protects the learner's session from, written by hand (core.py's `self_check` uses it).

A learner's function runs inside the learner's own Python session, so what it does there stays: a call to
torch.set_grad_enabled(False) or torch.set_default_dtype(torch.float64) silently changes every later cell, an
in-place operation changes the check's inputs, a loop that never ends hangs the notebook. This module
- reads and puts back torch's global settings (`Settings`), Python's own (the working directory, the recursion
  limit, the warning filters, the Ctrl+C handler), and torch's functions and Tensor/Module methods in case one was
  replaced (`Functions`); the random states of torch, Python and NumPy (`forked_random_state`);
- remembers the inputs a function is given and says which of them it changed (`InputWatch`);
- stops a function that runs too long (`time_limit`).
"""

import contextlib
import ctypes
import dataclasses
import functools
import inspect
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as nn_module

TIME_LIMIT_VARIABLE = "GPT2LIB_EXERCISE_TIME_LIMIT"
DEFAULT_TIME_LIMIT = 20.0  # seconds for all the calls of one check; nbgrader's autograder gives a cell 30 s


def time_limit_seconds(given: float | None = None) -> float:
    """The time limit of a check: given, else the environment variable, else DEFAULT_TIME_LIMIT; inf for none."""
    if given is None:
        given = os.environ.get(TIME_LIMIT_VARIABLE, "").strip() or DEFAULT_TIME_LIMIT
    try:
        seconds = float(given)
    except (TypeError, ValueError):
        seconds = math.nan
    if not seconds > 0:
        raise ValueError(f"a check's time limit ({TIME_LIMIT_VARIABLE} or time_limit=) must be a positive number of "
                         f"seconds, or inf for none, not {given!r}")
    return seconds


# --- torch's global settings -----------------------------------------------------------------------------------

_ON_OFF = {True: "on", False: "off"}
_KEEP_ALIVE = []  # inference-mode guards that undo a learner's leaked one; they must live as long as the session


@dataclasses.dataclass(frozen=True)
class Setting:
    """One global setting a function can change: how to read it, how to put it back, and what the hint says."""
    label: str
    get: Callable[[], Any]
    set: Callable[[Any], None]
    advice: str
    show: Callable[[Any], str] = repr
    describe: Callable[[Any, Any], str] | None = None  # the change in words, when "from ... to ..." does not fit

    def change(self, before, now) -> str:
        said = self.describe(before, now) if self.describe else \
            f"changed {self.label} from {self.show(before)} to {self.show(now)}"
        return f"{said} ({self.advice})"


def _set_inference_mode(enabled: bool) -> None:
    guard = torch._C._InferenceMode(enabled)  # a learner's guard that is still referenced cannot be exited
    guard.__enter__()
    _KEEP_ALIVE.append(guard)


def _set_default_device(device: torch.device) -> None:
    torch.set_default_device(None if device.type == "cpu" else device)


def _function_modes() -> tuple:
    return tuple(torch.overrides._get_current_function_mode_stack())


def _set_function_modes(modes: tuple) -> None:
    while torch._C._len_torch_function_stack():
        torch._C._pop_torch_function_stack()
    for mode in modes:
        torch._C._push_on_torch_function_stack(mode)


def _dispatch_modes() -> int:
    return torch._C._len_torch_dispatch_stack()


def _set_dispatch_modes(length: int) -> None:
    from torch.utils._python_dispatch import _pop_mode
    while torch._C._len_torch_dispatch_stack() > length:
        _pop_mode()


def _print_options() -> tuple:
    return tuple(sorted(vars(torch._tensor_str.PRINT_OPTS).items()))


def _options_changed(before: tuple, now: tuple) -> str:
    show = lambda options, others: ", ".join(f"{k}={v}" for k, v in options if (k, v) not in others)  # noqa: E731
    return f"changed how tensors print (torch.set_printoptions) from {show(before, now)} to {show(now, before)}"


def _modes_left(kind: str):
    def describe(before, now) -> str:
        count = len(now) - len(before) if isinstance(now, tuple) else now - before
        return f"left {count} torch {kind} mode{'s' if count != 1 else ''} active (entered and never exited)"
    return describe


def _autocast(device: str) -> Setting:
    def get_autocast():
        return torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)

    def set_autocast(state):
        torch.set_autocast_enabled(device, state[0])
        torch.set_autocast_dtype(device, state[1])
    return Setting(f"autocast on {device}", get_autocast, set_autocast,
                   "use a `with torch.autocast(...):` block, which ends with the block",
                   lambda state: f"{_ON_OFF[state[0]]} ({state[1]})")


def _autocast_depth() -> int:
    """How many autocast blocks are open: torch counts them (one count for every device), with no getter."""
    depth = torch.autocast_increment_nesting() - 1
    torch.autocast_decrement_nesting()
    return depth


def _set_autocast_depth(depth: int) -> None:
    for _ in range(_autocast_depth() - depth):
        if torch.autocast_decrement_nesting() == 0:
            torch.clear_autocast_cache()  # as the outermost block does when it exits: no stale cast weights
    for _ in range(depth - _autocast_depth()):
        torch.autocast_increment_nesting()


def _settings() -> list[Setting]:
    """The settings, in the order they are put back (inference mode before grad mode, the device before the modes)."""
    cuda = ["cuda"] if torch.cuda.is_available() else []
    with_block = "enter a mode with a `with` block, which exits it when the block ends"
    return [
        Setting("inference mode (torch.is_inference_mode_enabled())", torch.is_inference_mode_enabled,
                _set_inference_mode, "use a `with torch.inference_mode():` block, which ends with the block",
                _ON_OFF.get),
        Setting("gradient tracking (torch.is_grad_enabled())", torch.is_grad_enabled, torch.set_grad_enabled,
                "to compute without gradients inside your function, use a `with torch.no_grad():` block, which turns "
                "tracking back on when it ends", _ON_OFF.get),
        Setting("torch's default dtype (torch.set_default_dtype)", torch.get_default_dtype, torch.set_default_dtype,
                "give new tensors their dtype instead, e.g. torch.zeros(..., dtype=x.dtype)", str),
        Setting("torch's default device (torch.set_default_device)", torch.get_default_device, _set_default_device,
                "give new tensors their device instead, e.g. torch.zeros(..., device=x.device)", str),
        Setting("torch's number of threads (torch.set_num_threads)", torch.get_num_threads, torch.set_num_threads,
                "leave the number of threads to the notebook's setup"),
        Setting("deterministic algorithms (torch.use_deterministic_algorithms)",
                lambda: (torch.are_deterministic_algorithms_enabled(),
                         torch.is_deterministic_algorithms_warn_only_enabled()),
                lambda state: torch.use_deterministic_algorithms(state[0], warn_only=state[1]),
                "leave this setting to the notebook's setup", lambda state: _ON_OFF[state[0]]),
        Setting("anomaly detection (torch.autograd.set_detect_anomaly)",
                lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
                lambda state: torch.autograd.set_detect_anomaly(*state),
                "it slows down every backward pass; use a `with torch.autograd.detect_anomaly():` block while "
                "debugging", lambda state: _ON_OFF[state[0]]),
        Setting("the float32 matmul precision (torch.set_float32_matmul_precision)",
                torch.get_float32_matmul_precision, torch.set_float32_matmul_precision,
                "leave this setting to the notebook's setup"),
        Setting("how tensors print", _print_options, lambda state: torch.set_printoptions(**dict(state)),
                "leave the print options as they are", describe=_options_changed),
        Setting("torch's warn-always switch (torch.set_warn_always)", torch.is_warn_always_enabled,
                torch.set_warn_always, "leave this setting to the notebook's setup", _ON_OFF.get),
        *[_autocast(device) for device in ["cpu", *cuda]],
        Setting("open autocast blocks", _autocast_depth, _set_autocast_depth,
                "use a `with torch.autocast(...):` block, which ends with the block", describe=_modes_left("autocast")),
        Setting("torch function modes", _function_modes, _set_function_modes,
                with_block, describe=_modes_left("function")),
        Setting("torch dispatch modes", _dispatch_modes, _set_dispatch_modes,
                with_block, describe=_modes_left("dispatch")),
    ]


# --- torch's backend switches and global hooks, and Python's own settings ----------------------------------------

_LEAVE = "leave this setting to the notebook's setup"


def _switch(label: str, path: str) -> Setting:
    """A backend switch that is an attribute, such as torch.backends.mkldnn.enabled."""
    *owner_path, attribute = path.split(".")
    owner = functools.reduce(getattr, owner_path[1:], torch)  # torch.backends.mkldnn, ...
    return Setting(f"{label} ({path})", lambda: getattr(owner, attribute),
                   lambda value: setattr(owner, attribute, value), _LEAVE)


def _attention_kernel(kind: str) -> Setting:
    """One of scaled_dot_product_attention's kernels, switched by torch.backends.cuda.enable_<kind>_sdp."""
    cuda = torch.backends.cuda
    return Setting(f"the {kind} attention kernel (torch.backends.cuda.enable_{kind}_sdp)",
                   getattr(cuda, f"{kind}_sdp_enabled"), getattr(cuda, f"enable_{kind}_sdp"),
                   "choose kernels with a `with torch.nn.attention.sdpa_kernel(...):` block, which ends with the "
                   "block", _ON_OFF.get)


_GLOBAL_HOOKS = {  # nn.Module's hooks for every module (torch.nn.modules.module): the table, the function that adds
    "_global_forward_hooks": "register_module_forward_hook",
    "_global_forward_hooks_with_kwargs": "register_module_forward_hook",
    "_global_forward_hooks_always_called": "register_module_forward_hook",
    "_global_forward_pre_hooks": "register_module_forward_pre_hook",
    "_global_backward_hooks": "register_module_full_backward_hook",
    "_global_is_full_backward_hook": "register_module_full_backward_hook",  # a flag, not a table
    "_global_backward_pre_hooks": "register_module_full_backward_pre_hook",
    "_global_buffer_registration_hooks": "register_module_buffer_registration_hook",
    "_global_module_registration_hooks": "register_module_module_registration_hook",
    "_global_parameter_registration_hooks": "register_module_parameter_registration_hook",
}


def _global_hooks() -> tuple:
    tables = [getattr(nn_module, name) for name in _GLOBAL_HOOKS]
    return tuple(tuple(table.items()) if isinstance(table, dict) else table for table in tables)


def _set_global_hooks(state: tuple) -> None:
    for name, saved in zip(_GLOBAL_HOOKS, state):
        table = getattr(nn_module, name)
        if isinstance(table, dict):
            table.clear()
            table.update(saved)
        else:
            setattr(nn_module, name, saved)


def _hooks_added(before: tuple, now: tuple) -> str:
    functions = dict.fromkeys(function for function, old, new in zip(_GLOBAL_HOOKS.values(), before, now)
                              if old != new)
    return (f"registered a hook on every module ({', '.join('torch.nn.modules.module.' + f for f in functions)}), "
            "which stayed after your function returned")


def _working_directory() -> str | None:
    try:
        return os.getcwd()
    except FileNotFoundError:  # the directory was deleted
        return None


def _set_working_directory(path: str | None) -> None:
    if path is not None:
        os.chdir(path)


class _WarningFilters:
    """Python's warning filters at one moment. Two are equal when their filters for Python's own warning categories
    (Warning, UserWarning, DeprecationWarning, ...) are: a library that a call imports for the first time may add a
    filter for a category of its own (sympy does, and torch imports it lazily), which is no one's mistake. Putting
    them back keeps such a filter."""

    def __init__(self):
        self.filters = tuple(warnings.filters)

    def _pythons(self) -> list:
        return [entry for entry in self.filters if _is_pythons(entry)]

    def __eq__(self, other) -> bool:
        return isinstance(other, _WarningFilters) and self._pythons() == other._pythons()

    def restore(self) -> None:
        added = [entry for entry in warnings.filters if entry not in self.filters and not _is_pythons(entry)]
        warnings.filters = added + list(self.filters)  # as warnings.catch_warnings puts them back
        warnings._filters_mutated()  # Python's cache of which warnings were already shown


def _is_pythons(entry: tuple) -> bool:
    """A filter (action, message, category, module, lineno) for one of Python's own warning categories."""
    return entry[2].__module__ == "builtins"


def _signal_handler(signum: signal.Signals) -> Setting:
    def set_handler(handler) -> None:
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signum, handler)  # (None: a handler set outside Python, which Python cannot put back)
    return Setting(f"the {signum.name} handler (signal.signal({signum.name}, ...))",
                   lambda: signal.getsignal(signum), set_handler,
                   "leave signal handlers to the notebook: without its own, the notebook's stop button (Ctrl+C) "
                   "no longer interrupts a cell", describe=lambda before, now: f"replaced the {signum.name} handler")


def _process_settings() -> list[Setting]:
    """torch's backend switches and global module hooks, and Python's settings that a function can change."""
    return [
        _switch("oneDNN (MKL-DNN) kernels", "torch.backends.mkldnn.enabled"),
        _switch("cuDNN", "torch.backends.cudnn.enabled"),
        _switch("cuDNN's benchmark mode", "torch.backends.cudnn.benchmark"),
        _switch("cuDNN's deterministic mode", "torch.backends.cudnn.deterministic"),
        _switch("TF32 in cuDNN", "torch.backends.cudnn.allow_tf32"),
        _switch("TF32 in CUDA matrix products", "torch.backends.cuda.matmul.allow_tf32"),
        *[_attention_kernel(kind) for kind in ("flash", "mem_efficient", "math", "cudnn")],
        Setting("global module hooks", _global_hooks, _set_global_hooks,
                "register a hook on your own module (module.register_forward_hook) and remove it with the handle "
                "it returns", describe=_hooks_added),
        Setting("the working directory (os.chdir)", _working_directory, _set_working_directory,
                "give files their full path instead, e.g. os.path.join(folder, name)"),
        Setting("Python's recursion limit (sys.setrecursionlimit)", sys.getrecursionlimit, sys.setrecursionlimit,
                _LEAVE),
        Setting("Python's warning filters", _WarningFilters, _WarningFilters.restore,
                "change them inside a `with warnings.catch_warnings():` block, which puts them back when it ends",
                describe=lambda before, now: "changed which warnings Python shows or raises (warnings.simplefilter "
                                             "or warnings.filterwarnings)"),
        *[_signal_handler(signum) for signum in (signal.SIGINT, signal.SIGTERM)],
    ]


SETTINGS = _settings() + _process_settings()


class Settings:
    """torch's global settings at one moment, to compare with and put back later."""

    def __init__(self):
        self.values = [setting.get() for setting in SETTINGS]

    def restore(self) -> list[str]:
        """Put back every setting that has changed since; returns what changed, in the learner's words."""
        changes = []
        for setting, before in zip(SETTINGS, self.values):
            now = setting.get()
            if now != before:
                setting.set(before)
                changes.append(setting.change(before, now))
        return changes


def use_defaults() -> None:
    """torch's defaults for the settings a check relies on (gradients on, float32, the CPU), whatever the learner's
    session has set: a session with gradients off must not make a right answer fail."""
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    if torch.get_default_device().type != "cpu":
        torch.set_default_device(None)


@contextlib.contextmanager
def forked_random_state():
    """Whatever the block draws from or seeds, torch's random generators (CPU, and CUDA when in use), Python's
    `random` and NumPy's global one end as they began. A function that builds layers draws random weights, which
    is fine: this is not a learner's mistake."""
    cuda_was_on = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda_was_on else []
    numpy = sys.modules.get("numpy")  # only where the session uses it
    python_state, numpy_state = random.getstate(), numpy.random.get_state() if numpy else None
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(python_state)
        if numpy:
            numpy.random.set_state(numpy_state)
        if not cuda_was_on and torch.cuda.is_available() and torch.cuda.is_initialized():
            for generator in torch.cuda.default_generators:  # CUDA started inside: back to its state at the start
                generator.manual_seed(generator.initial_seed())


# --- torch's functions, in case a learner's function replaces one -------------------------------------------------

_NAMESPACES = {"torch": torch, "torch.nn.functional": F, "torch.nn": nn, "math": math}
_CLASSES = {"torch.Tensor": torch.Tensor, "nn.Parameter": nn.Parameter, "nn.Module": nn.Module,
            **{f"nn.{cls.__name__}": cls for cls in (nn.Linear, nn.Embedding, nn.LayerNorm, nn.Dropout, nn.GELU,
                                                      nn.Sequential, nn.ModuleList, nn.ModuleDict)}}
_OWN_NAME = "give a function of your own a name of its own"
_SPACES = {**_NAMESPACES, **_CLASSES}


class Functions:
    """The objects torch's namespaces and classes hold at one moment: a function that assigns torch.softmax = ...
    or torch.Tensor.__add__ = ... replaces one for every later cell (and for the check itself). Torch's own changes
    to its namespaces are no one's mistake: new names (torch adds some lazily) and wrapped functions (importing
    torch._dynamo wraps torch.manual_seed). In a class, a new entry that hides an inherited method is a
    replacement too (Tensor.__add__ comes from a base class written in C)."""

    def __init__(self):
        self.values = {prefix: dict(vars(space)) for prefix, space in _SPACES.items()}

    def restore(self) -> list[str]:
        changes = []
        for prefix, space in _SPACES.items():
            before_all, now = self.values[prefix], vars(space)
            for key, before in before_all.items():
                value = now.get(key, _MISSING)
                if value is not before and not _wraps(value, before):
                    setattr(space, key, before)
                    changes.append(f"replaced {prefix}.{key} ({_OWN_NAME})")
            if prefix in _CLASSES:
                for key in [key for key in now if key not in before_all and _inherited(space, key)]:
                    delattr(space, key)
                    changes.append(f"replaced {prefix}.{key} ({_OWN_NAME})")
        return changes


def _inherited(cls: type, name: str) -> bool:
    """cls inherits name from a base class (Tensor.__add__ from torch._C.TensorBase). Only then is a new entry in
    its __dict__ a replacement: a new name is a new method, as libraries add some (transformers adds one to
    nn.Module)."""
    return any(name in vars(base) for base in cls.__mro__[1:])


def _wraps(value, original) -> bool:
    """value is original wrapped (functools.wraps sets __wrapped__), as torch wraps some of its own functions."""
    for _ in range(10):
        value = getattr(value, "__wrapped__", None)
        if value is original:
            return True
    return False


_MISSING = object()


# --- inputs a function must leave as they are ---------------------------------------------------------------------

class Mutable:
    """Marks an argument that the learner's function may change, e.g. the model a training step updates."""

    def __init__(self, value):
        self.value = value


def _tensor_snapshot(tensor: torch.Tensor):
    saved, requires_grad = tensor.detach().clone(), tensor.requires_grad

    def changed() -> str | None:
        if tensor.shape != saved.shape or tensor.dtype != saved.dtype or tensor.device != saved.device:
            return f"its shape, dtype or device changed (now {tuple(tensor.shape)}, {tensor.dtype}, {tensor.device})"
        if not _equal(tensor.detach(), saved):
            return "its values changed"
        return "its requires_grad changed" if tensor.requires_grad != requires_grad else None
    return changed


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN equal to NaN."""
    if a.is_floating_point() or a.is_complex():
        return torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)
    return torch.equal(a, b)


def _module_snapshot(module: nn.Module):
    def layout():
        return ([(name, type(part), id(part), part.training) for name, part in module.named_modules()],
                [(name, id(p), p.requires_grad) for name, p in module.named_parameters()])
    tensors = {name: _tensor_snapshot(t) for name, t in [*module.named_parameters(), *module.named_buffers()]}
    before = layout()

    def changed() -> str | None:
        if layout() != before:
            return "its layers, parameters, requires_grad flags or train/eval mode changed"
        current = dict([*module.named_parameters(), *module.named_buffers()])
        for name, tensor_changed in tensors.items():
            if name not in current or tensor_changed():
                return f"{name} changed"
        return None
    return changed


def _container_snapshot(value, depth: int):
    parts = [snapshot(item, depth + 1) for item in (value.values() if isinstance(value, dict) else value)]
    keys = list(value) if isinstance(value, dict) else len(value)

    def changed() -> str | None:
        if (list(value) if isinstance(value, dict) else len(value)) != keys:
            return "entries were added or removed"
        return next((f"in an entry, {what}" for part in parts if part and (what := part())), None)
    return changed


def snapshot(value, depth: int = 0):
    """A function that says what has changed in value since now (None: nothing), or None when value cannot change
    in place (numbers, strings, frozen configurations) or is not watched (other objects, deep nesting)."""
    try:
        if isinstance(value, torch.Tensor):
            return _tensor_snapshot(value)
        if isinstance(value, nn.Module):
            return _module_snapshot(value)
        if isinstance(value, (list, dict, tuple)) and depth < 3:
            return _container_snapshot(value, depth)
        if hasattr(value, "to_dict") and callable(value.to_dict):  # a Hugging Face configuration
            saved = value.to_dict()
            return lambda: "its settings changed" if value.to_dict() != saved else None
    except Exception:  # noqa: BLE001  (e.g. a module whose __init__ forgot super().__init__(): the check says so)
        return None
    return None


def _named_arguments(function, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    """(parameter name, value) for each argument, e.g. [('logits', ...), ('k', 3)]; 'argument 1', ... where the
    function's signature is unknown or does not fit (the call then fails, and says so itself)."""
    try:
        target = function.forward if isinstance(function, nn.Module) else function
        signature = inspect.signature(target)
        named = []
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                named += [(f"{name}[{i}]", item) for i, item in enumerate(value)]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                named += list(value.items())
            else:
                named.append((name, value))
        return named
    except (TypeError, ValueError):
        return [(f"argument {i + 1}", value) for i, value in enumerate(args)] + list(kwargs.items())


class InputWatch:
    """Remembers a call's inputs (the function too, when it is a module), except those marked Mutable, and
    afterwards says which of them the call changed."""

    def __init__(self, function, args: tuple, kwargs: dict):
        named = [(name, value) for name, value in _named_arguments(function, args, kwargs)
                 if not isinstance(value, Mutable)]
        if isinstance(function, nn.Module):
            named.append(("module (self)", function))
        self.snapshots = [(name, snapshot(value), isinstance(value, nn.Module)) for name, value in named]

    def changed(self) -> tuple[str, str, bool] | None:
        """(the argument's name, what changed in it, whether it is a module) for the first changed input, or None."""
        for name, snapshot_, is_module in self.snapshots:
            what = snapshot_() if snapshot_ else None
            if what:
                return name, what, is_module
        return None


def unwrap(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The arguments with the Mutable marks removed."""
    plain = lambda value: value.value if isinstance(value, Mutable) else value  # noqa: E731
    return tuple(plain(a) for a in args), {key: plain(value) for key, value in kwargs.items()}


# --- the time limit ------------------------------------------------------------------------------------------------

class OutOfTime(BaseException):
    """Raised inside a learner's function that ran past its time. A BaseException, like KeyboardInterrupt, so that
    the learner's `except Exception:` does not swallow it."""


class Clock:
    elapsed = 0.0


REPEAT = 0.2  # seconds between the stops that follow the first, in case the function swallowed one


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise OutOfTime inside the block once it has run for seconds; the block's time goes to the yielded Clock.

    In the main thread (a notebook's kernel, nbgrader, pytest) a timer signal (SIGALRM) interrupts the block, even
    inside time.sleep or a blocking call. Elsewhere (another thread, or Windows, which has no SIGALRM) a watchdog
    thread raises the exception in the block's thread (PyThreadState_SetAsyncExc): that stops Python code at once,
    but a blocking call (time.sleep) only when it returns, and (on Python 3.11) not a loop that makes no calls while
    a profile hook is set, as the checks that forbid gpt2lib's own functions set one. A single long torch operation
    always finishes before the exception.

    Both raise it again every REPEAT s until the block ends, in case a bare `except:` swallowed it. A function that
    swallows every one of them, in a loop, is beyond any limit: it returns when it wants to. The caller then sees
    from the Clock that the block ran past its time (core.py fails the check all the same)."""
    clock, started = Clock(), time.perf_counter()
    use_signal = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    stop = _no_limit if math.isinf(seconds) else _alarm if use_signal else _watchdog
    try:
        with stop(seconds):
            yield clock
    finally:
        clock.elapsed = time.perf_counter() - started


@contextlib.contextmanager
def _no_limit(seconds: float):
    yield


def _raise_out_of_time(signum, frame):
    raise OutOfTime()


@contextlib.contextmanager
def _alarm(seconds: float):
    previous_handler = signal.signal(signal.SIGALRM, _raise_out_of_time)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT)
    started = time.monotonic()
    try:
        yield
    finally:
        _retrying(lambda: _disarm(previous_handler, previous_delay, previous_interval, time.monotonic() - started))


def _disarm(previous_handler, previous_delay: float, previous_interval: float, elapsed: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)  # first the timer, so that no alarm reaches the previous handler
    signal.signal(signal.SIGALRM, previous_handler)
    if previous_delay:  # someone else's timer (pytest-timeout, say) runs on
        signal.setitimer(signal.ITIMER_REAL, max(previous_delay - elapsed, 1e-3), previous_interval)


def _retrying(cleanup: Callable[[], None]) -> None:
    """Run cleanup to the end, even if a last OutOfTime arrives while it runs."""
    while True:
        try:
            return cleanup()
        except OutOfTime:
            continue


@contextlib.contextmanager
def _watchdog(seconds: float):
    thread_id, lock, done = threading.get_ident(), threading.Lock(), threading.Event()

    def interrupt():  # after seconds, and again every REPEAT s, until the block ends
        delay = seconds
        while not done.wait(delay):
            with lock:
                if not done.is_set():
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(OutOfTime))
            delay = REPEAT

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        yield
    finally:
        def cleanup():
            with lock:
                done.set()
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)  # drop one not yet raised
        _retrying(cleanup)
