"""gpt2lib.finetune (notebook 10): the classifier on the last real token, the response-only loss, LoRA, and the
pretrained start; each test names the bug it would catch."""

import copy
import hashlib
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib import GPTConfig, GPTModel, export_hf, from_pretrained, generate, get_tokenizer, pad_left
from gpt2lib.finetune import (
    GPTClassifier, LoRALinear, add_lora, encode_example, format_prompt, hidden_states, merge_lora, pad_right,
    pretrained_start, response_loss, shipped_model_dir, train_classifier,
)
from gpt2lib.finetune.start import START_VARIABLE

TINY = GPTConfig(vocab_size=97, context_length=24, emb_dim=16, n_heads=2, n_layers=2, dropout=0.0, qkv_bias=True)
PAD = 96


def tiny_model(seed: int = 0, **overrides) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(replace(TINY, **overrides)).eval()


def random_rows(generator, lengths):
    return [torch.randint(0, PAD, (n,), generator=generator).tolist() for n in lengths]


# --- the classifier -----------------------------------------------------------------------------------------------

def test_hidden_states_are_the_model_without_its_head():
    model, idx = tiny_model(), torch.randint(0, PAD, (3, 7))
    with torch.no_grad():
        assert torch.allclose(model.out_head(hidden_states(model, idx)), model(idx), atol=1e-6)


def test_pad_right_pads_on_the_right_and_returns_the_lengths():
    idx, lengths = pad_right([[1, 2, 3], [4]], pad_id=PAD)
    assert idx.tolist() == [[1, 2, 3], [4, PAD, PAD]] and lengths.tolist() == [3, 1] and idx.dtype == torch.long


@pytest.mark.parametrize("rows, pad_id, words", [
    ([], 0, "non-empty list"), ([[1], []], 0, "rows[1]"), ([[1, -2]], 0, "rows[0]"), ([[1.5]], 0, "rows[0]"),
    ("abc", 0, "non-empty list"), ([[1]], -1, "pad_id"),
])
def test_pad_right_refuses_bad_rows(rows, pad_id, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        pad_right(rows, pad_id)


def test_a_passage_gets_the_same_scores_alone_and_in_a_right_padded_batch():
    """Catches reading the wrong position (the last pad, or lengths instead of lengths - 1)."""
    generator = torch.Generator().manual_seed(1)
    classifier = GPTClassifier(tiny_model(), 3).eval()
    rows = random_rows(generator, [9, 3, 6])
    with torch.no_grad():
        batch = classifier(*pad_right(rows, PAD))
        alone = torch.cat([classifier(*pad_right([row], PAD)) for row in rows])
        last_vectors = torch.stack([hidden_states(classifier.body, torch.tensor([row]))[0, -1] for row in rows])
    assert batch.shape == (3, 3)
    assert torch.allclose(batch, alone, atol=1e-5)
    assert torch.allclose(batch, classifier.head(last_vectors), atol=1e-5)


def test_the_classifier_refuses_a_placeholder_body_and_one_class():
    with pytest.raises(TypeError, match="GPTModel"):
        GPTClassifier(nn.Linear(3, 3), 2)
    with pytest.raises(ValueError, match="n_classes"):
        GPTClassifier(tiny_model(), 1)


def test_train_classifier_learns_a_rule_and_refuses_a_frozen_model():
    """The rule: is token 5 in the passage? Learnable in a few dozen steps; a broken loop would stay at chance."""
    generator = torch.Generator().manual_seed(2)
    classifier = GPTClassifier(tiny_model(), 2)

    def batches(step):
        rows = random_rows(generator, [8] * 32)
        labels = torch.tensor([int(i % 2 == 0) for i in range(32)])
        for row, label in zip(rows, labels):
            row[:] = [5 if label else (t if t != 5 else 6) for t in row[:1]] + [t if t != 5 else 6 for t in row[1:]]
        idx, lengths = pad_right(rows, PAD)
        return idx, lengths, labels

    losses = train_classifier(classifier, batches, steps=60, lr=3e-3)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    assert not classifier.training  # handed back in eval mode
    classifier.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        train_classifier(classifier, batches, steps=1)


# --- instructions -------------------------------------------------------------------------------------------------

def test_encode_example_marks_the_response_and_the_end_token_only():
    tokenizer = get_tokenizer()
    ids, mask = encode_example(tokenizer, "Is the line a question?", "Who goes there?", "yes")
    prompt = tokenizer.encode(format_prompt("Is the line a question?", "Who goes there?"))
    assert ids == prompt + tokenizer.encode("yes") + [50256]
    assert mask == [0] * len(prompt) + [1] * (len(ids) - len(prompt))
    assert format_prompt("Do it.", "x").endswith("### Response:\n")


def hand_loss(model, idx, mask):
    """The response-only loss from the full logits: log-softmax, pick the next token, mean over counted targets."""
    log_probs = model(idx)[:, :-1].log_softmax(-1)
    picked = log_probs.gather(-1, idx[:, 1:, None])[..., 0]
    counted = mask[:, 1:].float()
    return -(picked * counted).sum() / counted.sum()


def test_response_loss_equals_the_hand_computation_and_ignores_the_prompt():
    """Catches an unshifted mask, a mean over every position, and padding counted."""
    generator = torch.Generator().manual_seed(3)
    model = tiny_model()
    idx = torch.randint(0, PAD, (3, 10), generator=generator)
    mask = torch.zeros(3, 10, dtype=torch.long)
    mask[0, 6:], mask[1, 4:8], mask[2, 9:] = 1, 1, 1  # row 1: a response, then padding (0)
    with torch.no_grad():
        loss = response_loss(model, idx, mask)
        assert torch.allclose(loss, hand_loss(model, idx, mask), atol=1e-6)
        unshifted = torch.cat([mask[:, 1:], mask[:, :1]], dim=1)  # mask[t] used where mask[t + 1] belongs
        every_position = F.cross_entropy(model(idx)[:, :-1].flatten(0, 1), idx[:, 1:].flatten())
    assert not torch.allclose(loss, hand_loss(model, idx, unshifted), atol=1e-4)
    assert not torch.allclose(loss, every_position, atol=1e-4)


@pytest.mark.parametrize("mask, words", [
    (torch.ones(2, 6), "integers or booleans"), (torch.full((2, 6), 2), "only 0 and 1"),
    (torch.zeros(2, 6, dtype=torch.long), "counts no target"), (torch.ones(2, 4, dtype=torch.long), "idx's shape"),
])
def test_response_loss_refuses_bad_masks(mask, words):
    with pytest.raises((ValueError, TypeError), match=words):
        response_loss(tiny_model(), torch.zeros(2, 6, dtype=torch.long), mask)


# --- LoRA ---------------------------------------------------------------------------------------------------------

def test_lora_linear_starts_unchanged_and_computes_the_low_rank_update():
    torch.manual_seed(4)
    base = nn.Linear(6, 5)
    lora = LoRALinear(copy.deepcopy(base), rank=2, alpha=8)
    x = torch.randn(3, 6)
    assert torch.equal(lora(x), base(x))  # B = 0: the layer starts as the base layer
    with torch.no_grad():
        lora.B.normal_()
    expected = x @ (base.weight + 4.0 * lora.B @ lora.A).T + base.bias  # alpha / rank = 4
    assert torch.allclose(lora(x), expected, atol=1e-5)
    assert torch.allclose(lora(x[0]), expected[0], atol=1e-5)  # one vector (in,), as cached decoding passes it


def test_add_lora_freezes_the_model_and_trains_only_the_adapters_and_the_named_modules():
    model = tiny_model()
    head = nn.Linear(16, 3)
    add_lora(model, rank=2, alpha=4, train=[head])
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.endswith((".A", ".B")) for name in trainable)
    per_block = 2 * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16))  # rank * (in + out) for qkv, out_proj, fc, proj
    assert sum(model.get_parameter(name).numel() for name in trainable) == TINY.n_layers * per_block
    assert all(p.requires_grad for p in head.parameters())


@pytest.mark.parametrize("kwargs, words", [
    (dict(rank=0), "rank"), (dict(rank=17), "larger than"), (dict(alpha=float("nan")), "alpha"),
    (dict(targets=["attn"]), "not an nn.Linear"), (dict(targets="attn.qkv"), "list of layer names"),
    (dict(train=nn.Linear(2, 2)), "list of modules"),
])
def test_add_lora_refuses_bad_arguments_and_changes_nothing(kwargs, words):
    model = tiny_model()
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    with pytest.raises((ValueError, TypeError), match=words):
        add_lora(model, **kwargs)
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before
    assert not any(isinstance(m, LoRALinear) for m in model.modules())


def test_add_lora_twice_is_refused():
    model = add_lora(tiny_model(), rank=2)
    with pytest.raises(ValueError, match="called twice"):
        add_lora(model, rank=2)


def trained_lora_model(seed: int = 5) -> GPTModel:
    model = add_lora(tiny_model(seed), rank=2, alpha=4)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.B.normal_(std=0.3)  # as if trained: the adapters now change the model
    return model


def test_merged_weights_give_the_same_logits():
    model, idx = trained_lora_model(), torch.randint(0, PAD, (2, 11))
    plain = tiny_model(5)
    with torch.no_grad():
        wrapped = model(idx)
        assert not torch.allclose(wrapped, plain(idx), atol=1e-3)  # the adapters matter
        merge_lora(model)
        assert torch.allclose(model(idx), wrapped, atol=1e-5)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert all(type(model.get_submodule(f"blocks.0.{name}")) is nn.Linear for name in ("attn.qkv", "mlp.fc"))


def test_a_lora_model_generates_with_the_cache_as_without_it_also_in_a_padded_batch():
    model = trained_lora_model()
    generator = torch.Generator().manual_seed(6)
    prompts = random_rows(generator, [5, 2, 8])
    idx, attention_mask = pad_left(prompts, pad_id=PAD)
    cached = generate(model, idx, 6, attention_mask=attention_mask)
    uncached = generate(model, idx, 6, attention_mask=attention_mask, use_cache=False)
    assert torch.equal(cached, uncached)
    for i, prompt in enumerate(prompts):  # each row as if generated alone
        alone = generate(model, torch.tensor([prompt]), 6)
        assert cached[i, -6:].tolist() == alone[0, -6:].tolist()


def test_the_merged_model_exports_to_hugging_face_and_an_unmerged_one_is_refused(tmp_path):
    model, idx = trained_lora_model(), torch.randint(0, PAD, (1, 7))
    with pytest.raises(ValueError, match="merge"):
        export_hf(model, tmp_path / "unmerged")
    assert not (tmp_path / "unmerged" / "model.safetensors").exists()
    merge_lora(model)
    reloaded = from_pretrained(str(export_hf(model, tmp_path / "merged")))
    with torch.no_grad():
        assert torch.allclose(reloaded(idx), model(idx), atol=1e-5)


# --- the pretrained start -----------------------------------------------------------------------------------------

def test_the_shipped_model_is_small_bfloat16_and_matches_its_provenance():
    directory = shipped_model_dir()
    weights = (directory / "model.safetensors").read_bytes()
    provenance = json.loads((directory / "provenance.json").read_text())
    assert len(weights) <= 25 * 2**20
    assert hashlib.sha256(weights).hexdigest() == provenance["model.safetensors sha256"]
    assert json.loads((directory / "config.json").read_text())["torch_dtype"] == "bfloat16"
    assert provenance["model_config"]["n_layers"] == 4 and provenance["model_config"]["emb_dim"] == 192
    assert provenance["val_loss_bfloat16"] < 5.5  # it learned: uniform guessing scores 10.82


def test_the_shipped_model_has_learned_shakespeare(monkeypatch):
    from gpt2lib.training import evaluate, load_corpus, tokenize, train_val_split

    monkeypatch.setenv(START_VARIABLE, "shipped")
    model, name = pretrained_start()
    assert "shipped" in name and model.cfg.n_layers == 4
    _, val_data = train_val_split(tokenize(load_corpus()))
    assert evaluate(model, val_data, model.cfg.context_length, max_windows=16) < 5.5


def test_a_bad_start_choice_and_a_missing_shipped_model_are_refused_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv(START_VARIABLE, "gpt5")
    with pytest.raises(ValueError, match="GPT2LIB_START='gpt5'"):
        pretrained_start()
    monkeypatch.setenv(START_VARIABLE, "shipped")
    monkeypatch.setenv("GPT2LIB_SHIPPED_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make pretrained"):
        pretrained_start()


def test_a_local_folder_can_be_the_start(monkeypatch, tmp_path):
    model = tiny_model(7)
    export_hf(model, tmp_path)
    monkeypatch.setenv(START_VARIABLE, str(tmp_path))
    loaded, name = pretrained_start()
    idx = torch.randint(0, PAD, (1, 5))
    with torch.no_grad():
        assert str(tmp_path) in name and torch.allclose(loaded(idx), model(idx), atol=1e-6)


@pytest.mark.parametrize("lengths, words", [
    (torch.tensor([0, 2]), "between 1 and"), (torch.tensor([3, 6]), "between 1 and"),
    (torch.tensor([1.0, 2.0]), "integer tensor"), (torch.tensor([1, 2, 3]), "one length per row"),
])
def test_the_classifier_refuses_lengths_outside_its_rows(lengths, words):
    """lengths 0 would silently read the last (padding) position through index -1."""
    with pytest.raises(ValueError, match=words):
        GPTClassifier(tiny_model(), 2)(torch.zeros(2, 5, dtype=torch.long), lengths)


def test_openai_weights_that_are_not_here_are_refused_with_the_way_out(monkeypatch):
    from gpt2lib import WeightsUnavailableError
    from gpt2lib.finetune.start import openai_gpt2_cached

    if openai_gpt2_cached("gpt2"):
        pytest.skip("OpenAI's gpt2 is in this machine's Hugging Face cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(START_VARIABLE, "gpt2")
    with pytest.raises(WeightsUnavailableError, match="GPT2LIB_START=shipped"):
        pretrained_start()
