"""Notebook 07's exercise checks: right answers pass, blank stubs say "not done yet", and deliberately wrong
answers (mutations) fail with the hint meant for that mistake."""

import pytest
import torch

from gpt2lib import GPTModel, pick_next_token
from gpt2lib.checks import generation

from exercise_helpers import fails_with, stub

INF = float("-inf")


# --- reference answers -----------------------------------------------------------------------------------

def next_token_probs(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)


def top_k_filter(logits, k, keep=None):
    kth = torch.topk(logits, keep or k).values[:, -1:]
    return logits.masked_fill(logits < kth, INF)


def top_p_filter(logits, p, crossing=True, sort=True, softmax=True, unsort=True):
    return generation.top_p_reference(logits, p, sort=sort, softmax=softmax, crossing=crossing, unsort=unsort)


class LayerCache:
    def __init__(self):
        self.keys = self.values = None

    def update(self, k, v, dim=2):
        if self.keys is None:
            self.keys, self.values = k, v
        else:
            self.keys, self.values = torch.cat([self.keys, k], dim=dim), torch.cat([self.values, v], dim=dim)
        return self.keys, self.values


@torch.no_grad()
def greedy_generate(model, idx, n, crop=True, position=-1, only_new=False):
    prompt_len = idx.shape[1]
    for _ in range(n):
        logits = model(idx[:, -model.cfg.context_length:] if crop else idx)[:, position]
        idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx[:, prompt_len:] if only_new else idx


def kv_cache_megabytes(cfg, n_tokens, dtype, factor=2.0, layers=True, bytes_per=None, unit=1e6):
    numbers = factor * (cfg.n_layers if layers else 1) * n_tokens * cfg.emb_dim
    return numbers * (bytes_per or dtype.itemsize) / unit


# --- mutations -------------------------------------------------------------------------------------------

class CacheOnHeads(LayerCache):
    def update(self, k, v):
        return super().update(k, v, dim=1)


class CacheOnLastDim(LayerCache):
    def update(self, k, v):
        return super().update(k, v, dim=-1)


class CacheNeverStores(LayerCache):
    def update(self, k, v):
        if self.keys is None:
            return k, v
        return torch.cat([self.keys, k], dim=2), torch.cat([self.values, v], dim=2)


class CacheStoresOnce(LayerCache):
    def update(self, k, v):
        if self.keys is None:
            self.keys, self.values = k, v
            return k, v
        return torch.cat([self.keys, k], dim=2), torch.cat([self.values, v], dim=2)


class CacheNewFirst(LayerCache):
    def update(self, k, v):
        if self.keys is None:
            self.keys, self.values = k, v
        else:
            self.keys, self.values = torch.cat([k, self.keys], dim=2), torch.cat([v, self.values], dim=2)
        return self.keys, self.values


class CacheSwapped(LayerCache):
    def update(self, k, v):
        keys, values = super().update(k, v)
        return values, keys


class CacheShared:
    keys, values = [], []  # on the class: every cache shares these lists

    def update(self, k, v):
        self.keys.append(k)
        self.values.append(v)
        return torch.cat(self.keys, dim=2), torch.cat(self.values, dim=2)


def top_k_in_place(logits, k):
    kth = torch.topk(logits, k).values[:, -1:]
    return logits.masked_fill_(logits < kth, INF)


def top_k_smallest(logits, k):
    kth = torch.topk(logits, k, largest=False).values[:, -1:]
    return logits.masked_fill(logits > kth, INF)


CHECKS_07 = [
    (generation.check_next_token_probs, next_token_probs, [
        (lambda z, t: torch.softmax(z * t, dim=-1), "Divide the logits"),
        (lambda z, t: torch.softmax(z, dim=-1), "temperature is ignored"),
        (lambda z, t: z / t, "with a softmax"),
        (lambda z, t: torch.softmax(z / t, dim=0), "the last dimension"),
        (lambda z, t: torch.softmax(z, dim=-1) / t, "before the softmax"),
        (lambda z, t: torch.softmax(z, dim=-1) ** (1 / t), "before the softmax"),
    ]),
    (generation.check_top_k_filter, top_k_filter, [
        (top_k_smallest, "k smallest"),
        (lambda z, k: z.masked_fill(z < z.flatten().topk(k).values[-1], INF), "not of the whole batch"),
        (lambda z, k: z.masked_fill(z < torch.topk(z, k).values[:, -1:], 0.0), "float\\('-inf'\\)"),
        (lambda z, k: top_k_filter(z, k, keep=k + 1), "keep exactly k"),
        (lambda z, k: z.masked_fill(z <= torch.topk(z, k).values[:, -1:], INF), "keep exactly k"),
        (lambda z, k: torch.softmax(top_k_filter(z, k), dim=-1), "not probabilities"),
        (top_k_in_place, "changed the logits it was given"),
    ]),
    (generation.check_top_p_filter, top_p_filter, [
        (lambda z, p: top_p_filter(z, p, crossing=False), "the token that crosses p belongs to the nucleus"),
        (lambda z, p: top_p_filter(z, p, sort=False), "sort the probabilities"),
        (lambda z, p: top_p_filter(z, p, softmax=False), "not the logits themselves"),
        (lambda z, p: top_p_filter(z, p, unsort=False), "back in vocabulary order"),
        (lambda z, p: torch.softmax(top_p_filter(z, p), dim=-1), "not probabilities"),
    ]),
    (generation.check_layer_cache, LayerCache, [
        (CacheOnHeads, "dimension 1 instead of 2"),
        (CacheOnLastDim, "dimension 3 instead of 2"),
        (CacheNeverStores, "the cache forgets"),
        (CacheStoresOnce, "the cache forgets"),
        (CacheNewFirst, "come after the stored ones"),
        (CacheSwapped, "values where the keys belong"),
        (CacheShared, "share their contents"),
    ]),
    (generation.check_greedy_generate, greedy_generate, [
        (lambda m, idx, n: greedy_generate(m, idx, n, position=0), "last position"),
        (lambda m, idx, n: greedy_generate(m, idx, n, only_new=True), "new tokens alone"),
        (lambda m, idx, n: greedy_generate(m, idx, n, crop=False), "past context_length"),
        (lambda m, idx, n: greedy_generate(m, idx[:, -1:], n), "start with the prompt|wrong shape"),
        (lambda m, idx, n: generation._greedy_variant(m, idx, n, window=1), "not only the last token"),
    ]),
    (generation.check_kv_cache_megabytes, kv_cache_megabytes, [
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt, factor=1), "values as well as the keys"),
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt, layers=False), "multiply by n_layers"),
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt) * c.n_heads, "do not multiply by n_heads"),
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt, factor=3), "queries are used once"),
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt, unit=2**20), "MiB"),
        (lambda c, n, dt: kv_cache_megabytes(c, n, dt, bytes_per=4), "4 bytes"),
    ]),
]


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_07], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_07], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_07 for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_the_filters_agree_with_gpt2libs_sampler():
    """With k = 1 or a tiny p only the top token survives, so sampling from the filtered logits is greedy."""
    logits = torch.randn(5, 30, generator=torch.Generator().manual_seed(0))
    greedy = pick_next_token(logits)
    rng = torch.Generator().manual_seed(1)
    assert torch.equal(torch.multinomial(torch.softmax(top_k_filter(logits, 1), -1), 1, generator=rng), greedy)
    assert torch.equal(torch.multinomial(torch.softmax(top_p_filter(logits, 1e-6), -1), 1, generator=rng), greedy)
    # The nucleus keeps the same tokens as gpt2lib's top-p: its draws never leave that set.
    kept = torch.isfinite(top_p_filter(logits, 0.6))
    draws = pick_next_token(logits.repeat(200, 1), temperature=1.0, top_p=0.6, generator=rng).view(200, 5)
    assert kept.gather(1, draws.T).all()


def test_the_greedy_reference_matches_gpt2libs_generate():
    from gpt2lib import generate
    model = generation.tiny_model(torch.Generator().manual_seed(0))
    assert isinstance(model, GPTModel)
    idx = torch.randint(0, model.cfg.vocab_size, (2, 5))
    assert torch.equal(greedy_generate(model, idx, 7), generate(model, idx, 7))
