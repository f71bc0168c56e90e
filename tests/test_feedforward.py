import pytest
import torch
import torch.nn.functional as F

from gpt2lib import GELU, FeedForward, GPTConfig, gelu_exact, gelu_tanh


@pytest.mark.parametrize("approximate, reference", [("none", gelu_exact), ("tanh", gelu_tanh)])
def test_gelu_matches_pytorch(approximate, reference):
    x = torch.linspace(-8, 8, 2001)
    expected = F.gelu(x, approximate=approximate)
    assert torch.allclose(reference(x), expected, atol=1e-6)
    assert torch.allclose(GELU(approximate)(x), expected, atol=1e-6)


def test_gelu_default_is_gpt2_tanh_and_differs_from_exact():
    x = torch.linspace(-4, 4, 801)
    assert GELU().approximate == "tanh"
    gap = (gelu_exact(x) - gelu_tanh(x)).abs().max()
    assert 1e-4 < gap < 1e-3


def test_an_unknown_gelu_mode_fails_in_pytorch_when_used():
    with pytest.raises(RuntimeError, match="approximate"):  # layers carry no checks: PyTorch's own error
        GELU("sigmoid")(torch.zeros(3))


@pytest.mark.parametrize("emb_dim", [4, 24, 768])
def test_feedforward_shapes_and_parameter_count(emb_dim):
    cfg = GPTConfig(emb_dim=emb_dim, n_heads=1)
    ff = FeedForward(cfg)
    assert ff(torch.randn(2, 3, emb_dim)).shape == (2, 3, emb_dim)
    assert ff.fc.out_features == 4 * emb_dim
    expected = (emb_dim * 4 * emb_dim + 4 * emb_dim) + (4 * emb_dim * emb_dim + emb_dim)
    assert sum(p.numel() for p in ff.parameters()) == expected
    if emb_dim == 768:
        assert expected == 4_722_432


def test_feedforward_acts_on_each_token_alone():
    ff = FeedForward(GPTConfig(emb_dim=16, n_heads=1))
    x = torch.randn(2, 7, 16)
    perm = torch.randperm(7)
    assert torch.allclose(ff(x[:, perm]), ff(x)[:, perm], atol=1e-6)
    assert torch.allclose(ff(x[:, :3]), ff(x)[:, :3], atol=1e-6)


def test_feedforward_gradients_reach_every_parameter():
    ff = FeedForward(GPTConfig(emb_dim=8, n_heads=1))
    ff(torch.randn(2, 3, 8)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ff.parameters())
