"""The training command's output folder is the run's, and only the run's (gpt2lib/training/run_folder.py).

Checked at the start, before the data is read: a file or a folder that cannot be written, another program's files,
too little space, and a lock held by another run (also under torchrun); a lock left by a killed run is taken over.
During the run: only its own temporary files are removed, files get the user's umask, and a full disk or a second
Ctrl+C during a save end the run with one message, the previous checkpoint intact. Before any allocation: sizes that
cannot fit in memory. Tiny models throughout."""

import errno
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from gpt2lib import GPTConfig, GPTModel
from gpt2lib.training import cli as train_command
from gpt2lib.training import run_folder, sizes
from gpt2lib.training.checkpoint import atomic_write, load_checkpoint
from gpt2lib.training.run_folder import LOCK_NAME, RunFolder, WriteFailedError, unfinished_writes

TINY_ARGS = ["--layers", "1", "--emb-dim", "32", "--heads", "2", "--context", "16", "--batch-size", "2",
             "--steps", "3", "--eval-interval", "2", "--eval-windows", "2", "--final-eval-windows", "2",
             "--sample-tokens", "0", "--no-progress", "--precision", "float32"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}


def train(out: Path, *extra: str) -> int:
    return train_command.main([*TINY_ARGS, "--out", str(out), *extra])


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones too) with its contents."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture()
def no_data(monkeypatch):
    """The command may not read its data: a refusal must come before any work."""
    def load_corpus(*args, **kwargs):
        raise AssertionError("the data was loaded before --out was checked")
    monkeypatch.setattr(train_command, "load_corpus", load_corpus)


# --- the folder, checked at the start ---------------------------------------------------------------------------

def test_an_out_that_is_a_file_or_cannot_be_created_is_refused(tmp_path, no_data):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(SystemExit, match="--out .*afile is a file, not a folder"):
        train(tmp_path / "afile")
    with pytest.raises(SystemExit, match="--out .*afile/run cannot be created: Not a directory"):
        train(tmp_path / "afile" / "run")
    assert listing(tmp_path) == {"afile": b"mine"}


def test_a_read_only_out_is_refused_and_left_as_it_was(tmp_path, no_data, monkeypatch):
    (tmp_path / "new").mkdir()
    real_open = os.open

    def read_only(path, *args, **kwargs):  # a read-only mount (root may write into a folder of mode 0555)
        if str(tmp_path) in str(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(SystemExit, match="--out .*new is not writable: Read-only file system"):
        train(tmp_path / "new")
    with pytest.raises(SystemExit, match="is not writable"):
        train(tmp_path / "deep" / "er")  # the folders it made for the refused run are removed again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"] and not any((tmp_path / "new").iterdir())


def test_another_programs_folder_is_refused_naming_its_files_and_left_untouched(tmp_path, no_data):
    out = tmp_path / "theirs"
    (out / "model").mkdir(parents=True)
    (out / "model" / "config.json").write_text("{}")
    (out / "summary.json").write_text('{"theirs": true}')
    for i in range(6):
        (out / f"notes{i}.txt").write_text(str(i))
    before = listing(out)
    with pytest.raises(SystemExit, match=r"--out .*theirs is not empty and holds no checkpoint of a run, so this "
                                         r"command did not write it: model/, notes0.txt, notes1.txt, notes2.txt, "
                                         r"notes3.txt and 3 more\. .*--overwrite-out"):
        train(out)
    assert listing(out) == before


def test_overwrite_out_writes_into_such_a_folder_and_leaves_the_other_files_alone(tmp_path):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "summary.json").write_text("replaced")
    assert train(out, "--overwrite-out") == 0
    assert (out / "notes.txt").read_text() == "keep me" and (out / "summary.json").read_text() != "replaced"
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3


def test_a_run_file_of_the_wrong_kind_is_refused_even_with_overwrite_out(tmp_path, no_data):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model").write_text("a file where the export goes")
    with pytest.raises(SystemExit, match="model \\(a file; the export is a folder\\) stands where the run writes"):
        train(out, "--overwrite-out")


def test_too_little_space_is_refused_before_reading_data_saying_what_is_needed(tmp_path, no_data, monkeypatch):
    monkeypatch.setattr(run_folder.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 10 * 2**20})())
    need = sizes.run_files_bytes(GPTConfig(n_layers=1, emb_dim=32, n_heads=2, context_length=16, dropout=0.0))
    with pytest.raises(SystemExit, match=f"--out .*run has 10 MB free, but a checkpoint and the export of this "
                                         f"model need about {sizes.describe_bytes(need)}"):
        train(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_command_says_how_much_space_its_files_take_and_the_estimate_is_close(tmp_path, capsys):
    assert train(tmp_path / "run") == 0
    files = listing(tmp_path / "run")
    largest = sum(len(data) for data in files.values()) + len(files["checkpoint.pt"])  # a save: old and new side by side
    estimate = sizes.run_files_bytes(GPTConfig(n_layers=1, emb_dim=32, n_heads=2, context_length=16))
    assert 1.0 <= estimate / largest <= 1.1, (estimate, largest)
    assert f"its files take about {sizes.describe_bytes(estimate)}; " in capsys.readouterr().out
    for cfg, tie in [(GPTConfig(n_layers=2, emb_dim=48, n_heads=3, context_length=32), True),
                     (GPTConfig(n_layers=1, emb_dim=32, n_heads=2, qkv_bias=True), False)]:
        with torch.device("meta"):
            model = GPTModel(cfg, tie_weights=tie)
        assert sizes.parameter_count(cfg, tie) == sum(p.numel() for p in model.parameters())  # counted right


# --- the lock --------------------------------------------------------------------------------------------------

def test_a_second_run_on_a_locked_folder_is_refused_naming_the_holder(tmp_path, no_data):
    with RunFolder.claim(tmp_path / "run", need=0):
        with pytest.raises(SystemExit, match=f"--out .*run is in use by another run of this command: pid {os.getpid()}"
                                             f" on host {socket.gethostname()}"):
            train(tmp_path / "run")
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME]
    assert not (tmp_path / "run").exists()  # released: the folder the claim made, left empty, is gone


HOLD_THE_LOCK = ("import sys, time; from gpt2lib.training.run_folder import RunFolder; "
                 "folder = RunFolder.claim(sys.argv[1], 0); print('locked', flush=True); time.sleep(120)")


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path / "run")], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "locked\n"
    holder.kill()  # SIGKILL: no clean-up; the kernel releases the lock, and the lock file still names the holder
    holder.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).is_file()
    assert train(tmp_path / "run") == 0
    assert (f"took over the lock of a run that ended without releasing it (pid {holder.pid} on host "
            f"{socket.gethostname()}") in capsys.readouterr().out
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # released at the end


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo, as in tests/test_distributed.py")
def test_under_torchrun_every_process_stops_when_rank_0_finds_the_folder_locked(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                "gpt2lib.train", *TINY_ARGS, "--threads", "1", "--out", str(tmp_path / "run")]
    with RunFolder.claim(tmp_path / "run", need=0):
        result = subprocess.run(torchrun, capture_output=True, text=True, cwd=tmp_path, timeout=120, env=ENV)
    assert result.returncode != 0
    assert f"error: --out {tmp_path / 'run'} is in use by another run of this command: pid {os.getpid()}" \
           in result.stderr, result.stderr
    assert f"error: rank 0 refused --out {tmp_path / 'run'}" in result.stderr  # rank 1 stopped by itself
    assert "starting at step" not in result.stdout
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo, as in tests/test_distributed.py")
def test_under_torchrun_a_batch_the_processes_cannot_share_is_refused_before_the_data_loads(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                "gpt2lib.train", *TINY_ARGS, "--batch-size", "3", "--threads", "1", "--out", str(tmp_path / "run")]
    result = subprocess.run(torchrun, capture_output=True, text=True, cwd=tmp_path, timeout=120, env=ENV)
    assert result.returncode != 0
    assert ("error: a global batch of 3 windows cannot be split evenly over 2 processes: choose --batch-size * "
            "--grad-accum divisible by the number of processes") in result.stderr, result.stderr
    assert "data:" not in result.stdout and not (tmp_path / "run").exists()  # no data read, no folder made


# --- during the run: temporary files, file modes, failed writes, a second Ctrl+C -------------------------------

def test_only_the_runs_own_temporary_files_are_removed(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    ours = {".checkpoint.pt.a1b2_c3d.tmp": b"PK\x03\x04half a zip", ".summary.json.zzzzzzzz.tmp": b'{"step": 3',
            "model/.model.safetensors.0123abcd.tmp": b"\x10\x00\x00\x00\x00\x00\x00\x00{\"lm", }
    theirs = [".checkpoint.pt.abc123.tmp", ".checkpoint.pt.ABCDEFGH.tmp", ".notes.txt.abcdefgh.tmp", ".cache.tmp",
              "model/.weights.bin.abcdefgh.tmp", ".checkpoint.pt.abcdefgh.tmp.bak",
              ".checkpoint.pt.abcdefgh.tmp", "model/.config.json.abcdefgh.tmp"]  # our names, but not our contents
    for name, data in ours.items():
        (out / name).write_bytes(data)
    for name in theirs:
        (out / name).write_bytes(b"unfinished")
    fd, made_by_mkstemp = tempfile.mkstemp(prefix=".loss.png.", suffix=".tmp", dir=out)  # atomic_write's own kind
    os.close(fd)
    assert sorted(path.name for path in unfinished_writes(out)) == sorted(
        [Path(made_by_mkstemp).name] + [Path(name).name for name in ours])
    assert train(out, "--resume") == 0
    assert "removed 4 unfinished file(s) of an interrupted save" in capsys.readouterr().out
    assert all((out / name).read_bytes() == b"unfinished" for name in theirs)
    assert not any((out / name).exists() for name in ours) and not Path(made_by_mkstemp).exists()


def test_a_folder_left_by_a_run_killed_before_its_first_checkpoint_is_still_the_runs(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text('{"pid": 1, "host": "gone", "started": "then"}')
    (out / ".checkpoint.pt.k1ll3d__.tmp").write_bytes(b"PK\x03")  # killed 3 bytes into the save
    assert train(out) == 0  # no "not empty" refusal: these files are the run's own
    said = capsys.readouterr().out
    assert "took over the lock of a run that ended without releasing it (pid 1 on host gone" in said
    assert "removed 1 unfinished file(s) of an interrupted save: .checkpoint.pt.k1ll3d__.tmp" in said


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o027])
def test_files_get_the_users_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "file", lambda file: file.write(b"x"))
        assert (tmp_path / "file").stat().st_mode & 0o777 == 0o666 & ~umask
        if umask == 0o002:  # the command, once: every file it writes
            assert train(tmp_path / "run") == 0
            modes = {name: (tmp_path / "run" / name).stat().st_mode & 0o777 for name in run_folder.RUN_FILES}
            assert set(modes.values()) == {0o664}, modes
    finally:
        os.umask(previous)


class FullDisk(io.RawIOBase):
    """A file that takes limit bytes, then fails as a full disk does."""

    def __init__(self, file, limit: int):
        self.file, self.left = file, limit

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.left:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.left -= len(data)
        return self.file.write(data)


def test_a_full_disk_gives_one_clear_error_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "ck.pt"
    atomic_write(path, lambda file: file.write(b"the previous checkpoint"))
    with pytest.raises(WriteFailedError) as plain:  # the writer's own OSError
        atomic_write(path, lambda file: FullDisk(file, 10).write(b"more than ten bytes"))
    with pytest.raises(WriteFailedError) as inside_torch:  # torch.save wraps it in "enforce fail at inline_container"
        atomic_write(path, lambda file: torch.save({"w": torch.zeros(1000)}, FullDisk(file, 500)))
    for error in (plain.value, inside_torch.value):
        assert str(error) == (f"could not write {path}: no space left on the device; the previous ck.pt is intact "
                              "(the write went to a temporary file, now removed)")
        assert error.errno == errno.ENOSPC and "inline_container" not in str(error)
    assert isinstance(inside_torch.value.__cause__, RuntimeError)  # torch's error stays available, as the cause
    with pytest.raises(WriteFailedError, match=f"could not write {tmp_path / 'new.pt'}: .*; nothing was written"):
        atomic_write(tmp_path / "new.pt", lambda file: FullDisk(file, 0).write(b"x"))
    assert listing(tmp_path) == {"ck.pt": b"the previous checkpoint"}


def test_the_command_ends_a_run_on_a_full_disk_with_one_message(tmp_path, monkeypatch):
    real_save, saves = torch.save, []

    def fill_the_disk_at_the_second_save(obj, file):
        saves.append(1)
        real_save(obj, FullDisk(file, 1000) if len(saves) == 2 else file)

    monkeypatch.setattr(torch, "save", fill_the_disk_at_the_second_save)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train(out, "--checkpoint-interval", "1")
    assert str(stop.value) == (f"error: could not write {out / 'checkpoint.pt'}: no space left on the device; the "
                               "previous checkpoint.pt is intact (the write went to a temporary file, now removed). "
                               f"Continue with: python -m gpt2lib.train --out {out} --resume")
    monkeypatch.undo()
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    assert sorted(listing(out)) == ["checkpoint.pt"]  # no temporary file, no lock left


def test_a_second_ctrl_c_during_a_save_stops_at_once_with_one_message(tmp_path, monkeypatch, capsys):
    real_save, saves = torch.save, []

    class CtrlCTwice(io.RawIOBase):  # the user presses Ctrl+C twice while torch's zip writer writes
        def __init__(self, file):
            self.file, self.pressed = file, False

        def writable(self):
            return True

        def write(self, data):
            if not self.pressed:
                self.pressed = True
                os.kill(os.getpid(), signal.SIGINT)  # the first: stop after this step, with a checkpoint
                time.sleep(0.01)
                os.kill(os.getpid(), signal.SIGINT)  # the second, inside torch.save: stop at once
                time.sleep(0.01)
            return self.file.write(data)

    def interrupted_second_save(obj, file):
        saves.append(1)
        real_save(obj, CtrlCTwice(file) if len(saves) == 2 else file)

    monkeypatch.setattr(torch, "save", interrupted_second_save)
    handler, out = signal.getsignal(signal.SIGINT), tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        train(out, "--checkpoint-interval", "1", "--steps", "5")
    assert str(stop.value) == (f"error: stopped at once (Ctrl+C); the last checkpoint, {out / 'checkpoint.pt'}, is "
                               "intact (a save replaces it only when complete). Continue with: python -m "
                               f"gpt2lib.train --out {out} --resume")
    assert "inline_container" not in capsys.readouterr().err
    monkeypatch.undo()
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 1
    assert sorted(listing(out)) == ["checkpoint.pt"]
    assert signal.getsignal(signal.SIGINT) is handler  # the command's handlers are gone


# --- memory, before anything is allocated ----------------------------------------------------------------------

@pytest.mark.parametrize("option, named", [
    (["--batch-size", str(10**12)], "--batch-size 1000000000000 .*lower --batch-size or --context"),
    (["--context", str(10**8)], "--context 100000000 .*lower --batch-size or --context"),
    (["--emb-dim", str(10**6)], r"--emb-dim 1000000\) .*lower --emb-dim or --layers"),
])
def test_sizes_that_cannot_fit_in_memory_are_refused_with_an_estimate(tmp_path, no_data, option, named):
    with pytest.raises(SystemExit, match=f"error: this run needs at least about [0-9,.]+ GB of memory, more than the "
                                         f"[0-9,.]+ [MG]B of --device cpu: .*{named}"):
        train(tmp_path / "run", *option)
    assert not (tmp_path / "run").exists()
    default = GPTConfig(**train_command.MODEL_DEFAULTS)  # and the default run is not refused on a small laptop
    need = sizes.training_memory(default, train_command.TRAIN_DEFAULTS["batch_size"])
    assert sum(need.values()) < 2 * 2**30  # about 1.1 GB


# --- found by a hostile review ----------------------------------------------------------------------------------

def test_a_symbolic_link_among_the_run_files_is_refused_and_nothing_outside_is_written(tmp_path):
    assert train(tmp_path / "run") == 0
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("my own file")
    for path in (tmp_path / "run" / "model").iterdir():
        path.unlink()
    (tmp_path / "run" / "model").rmdir()
    (tmp_path / "run" / "model").symlink_to(elsewhere)
    with pytest.raises(SystemExit, match="model \\(a symbolic link to .*mine\\) stands where the run writes"):
        train(tmp_path / "run", "--resume", "auto")
    assert listing(elsewhere) == {"config.json": b"my own file"}


def test_a_dangling_link_and_a_name_too_long_are_refused_clearly_and_leave_nothing(tmp_path, no_data):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SystemExit, match="link is a symbolic link to .*nowhere, which does not exist"):
        train(tmp_path / "link")
    with pytest.raises(SystemExit, match="File name too long"):
        train(tmp_path / "made" / ("x" * 300))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link"]  # the folder "made" was removed again


def test_too_many_threads_are_refused_before_any_work(tmp_path, no_data):
    with pytest.raises(SystemExit):
        train(tmp_path / "run", "--threads", str(10**9))
    assert torch.get_num_threads() >= 1 and not (tmp_path / "run").exists()


def test_a_run_whose_validation_loss_is_not_finite_is_not_exported(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_command, "evaluate", lambda *args, **kwargs: float("nan"))
    with pytest.raises(SystemExit, match="the training diverged: the validation loss at step 3 is nan. The model "
                                         "was not exported"):
        train(tmp_path / "run")
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / "summary.json").exists()


def test_resuming_a_finished_run_changes_nothing(tmp_path, capsys):
    assert train(tmp_path / "run") == 0
    before = listing(tmp_path / "run")
    assert train(tmp_path / "run", "--resume", "auto") == 0
    assert "is finished (step 3 of 3) and its files are complete: nothing to do" in capsys.readouterr().out
    assert listing(tmp_path / "run") == before


# --- found by a second hostile review ---------------------------------------------------------------------------

@pytest.mark.parametrize("others", [{}, {"notes.txt": b"mine"}])
def test_a_users_file_named_like_the_lock_is_refused_and_kept(tmp_path, no_data, others):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_bytes(b"my notes\n")
    for name, data in others.items():
        (out / name).write_bytes(data)
    before = listing(out)
    with pytest.raises(SystemExit, match=f"holds a file named {re.escape(LOCK_NAME)} that this command did not write"):
        train(out)
    assert listing(out) == before


def test_a_name_too_long_for_the_file_system_is_refused_before_anything(tmp_path, no_data):
    with pytest.raises(SystemExit, match=r"error: --out .*\.\.\. cannot be used: File name too long"):
        train(tmp_path / ("x" * 300))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, message", [
    (["--out", ""], "--out is empty: name the folder for the run's files"),
    (["--out", "run", "--sample-tokens", str(10**9)], "--sample-tokens must be at most 10,000, got 1,000,000,000"),
])
def test_an_empty_out_and_an_endless_sample_are_refused(tmp_path, no_data, capsys, monkeypatch, option, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        train_command.main([*TINY_ARGS, *option])
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_memory_estimate_counts_the_token_ids_of_every_micro_batch(tmp_path, no_data):
    with pytest.raises(SystemExit, match=r"the step's token ids \(--grad-accum 1000000000000 micro-batches\) about "
                                         r"[0-9,.]+ GB: lower --grad-accum or --batch-size"):
        train(tmp_path / "run", "--grad-accum", str(10**12))
    assert not (tmp_path / "run").exists()


def test_more_final_windows_than_the_split_has_are_reported_as_the_whole_split(tmp_path, capsys):
    assert train(tmp_path / "run", "--final-eval-windows", str(10**9)) == 0
    assert "validation loss on the whole validation split:" in capsys.readouterr().out


def test_a_finished_run_whose_export_was_deleted_exports_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out) == 0
    exported = listing(out / "model")
    (out / "model" / "model.safetensors").unlink()
    capsys.readouterr()
    assert train(out, "--resume") == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert listing(out / "model") == exported  # the same weights, exported again
