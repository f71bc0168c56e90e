"""gpt2lib.training (notebooks 08 and 09) and the command python -m gpt2lib.train, on tiny configurations."""

import hashlib
import json
import math
import os
import subprocess
import sys
import tomllib
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from gpt2lib import GPTConfig, GPTModel, from_pretrained
from gpt2lib.hf.convert import hf_state_dict
from gpt2lib.hf.export import export_hf
from gpt2lib.training import cli as train_command
from gpt2lib.training.batches import batches_for_step, step_generator
from gpt2lib.training.checkpoint import atomic_write, load_checkpoint
from gpt2lib.training.chunked_loss import chunked_cross_entropy
from gpt2lib.training.data import load_corpus, random_windows, tokenize, train_val_split, windows_at
from gpt2lib.training.loss import cross_entropy_loss
from gpt2lib.training.optim import lr_at, make_optimizer, param_groups
from gpt2lib.training.trainer import Trainer, TrainConfig, autocast_dtype, cpu_computes_bfloat16, evaluate, train_step
from gpt2lib.training.validation import TrainingCheckpointError, TrainingDivergedError, with_checksum

ROOT = Path(__file__).resolve().parent.parent
GPT2LIB = ROOT / "gpt2lib"
VOCAB = 61  # a tiny vocabulary keeps these models fast
TINY = GPTConfig(vocab_size=VOCAB, context_length=8, emb_dim=16, n_heads=2, n_layers=2, dropout=0.1)
TINY_RUN = TrainConfig(steps=8, batch_size=4, grad_accum=2, lr=1e-2, min_lr=1e-3, warmup_steps=2, eval_interval=3,
                       eval_windows=4, seed=7, precision="float32")


@pytest.fixture(scope="module")
def data():
    """A small repetitive corpus of ids below VOCAB, split into training and validation."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (40,), generator=generator).repeat(30)  # (1200,)
    return ids[:1000], ids[1000:]


def new_trainer(data, tcfg=TINY_RUN, cfg=TINY):
    torch.manual_seed(tcfg.seed)
    return Trainer(GPTModel(cfg), tcfg, *data)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- data ----------------------------------------------------------------------------------------

def test_tiny_shakespeare_is_shipped_as_package_data_and_tokenizes_to_338025_tokens():
    path = GPT2LIB / "data" / "tinyshakespeare.txt"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "data/tinyshakespeare.txt" in package_data["gpt2lib"]
    ids = tokenize(load_corpus())
    assert len(ids) == 338_025 and ids.dtype == torch.long
    assert ids[:8].tolist() == [5962, 22307, 25, 198, 8421, 356, 5120, 597]
    train, val = train_val_split(ids)
    assert (len(train), len(val)) == (304_222, 33_803)
    assert torch.equal(torch.cat([train, val]), ids)  # the validation split is the last 10%


def test_windows_have_targets_shifted_by_one_token():
    data = torch.arange(100)
    inputs, targets = windows_at(data, torch.tensor([0, 5, 91]), context_length=8)
    assert inputs.shape == targets.shape == (3, 8)
    assert inputs[1].tolist() == list(range(5, 13)) and targets[1].tolist() == list(range(6, 14))
    assert targets[2, -1].item() == 99  # the last window may end on the last token
    inputs, targets = random_windows(data, 64, 8, torch.Generator().manual_seed(1))
    assert torch.equal(targets, inputs + 1)  # on arange data, every target is its input plus one
    assert inputs.min() >= 0 and targets.max() <= 99


def test_each_step_has_its_own_fixed_batch():
    data = torch.arange(500)
    first = batches_for_step(data, step=3, seed=1, batch_size=4, context_length=8, grad_accum=2)
    again = batches_for_step(data, step=3, seed=1, batch_size=4, context_length=8, grad_accum=2)
    assert len(first) == 2 and all(x.shape == (4, 8) for x, _ in first)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    other_step = batches_for_step(data, step=4, seed=1, batch_size=4, context_length=8, grad_accum=2)
    other_seed = batches_for_step(data, step=3, seed=2, batch_size=4, context_length=8, grad_accum=2)
    assert not torch.equal(first[0][0], other_step[0][0]) and not torch.equal(first[0][0], other_seed[0][0])
    seeds = {step_generator(seed, step).initial_seed() for seed in range(20) for step in range(200)}
    assert len(seeds) == 20 * 200  # every (seed, step) pair gets its own stream


# --- loss, optimizer, schedule, step ------------------------------------------------------------

def test_loss_is_the_mean_negative_log_likelihood():
    logits = torch.randn(2, 5, VOCAB, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(1))
    nll = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).mean()
    assert torch.allclose(cross_entropy_loss(logits, targets), nll)
    uniform = cross_entropy_loss(torch.zeros(1, 3, VOCAB), torch.zeros(1, 3, dtype=torch.long))
    assert math.isclose(uniform.item(), math.log(VOCAB), rel_tol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_chunked_loss_equals_the_readable_one_in_value_and_gradient(dtype):
    logits = torch.randn(3, 7, VOCAB, generator=torch.Generator().manual_seed(0)).to(dtype).requires_grad_()
    targets = torch.randint(0, VOCAB, (3, 7), generator=torch.Generator().manual_seed(1))
    reference = cross_entropy_loss(logits.float(), targets)  # F.cross_entropy in float32, as autocast runs it
    (reference_grad,) = torch.autograd.grad(reference, logits)
    chunked = chunked_cross_entropy(logits, targets, chunk_rows=4)  # 21 rows: the last chunk is shorter
    (chunked_grad,) = torch.autograd.grad(chunked, logits)
    assert chunked.dtype == torch.float32 and chunked_grad.dtype == dtype
    torch.testing.assert_close(chunked, reference)
    torch.testing.assert_close(chunked_grad, reference_grad)  # bfloat16: equal after rounding to bfloat16


def test_weight_decay_applies_to_matrices_only_and_covers_every_parameter_once():
    model = GPTModel(TINY)  # tied: the output head is the token embedding
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert any(p is model.tok_emb.weight for p in decay["params"])  # embeddings are decayed
    assert any(p is model.blocks[0].norm1.weight for p in no_decay["params"])
    ids = [id(p) for p in decay["params"] + no_decay["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))


def test_learning_rate_warms_up_linearly_then_decays_along_a_cosine():
    lrs = [lr_at(s, max_lr=1.0, min_lr=0.1, warmup_steps=10, total_steps=110) for s in range(111)]
    assert lrs[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lrs[10] == pytest.approx(1.0) and lrs[60] == pytest.approx(0.55) and lrs[110] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_one_step_lowers_the_loss_on_a_fixed_batch(data):
    torch.manual_seed(0)
    model = GPTModel(TINY)
    batch = batches_for_step(data[0], 0, 0, 8, TINY.context_length)
    optimizer = make_optimizer(model, lr=1e-2)
    before = evaluate_batch(model, batch)
    loss, grad_norm = train_step(model, optimizer, batch, lr=1e-2, grad_clip=1.0)
    assert math.isfinite(grad_norm) and grad_norm > 0
    assert evaluate_batch(model, batch) < before
    assert all(p.grad is None for p in model.parameters())  # zeroed for the next step


def evaluate_batch(model, batch) -> float:
    model.eval()
    with torch.no_grad():
        loss = cross_entropy_loss(model(batch[0][0]), batch[0][1]).item()
    model.train()
    return loss


def test_gradient_accumulation_equals_one_big_batch(data):
    torch.manual_seed(0)
    big = GPTModel(replace(TINY, dropout=0.0))
    accumulated = GPTModel(big.cfg)
    accumulated.load_state_dict(big.state_dict())
    (x, y), = batches_for_step(data[0], 0, 0, 8, 8)
    train_step(big, make_optimizer(big, 1e-2), [(x, y)], lr=1e-2, grad_clip=100.0)
    train_step(accumulated, make_optimizer(accumulated, 1e-2), [(x[:4], y[:4]), (x[4:], y[4:])], lr=1e-2, grad_clip=100.0)
    for a, b in zip(big.parameters(), accumulated.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_evaluation_is_deterministic_and_leaves_the_mode_alone(data):
    model = GPTModel(TINY).train()
    first = evaluate(model, data[1], TINY.context_length, max_windows=5)
    assert evaluate(model, data[1], TINY.context_length, max_windows=5) == first and model.training


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_refused_evaluation_leaves_the_mode_alone(data, mode):
    model = GPTModel(TINY).train(mode == "train")
    with pytest.raises(ValueError, match=r"data holds token id \d+, outside the vocabulary \(0..60\)"):
        evaluate(model, data[1] + VOCAB, TINY.context_length)
    with pytest.raises(ValueError, match="context_length 9 exceeds the model's context of 8 tokens"):
        evaluate(model, data[1], TINY.context_length + 1)
    assert model.training == (mode == "train")


def test_autocast_dtype_follows_the_precision_option():
    assert autocast_dtype("cpu", "float32") is None
    expected = torch.bfloat16 if cpu_computes_bfloat16() else None
    assert autocast_dtype("cpu") is expected
    if expected is not None:
        assert autocast_dtype("cpu", "bfloat16") is torch.bfloat16
    else:
        with pytest.raises(ValueError, match="precision 'bfloat16' needs a CPU"):
            autocast_dtype("cpu", "bfloat16")


def test_bfloat16_is_not_chosen_when_torch_is_limited_to_avx2_kernels():
    # attention's bfloat16 kernel needs AVX-512: with ATEN_CPU_CAPABILITY=avx2 it fails, so "auto" must pick float32
    code = ("import torch; from gpt2lib.training.trainer import autocast_dtype\n"
            "print(autocast_dtype('cpu'))\n"
            "try:\n    autocast_dtype('cpu', 'bfloat16')\nexcept ValueError as error:\n    print(error)")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    lines = result.stdout.splitlines()
    assert lines[0] == "None", result.stderr
    assert "PyTorch uses AVX2 kernels here" in lines[1]


# --- checkpoints --------------------------------------------------------------------------------

def test_a_resumed_run_equals_an_uninterrupted_one_bit_for_bit(data, tmp_path):
    straight = new_trainer(data)
    assert straight.fit(progress=False)
    first = new_trainer(data)
    assert not first.fit(progress=False, stop=lambda: first.step == 5, checkpoint_path=tmp_path / "ck.pt")
    torch.manual_seed(999)  # someone else uses the global generator in between
    resumed = Trainer.from_checkpoint(tmp_path / "ck.pt", *data)
    assert resumed.step == 5
    assert resumed.fit(progress=False)
    assert torch.equal(torch.tensor(straight.history["train_loss"]), torch.tensor(resumed.history["train_loss"]))
    assert straight.history == resumed.history  # evaluations and learning rates too
    assert states_equal(straight.model.state_dict(), resumed.model.state_dict())
    a, b = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)


def test_a_run_configured_with_numpy_numbers_saves_a_checkpoint_that_resumes(data, tmp_path):
    np = pytest.importorskip("numpy")
    tcfg = TrainConfig(steps=np.int64(4), batch_size=np.int32(4), lr=np.float64(1e-2), min_lr=np.float32(1e-3),
                       warmup_steps=np.int64(2), weight_decay=np.float64(0.1), seed=np.int64(7),
                       precision=np.str_("float32"))
    cfg = GPTConfig(vocab_size=np.int64(VOCAB), context_length=np.int64(8), emb_dim=np.int64(16), n_heads=np.int64(2),
                    n_layers=np.int64(2), dropout=np.float64(0.1))
    assert all(type(value) in (int, float, str, bool) for value in [*asdict(tcfg).values(), *asdict(cfg).values()])
    trainer = new_trainer(data, tcfg, cfg)
    trainer.fit(progress=False, max_seconds=1e-9, checkpoint_path=tmp_path / "run.pt")  # a checkpoint at step 0
    resumed = Trainer.from_checkpoint(tmp_path / "run.pt", *data)
    assert resumed.fit(progress=False) and resumed.tcfg == tcfg and resumed.model.cfg == cfg


def all_finite(state: dict) -> bool:
    return all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def test_a_diverging_run_stops_with_a_clear_error_and_keeps_its_last_finite_checkpoint(data, tmp_path):
    trainer = new_trainer(data, replace(TINY_RUN, lr=1e30, min_lr=0.0, warmup_steps=0))
    with pytest.raises(TrainingDivergedError, match=r"loss of step 2 is nan at learning rate .*Lower the learning"):
        trainer.fit(progress=False, checkpoint_path=tmp_path / "run.pt", checkpoint_interval=1)
    saved = load_checkpoint(tmp_path / "run.pt")
    assert saved["step"] == 1 and all_finite(saved["model"])  # the checkpoint of step 1, before the NaN
    assert all(math.isfinite(loss) for loss in trainer.history["train_loss"])  # the NaN is not recorded
    with pytest.raises(ValueError, match="cannot write the checkpoint .*NaN or infinite"):
        trainer.save(tmp_path / "diverged.pt")  # the diverged weights are never saved
    assert not (tmp_path / "diverged.pt").exists()


def test_the_command_stops_a_diverging_run_without_exporting_it(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="error: the training diverged: .*Lower the learning rate"):
        train_command.main([*TINY_ARGS, "--steps", "6", "--lr", "1e30", "--min-lr", "0", "--warmup-steps", "0",
                            "--checkpoint-interval", "1", "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no model/, summary.json or plot
    assert all_finite(load_checkpoint(out / "checkpoint.pt")["model"])


def test_a_time_budget_stops_at_a_step_boundary_and_the_run_resumes(data, tmp_path):
    trainer = new_trainer(data)
    assert not trainer.fit(max_seconds=1e-9, progress=False, checkpoint_path=tmp_path / "ck.pt")
    assert trainer.step == 0 and load_checkpoint(tmp_path / "ck.pt")["step"] == 0
    assert Trainer.from_checkpoint(tmp_path / "ck.pt", *data).fit(progress=False)


def test_a_crash_during_a_save_leaves_the_previous_checkpoint(data, tmp_path, monkeypatch):
    trainer = new_trainer(data)
    trainer.fit(progress=False, stop=lambda: trainer.step == 2, checkpoint_path=tmp_path / "ck.pt")
    trainer.train_one_step()
    real_save = torch.save

    def save_half_then_crash(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.truncate(100)  # half-written...
        raise OSError("disk full")  # ...and the process fails

    monkeypatch.setattr(torch, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(tmp_path / "ck.pt")
    monkeypatch.setattr(torch, "save", real_save)

    def crash_before_the_rename(*args):
        raise OSError("crash before the rename")

    monkeypatch.setattr(os, "replace", crash_before_the_rename)
    with pytest.raises(OSError, match="before the rename"):
        trainer.save(tmp_path / "ck.pt")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "ck.pt")["step"] == 2  # the last good checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary files left behind


def test_unreadable_or_foreign_checkpoints_are_refused(data, tmp_path):
    with pytest.raises(TrainingCheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    trainer = new_trainer(data)
    trainer.save(tmp_path / "ck.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((tmp_path / "ck.pt").read_bytes()[:500])
    with pytest.raises(TrainingCheckpointError, match="cannot be read"):
        load_checkpoint(truncated)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(TrainingCheckpointError, match="not a gpt2lib training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(TrainingCheckpointError, match="same train and validation splits"):
        Trainer.from_checkpoint(tmp_path / "ck.pt", data[0][:900], data[1])
    atomic_write(tmp_path / "code.pt", lambda f: torch.save({"format": print}, f))
    with pytest.raises(TrainingCheckpointError, match="it was not loaded, because loading it could run code"):
        load_checkpoint(tmp_path / "code.pt")  # weights_only=True: no arbitrary objects


def set_in(state: dict, keys: tuple, value) -> None:
    """state[keys[0]][keys[1]]... = value, or del it when value is None."""
    for key in keys[:-1]:
        state = state[key]
    if value is None:
        del state[keys[-1]]
    else:
        state[keys[-1]] = value


CPU_RNG = torch.get_rng_state()
CORRUPTIONS = [  # (what to change: keys, value; None deletes), the error's text after the file name
    ((("model_config", "emb_dim"), 32),
     r"field 'model' does not fit field 'model_config' \(\d+ mismatches\): tok_emb.weight has shape \(61, 16\), "
     r"the config implies \(61, 32\);"),
    ((("model_config", "n_layers"), 3), r"field 'model' does not fit .*blocks\.2\.norm1\.weight is missing"),
    ((("model_config", "n_layers"), 1), r"field 'model' does not fit .*blocks\.1\.norm1\.weight is not a weight"),
    ((("model", "pos_emb.weight"), torch.zeros(7, 16)),
     r"field 'model' does not fit .*\(1 mismatch\): pos_emb\.weight has shape \(7, 16\), the config implies "
     r"\(8, 16\)$"),
    ((("model", "pos_emb.weight"), None), r"field 'model' does not fit .*pos_emb\.weight is missing"),
    ((("model_config", "n_heads"), 3), r"field 'model_config' is not a valid GPTConfig"),
    ((("model_config", "flavour"), "x"), r"field 'model_config' is not a valid GPTConfig"),
    ((("tie_weights",), "yes"), r"field 'tie_weights' must be True or False"),
    ((("model", "pos_emb.weight"), torch.full((8, 16), math.nan)), r"field 'model' holds NaN or infinite .*pos_emb"),
    ((("model", "final_norm.weight"), torch.full((16,), math.inf)), r"field 'model' holds NaN or infinite"),
    ((("step",), -3), r"field 'step' must be an integer in 0\.\.8 \(the run's total steps\), got -3"),
    ((("step",), "five"), r"field 'step' must be an integer in 0\.\.8 .*got 'five'"),
    ((("step",), 9), r"field 'step' must be an integer in 0\.\.8 .*got 9"),
    ((("step",), 2.0), r"field 'step' must be an integer"),
    ((("train_config", "steps"), "8"), r"field 'train_config' has no valid 'steps'"),
    ((("optimizer", "param_groups"), [{"params": [0, 1]}]), r"field 'optimizer' is for other parameters"),
    ((("optimizer", "state", 0, "exp_avg"), torch.zeros(3)), r"field 'optimizer': state\[0\]\['exp_avg'\] has shape"),
    ((("optimizer", "state", 99), {}), r"field 'optimizer': state entry 99 belongs to no parameter"),
    ((("optimizer", "state", 0, "exp_avg"), "zeros"), r"field 'optimizer': state\[0\]\['exp_avg'\] is not a tensor"),
    ((("optimizer",), [1, 2]), r"field 'optimizer' is not an optimizer state"),
    ((("rng", 0, "cpu"), CPU_RNG[:100]), r"field 'rng\[0\]' must hold a 'cpu' random state .*shape \(100,\)"),
    ((("rng", 0, "cpu"), CPU_RNG.float()), r"field 'rng\[0\]' must hold a 'cpu' random state .*torch\.float32"),
    ((("rng", 0, "cpu"), "seed 7"), r"field 'rng\[0\]' must hold a 'cpu' random state .*got str"),
    ((("rng", 0, "cuda"), [torch.zeros(2, 2)]), r"field 'rng\[0\]' has a 'cuda' entry"),
]


@pytest.mark.parametrize("change, match", CORRUPTIONS,
                         ids=lambda c: ".".join(map(str, c[0])) if isinstance(c, tuple) else None)
def test_checkpoints_whose_contents_do_not_fit_are_refused_naming_the_file_and_the_field(data, tmp_path, change,
                                                                                          match):
    trainer = new_trainer(data)
    trainer.fit(progress=False, stop=lambda: trainer.step == 2, checkpoint_path=tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    set_in(state, *change)
    torch.save(with_checksum(state), tmp_path / "bad.pt")  # a forged file: its checksum fits, its contents do not
    before = torch.get_rng_state()
    with pytest.raises(TrainingCheckpointError, match=f"^{tmp_path / 'bad.pt'}: {match}"):
        Trainer.from_checkpoint(tmp_path / "bad.pt", *data)
    assert torch.equal(torch.get_rng_state(), before)  # refused before anything changed


def test_a_checkpoint_changed_after_its_save_fails_its_checksum(data, tmp_path):
    trainer = new_trainer(data)
    trainer.fit(progress=False, stop=lambda: trainer.step == 2, checkpoint_path=tmp_path / "ck.pt")
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    state["model"]["pos_emb.weight"].view(torch.int32)[0, 0] ^= 1  # one flipped bit, still a finite weight
    torch.save(state, tmp_path / "flipped.pt")
    with pytest.raises(TrainingCheckpointError, match=r"flipped\.pt: field 'checksum' does not match the contents"):
        load_checkpoint(tmp_path / "flipped.pt")
    del state["checksum"]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(TrainingCheckpointError, match="is incomplete: it lacks checksum"):
        load_checkpoint(tmp_path / "old.pt")
    raw = bytearray((tmp_path / "ck.pt").read_bytes())
    start = raw.find(state["model"]["blocks.0.mlp.fc.weight"].numpy().tobytes()[:64])
    assert start > 0
    raw[start + 5] ^= 0x10  # a byte flipped on the disk, inside a weight's data
    (tmp_path / "disk.pt").write_bytes(raw)
    with pytest.raises(TrainingCheckpointError, match="disk.pt"):
        load_checkpoint(tmp_path / "disk.pt")  # the checksum, or the zip's own CRC, catches it


# --- Hugging Face export -------------------------------------------------------------------------

@pytest.mark.parametrize("qkv_bias, tie_weights", [(False, True), (True, True), (False, False)])
def test_the_hugging_face_export_loads_with_equal_logits(tmp_path, qkv_bias, tie_weights):
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(3)
    cfg = GPTConfig(vocab_size=VOCAB, context_length=8, emb_dim=16, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=qkv_bias)
    model = GPTModel(cfg, tie_weights=tie_weights).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # biases and norms away from their initial 0 and 1
    export_hf(model, tmp_path / "hf")
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["tie_word_embeddings"] is tie_weights and config["n_layer"] == 2
    assert ("lm_head.weight" in hf_state_dict(model)) is not tie_weights
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = model(ids)
        hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
        assert torch.allclose(hf(ids).logits, expected, atol=1e-4)
        assert torch.allclose(from_pretrained(tmp_path / "hf")(ids), expected, atol=1e-4)


# --- the command ---------------------------------------------------------------------------------

TINY_ARGS = ["--layers", "1", "--emb-dim", "16", "--heads", "2", "--context", "8", "--batch-size", "2",
             "--eval-interval", "2", "--eval-windows", "2", "--final-eval-windows", "2", "--sample-tokens", "5",
             "--no-progress"]


def test_the_command_runs_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "gpt2lib.train", *TINY_ARGS, "--steps", "3", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "validation loss" in result.stdout and "sample" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "loss.png", "model", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["step"] == 3 and math.isfinite(summary["val_loss"])
    model = from_pretrained(out / "model")
    assert (model.cfg.n_layers, model.cfg.emb_dim, model.cfg.context_length) == (1, 16, 8)


def test_the_command_stops_and_resumes_to_the_same_losses(tmp_path, capsys):
    assert train_command.main([*TINY_ARGS, "--steps", "4", "--out", str(tmp_path / "straight")]) == 0
    assert train_command.main([*TINY_ARGS, "--steps", "4", "--minutes", "1e-9", "--out", str(tmp_path / "split")]) == 0
    assert "--resume" in capsys.readouterr().out  # stopped early: it says how to continue
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 0
    with pytest.raises(SystemExit, match="exists"):
        train_command.main([*TINY_ARGS, "--steps", "4", "--out", str(tmp_path / "split")])
    with pytest.raises(SystemExit, match="differ from them: lr "):
        train_command.main(["--out", str(tmp_path / "split"), "--resume", "--lr", "0.1"])
    (tmp_path / "split" / ".checkpoint.pt.abc1234_.tmp").write_bytes(b"PK\x03\x04half")  # as a killed save leaves
    assert train_command.main([*TINY_ARGS, "--steps", "4", "--out", str(tmp_path / "split"), "--resume", "auto"]) == 0
    assert "removed 1 unfinished file(s)" in capsys.readouterr().out
    assert not any((tmp_path / "split").glob("*.tmp"))
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert resumed["step"] == 4 and straight["history"] == resumed["history"]
    assert states_equal(straight["model"], resumed["model"])


def test_the_command_refuses_bad_options_clearly(tmp_path):
    with pytest.raises(SystemExit, match="TrainConfig.steps must be a positive integer"):
        train_command.main([*TINY_ARGS, "--steps", "0", "--out", str(tmp_path / "a")])
    with pytest.raises(SystemExit, match="divisible"):
        train_command.main([*TINY_ARGS, "--heads", "3", "--steps", "2", "--out", str(tmp_path / "b")])
    with pytest.raises(SystemExit, match="no checkpoint"):
        train_command.main(["--out", str(tmp_path / "c"), "--resume"])
    with pytest.raises(SystemExit):  # argparse: invalid choice
        train_command.main(["--out", str(tmp_path / "c"), "--resume", "maybe"])


def test_resume_auto_starts_a_new_run_and_continues_a_saved_one(tmp_path, capsys):
    args = [*TINY_ARGS, "--steps", "2", "--sample-tokens", "0", "--out", str(tmp_path / "run"), "--resume", "auto"]
    assert train_command.main(args) == 0
    assert "starting at step 0" in capsys.readouterr().out
    assert train_command.main(args) == 0  # the same command again: a finished run, left as it is
    assert "is finished (step 2 of 2) and its files are complete: nothing to do" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="differ from them: n_layers"):
        train_command.main([*args, "--layers", "2"])


@pytest.fixture()
def no_data(monkeypatch):
    """The command may not read its data: a refusal must come before any work."""
    def load_corpus(*args, **kwargs):
        raise AssertionError("the data was loaded before the options were checked")
    monkeypatch.setattr(train_command, "load_corpus", load_corpus)


@pytest.mark.parametrize("option", [["--minutes", "inf"], ["--minutes", "nan"], ["--minutes", "-1"],
                                    ["--minutes", "1e308"]])  # 1e308 minutes are an infinite number of seconds
def test_the_command_refuses_a_time_limit_that_is_not_finite(tmp_path, capsys, no_data, option):
    with pytest.raises(SystemExit):
        train_command.main([*TINY_ARGS, *option, "--out", str(tmp_path / "run")])
    assert "--minutes must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


UNAVAILABLE_DEVICES = ["meta", "not-a-device"] + (["cuda"] if not torch.cuda.is_available() else []) + (
    ["mps"] if not torch.backends.mps.is_available() else [])


@pytest.mark.parametrize("option, match", [
    (["--prompt", ""], "--prompt is empty"),
    (["--prompt", "ROMEO<|endoftext|>"], "--prompt cannot be encoded: .*endoftext"),
    (["--prompt", "\udcff"], "--prompt cannot be encoded: .*not valid Unicode"),
    *[(["--device", device], "--device") for device in UNAVAILABLE_DEVICES],
    (["--steps", "0"], "TrainConfig.steps must be a positive integer"),
])
def test_the_command_refuses_prompts_devices_and_options_before_reading_data(tmp_path, no_data, option, match):
    with pytest.raises(SystemExit, match=match):
        train_command.main([*TINY_ARGS, *option, "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


@pytest.fixture()
def one_gpu(monkeypatch):
    """A machine with one CUDA GPU, as far as gpt2lib's checks can tell (none is used)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_a_gpu_number_beyond_the_machines_gpus_is_refused(tmp_path, no_data, one_gpu, monkeypatch):
    from gpt2lib.training import distributed
    from gpt2lib.validation import check_device

    assert check_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match=r"device 'cuda:1' asks for GPU number 1, but there are 1 CUDA GPU\(s\) "
                                         r"here, cuda:0 to cuda:0"):
        check_device("cuda:1")
    with pytest.raises(ValueError, match="device 'cuda:2' asks for GPU number 2"):
        from_pretrained(tmp_path, device="cuda:2")  # before the directory is even looked at
    with pytest.raises(SystemExit, match="--device 'cuda:3' asks for GPU number 3"):
        train_command.main([*TINY_ARGS, "--device", "cuda:3", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(distributed, "_stop_when_torchrun_dies", lambda: None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's second process on a machine with one GPU
    with pytest.raises(ValueError, match="LOCAL_RANK 1 needs cuda:1, but this machine has 1 GPU"):
        distributed.setup("cuda")


def test_without_a_sample_the_prompt_is_not_needed(tmp_path):
    args = [*TINY_ARGS, "--steps", "1", "--sample-tokens", "0", "--prompt", "", "--out", str(tmp_path / "run")]
    assert train_command.main(args) == 0


def test_a_refused_command_leaves_the_thread_count_and_the_random_state_alone(tmp_path):
    out = str(tmp_path / "run")
    assert train_command.main([*TINY_ARGS, "--steps", "2", "--sample-tokens", "0", "--out", out]) == 0
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    refusals = [[*TINY_ARGS, "--steps", "0", "--out", str(tmp_path / "new")],  # a bad option
                ["--out", out, "--resume", "--lr", "0.5"],  # options that differ from the saved run's
                ["--out", out, "--resume", "auto", "--layers", "2"]]
    for argv in refusals:
        with pytest.raises(SystemExit, match="error: "):
            train_command.main([*argv, "--threads", str(threads + 1)])
        assert torch.get_num_threads() == threads, argv
        assert torch.equal(torch.get_rng_state(), rng), argv


# --- bad arguments --------------------------------------------------------------------------------

def raised_by_gpt2lib(error_info) -> bool:
    """The innermost frame that raised is in gpt2lib's own code."""
    return GPT2LIB in Path(traceback.extract_tb(error_info.tb)[-1].filename).resolve().parents


@pytest.mark.parametrize("call, match", [
    (lambda d: TrainConfig(steps=0), "TrainConfig.steps must be a positive integer"),
    (lambda d: TrainConfig(lr=float("nan")), "TrainConfig.lr must be a finite number"),
    (lambda d: TrainConfig(min_lr=1.0, lr=0.1), "must not exceed TrainConfig.lr"),
    (lambda d: TrainConfig(steps=5, warmup_steps=10), "warmup_steps"),
    (lambda d: TrainConfig(precision="float16"), "precision must be one of"),
    (lambda d: TrainConfig(seed=-1), "seed must be an integer"),
    (lambda d: tokenize(b"bytes"), "text must be a str"),
    (lambda d: train_val_split(torch.arange(10), 1.5), "val_fraction"),
    (lambda d: train_val_split(torch.arange(10.0)), "integer token ids"),
    (lambda d: windows_at(torch.arange(10), torch.tensor([5]), 5), "window starts"),
    (lambda d: random_windows(torch.arange(8), 2, 8, torch.Generator()), "needs at least 9"),
    (lambda d: random_windows(torch.arange(20), 2, 8, None), "CPU torch.Generator"),
    (lambda d: batches_for_step(torch.arange(20), -1, 0, 2, 4), "step must be an integer"),
    (lambda d: cross_entropy_loss(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long)), "one target per position"),
    (lambda d: cross_entropy_loss(torch.zeros(2, 3, 5), torch.full((2, 3), 5)), r"token id 5, .*\(0\.\.4\)"),
    (lambda d: cross_entropy_loss(torch.zeros(2, 3, 5), torch.full((2, 3), -1)), r"token id -1, .*\(0\.\.4\)"),
    (lambda d: cross_entropy_loss(torch.zeros(2, 3, 5), torch.full((2, 3), -100)), "no ignore index: -100"),
    (lambda d: chunked_cross_entropy(torch.zeros(2, 3, 5), torch.full((2, 3), -100)), "no ignore index: -100"),
    (lambda d: chunked_cross_entropy(torch.zeros(2, 3, 5), torch.full((2, 3), 7, dtype=torch.int32)), "token id 7"),
    (lambda d: lr_at(0, 1e-3, 1e-2, 0, 10), "min_lr"),
    (lambda d: lr_at(0, 1e-3, 0.0, 20, 10), "warmup_steps"),
    (lambda d: autocast_dtype("cpu", "fp8"), "precision must be one of"),
    (lambda d: Trainer(torch.nn.Linear(2, 2), TINY_RUN, *d), "gpt2lib GPTModel"),
    (lambda d: Trainer(GPTModel(TINY), "fast", *d), "TrainConfig"),
    (lambda d: Trainer(GPTModel(TINY), TINY_RUN, d[0] + VOCAB, d[1]), "outside the vocabulary"),
    (lambda d: Trainer(GPTModel(TINY), TINY_RUN, d[0], d[1][:5]), "val_data has 5 tokens"),
    (lambda d: Trainer(GPTModel(TINY), TINY_RUN, *d).fit(progress="yes"), "progress must be True or False"),
    (lambda d: Trainer(GPTModel(TINY), TINY_RUN, *d).fit(max_seconds=-1), "max_seconds"),
    (lambda d: export_hf(GPTModel(TINY), GPT2LIB / "train.py"), "is a file, not a folder"),
])
def test_bad_arguments_get_clear_errors_from_gpt2lib(data, call, match):
    with pytest.raises((TypeError, ValueError), match=match) as info:
        call(data)
    assert raised_by_gpt2lib(info), f"raised outside gpt2lib: {info.value!r}"


def test_keeping_freed_memory_is_accepted_by_glibc_on_linux():
    if sys.platform != "linux" or os.confstr("CS_GNU_LIBC_VERSION") is None:
        pytest.skip("mallopt is glibc's")
    code = "from gpt2lib.training.cli import keep_freed_memory; print(keep_freed_memory())"  # in its own process
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True", result.stderr


# --- the recorded run on the site's training page --------------------------------------------------------------


def test_the_training_page_quotes_the_recorded_run_of_the_default_command():
    summary = json.loads((ROOT / "assets" / "results" / "shakespeare_summary.json").read_text())
    assert summary["model_config"] == asdict(GPTConfig(**train_command.MODEL_DEFAULTS))  # made by the defaults
    assert summary["train_config"] == asdict(TrainConfig(**train_command.TRAIN_DEFAULTS))
    assert summary["finished"] and summary["session_steps"] == summary["steps"]  # in one session
    assert summary["val_loss"] <= 5.0 and summary["session_seconds"] <= 20 * 60  # the target
    page = (ROOT / "site" / "training.md").read_text()
    assert f"| training time | {summary['session_seconds'] / 60:.1f} minutes" in page
    assert f"| speed | {summary['tokens_per_s']:,.0f} tokens/s |" in page
    assert f"| final validation loss | {summary['val_loss']:.2f} on the whole validation split" in page
    assert summary["sample"] in page
    assert "(/assets/results/shakespeare_loss.png)" in page and (ROOT / "assets/results/shakespeare_loss.png").is_file()
