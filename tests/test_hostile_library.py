"""What a hostile test of the training code found, each case refused at the door by gpt2lib itself, before any work:
a checkpoint path that no save could write, an evaluation dtype autocast does not take, checkpoints whose contents
were edited (with a recomputed checksum) or that are not checkpoints at all, sample's edges, and devices gpt2lib does
not run on. A refused call changes nothing: random state, thread count, model mode, files."""

import math
import os
import pickle
import re
import traceback
import warnings
from pathlib import Path

import pytest
import torch

from gpt2lib import GPTConfig, GPTModel, from_pretrained, generate
from gpt2lib.tokenizer import get_tokenizer
from gpt2lib.training.checkpoint import load_checkpoint
from gpt2lib.training.trainer import Trainer, TrainConfig, evaluate, sample
from gpt2lib.training.validation import TrainingCheckpointError, with_checksum
from gpt2lib.validation import check_device

GPT2LIB = Path(__file__).resolve().parent.parent / "gpt2lib"
VOCAB = 61
TINY = GPTConfig(vocab_size=VOCAB, context_length=8, emb_dim=16, n_heads=2, n_layers=1, dropout=0.1)
TINY_RUN = TrainConfig(steps=4, batch_size=2, lr=1e-2, min_lr=1e-3, warmup_steps=1, eval_interval=2,
                       eval_windows=2, seed=7, precision="float32")


@pytest.fixture(scope="module")
def data():
    ids = torch.randint(0, VOCAB, (40,), generator=torch.Generator().manual_seed(0)).repeat(10)  # (400,)
    return ids[:300], ids[300:]


def new_trainer(data) -> Trainer:
    torch.manual_seed(TINY_RUN.seed)
    return Trainer(GPTModel(TINY), TINY_RUN, *data)


def session() -> tuple:
    """What a refused call must leave as it found it."""
    return bytes(torch.get_rng_state().numpy()), torch.get_num_threads(), torch.is_grad_enabled()


def raised_by_gpt2lib(error_info) -> bool:
    """The innermost frame that raised is in gpt2lib's own code."""
    return GPT2LIB in Path(traceback.extract_tb(error_info.tb)[-1].filename).resolve().parents


# --- D: fit's checkpoint path, checked before the training -------------------------------------------------------

def test_a_checkpoint_path_that_is_a_directory_is_refused_before_training(data, tmp_path):
    trainer, before = new_trainer(data), session()
    with pytest.raises(ValueError, match=r"checkpoint_path '.*' is a directory; it must be the path of a file, e\.g\. "
                                         r"'.*checkpoint\.pt'") as info:
        trainer.fit(progress=False, checkpoint_path=tmp_path)
    assert raised_by_gpt2lib(info) and trainer.step == 0 and not trainer.history["eval_step"]
    assert session() == before and list(tmp_path.iterdir()) == []


def test_a_checkpoint_path_inside_a_file_is_refused_before_training(data, tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    trainer = new_trainer(data)
    with pytest.raises(ValueError, match=r"cannot be written: '.*notes\.txt' is a file, not a directory"):
        trainer.fit(progress=False, checkpoint_path=tmp_path / "notes.txt" / "run" / "ck.pt")
    assert trainer.step == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_a_checkpoint_path_in_a_read_only_directory_is_refused_before_training(data, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    trainer = new_trainer(data)
    try:
        with pytest.raises(ValueError, match=r"the directory '.*locked' is not writable"):
            trainer.fit(progress=False, checkpoint_path=locked / "sub" / "ck.pt")
    finally:
        locked.chmod(0o700)
    assert trainer.step == 0


def test_a_checkpoint_path_in_folders_still_to_be_made_is_accepted(data, tmp_path):
    trainer = new_trainer(data)
    trainer.fit(progress=False, stop=lambda: trainer.step == 1, checkpoint_path=tmp_path / "a" / "b" / "ck.pt")
    assert load_checkpoint(tmp_path / "a" / "b" / "ck.pt")["step"] == 1


# --- E: evaluate's dtype, checked before the model is put in eval mode ------------------------------------------

@pytest.mark.parametrize("dtype", ["bf16", torch.float32, torch.int64, 16])
def test_evaluate_refuses_a_dtype_that_autocast_does_not_take_and_leaves_the_mode_alone(data, dtype):
    model = GPTModel(TINY).train()
    with pytest.raises(ValueError, match=r"dtype must be None \(float32 throughout\) or one of autocast's dtypes, "
                                         r"torch\.bfloat16 or torch\.float16, got") as info:
        evaluate(model, data[1], 8, dtype=dtype)
    assert raised_by_gpt2lib(info) and model.training


def test_evaluate_takes_autocasts_dtypes(data):
    model = GPTModel(TINY)
    for dtype in (None, torch.bfloat16, torch.float16):
        assert math.isfinite(evaluate(model, data[1], 8, max_windows=2, dtype=dtype))


# --- F: a checkpoint's contents, all checked before anything changes --------------------------------------------

@pytest.fixture(scope="module")
def saved(data, tmp_path_factory) -> dict:
    """A real checkpoint's contents, after 2 of 4 steps."""
    path = tmp_path_factory.mktemp("run") / "ck.pt"
    trainer = new_trainer(data)
    trainer.fit(progress=False, stop=lambda: trainer.step == 2, checkpoint_path=path)
    return torch.load(path, weights_only=True)


def group(state, key, value):
    state["optimizer"]["param_groups"][0][key] = value


def moment(state, key, value):
    state["optimizer"]["state"][0][key] = value(state["optimizer"]["state"][0][key]) if callable(value) else value


OPT, GROUP, HISTORY = r"field 'optimizer': ", r"field 'optimizer': param_groups\[0\]", r"field 'history': "
EDITS = [  # (what the edit does to the checkpoint's contents, the error's text after the file name)
    (lambda s: group(s, "betas", "xy"),
     GROUP + r"\['betas'\] is 'xy'; gpt2lib's AdamW for this run has \(0\.9, 0\.95\)"),
    (lambda s: group(s, "betas", (0.5, 0.5)), GROUP + r"\['betas'\] is \(0\.5, 0\.5\)"),
    (lambda s: group(s, "lr", "fast"), GROUP + r"\['lr'\] must be a finite number >= 0, got 'fast'"),
    (lambda s: group(s, "lr", -1.0), GROUP + r"\['lr'\] must be a finite number >= 0"),
    (lambda s: group(s, "eps", -1.0), GROUP + r"\['eps'\] is -1\.0; gpt2lib's AdamW for this run has 1e-08"),
    (lambda s: group(s, "weight_decay", math.nan), GROUP + r"\['weight_decay'\] is nan; .* has 0\.1"),
    (lambda s: group(s, "weight_decay", 0.5), GROUP + r"\['weight_decay'\] is 0\.5"),
    (lambda s: group(s, "amsgrad", True), GROUP + r"\['amsgrad'\] is True; .* has False"),
    (lambda s: group(s, "maximize", True), GROUP + r"\['maximize'\] is True"),
    (lambda s: group(s, "bogus", 1), GROUP + r" has keys that gpt2lib's AdamW does not: bogus"),
    (lambda s: s["optimizer"]["param_groups"][1].pop("eps"), OPT + r"param_groups\[1\] lacks eps"),
    (lambda s: moment(s, "exp_avg_sq", lambda t: -t - 1), OPT + r"state\[0\]\['exp_avg_sq'\] holds negative values"),
    (lambda s: moment(s, "step", torch.tensor(math.nan)), OPT + r"state\[0\]\['step'\] holds NaN or infinite values"),
    (lambda s: moment(s, "step", torch.tensor(5.0)), OPT + r"state\[0\]\['step'\] is 5; the checkpoint is at step 2"),
    (lambda s: moment(s, "step", torch.tensor(2)), OPT + r"state\[0\]\['step'\] has dtype torch\.int64"),
    (lambda s: moment(s, "exp_avg", lambda t: t.bfloat16()),
     OPT + r"state\[0\]\['exp_avg'\] has dtype torch\.bfloat16; it needs its weight's, torch\.float32"),
    (lambda s: moment(s, "bogus", torch.zeros(())), OPT + r"state\[0\] must hold step, exp_avg, exp_avg_sq, got"),
    (lambda s: s["optimizer"]["state"].pop(0),
     OPT + r"state has no entry for parameter 0 \(1 missing in all\); after 2 steps AdamW has one for every parameter"),
    (lambda s: s["optimizer"].update(extra=1), r"field 'optimizer' is not an optimizer state"),
    (lambda s: s.update(history=5),
     r"field 'history' must be a dict with the keys train_loss, lr, eval_step, eval_train_loss, val_loss, got int"),
    (lambda s: s.update(history={"train_loss": []}), r"field 'history' must be a dict .*got \['train_loss'\]"),
    (lambda s: s["history"].update(train_loss="abc"), HISTORY + r"'train_loss' must be a list of finite numbers"),
    (lambda s: s["history"].update(val_loss=[math.nan] * len(s["history"]["val_loss"])),
     HISTORY + r"'val_loss' must be a list of finite numbers"),
    (lambda s: s["history"].update(lr=[True, False]), HISTORY + r"'lr' must be a list of finite numbers"),
    (lambda s: s["history"]["train_loss"].pop(), HISTORY + r"'train_loss' has 1 values; after 2 steps it has 2"),
    (lambda s: s["history"]["eval_train_loss"].pop(), HISTORY + r"'eval_step', .* their lengths differ"),
    (lambda s: s["history"]["eval_step"].__setitem__(0, 7), HISTORY + r"'eval_step' must hold steps in 0\.\.2"),
    (lambda s: s["rng"][0].update(cpu=torch.zeros_like(s["rng"][0]["cpu"])),
     r"field 'rng\[0\]' is not a random state that torch accepts \(Invalid mt19937 state\)"),
    (lambda s: s["train_config"].update(bogus=1), r"field 'train_config' is not a valid TrainConfig: .*'bogus'"),
    (lambda s: s["train_config"].update(lr="abc"),
     r"field 'train_config' is not a valid TrainConfig: TrainConfig\.lr must be a finite number"),
    (lambda s: s["train_config"].update(precision="float16"), r"field 'train_config' is not a valid TrainConfig"),
    (lambda s: s.update(data={"train_tokens": "x"}), r"field 'data' must be \{'train_tokens': n, 'val_tokens': m\}"),
    (lambda s: s.update(data=7), r"field 'data' must be"),
    (lambda s: s["model"].update({"final_norm.bias": s["model"]["final_norm.bias"].long()}),
     r"field 'model' must hold floating-point weights; these are not: final_norm\.bias \(torch\.int64\)"),
]


@pytest.mark.parametrize("edit, match", EDITS, ids=[match.replace("\\", "")[:70] for _, match in EDITS])
def test_an_edited_checkpoint_is_refused_naming_the_file_and_the_field_and_nothing_changes(data, saved, tmp_path,
                                                                                           edit, match):
    state = {key: value for key, value in torch.load(_write(saved, tmp_path / "ck.pt"), weights_only=True).items()}
    edit(state)
    path = _write(state, tmp_path / "edited.pt")  # with a recomputed checksum, as craft.py forges them
    before = session()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from torch on the way
        with pytest.raises(TrainingCheckpointError, match=f"^{re.escape(str(path))}: {match}"):
            Trainer.from_checkpoint(path, *data)
    assert session() == before


def _write(state: dict, path: Path) -> Path:
    torch.save(with_checksum({key: value for key, value in state.items() if key != "checksum"}), path)
    return path


def test_an_unedited_checkpoint_still_resumes(data, saved, tmp_path):
    trainer = Trainer.from_checkpoint(_write(saved, tmp_path / "ck.pt"), *data)
    assert trainer.step == 2 and trainer.fit(progress=False)


def test_a_checkpoint_of_a_run_that_has_not_stepped_yet_loads(data, tmp_path):
    trainer = new_trainer(data)
    trainer.save(tmp_path / "ck.pt")  # no optimizer state yet, an empty history
    assert Trainer.from_checkpoint(tmp_path / "ck.pt", *data).step == 0


# --- G: files that are not checkpoints at all -------------------------------------------------------------------

class RunsCode:
    """An object whose unpickling would create a file: what a malicious checkpoint could carry."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_files_that_are_not_checkpoints_get_gpt2libs_own_message_and_no_warning(tmp_path):
    marker = tmp_path / "code-ran"
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("hello, not a checkpoint\n")
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps({"format": RunsCode(marker)}, protocol=4))
    torch.save({"format": RunsCode(marker)}, tmp_path / "code.pt")
    cases = {
        "empty.pt": r"is not a checkpoint written by gpt2lib: it is an empty file$",
        "text.pt": r"is not a checkpoint written by gpt2lib: 24 bytes, not a zip archive",
        "pickle.pt": r"is not a checkpoint written by gpt2lib: \d+ bytes, not a zip archive",
        "code.pt": r"is not a checkpoint written by gpt2lib: it holds Python objects other than tensors and plain "
                   r"data, which gpt2lib never writes; it was not loaded, because loading it could run code$",
    }
    for name, match in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(TrainingCheckpointError, match=f"^{tmp_path / name} {match}") as info:
                load_checkpoint(tmp_path / name)
        assert "weights_only" not in str(info.value)  # never torch's advice to load it unsafely
    assert not marker.exists()


def test_a_truncated_checkpoint_says_it_is_damaged(data, tmp_path):
    trainer = new_trainer(data)
    trainer.save(tmp_path / "ck.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "ck.pt").read_bytes()[:2000])
    with pytest.raises(TrainingCheckpointError, match=r"cut\.pt cannot be read as a checkpoint: it is damaged or "
                                                      r"truncated \(\w+"):
        load_checkpoint(tmp_path / "cut.pt")


# --- H: sample --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"prompt": ""}, r"prompt is empty: the model needs at least one token to continue"),
    ({"prompt": 5}, r"prompt must be a str, got int"),
    ({"prompt": "<|endoftext|>ROMEO:"}, r"contains '<\|endoftext\|>', which sample does not encode: .* \[\[50256\]\]"),
    ({"seed": 2**70}, r"seed must be an integer in 0\.\.9223372036854775807 \(2\*\*63 - 1\), got 11805916207"),
    ({"seed": -1}, r"seed must be an integer in 0\.\."),
    ({"seed": 1.5}, r"seed must be an integer"),
    ({"temperature": -1}, r"temperature must be a finite number >= 0"),
    ({"temperature": 0, "top_k": "x"}, r"top_k must be a positive integer or None, got 'x'"),
    ({"top_k": 0}, r"top_k must be a positive integer or None, got 0"),
])
def test_sample_refuses_bad_arguments_clearly(kwargs, match):
    model, before = GPTModel(TINY).train(), session()
    with pytest.raises((TypeError, ValueError), match=match) as info:
        sample(model, **{"prompt": "\n", "max_new_tokens": 3, **kwargs})
    assert raised_by_gpt2lib(info) and model.training and session() == before


def test_sample_with_temperature_zero_is_greedy_whatever_top_k_says():
    model = GPTModel(GPTConfig(vocab_size=50257, context_length=16, emb_dim=16, n_heads=2, n_layers=1))
    prompt = torch.tensor([get_tokenizer().encode("ROMEO:")])
    greedy = get_tokenizer().decode(generate(model, prompt, 5)[0].tolist())
    assert sample(model, "ROMEO:", 5, temperature=0) == greedy  # with the default top_k=50, not an error
    assert sample(model, "ROMEO:", 5, temperature=0, top_k=None) == greedy
    assert sample(model, "ROMEO:", 5, seed=2**63 - 1)  # the largest seed


# --- I: devices gpt2lib runs on ---------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["xla", "vulkan", "hpu", "privateuseone", "xpu", "hip", "lazy", "mtia", "ipu",
                                    "ve", "fpga", "maia", "opengl", "ideep", "xla:0"])
def test_devices_gpt2lib_does_not_run_on_are_refused_naming_those_it_does(device):
    with pytest.raises(ValueError, match=rf"device '{device}' is not a device gpt2lib supports: use 'cpu', 'cuda' "
                                         r"or 'cuda:N' \(an NVIDIA GPU\), or 'mps' \(Apple's GPU\)"):
        check_device(device)


@pytest.mark.parametrize("device", ["cpu:99", "cpu:1", "mps:1"])
def test_a_device_number_that_does_not_exist_is_refused(device):
    with pytest.raises(ValueError, match=rf"device '{device}' does not exist: there is one \w+ device"):
        check_device(device)


def test_the_devices_that_exist_are_accepted_and_the_loaders_refuse_the_others(tmp_path):
    assert check_device("cpu") == torch.device("cpu") and check_device("cpu:0") == torch.device("cpu:0")
    with pytest.raises(ValueError, match=r"device 'meta' holds shapes but no values"):
        check_device("meta")
    with pytest.raises(ValueError, match=r"device 'xla' is not a device gpt2lib supports"):
        from_pretrained(tmp_path, device="xla")  # before the directory is even looked at


# --- found by a second hostile review ---------------------------------------------------------------------------

def test_export_hf_refuses_targets_it_cannot_write_or_would_overwrite_and_writes_nothing(tmp_path):
    from gpt2lib.hf.export import export_hf

    (tmp_path / "a_file").write_text("mine")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "config.json").write_text('{"mine": true}')
    cases = [("", "directory is empty"), (tmp_path / "a_file" / "sub", r"a_file is a file, not a folder"),
             (tmp_path / ("x" * 300), "cannot be written: File name too long"),
             (tmp_path / "theirs", r"config\.json exists and is not a GPT-2 model's config .*would replace it")]
    for directory, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            export_hf(GPTModel(TINY), directory)
        assert raised_by_gpt2lib(info)
    assert (tmp_path / "theirs" / "config.json").read_text() == '{"mine": true}'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file", "theirs"]
    export_hf(GPTModel(TINY), tmp_path / "ok")
    export_hf(GPTModel(TINY), tmp_path / "ok")  # an earlier GPT-2 export is replaced


def test_generate_refuses_an_endless_number_of_new_tokens():
    with pytest.raises(ValueError, match=r"max_new_tokens must be a non-negative integer, at most 1,000,000 .*got "
                                         r"1000000000000") as info:
        generate(GPTModel(TINY), torch.tensor([[1, 2]]), 10**12)
    assert raised_by_gpt2lib(info)


def test_finetune_doors_refuse_booleans_complex_lengths_huge_ids_and_bad_lora_targets():
    from gpt2lib.finetune import GPTClassifier, add_lora, pad_right
    from gpt2lib.finetune.lora import LoRALinear

    classifier = GPTClassifier(GPTModel(TINY), 3)
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    for lengths in (torch.tensor([True, True]), torch.tensor([1 + 0j, 2 + 0j])):
        with pytest.raises(ValueError, match=r"lengths must be an integer tensor of shape \(2,\)") as info:
            classifier(idx, lengths)
        assert raised_by_gpt2lib(info)
    with pytest.raises(ValueError, match=r"rows\[0\] must hold only ints in 0\.\.2\*\*63 - 1"):
        pad_right([[2**63]])
    from gpt2lib.finetune import train_classifier
    with pytest.raises(TypeError, match=r"classifier must be called as classifier\(idx, lengths\).*this Linear's"):
        train_classifier(torch.nn.Linear(2, 3), lambda step: None, 3)
    model = GPTModel(TINY)
    trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    for kwargs, match in [({"train": None}, "train must be a list of modules"),
                          ({"targets": ["attn.qkv", "attn.qkv"]}, "targets names a layer twice")]:
        with pytest.raises((TypeError, ValueError), match=match) as info:
            add_lora(model, **kwargs)
        assert raised_by_gpt2lib(info)
    assert not any(isinstance(module, LoRALinear) for module in model.modules())  # refused: nothing wrapped,
    assert all(p.requires_grad == trainable[name] for name, p in model.named_parameters())  # nothing frozen


def test_instruction_and_lora_doors_name_what_is_wrong_before_any_work():
    from gpt2lib.finetune import add_lora, encode_example, format_prompt, hidden_states, merge_lora, response_loss

    tokenizer, model = get_tokenizer(), GPTModel(TINY)
    mask = torch.tensor([[0, 0, 1, 1]])
    cases = [
        (lambda: encode_example(None, "i", "x", "y"), TypeError, "tokenizer must be a tokenizer such as"),
        (lambda: encode_example(tokenizer, "i", "x", "y", eos_id=10**9), ValueError,
         r"eos_id must be a token id in 0\.\.50256, got 1000000000"),
        (lambda: format_prompt(None, 5), TypeError, "instruction must be a str, got NoneType"),
        (lambda: response_loss(None, torch.tensor([[1, 2, 3, 4]]), mask), TypeError, "model must be a gpt2lib GPTModel"),
        (lambda: response_loss(model, torch.tensor([[1, 2, 3, VOCAB + 7]]), mask), ValueError,
         f"token id {VOCAB + 7} is out of range"),  # the last token: only a target, but it must exist
        (lambda: hidden_states(None, torch.tensor([[1, 2]])), TypeError, "model must be a gpt2lib GPTModel"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match) as info:
            call()
        assert raised_by_gpt2lib(info)
    lora = add_lora(GPTModel(TINY))
    with torch.no_grad():
        lora.blocks[0].attn.qkv.B.fill_(float("nan"))
    weight = lora.blocks[0].attn.qkv.base.weight.clone()
    with pytest.raises(ValueError, match=r"the adapter blocks\.0\.attn\.qkv holds NaN or infinite values") as info:
        merge_lora(lora)
    assert raised_by_gpt2lib(info) and torch.equal(lora.blocks[0].attn.qkv.base.weight, weight)  # not merged
