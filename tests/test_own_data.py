"""Training on your own data (--data: text, folders of text, token shards from python -m gpt2lib.prepare) and from a
pretrained start (--init), on small corpora and tiny models. Issue 25, item 4."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt2lib import GPTConfig, GPTModel, from_pretrained, get_tokenizer
from gpt2lib.finetune.start import shipped_model_dir
from gpt2lib.hf.export import export_hf
from gpt2lib.training import cli as train_command
from gpt2lib.training import own_data
from gpt2lib.training import prepare as prepare_command
from gpt2lib.training.checkpoint import load_checkpoint
from gpt2lib.training.corpus import tokenize_files
from gpt2lib.training.data import load_corpus, random_windows, tokenize, train_val_split, windows_at
from gpt2lib.training.shards import DataError, TokenShards, open_shards
from gpt2lib.training.trainer import Trainer, evaluate
from gpt2lib.training.validation import check_token_data

SIZES = ["--layers", "1", "--emb-dim", "32", "--heads", "2", "--context", "16"]
FAST = ["--batch-size", "2", "--eval-windows", "2", "--final-eval-windows", "2", "--sample-tokens", "0",
        "--no-progress", "--precision", "float32"]
TINY = SIZES + FAST
EOT = 50256
SHAKESPEARE = load_corpus()


@pytest.fixture()
def texts(tmp_path):
    """A folder of two small text files (a few thousand tokens), named so that sorting puts b before c."""
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "c_second.txt").write_text(SHAKESPEARE[20_000:32_000], encoding="utf-8")
    (folder / "b_first.txt").write_text(SHAKESPEARE[:20_000], encoding="utf-8")
    (folder / "notes.md").write_text("not a *.txt file: not part of the corpus")
    return folder


def prepare(texts, out, *options):
    return prepare_command.main([str(texts), "--out", str(out), "--no-progress", *options])


@pytest.fixture()
def shards(texts, tmp_path):
    out = tmp_path / "shards"
    assert prepare(texts, out, "--shard-tokens", "1000") == 0
    return out


@pytest.fixture()
def seen(monkeypatch):
    """What the command gives its Trainer: the data ("train", "val"), the "model" and its initial "weights"."""
    seen = {}

    class Recording(Trainer):
        def __init__(self, model, tcfg, train_data, val_data, ctx):
            seen.update(train=train_data, val=val_data, model=model,
                        weights={name: tensor.clone() for name, tensor in model.state_dict().items()})
            super().__init__(model, tcfg, train_data, val_data, ctx)

    monkeypatch.setattr(train_command, "Trainer", Recording)
    return seen


def train(*options):
    return train_command.main([*TINY, *[str(option) for option in options]])


def whole_file_split(text: str) -> tuple[list[int], list[int]]:
    """The split corpus.py documents: validation from the first line break followed by a non-space character at
    or after 90% of the bytes; the tokens of the whole file, cut there."""
    data = text.encode()
    cut = data.index(b"\n", int(len(data) * 0.9))
    while data[cut + 1:cut + 2].isspace():
        cut = data.index(b"\n", cut + 1)
    encode = get_tokenizer().encode_ordinary
    return encode(data[:cut].decode()), encode(data[cut:].decode())


# --- --data: text ---------------------------------------------------------------------------------

def test_a_text_file_trains_with_the_end_of_the_file_as_validation(tmp_path, seen, capsys):
    text = SHAKESPEARE[:30_000]
    (tmp_path / "mine.txt").write_text(text, encoding="utf-8")
    assert train("--data", tmp_path / "mine.txt", "--steps", "3", "--out", tmp_path / "run") == 0
    want_train, want_val = whole_file_split(text)
    assert seen["train"][torch.arange(len(seen["train"]))].tolist() == want_train
    assert seen["val"][torch.arange(len(seen["val"]))].tolist() == want_val
    assert want_train + want_val == get_tokenizer().encode(text)  # read in pieces, tokenized as one
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["step"] == 3 and summary["data"] == str(tmp_path / "mine.txt")
    assert f"{len(want_train):,} training and {len(want_val):,} validation tokens" in capsys.readouterr().out


def test_a_folder_of_texts_is_its_txt_files_in_name_order_with_endoftext_between_them(texts, tmp_path, seen):
    assert train("--data", texts, "--steps", "2", "--out", tmp_path / "run") == 0
    first, second = (whole_file_split((texts / name).read_text()) for name in ("b_first.txt", "c_second.txt"))
    assert seen["train"][torch.arange(len(seen["train"]))].tolist() == first[0] + [EOT] + second[0]
    assert seen["val"][torch.arange(len(seen["val"]))].tolist() == first[1] + [EOT] + second[1]
    assert not seen["train"].on_disk  # text is tokenized into memory, 2 bytes a token
    assert all(isinstance(part, np.ndarray) and part.dtype == np.uint16 for part in seen["train"].parts)


def test_text_read_in_small_pieces_gives_the_tokens_of_the_whole_text(tmp_path, monkeypatch):
    text = SHAKESPEARE[:40_000] + "\r\nline\n\n\n  indented\n\u3000ideographic space\n中文\n"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr("gpt2lib.training.corpus.CHUNK_BYTES", 1000)
    train_ids, val_ids = tokenize_files([tmp_path / "t.txt"], "t.txt", val_fraction=0.5)
    ids = torch.cat([train_ids[torch.arange(len(train_ids))], val_ids[torch.arange(len(val_ids))]])
    assert ids.tolist() == get_tokenizer().encode(text)


# --- prepare and --data: shards -------------------------------------------------------------------

def test_prepare_writes_uint16_shards_and_a_meta_json_that_describe_each_other(texts, shards):
    meta = json.loads((shards / "meta.json").read_text())
    assert (meta["tokenizer"], meta["vocab_size"], meta["dtype"]) == ("gpt2", 50257, "uint16")
    assert meta["val_fraction"] == 0.1
    assert [file["name"] for file in meta["sources"]["files"]] == ["b_first.txt", "c_second.txt"]
    train_shards = meta["shards"]["train"]
    assert len(train_shards) > 3 and all(shard["tokens"] == 1000 for shard in train_shards[:-1])
    for shard in train_shards + meta["shards"]["val"]:
        ids = np.fromfile(shards / shard["file"], dtype="<u2")
        assert len(ids) == shard["tokens"] and ids.max() == shard["max_id"]
    assert sorted(path.name for path in shards.iterdir() if not path.name.endswith(".bin")) == ["meta.json"]
    train, val = open_shards(shards)
    text_train, text_val = tokenize_files(sorted(texts.glob("*.txt")), "texts")  # what --data texts trains on
    assert torch.equal(train[torch.arange(len(train))], text_train[torch.arange(len(text_train))])
    assert torch.equal(val[torch.arange(len(val))], text_val[torch.arange(len(text_val))])
    assert meta["tokens"] == {"train": len(train), "val": len(val)}


def test_training_reads_shards_by_memory_map_and_learns_as_from_the_same_text(texts, shards, tmp_path, seen):
    assert train("--data", shards, "--steps", "3", "--out", tmp_path / "from_shards") == 0
    assert isinstance(seen["train"], TokenShards) and seen["train"].on_disk and seen["val"].on_disk  # not loaded
    assert all(isinstance(part, Path) for part in seen["train"].parts + seen["val"].parts)
    if sys.platform == "linux":  # each read maps the shards it needs and unmaps them: no mapping stays behind
        assert str(shards) not in Path("/proc/self/maps").read_text()
    assert train("--data", texts, "--steps", "3", "--out", tmp_path / "from_text") == 0
    from_shards = load_checkpoint(tmp_path / "from_shards" / "checkpoint.pt")
    from_text = load_checkpoint(tmp_path / "from_text" / "checkpoint.pt")
    assert from_shards["history"] == from_text["history"]  # the same tokens, the same batches, the same losses


def test_token_shards_index_across_shards_and_pass_the_data_functions(shards):
    parts = [np.arange(0, 10, dtype="<u2"), np.arange(10, 15, dtype="<u2"), np.arange(15, 40, dtype="<u2")]
    tokens = TokenShards(parts, max_id=39, source="a test")
    positions = torch.tensor([[8, 9, 10, 11], [13, 14, 15, 16]])  # windows that cross from one piece into the next
    assert torch.equal(tokens[positions], positions) and tokens[positions].dtype == torch.long
    inputs, targets = windows_at(tokens, torch.tensor([7, 12]), 4)
    assert inputs.tolist() == [[7, 8, 9, 10], [12, 13, 14, 15]] and torch.equal(targets, inputs + 1)
    x, y = random_windows(tokens, 3, 5, torch.Generator().manual_seed(0))
    assert torch.equal(y, x + 1)
    with pytest.raises(IndexError):
        tokens[torch.tensor([40])]
    check_token_data(tokens, "train_data", 40, 40)  # from max_id: no pass over the tokens
    with pytest.raises(ValueError, match=r"train_data \(a test\) holds token id 39, outside the vocabulary \(0..29\)"):
        check_token_data(tokens, "train_data", 2, 30)
    with pytest.raises(ValueError, match=r"train_data \(a test\) has 40 tokens; at least 41 are needed"):
        check_token_data(tokens, "train_data", 41, 50257)
    train, val = open_shards(shards)
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(context_length=16, emb_dim=32, n_heads=2, n_layers=1))
    assert 9 < evaluate(model, val, 16, max_windows=3) < 12  # an untrained model: about ln(50257)


def test_prepare_again_with_the_same_settings_has_nothing_to_do(texts, shards, capsys):
    before = {path.name: path.stat().st_mtime_ns for path in shards.iterdir()}
    assert prepare(texts, shards, "--shard-tokens", "1000") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {path.name: path.stat().st_mtime_ns for path in shards.iterdir()} == before


def test_an_interrupted_preparation_leaves_no_folder_that_looks_finished_and_is_started_again(texts, tmp_path,
                                                                                               monkeypatch, capsys):
    real = prepare_command.corpus_tokens

    def interrupted(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 3:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(prepare_command, "corpus_tokens", interrupted)
    out = tmp_path / "shards"
    with pytest.raises(SystemExit, match="holds no meta.json"):
        prepare(texts, out, "--shard-tokens", "1000")
    names = sorted(path.name for path in out.iterdir())
    assert "meta.json" not in names and not any(name.endswith(".tmp") for name in names)  # no half shard
    assert "train_000000.bin" in names  # finished shards stay, but nothing trains on them:
    with pytest.raises(SystemExit, match="unfinished preparation"):
        train("--data", out, "--out", tmp_path / "run")
    assert not (tmp_path / "run").exists()
    (out / ".train_000009.bin.abcd1234.tmp").write_bytes(b"as a killed preparation leaves it")
    monkeypatch.setattr(prepare_command, "corpus_tokens", real)
    assert prepare(texts, out, "--shard-tokens", "1000") == 0  # the same command again: started over
    assert "unfinished preparation: removed" in capsys.readouterr().out
    assert not any(path.name.endswith(".tmp") for path in out.iterdir())
    clean = tmp_path / "clean"
    prepare(texts, clean, "--shard-tokens", "1000")
    started_over, clean_run = (json.loads((folder / "meta.json").read_text())["shards"] for folder in (out, clean))
    assert started_over == clean_run


# --- refusals of prepare --------------------------------------------------------------------------

def test_prepare_never_touches_a_folder_it_did_not_write(texts, shards, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.md").write_text("mine")
    (foreign / "train_000000.bin").write_bytes(b"someone else's file with one of prepare's names")
    with pytest.raises(SystemExit, match="not a preparation of this command: notes.md, train_000000.bin"):
        prepare(texts, foreign)
    assert sorted(path.name for path in foreign.iterdir()) == ["notes.md", "train_000000.bin"]
    assert (foreign / "train_000000.bin").read_bytes() == b"someone else's file with one of prepare's names"
    before = {path.name: path.read_bytes() for path in shards.iterdir()}
    with pytest.raises(SystemExit, match="finished preparation of another corpus or other settings"):
        prepare(texts, shards, "--shard-tokens", "2000")
    assert {path.name: path.read_bytes() for path in shards.iterdir()} == before
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        prepare(texts, texts / "notes.md")
    with pytest.raises(SystemExit, match="holds token shards already"):
        prepare(shards, tmp_path / "again")
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize("content, match", [
    (None, "does not exist"),
    (b"", "empty corpus"),
    ("Hamlet\n".encode() * 100 + b"caf\xe9\n", r"not UTF-8 text: the byte 0xe9 at byte offset 703"),
    ("hello".encode("utf-16"), "not a text file: it holds a NUL byte at byte offset 3"),
    (b"one line and no line break", "gives no val tokens"),
])
def test_prepare_refuses_bad_input_before_writing_anything(tmp_path, content, match):
    corpus = tmp_path / "corpus.txt"
    if content is not None:
        corpus.write_bytes(content)
    with pytest.raises(SystemExit, match=match):
        prepare(corpus, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_prepare_refuses_bad_options(texts, tmp_path):
    for option in (["--val-fraction", "0"], ["--val-fraction", "1.5"], ["--shard-tokens", "0"]):
        with pytest.raises(SystemExit, match=option[0]):
            prepare(texts, tmp_path / "out", *option)
    assert not (tmp_path / "out").exists()


# --- refusals of --data ---------------------------------------------------------------------------

def _cut_short(shards: Path) -> str:
    with open(shards / "train_000001.bin", "r+b") as file:
        file.truncate(1000)
    return "train_000001.bin: has 1,000 bytes, but meta.json says 1,000 tokens"


def _other_vocabulary(shards: Path) -> str:
    meta = json.loads((shards / "meta.json").read_text())
    (shards / "meta.json").write_text(json.dumps({**meta, "vocab_size": 60_000}))
    return "vocabulary mismatch: the shards of --data .* were made for a vocabulary of 60,000 token ids, but the " \
           "model has vocab_size 50,257"


def _other_tokenizer(shards: Path) -> str:
    meta = json.loads((shards / "meta.json").read_text())
    (shards / "meta.json").write_text(json.dumps({**meta, "tokenizer": "llama"}))
    return "field 'tokenizer' is 'llama'; gpt2lib trains on 'gpt2' shards"


def _too_short_for_the_context(shards: Path) -> str:
    meta = json.loads((shards / "meta.json").read_text())
    val = meta["tokens"]["val"]
    return f"the val split holds {val:,} tokens; one window of context {val} needs {val + 1}"


@pytest.mark.parametrize("change", [_cut_short, _other_vocabulary, _other_tokenizer, _too_short_for_the_context])
def test_training_refuses_shards_that_do_not_fit_before_any_work(shards, tmp_path, change):
    match = change(shards)
    context = json.loads((shards / "meta.json").read_text())["tokens"]["val"] if "context" in match else 16
    with pytest.raises(SystemExit, match=match):
        train("--data", shards, "--context", context, "--out", tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, content, match", [
    ("missing.txt", None, "--data: .*missing.txt does not exist"),
    ("empty.txt", b"", "--data: .*empty.txt is an empty corpus"),
    ("latin1.txt", "Ophélie\n".encode("latin-1"), r"--data: .*latin1.txt is not UTF-8 text: the byte 0xe9 at byte "
                                                  "offset 3"),
    ("binary.txt", b"\x7fELF\x00\x01", "--data: .*binary.txt is not a text file: it holds a NUL byte at byte offset 4"),
    ("folder", "no text here", r"--data: .*folder holds no \*.txt files"),
])
def test_training_refuses_text_it_cannot_use_before_any_work(tmp_path, name, content, match):
    path = tmp_path / name
    if name == "folder":
        path.mkdir()
        (path / "readme.md").write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit, match=match):
        train("--data", path, "--out", tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_text_too_short_for_one_window_or_without_a_validation_part_is_refused_naming_the_data(tmp_path):
    (tmp_path / "short.txt").write_text("To be, or not to be: that is the question\nX")
    with pytest.raises(SystemExit, match=r"train_data \(the train split of --data .*short.txt\) has 12 tokens; at "
                                         "least 17 are needed"):
        train("--data", tmp_path / "short.txt", "--out", tmp_path / "run")
    (tmp_path / "one_line.txt").write_text("To be, or not to be: that is the question. " * 10)
    with pytest.raises(SystemExit, match="--data: the corpus gives no val tokens: the validation split begins, in "
                                         "each file, at the first line break"):
        train("--data", tmp_path / "one_line.txt", "--out", tmp_path / "run2")


# --- --init ---------------------------------------------------------------------------------------

@pytest.fixture()
def tiny_export(tmp_path):
    """A tiny model saved with export_hf: what a gpt2lib run leaves in its model/ folder."""
    torch.manual_seed(5)
    model = GPTModel(GPTConfig(context_length=16, emb_dim=32, n_heads=2, n_layers=1, dropout=0.0))
    return export_hf(model, tmp_path / "tiny_model")


def test_init_from_a_local_folder_starts_from_its_weights_and_resumes_bit_for_bit(tiny_export, tmp_path, seen):
    args = [*FAST, "--init", str(tiny_export), "--steps", "3"]
    assert train_command.main([*args, "--out", str(tmp_path / "straight")]) == 0
    want = from_pretrained(tiny_export).state_dict()
    assert seen["weights"].keys() == want.keys()
    assert all(torch.equal(seen["weights"][name], want[name]) for name in want)  # loaded at step 0
    split = ["--out", str(tmp_path / "split")]
    assert train_command.main([*args, "--minutes", "1e-9", *split]) == 0  # stops at step 0, with a checkpoint
    step0 = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert step0["step"] == 0 and all(torch.equal(step0["model"][name], want[name]) for name in want)
    resume = ["--resume", *split, "--no-progress", "--sample-tokens", "0", "--final-eval-windows", "2"]
    assert train_command.main(resume) == 0  # without --init: the checkpoint holds the model
    straight, resumed = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "split"))
    assert resumed["step"] == 3 and resumed["history"] == straight["history"]
    assert all(torch.equal(resumed["model"][name], straight["model"][name]) for name in straight["model"])
    assert resumed["model_config"] == straight["model_config"] and resumed["model_config"]["qkv_bias"]


def test_init_shipped_starts_from_the_small_shipped_model(tmp_path, seen):
    assert train_command.main([*FAST, "--init", "shipped", "--minutes", "1e-9", "--out", str(tmp_path / "run")]) == 0
    want = from_pretrained(shipped_model_dir())
    assert seen["model"].cfg == want.cfg and (want.cfg.n_layers, want.cfg.emb_dim) == (4, 192)
    assert all(torch.equal(seen["weights"][name], tensor) for name, tensor in want.state_dict().items())
    history = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["history"]
    assert history["val_loss"][0] < 7  # a pretrained model at step 0: far below the 10.8 of random weights


def test_init_refuses_sizes_it_contradicts_and_takes_dropout(tiny_export, tmp_path, seen):
    with pytest.raises(SystemExit, match=r"--init .* contradict them: --layers 2 \(the model has 1\), "
                                         r"--context 32 \(the model has 16\)"):
        train_command.main(["--init", str(tiny_export), "--layers", "2", "--context", "32",
                            "--out", str(tmp_path / "a")])
    assert not (tmp_path / "a").exists()
    assert train_command.main(["--init", str(tiny_export), "--dropout", "0.2", "--layers", "1", *FAST,
                               "--steps", "1", "--out", str(tmp_path / "b")]) == 0
    assert seen["model"].cfg.dropout == 0.2 and seen["model"].cfg.n_layers == 1


def test_init_refuses_what_it_cannot_load_before_any_work(tiny_export, tmp_path, monkeypatch):
    monkeypatch.setattr("gpt2lib.finetune.start.openai_gpt2_cached", lambda name="gpt2": False)
    cases = [(["--init", "gpt2-medium"], "OpenAI's gpt2-medium weights are not in the local Hugging Face cache, and "
                                         "the hub cannot be reached.*--init shipped"),
             (["--init", str(tmp_path / "nowhere")], "is none of gpt2, gpt2-medium, gpt2-large, gpt2-xl, shipped"),
             (["--init", str(tmp_path)], "has no config.json")]
    torch.manual_seed(0)
    small_vocab = export_hf(GPTModel(GPTConfig(vocab_size=1000, context_length=16, emb_dim=32, n_heads=2,
                                               n_layers=1)), tmp_path / "small_vocab")
    cases.append((["--init", str(small_vocab)], "vocabulary mismatch: the text is tokenized by GPT-2's tokenizer for "
                                                "a vocabulary of 50,257 token ids, but --init .*small_vocab has "
                                                "vocab_size 1,000"))
    (tiny_export / "model.safetensors").rename(tiny_export / "elsewhere.safetensors")
    cases.append((["--init", str(tiny_export)], "has no weights"))
    for option, match in cases:
        with pytest.raises(SystemExit, match=match):
            train_command.main([*option, "--out", str(tmp_path / "run")])
        assert not (tmp_path / "run").exists()


# --- the default run and the command's help -------------------------------------------------------

def test_without_data_the_run_trains_on_tiny_shakespeare_as_before(tmp_path, seen):
    assert train("--minutes", "1e-9", "--out", tmp_path / "run") == 0
    train_ids, val_ids = train_val_split(tokenize(load_corpus()))
    assert isinstance(seen["train"], torch.Tensor) and torch.equal(seen["train"], train_ids)
    assert torch.equal(seen["val"], val_ids)


def test_the_help_and_the_docstrings_describe_data_init_and_prepare():
    result = subprocess.run([sys.executable, "-m", "gpt2lib.train", "--help"], capture_output=True, text=True)
    assert "--data PATH" in result.stdout and "--init NAME_OR_DIR" in result.stdout
    assert "gpt2lib.prepare" in result.stdout
    assert "--data" in train_command.__doc__ and "--init" in train_command.__doc__
    result = subprocess.run([sys.executable, "-m", "gpt2lib.prepare", "--help"], capture_output=True, text=True)
    assert "--out" in result.stdout and "--shard-tokens" in result.stdout and "--val-fraction" in result.stdout
    assert "--data" in own_data.__doc__ and "--init" in own_data.__doc__


def test_data_errors_are_value_errors_of_gpt2lib(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_shards(tmp_path / "missing")
    assert issubclass(DataError, ValueError)


# --- found by a second hostile review ---------------------------------------------------------------------------

def test_prepare_refuses_a_users_file_named_like_its_lock_and_keeps_every_file(texts, tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    (out / prepare_command.LOCK_NAME).write_bytes(b"my notes\n")
    (out / "train_000000.bin").write_bytes(b"mine")  # a name prepare writes: it must not take it for its own
    with pytest.raises(SystemExit, match="is not empty and is not a preparation of this command"):
        prepare(texts, out)
    assert (out / prepare_command.LOCK_NAME).read_bytes() == b"my notes\n"
    assert (out / "train_000000.bin").read_bytes() == b"mine"


def test_prepare_names_a_dangling_link_and_removes_the_folders_it_made_for_a_refused_corpus(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "one.txt").write_text("one line and no line break")
    with pytest.raises(SystemExit, match="--out .*dangling is a symbolic link to .*nowhere, which does not exist"):
        prepare(tmp_path / "one.txt", tmp_path / "dangling")
    with pytest.raises(SystemExit, match="gives no val tokens"):
        prepare(tmp_path / "one.txt", tmp_path / "new" / "deep")
    assert not (tmp_path / "new").exists()
    with pytest.raises(SystemExit, match=r"--out .*\.\.\. cannot be used: File name too long"):
        prepare(tmp_path / "one.txt", tmp_path / ("x" * 300))


def test_prepare_refuses_an_empty_input_and_a_link_among_an_unfinished_preparations_files(texts, tmp_path, capsys):
    with pytest.raises(SystemExit):
        prepare_command.main(["", "--out", str(tmp_path / "out"), "--no-progress"])  # not the current folder
    assert "input is empty" in capsys.readouterr().err and not (tmp_path / "out").exists()
    out, mine = tmp_path / "unfinished", tmp_path / "mine.bin"
    out.mkdir()
    (out / prepare_command.LOCK_NAME).write_text("pid 1 on gone\n")  # a preparation killed half-way
    mine.write_bytes(b"mine")
    (out / "train_000000.bin").symlink_to(mine)  # but this name is a link, not its shard
    with pytest.raises(SystemExit, match="is not a preparation of this command"):
        prepare(texts, out)
    assert (out / "train_000000.bin").is_symlink() and mine.read_bytes() == b"mine"
