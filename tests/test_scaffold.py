import pytest
import torch
from torch import nn

from gpt2lib import GPT2_PRESETS, GPTConfig, GPTModel, GPTScaffold, count_parameters, find_placeholders

TINY = GPTConfig(vocab_size=97, context_length=16, emb_dim=24, n_heads=4, n_layers=3, dropout=0.0)


def test_default_config_is_gpt2_small():
    cfg = GPTConfig()
    assert (cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_heads, cfg.n_layers) == (50257, 1024, 768, 12, 12)
    assert cfg.dropout == 0.1 and cfg.qkv_bias is False
    assert GPTConfig.from_preset("gpt2") == cfg


@pytest.mark.parametrize(
    "name, emb_dim, n_layers, n_heads",
    [("gpt2", 768, 12, 12), ("gpt2-medium", 1024, 24, 16), ("gpt2-large", 1280, 36, 20), ("gpt2-xl", 1600, 48, 25)],
)
def test_presets(name, emb_dim, n_layers, n_heads):
    cfg = GPTConfig.from_preset(name, qkv_bias=True)
    assert (cfg.emb_dim, cfg.n_layers, cfg.n_heads, cfg.qkv_bias) == (emb_dim, n_layers, n_heads, True)
    assert GPT2_PRESETS[name].qkv_bias is False  # overrides never change the shared preset


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="gpt2-medium"):
        GPTConfig.from_preset("gpt3")


@pytest.mark.parametrize("field, value", [("emb_dim", 0), ("n_layers", -1), ("vocab_size", 2.5), ("dropout", 1.0)])
def test_invalid_config_values_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        GPTConfig(**{field: value})


@pytest.mark.parametrize("batch, seq_len", [(1, 1), (2, 4), (3, 16)])
def test_scaffold_output_shape(batch, seq_len):
    model = GPTScaffold(TINY)
    idx = torch.randint(0, TINY.vocab_size, (batch, seq_len))
    assert model(idx).shape == (batch, seq_len, TINY.vocab_size)


def test_scaffold_on_the_notebook_batch():
    torch.manual_seed(123)
    model = GPTScaffold(GPTConfig())
    batch = torch.tensor([[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]])
    assert model(batch).shape == (2, 4, 50257)
    assert count_parameters(model) == 77_981_184


def test_scaffold_has_49_named_placeholders():
    names = find_placeholders(GPTScaffold(GPTConfig()))
    assert len(names) == 49
    assert "final_norm" in names and "blocks.11.attn" in names and "blocks.0.mlp" in names


def test_swapping_a_slot_removes_its_placeholder():
    model = GPTScaffold(TINY)
    model.final_norm = nn.LayerNorm(TINY.emb_dim)
    assert "final_norm" not in find_placeholders(model)
    assert len(find_placeholders(model)) == 4 * TINY.n_layers


def test_same_seed_same_weights():
    torch.manual_seed(123)
    first = GPTScaffold(TINY).state_dict()
    torch.manual_seed(123)
    second = GPTScaffold(TINY).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize(
    "idx, error, message",
    [
        (torch.zeros(1, 17, dtype=torch.long), ValueError, "longer than the context length"),
        (torch.tensor([[1, 97]]), ValueError, "token id 97 is out of range"),
        (torch.tensor([[-1, 2]]), ValueError, "token id -1 is out of range"),
        (torch.tensor([[1.0, 2.0]]), TypeError, "must be integers"),
        (torch.tensor([1, 2]), ValueError, r"shape \(batch, seq_len\)"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "must not be empty"),
        ([[1, 2]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_refused_by_the_model_with_a_clear_message(idx, error, message):
    """GPTModel is a door and checks the ids; the scaffold, like every layer, carries no checks."""
    with pytest.raises(error, match=message):
        GPTModel(TINY)(idx)
