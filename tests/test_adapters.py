"""Wrapped layers work everywhere: a LoRA adapter around every nn.Linear of the blocks is used by the forward
pass, the cached forward pass, decode_step and generate, and equals the model with the adapters merged in."""

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel, KVCache, decode_step, forward_with_cache, generate

TINY = GPTConfig(vocab_size=61, context_length=16, emb_dim=16, n_heads=2, n_layers=2, dropout=0.0)


class LoRALinear(nn.Module):
    """base(x) + (alpha / r) * x A^T B^T: a frozen linear layer plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int = 2, alpha: float = 4.0):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.A = nn.Parameter(0.3 * torch.randn(rank, base.in_features))  # (r, in)
        self.B = nn.Parameter(0.3 * torch.randn(base.out_features, rank))  # (out, r); nonzero, so it matters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * (x @ self.A.T @ self.B.T)

    def merged(self) -> nn.Linear:
        layer = copy.deepcopy(self.base)
        with torch.no_grad():
            layer.weight += self.scale * self.B @ self.A  # (out, r) @ (r, in) -> (out, in)
        return layer


def linear_slots(model: GPTModel, include_head: bool):
    """(parent module, attribute name) of every nn.Linear in the blocks, and of the output head if asked."""
    slots = [(part, name) for block in model.blocks
             for part, name in [(block.attn, "qkv"), (block.attn, "out_proj"), (block.mlp, "fc"), (block.mlp, "proj")]]
    return slots + ([(model, "out_head")] if include_head else [])


def adapted_and_merged(qkv_bias: bool, include_head: bool = False):
    torch.manual_seed(0)
    base = GPTModel(replace(TINY, qkv_bias=qkv_bias), tie_weights=not include_head).eval()
    adapted = copy.deepcopy(base)
    for parent, name in linear_slots(adapted, include_head):
        setattr(parent, name, LoRALinear(getattr(parent, name)))
    merged = copy.deepcopy(adapted)
    for parent, name in linear_slots(merged, include_head):
        setattr(parent, name, getattr(parent, name).merged())
    return base, adapted, merged


@pytest.mark.parametrize("qkv_bias", [False, True])
@pytest.mark.parametrize("include_head", [False, True])
def test_forward_of_an_adapted_model_equals_the_merged_model(qkv_bias, include_head):
    base, adapted, merged = adapted_and_merged(qkv_bias, include_head)
    ids = torch.randint(0, TINY.vocab_size, (3, 9))
    with torch.no_grad():
        assert torch.allclose(adapted(ids), merged(ids), atol=1e-5)
        assert not torch.allclose(adapted(ids), base(ids), atol=1e-2)  # the adapters change the output


@pytest.mark.parametrize("batch", [1, 3])
def test_cached_steps_of_an_adapted_model_use_the_adapters(batch):
    base, adapted, merged = adapted_and_merged(qkv_bias=True, include_head=True)
    ids = torch.randint(0, TINY.vocab_size, (batch, 10))
    with torch.no_grad():
        full = adapted(ids)  # (B, 10, vocab_size)
        cache = KVCache(TINY, batch, 10)
        prompt = forward_with_cache(adapted, ids[:, :4], cache)
        steps = [decode_step(adapted, ids[:, t:t + 1], cache) for t in range(4, 10)]  # one token per row
    assert torch.allclose(torch.cat([prompt, *steps], dim=1), full, atol=1e-5)


@pytest.mark.parametrize("qkv_bias", [False, True])
@pytest.mark.parametrize("include_head", [False, True])
def test_greedy_generation_of_an_adapted_model_equals_uncached_and_merged(qkv_bias, include_head):
    base, adapted, merged = adapted_and_merged(qkv_bias, include_head)
    prompts = torch.randint(0, TINY.vocab_size, (2, 3))
    for prompt in (prompts[:1], prompts):  # one row (matrix-vector path) and two rows
        cached = generate(adapted, prompt, 20)  # 3 + 20 tokens: past the context of 16, so the window slides
        assert torch.equal(cached, generate(adapted, prompt, 20, use_cache=False))
        assert torch.equal(cached, generate(merged, prompt, 20))
        assert not torch.equal(cached, generate(base, prompt, 20))


def test_a_wrapped_output_head_is_not_mistaken_for_the_tied_embedding():
    base, adapted, merged = adapted_and_merged(qkv_bias=False, include_head=True)
    assert not adapted.weights_tied and not merged.weights_tied and not base.weights_tied
