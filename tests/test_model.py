import math
from dataclasses import replace

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2lib import GPTConfig, GPTModel, TransformerBlock, count_parameters, find_placeholders, generate

TINY = GPTConfig(vocab_size=101, context_length=12, emb_dim=16, n_heads=2, n_layers=2, dropout=0.0)


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return GPTModel(replace(TINY, **overrides)).eval()


def count_on_meta(cfg, tie_weights=True):
    with torch.device("meta"):
        return count_parameters(GPTModel(cfg, tie_weights=tie_weights))


@pytest.mark.parametrize(
    "cfg",
    [
        TINY,
        GPTConfig(vocab_size=300, context_length=20, emb_dim=36, n_heads=3, n_layers=3, qkv_bias=True),
        GPTConfig(vocab_size=64, context_length=5, emb_dim=8, n_heads=8, n_layers=1),
    ],
)
@pytest.mark.parametrize("batch, seq_len", [(1, 1), (3, 5)])
def test_logits_shape(cfg, batch, seq_len):
    model = GPTModel(cfg)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq_len))
    assert model(idx).shape == (batch, seq_len, cfg.vocab_size)


def test_no_placeholders_left():
    assert find_placeholders(GPTModel(TINY)) == []
    assert all(isinstance(block, TransformerBlock) for block in GPTModel(TINY).blocks)


def test_gpt2_small_parameter_counts():
    cfg = GPTConfig()
    assert count_on_meta(cfg, tie_weights=False) == 163_009_536
    assert count_on_meta(cfg) == 124_412_160
    assert count_on_meta(replace(cfg, qkv_bias=True)) == 124_439_808


@pytest.mark.parametrize(
    "preset, expected",
    [("gpt2", 124_439_808), ("gpt2-medium", 354_823_168), ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)],
)
def test_preset_parameter_counts_match_openai_sizes(preset, expected):
    assert count_on_meta(GPTConfig.from_preset(preset, qkv_bias=True)) == expected


def test_preset_count_matches_hugging_face():
    cfg = GPTConfig.from_preset("gpt2-medium", qkv_bias=True)
    with torch.device("meta"):
        hf = GPT2LMHeadModel(GPT2Config(n_embd=cfg.emb_dim, n_layer=cfg.n_layers, n_head=cfg.n_heads))
    assert count_on_meta(cfg) == sum(p.numel() for p in hf.parameters())


def test_tied_weights_are_one_tensor():
    model = tiny_model()
    assert model.weights_tied and model.out_head.weight is model.tok_emb.weight
    with torch.no_grad():
        model.tok_emb.weight[5, 0] = 42.0
    assert model.out_head.weight[5, 0] == 42.0
    untied = GPTModel(TINY, tie_weights=False)
    assert not untied.weights_tied
    assert count_parameters(untied) - count_parameters(model) == TINY.vocab_size * TINY.emb_dim


def test_gpt2_initialization():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=2000, context_length=64, emb_dim=128, n_heads=4, n_layers=8)
    model = GPTModel(cfg)
    assert abs(model.tok_emb.weight.std().item() - 0.02) < 0.001
    assert abs(model.pos_emb.weight.std().item() - 0.01) < 0.0005
    assert abs(model.blocks[0].mlp.fc.weight.std().item() - 0.02) < 0.001
    residual_std = 0.02 / math.sqrt(2 * cfg.n_layers)
    assert abs(model.blocks[0].attn.out_proj.weight.std().item() - residual_std) < 0.0005
    assert abs(model.blocks[-1].mlp.proj.weight.std().item() - residual_std) < 0.0005
    assert torch.all(model.blocks[0].mlp.fc.bias == 0)
    assert torch.all(model.final_norm.weight == 1) and torch.all(model.final_norm.bias == 0)


def test_same_seed_same_model():
    first, second = tiny_model(seed=3), tiny_model(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_eval_is_deterministic_and_train_with_dropout_is_not():
    model = tiny_model(dropout=0.3)
    idx = torch.randint(0, TINY.vocab_size, (2, 6))
    assert torch.equal(model(idx), model(idx))
    model.train()
    assert not torch.allclose(model(idx), model(idx))


def test_block_is_pre_ln_with_shortcuts():
    torch.manual_seed(0)
    block = TransformerBlock(TINY).eval()
    x = torch.randn(2, 4, TINY.emb_dim)
    h = x + block.attn(block.norm1(x))
    assert torch.allclose(block(x), h + block.mlp(block.norm2(h)), atol=1e-6)


def test_gradients_reach_every_parameter():
    model = tiny_model()
    model.train()
    logits = model(torch.randint(0, TINY.vocab_size, (2, 5)))
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), torch.randint(0, TINY.vocab_size, (10,))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "idx, error, message",
    [
        (torch.tensor([[1, 101]]), ValueError, "token id 101 is out of range"),
        (torch.tensor([[-3, 1]]), ValueError, "token id -3 is out of range"),
        (torch.tensor([[1.0, 2.0]]), TypeError, "must be integers"),
        (torch.tensor([1, 2, 3]), ValueError, r"shape \(batch, seq_len\)"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "must not be empty"),
        (torch.zeros(2, 13, dtype=torch.long), ValueError, "13 tokens is longer than the context length \\(12\\)"),
    ],
)
def test_bad_input_is_refused(idx, error, message):
    with pytest.raises(error, match=message):
        tiny_model()(idx)


def test_greedy_generation_is_deterministic_with_exact_length():
    model = tiny_model()
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    first = generate(model, prompt, max_new_tokens=7)
    assert first.shape == (2, 10)
    assert torch.equal(first[:, :3], prompt)
    assert torch.equal(first, generate(model, prompt, max_new_tokens=7))
    assert torch.equal(generate(model, prompt, max_new_tokens=0), prompt)


def test_greedy_generation_appends_the_argmax():
    model = tiny_model()
    prompt = torch.tensor([[7, 8, 9]])
    out = generate(model, prompt, max_new_tokens=1)
    assert out[0, -1] == model(prompt)[0, -1].argmax()


def test_generation_crops_to_the_context_length():
    model = tiny_model()
    out = generate(model, torch.tensor([[1, 2, 3]]), max_new_tokens=20)  # 23 tokens > context 12
    assert out.shape == (1, 23)
    last_context = out[:, -13:-1]
    assert out[0, -1] == model(last_context)[0, -1].argmax()


def test_generation_restores_training_mode():
    model = tiny_model()
    model.train()
    generate(model, torch.tensor([[1]]), max_new_tokens=2)
    assert model.training


def test_generation_stops_at_eos():
    model = tiny_model()
    prompt = torch.tensor([[1, 2]])
    first_token = generate(model, prompt, max_new_tokens=1)[0, -1].item()
    out = generate(model, prompt, max_new_tokens=10, eos_id=first_token)
    assert out.shape == (1, 3) and out[0, -1] == first_token


def test_sampling_is_reproducible_with_a_seeded_generator_and_top_k_1_is_greedy():
    model = tiny_model()
    prompt = torch.tensor([[1, 2, 3]])
    sample = lambda seed, **kw: generate(model, prompt, 8, temperature=1.0, generator=torch.Generator().manual_seed(seed), **kw)  # noqa: E731
    assert torch.equal(sample(0), sample(0))
    assert torch.equal(sample(0, top_k=1), generate(model, prompt, 8))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"max_new_tokens": -1}, "max_new_tokens"), ({"max_new_tokens": 2, "temperature": -0.5}, "temperature"),
     ({"max_new_tokens": 2, "top_k": 0}, "top_k"), ({"max_new_tokens": 2, "temperature": 1.0, "top_p": 1.5}, "top_p")],
)
def test_bad_generation_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_model(), torch.tensor([[1]]), **kwargs)
