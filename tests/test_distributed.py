"""python -m gpt2lib.train under torchrun, and runs that survive being killed.

2 CPU processes over gloo against 1 process with the same global batch; SIGKILL at random moments (during
checkpoint saves too, and of torchrun alone) followed by restarts, in 1 process and under torchrun; SIGTERM
and Ctrl+C (SIGINT).
Every run is the same tiny model in float32, compared with an uninterrupted run by its checkpoint's history."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt2lib.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux")

STEPS = 24
TINY_ARGS = ["--layers", "1", "--emb-dim", "16", "--heads", "2", "--context", "8", "--batch-size", "4",
             "--grad-accum", "2", "--steps", str(STEPS), "--eval-interval", "8", "--eval-windows", "4",
             "--final-eval-windows", "4", "--sample-tokens", "0", "--no-progress", "--precision", "float32",
             "--threads", "1"]
ONE_PROCESS = [sys.executable, "-m", "gpt2lib.train"]
TWO_PROCESSES = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                 "gpt2lib.train"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}


def command(launcher: list[str], out: Path, *extra: str) -> list[str]:
    return [*launcher, *TINY_ARGS, "--out", str(out), "--resume", "auto", *extra]


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=180, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference runs, to the end without a stop: in 1 process and in 2."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    run(command(ONE_PROCESS, tmp / "one"), tmp)
    run(command(TWO_PROCESSES, tmp / "two"), tmp)
    return {"one": load_checkpoint(tmp / "one" / "checkpoint.pt"), "two": load_checkpoint(tmp / "two" / "checkpoint.pt")}


def test_two_processes_give_the_losses_and_weights_of_one(uninterrupted):
    # The two runs compute the same global batch; only the order of float32 additions may differ (each process
    # sums its half, then gloo adds the halves), so agreement to float32 rounding, about 1e-6, is expected.
    one, two = uninterrupted["one"], uninterrupted["two"]
    assert two["step"] == one["step"] == STEPS
    torch.testing.assert_close(torch.tensor(two["history"]["train_loss"]), torch.tensor(one["history"]["train_loss"]),
                               rtol=1e-6, atol=1e-6)
    for name, weight in one["model"].items():
        torch.testing.assert_close(two["model"][name], weight, rtol=1e-5, atol=1e-6)
    assert len(one["rng"]) == 1 and len(two["rng"]) == 2  # rank 0 saves every process's random state


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (torchrun starts its workers in sessions of their own)."""
    tree = [pid]
    for child_list in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = child_list.read_text().split()
        except OSError:  # the task ended meanwhile
            continue
        for child in children:
            tree += process_tree(int(child))
    return tree


def kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_until_gone(pids: list[int], timeout: float = 60.0) -> None:
    """Wait until none of pids is running any more (a zombie, not yet reaped, counts as gone)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":
                break
            time.sleep(0.05)
    assert time.monotonic() < deadline, f"processes {pids} still running after {timeout} s"


def saving(out: Path) -> bool:
    """True while a checkpoint save is under way: atomic_write's temporary file exists."""
    return any(out.glob(".checkpoint.pt.*.tmp"))


SAVE_EVERY_STEP = ("--checkpoint-interval", "1")


def kill_at_random(launcher: list[str], out: Path, cwd: Path, rng: random.Random, kills: int, slowness: float) -> dict:
    """Start the run, SIGKILL it at a random moment (every other time: as soon as a save is under way), and
    start it again with the same command, kills times; then let it finish. What happened, counted.
    slowness stretches the random delays for a launcher that takes longer to start."""
    seen = {"kills": 0, "during_save": 0, "corrupt": 0}
    for attempt in range(kills):
        proc = subprocess.Popen(command(launcher, out, *SAVE_EVERY_STEP), cwd=cwd, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_a_save = attempt % 2 == 1
        deadline = time.monotonic() + (60 if wait_for_a_save else rng.uniform(1.0, 4.0) * slowness)  # the run: ~5 s
        while proc.poll() is None and time.monotonic() < deadline:
            if wait_for_a_save and saving(out):
                break
            time.sleep(0.001)
        if proc.poll() is None:
            during_save, tree = saving(out), process_tree(proc.pid)
            only_torchrun = launcher is TWO_PROCESSES and attempt == 2  # its workers must then stop by themselves
            kill(tree[:1] if only_torchrun else tree, signal.SIGKILL)
            seen["kills"] += 1
            seen["during_save"] += during_save
            wait_until_gone(tree)
        proc.wait(timeout=60)
        if (out / "checkpoint.pt").exists():
            try:
                load_checkpoint(out / "checkpoint.pt")  # the last complete checkpoint: always readable
            except Exception:
                seen["corrupt"] += 1
    run(command(launcher, out, *SAVE_EVERY_STEP), cwd)
    return seen


@pytest.mark.fault_loop  # about 45 s: make test-faults, not make test
@pytest.mark.parametrize("launcher", [ONE_PROCESS, TWO_PROCESSES], ids=["1 process", "torchrun 2 processes"])
def test_a_run_killed_at_random_moments_continues_to_the_uninterrupted_losses(launcher, uninterrupted, tmp_path):
    rng = random.Random(len(launcher))
    slowness = 1.0 if launcher is ONE_PROCESS else 2.0  # torchrun starts 3 Python processes, not 1
    seen = kill_at_random(launcher, tmp_path / "run", tmp_path, rng, kills=4, slowness=slowness)
    assert seen["corrupt"] == 0
    assert seen["kills"] >= 3, seen  # the test did kill the run, repeatedly,
    assert seen["during_save"] >= 1, seen  # and at least once half-way through writing a checkpoint
    reference = uninterrupted["one" if launcher is ONE_PROCESS else "two"]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == STEPS
    assert torch.equal(torch.tensor(state["history"]["train_loss"]), torch.tensor(reference["history"]["train_loss"]))
    assert all(torch.equal(state["model"][name], weight) for name, weight in reference["model"].items())
    leftovers = sorted(path.name for path in (tmp_path / "run").rglob("*") if path.name.endswith(".tmp"))
    assert leftovers == []  # what the killed saves left was removed


@pytest.mark.parametrize("launcher, sig", [
    (ONE_PROCESS, signal.SIGTERM), (ONE_PROCESS, signal.SIGINT), (TWO_PROCESSES, signal.SIGTERM),
    (TWO_PROCESSES, signal.SIGKILL),  # torchrun alone killed: its workers get SIGTERM from Linux (PR_SET_PDEATHSIG)
], ids=["1 process, SIGTERM", "1 process, Ctrl+C", "torchrun, SIGTERM", "torchrun, SIGKILL"])
def test_a_stop_signal_saves_a_checkpoint_and_the_processes_exit_cleanly(launcher, sig, tmp_path):
    out = tmp_path / "run"
    # No periodic checkpoints: the one on disk afterwards is the one the signal asked for.
    proc = subprocess.Popen(command(launcher, out, "--checkpoint-interval", "100000", "--steps", "100000"),
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    while "starting at step" not in output:  # rank 0's first line: the run is set up
        line = proc.stdout.readline()
        assert line or proc.poll() is None, output
        output += line
    time.sleep(2.0)
    proc.send_signal(sig)  # to torchrun itself, which passes SIGTERM and SIGINT on to its workers
    output += proc.communicate(timeout=120)[0]  # returns once every process has closed the output
    assert "stopped early" in output, output
    if launcher is ONE_PROCESS:
        assert proc.returncode == 0, output
    state = load_checkpoint(out / "checkpoint.pt")
    assert 0 < state["step"] < 100000
    assert not any(out.rglob("*.tmp"))



@pytest.mark.parametrize("launcher", [ONE_PROCESS, TWO_PROCESSES], ids=["1 process", "torchrun 2 processes"])
def test_a_diverging_run_stops_every_process_and_keeps_its_last_finite_checkpoint(launcher, tmp_path):
    out = tmp_path / "run"
    diverging = ("--lr", "1e30", "--min-lr", "0", "--warmup-steps", "0", *SAVE_EVERY_STEP)
    result = subprocess.run(command(launcher, out, *diverging), capture_output=True, text=True, cwd=tmp_path,
                            timeout=180, env=ENV)  # every process stops: none waits for the others
    assert result.returncode != 0
    assert "error: the training diverged: the loss of step 2 is nan" in result.stderr, result.stdout + result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["checkpoint.pt"]  # nothing exported
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 1 and all(torch.isfinite(weight).all() for weight in state["model"].values())
