import pytest
import torch

from gpt2lib import LayerNorm, layer_norm_reference


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 4, 16), (2, 3, 4, 32)])
def test_normalizes_each_vector_to_mean_0_variance_1(shape):
    torch.manual_seed(0)
    x = 10 * torch.randn(shape) + 3
    y = LayerNorm(shape[-1])(x)
    assert y.shape == x.shape
    assert torch.allclose(y.mean(-1), torch.zeros(shape[:-1]), atol=1e-5)
    assert torch.allclose(y.var(-1, unbiased=False), torch.ones(shape[:-1]), atol=1e-3)


@pytest.mark.parametrize("emb_dim, eps", [(1, 1e-5), (12, 1e-5), (768, 1e-5), (33, 1e-3)])
def test_equals_nn_layernorm_with_the_same_parameters(emb_dim, eps):
    torch.manual_seed(emb_dim)
    ours, theirs = LayerNorm(emb_dim, eps=eps), torch.nn.LayerNorm(emb_dim, eps=eps)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    x = 4 * torch.randn(3, 5, emb_dim) - 2
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)


def test_uses_biased_variance_and_eps():
    x = torch.tensor([[1.0, 3.0]])  # mean 2, biased variance 1 (unbiased would be 2)
    assert torch.allclose(LayerNorm(2, eps=0.0)(x), torch.tensor([[-1.0, 1.0]]))
    assert torch.allclose(LayerNorm(2, eps=3.0)(x), torch.tensor([[-0.5, 0.5]]))


def test_constant_input_gives_finite_output():
    assert torch.isfinite(LayerNorm(4)(torch.full((2, 4), 7.0))).all()


def test_starts_as_identity_scale_and_zero_shift():
    norm = LayerNorm(6)
    assert torch.equal(norm.weight, torch.ones(6)) and torch.equal(norm.bias, torch.zeros(6))
    assert [name for name, _ in norm.named_parameters()] == ["weight", "bias"]


def test_gradients_reach_scale_and_shift():
    norm = LayerNorm(8)
    x = torch.randn(2, 3, 8, requires_grad=True)
    (norm(x) * torch.randn(2, 3, 8)).sum().backward()
    assert norm.weight.grad.abs().sum() > 0 and norm.bias.grad.abs().sum() > 0
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(3, 7), (2, 5, 768)])
def test_module_equals_the_written_out_reference(shape):
    torch.manual_seed(1)
    norm = LayerNorm(shape[-1], eps=1e-4)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = 3 * torch.randn(shape) + 1
    assert torch.allclose(norm(x), layer_norm_reference(x, norm.weight, norm.bias, eps=1e-4), atol=1e-5)
