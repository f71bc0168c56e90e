"""Generation with a key/value cache must equal generation without it, token for token."""

import dataclasses

import pytest
import torch

from gpt2lib import GPTConfig, GPTModel, KVCache, decode_step, forward_with_cache, generate

CFG = GPTConfig(vocab_size=211, context_length=16, emb_dim=32, n_heads=4, n_layers=3, dropout=0.0, qkv_bias=True)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(7)
    return GPTModel(CFG).eval()


@pytest.mark.parametrize("prompt_len", [1, 4, 9, 16])
@pytest.mark.parametrize("batch", [1, 3])
def test_cached_greedy_equals_uncached(model, prompt_len, batch):
    prompt = torch.randint(0, CFG.vocab_size, (batch, prompt_len), generator=torch.Generator().manual_seed(prompt_len))
    new = CFG.context_length + 9 - prompt_len  # runs past the context limit, so the window slides
    cached = generate(model, prompt, new)
    assert cached.shape == (batch, prompt_len + new)
    assert torch.equal(cached, generate(model, prompt, new, use_cache=False))


def test_cached_sampling_equals_uncached_with_the_same_seed(model):
    prompt = torch.tensor([[3, 1, 4, 1, 5]])
    kwargs = dict(temperature=0.9, top_k=20, top_p=0.9)
    cached = generate(model, prompt, 12, generator=torch.Generator().manual_seed(0), **kwargs)
    uncached = generate(model, prompt, 12, generator=torch.Generator().manual_seed(0), use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)


def test_each_cached_step_gives_the_full_forward_logits(model):
    ids = torch.randint(0, CFG.vocab_size, (2, 10), generator=torch.Generator().manual_seed(1))
    full = model(ids)
    cache = KVCache(CFG, batch_size=2, max_len=10)
    chunks = [forward_with_cache(model, ids[:, :4], cache), forward_with_cache(model, ids[:, 4:7], cache)]
    chunks += [forward_with_cache(model, ids[:, t:t + 1], cache) for t in range(7, 10)]
    assert cache.length == 10
    assert torch.allclose(torch.cat(chunks, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("qkv_bias", [True, False])
@pytest.mark.parametrize("batch", [1, 3])
def test_decode_step_gives_forward_with_cache_logits(batch, qkv_bias):
    """The lean one-token step (the fast path of generate) against the readable cached forward pass."""
    torch.manual_seed(3)
    model = GPTModel(dataclasses.replace(CFG, qkv_bias=qkv_bias)).eval()
    ids = torch.randint(0, CFG.vocab_size, (batch, CFG.context_length), generator=torch.Generator().manual_seed(batch))
    readable, lean = KVCache(CFG, batch, CFG.context_length), KVCache(CFG, batch, CFG.context_length)
    with torch.no_grad():
        forward_with_cache(model, ids[:, :1], readable), forward_with_cache(model, ids[:, :1], lean)
        for t in range(1, CFG.context_length):  # up to the last position of the context
            expected = forward_with_cache(model, ids[:, t:t + 1], readable)
            got = decode_step(model, ids[:, t:t + 1], lean)
            assert got.shape == expected.shape == (batch, 1, CFG.vocab_size)
            assert torch.allclose(got, expected, atol=1e-5), t
    assert lean.length == readable.length == CFG.context_length
    for mine, theirs in zip(lean.layers, readable.layers):
        assert torch.allclose(mine.keys, theirs.keys, atol=1e-6) and torch.allclose(mine.values, theirs.values, atol=1e-6)


def test_decode_step_refuses_more_than_one_token_or_a_full_context(model):
    cache = KVCache(CFG, batch_size=1, max_len=CFG.context_length)
    forward_with_cache(model, torch.zeros(1, CFG.context_length, dtype=torch.long), cache)
    with pytest.raises(ValueError, match=r"one new token per row within the context \(16\); got 1 after 16 cached"):
        decode_step(model, torch.zeros(1, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="got 2 after 0 cached: use forward_with_cache"):
        decode_step(model, torch.zeros(1, 2, dtype=torch.long), KVCache(CFG, batch_size=1, max_len=4))
    with pytest.raises(ValueError, match="out of range"):
        decode_step(model, torch.full((1, 1), CFG.vocab_size), KVCache(CFG, batch_size=1, max_len=4))


def test_cache_follows_the_model_dtype(model):
    prompt = torch.tensor([[1, 2, 3]])
    bf16 = GPTModel(CFG).eval().to(torch.bfloat16)
    bf16.load_state_dict(model.state_dict())
    assert torch.equal(generate(bf16, prompt, 6), generate(bf16, prompt, 6, use_cache=False))


def test_too_many_tokens_for_the_context_or_the_cache_are_refused(model):
    cache = KVCache(CFG, batch_size=1, max_len=CFG.context_length)
    forward_with_cache(model, torch.zeros(1, 12, dtype=torch.long), cache)
    with pytest.raises(ValueError, match=r"12 cached \+ 5 new tokens exceed the context length \(16\)"):
        forward_with_cache(model, torch.zeros(1, 5, dtype=torch.long), cache)
    small = KVCache(CFG, batch_size=1, max_len=4)
    with pytest.raises(ValueError, match="the KV cache holds 4 tokens; 6 do not fit"):
        forward_with_cache(model, torch.zeros(1, 6, dtype=torch.long), small)


def test_top_p_keeps_the_smallest_set_reaching_p():
    from gpt2lib import pick_next_token

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    draws = {pick_next_token(logits, 1.0, top_p=0.7, generator=torch.Generator().manual_seed(s)).item() for s in range(200)}
    assert draws == {0, 1}
    only_top = {pick_next_token(logits, 1.0, top_p=0.4, generator=torch.Generator().manual_seed(s)).item() for s in range(50)}
    assert only_top == {0}


@pytest.mark.parametrize("use_cache", [True, False])
def test_generate_returns_a_new_tensor_even_when_it_adds_nothing(model, use_cache):
    prompt = torch.tensor([[1, 2, 3]])
    out = generate(model, prompt, 0, use_cache=use_cache)
    assert torch.equal(out, prompt) and out is not prompt and out.data_ptr() != prompt.data_ptr()
    out[0, 0] = 7  # the caller's prompt is not changed through the result
    assert prompt[0, 0].item() == 1
