import math

import pytest
import torch
import torch.nn.functional as F

from gpt2lib import CausalSelfAttention, GPTConfig, reference_attention

CONFIGS = [
    GPTConfig(vocab_size=50, context_length=8, emb_dim=8, n_heads=1, n_layers=1, dropout=0.0),
    GPTConfig(vocab_size=50, context_length=32, emb_dim=48, n_heads=6, n_layers=1, dropout=0.0, qkv_bias=True),
    GPTConfig(vocab_size=50, context_length=16, emb_dim=64, n_heads=4, n_layers=1, dropout=0.0),
]


def make(cfg, seed=0):
    torch.manual_seed(seed)
    return CausalSelfAttention(cfg).eval()


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("batch, seq_len", [(1, 1), (2, 5), (3, 8)])
def test_output_shape(cfg, batch, seq_len):
    x = torch.randn(batch, seq_len, cfg.emb_dim)
    assert make(cfg)(x).shape == (batch, seq_len, cfg.emb_dim)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_changing_a_later_token_leaves_earlier_outputs_unchanged(cfg):
    attn = make(cfg)
    x = torch.randn(2, 8, cfg.emb_dim)
    for t in range(8):
        changed = x.clone()
        changed[:, t:] += torch.randn(2, 8 - t, cfg.emb_dim)
        out, out_changed = attn(x), attn(changed)
        assert torch.allclose(out[:, :t], out_changed[:, :t], atol=1e-6)
        assert not torch.allclose(out[:, t], out_changed[:, t])


def attention_by_hand(attn, x, use_sdpa):
    """Run the module's projections around either SDPA or the reference math."""
    q, k, v = (attn.split_heads(t) for t in attn.qkv(x).chunk(3, dim=-1))
    if use_sdpa:
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        y, _ = reference_attention(q, k, v)
    return attn.out_proj(attn.merge_heads(y))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_module_agrees_with_sdpa_and_with_the_reference(cfg):
    attn = make(cfg)
    x = torch.randn(2, 7, cfg.emb_dim)
    out = attn(x)
    assert torch.allclose(out, attention_by_hand(attn, x, use_sdpa=True), atol=1e-6)
    assert torch.allclose(out, attention_by_hand(attn, x, use_sdpa=False), atol=1e-5)


def test_reference_weights_are_causal_and_normalized():
    q, k, v = torch.randn(3, 2, 5, 4).unbind(0)
    out, weights = reference_attention(q, k, v)
    assert out.shape == (2, 5, 4) and weights.shape == (2, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 5))
    assert torch.all(weights.triu(diagonal=1) == 0)
    expected_first = v[:, 0]  # the first query can only see the first key
    assert torch.allclose(out[:, 0], expected_first)


def test_reference_scales_by_sqrt_head_dim():
    q = torch.ones(1, 2, 16)
    k = torch.tensor([[[1.0] * 16, [0.0] * 16]])
    _, weights = reference_attention(q, k, torch.randn(1, 2, 16))
    score = 16 / math.sqrt(16)
    assert torch.allclose(weights[0, 1], torch.softmax(torch.tensor([score, 0.0]), -1))


def test_gradients_reach_every_parameter():
    cfg = CONFIGS[1]
    attn = make(cfg).train()
    attn(torch.randn(2, 5, cfg.emb_dim)).sum().backward()
    for name, p in attn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_dropout_on_weights_only_in_training():
    cfg = GPTConfig(vocab_size=50, context_length=8, emb_dim=16, n_heads=2, n_layers=1, dropout=0.5)
    attn = make(cfg)
    x = torch.randn(1, 8, cfg.emb_dim)
    assert torch.equal(attn(x), attn(x))  # eval: deterministic
    attn.train()
    assert not torch.allclose(attn(x), attn(x))


def test_parameter_count_of_gpt2_small_layer():
    attn = CausalSelfAttention(GPTConfig())
    assert sum(p.numel() for p in attn.parameters()) == 2_360_064
    with_bias = CausalSelfAttention(GPTConfig(qkv_bias=True))
    assert sum(p.numel() for p in with_bias.parameters()) == 2_360_064 + 3 * 768


def test_qkv_bias_follows_config():
    assert make(CONFIGS[0]).qkv.bias is None
    assert make(CONFIGS[1]).qkv.bias.shape == (3 * 48,)


@pytest.mark.parametrize("emb_dim, n_heads", [(100, 12), (10, 3)])
def test_indivisible_width_names_both_numbers(emb_dim, n_heads):
    with pytest.raises(ValueError, match=rf"emb_dim \({emb_dim}\).*n_heads \({n_heads}\)"):
        CausalSelfAttention(GPTConfig(emb_dim=emb_dim, n_heads=n_heads))


def test_the_layer_carries_no_checks_and_a_wrong_width_fails_in_pytorch():
    """Input is checked at the library's doors (GPTModel, generate, ...), not in the layers: the taught
    forward is the math. A wrong width still cannot pass silently: PyTorch's matrix product refuses it."""
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        make(CONFIGS[0])(torch.randn(1, 3, 9))
