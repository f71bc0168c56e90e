"""Self-checks for the exercises of notebook 07 (decoding strategies and the key/value cache)."""

import torch

from gpt2lib import GPTConfig, GPTModel, generate_simple
from gpt2lib_exercises.core import (
    ExerciseError, attempt, distinguishable, expect, expect_close, expect_number, expect_tensor, fresh_generator, kind_of,
    passed, pick, same, self_check,
)

INF = float("-inf")


# --- exercise 1: temperature ------------------------------------------------------------------------------

@self_check
def check_next_token_probs(next_token_probs) -> None:
    """next_token_probs(logits (B, V), temperature) -> softmax(logits / temperature) over the vocabulary."""
    name = "next_token_probs"
    generator = fresh_generator()
    B, V = 3, 11
    for temperature in (0.5, 2.0, pick(generator, 0.7, 1.5)):
        logits = 2 * torch.randn(B, V, generator=generator)
        result = attempt(name, next_token_probs, logits.clone(), temperature)
        expect_tensor(result, name, (B, V))
        probs = torch.softmax(logits, dim=-1)
        expect_close(result, torch.softmax(logits / temperature, dim=-1), name, mistakes={
            "multiply by the temperature? Divide the logits by it: a small temperature sharpens the distribution":
                torch.softmax(logits * temperature, dim=-1),
            "the temperature is ignored: divide the logits by it before the softmax": probs,
            "these are scaled logits: turn them into probabilities with a softmax": logits / temperature,
            "take the softmax over the vocabulary, the last dimension, not over the batch":
                torch.softmax(logits / temperature, dim=0),
            "apply the temperature to the logits, before the softmax, not to the probabilities": probs / temperature,
            "apply the temperature to the logits, before the softmax (powers of the probabilities are not "
            "normalized)": probs ** (1 / temperature),
        })
    passed(name, "on random logits at three temperatures")


# --- exercise 2: top-k ------------------------------------------------------------------------------------

def top_k_reference(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = torch.topk(logits, k).values[:, -1:]  # (B, 1): the k-th largest logit of each row
    return logits.masked_fill(logits < kth, INF)


@self_check
def check_top_k_filter(top_k_filter) -> None:
    """top_k_filter(logits (B, V), k) -> logits with all but the k largest of each row set to -inf."""
    name = "top_k_filter"
    generator = fresh_generator()
    B, V = 4, 20
    for k in (int(torch.randint(2, 7, (), generator=generator)), 1, V):
        logits = 2 * torch.randn(B, V, generator=generator)
        reference = top_k_reference(logits, k)
        result = attempt(name, top_k_filter, logits.clone(), k)  # the check fails if it changes the logits
        expect_tensor(result, name, (B, V))
        if same(result, reference):
            continue
        dropped = reference == INF
        expect(not (dropped.any() and torch.isfinite(result).all() and same(result[~dropped], logits[~dropped])),
               name, "set the dropped logits to float('-inf'), so that softmax gives them probability exactly 0")
        mistakes = {
            "you kept the k smallest logits; keep the k largest": _top_k_smallest(logits, k),
            "take the k largest of each row, not of the whole batch": _top_k_over_batch(logits, k),
            "return logits (with -inf for the dropped tokens), not probabilities": torch.softmax(reference, dim=-1),
        }
        for hint, wrong in mistakes.items():
            expect(not same(result, wrong), name, hint)
        kept = torch.isfinite(result).sum(dim=-1)  # (B,)
        expect(bool((kept == k).all()), name, f"with k = {k} the rows keep {kept.tolist()} tokens; keep exactly k")
        expect_close(result, reference, name)
    passed(name, "on random logits with k = 1, a random k, and k = vocab_size")


def _top_k_smallest(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = torch.topk(logits, k, largest=False).values[:, -1:]
    return logits.masked_fill(logits > kth, INF)


def _top_k_over_batch(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = torch.topk(logits.flatten(), k).values[-1]
    return logits.masked_fill(logits < kth, INF)


# --- exercise 3: top-p ------------------------------------------------------------------------------------

def top_p_reference(logits: torch.Tensor, p: float, sort: bool = True, softmax: bool = True,
                    crossing: bool = True, unsort: bool = True) -> torch.Tensor:
    """The nucleus filter; the flags switch on the typical mistakes (for the hints)."""
    if sort:
        values, order = torch.sort(logits, dim=-1, descending=True)  # (B, V) each
    else:
        values, order = logits, torch.arange(logits.shape[-1]).expand_as(logits)
    weights = torch.softmax(values, dim=-1) if softmax else values
    before = weights.cumsum(dim=-1) - (weights if crossing else 0)  # mass ranked above (or up to) each token
    values = values.masked_fill(before >= p, INF)
    return torch.full_like(logits, INF).scatter(-1, order, values) if unsort else values


@self_check
def check_top_p_filter(top_p_filter) -> None:
    """top_p_filter(logits (B, V), p) -> logits with the tokens outside the nucleus set to -inf."""
    name = "top_p_filter"
    generator = fresh_generator()
    B, V = 4, 16
    for p in (pick(generator, 0.5, 0.6), pick(generator, 0.75, 0.9)):
        for _ in range(100):  # new logits until each mistake gives its own answer (almost always the first ones)
            logits = 1.5 * torch.randn(B, V, generator=generator)
            reference, mistakes = top_p_reference(logits, p), _top_p_mistakes(logits, p)
            if distinguishable(reference, mistakes):
                break
        result = attempt(name, top_p_filter, logits.clone(), p)  # the check fails if it changes the logits
        expect_tensor(result, name, (B, V))
        expect_close(result, reference, name, mistakes=mistakes)
    passed(name, "on random logits at two values of p")


def _top_p_mistakes(logits: torch.Tensor, p: float) -> dict[str, torch.Tensor]:
    """What each usual mistake of top_p_filter gives on these logits, keyed by its hint."""
    return {
        "the token that crosses p belongs to the nucleus: keep a token while the tokens ranked above it "
        "add up to less than p": top_p_reference(logits, p, crossing=False),
        "sort the probabilities from largest to smallest before adding them up":
            top_p_reference(logits, p, sort=False),
        "sort the probabilities from largest to smallest before adding them up (and keep the token that "
        "crosses p)": top_p_reference(logits, p, sort=False, crossing=False),
        "add up probabilities (the softmax of the logits), not the logits themselves":
            top_p_reference(logits, p, softmax=False),
        "put the logits back in vocabulary order (the sorting's indices and scatter)":
            top_p_reference(logits, p, unsort=False),
        "return logits (with -inf outside the nucleus), not probabilities":
            torch.softmax(top_p_reference(logits, p), dim=-1),
    }


# --- exercise 4: one layer's key/value cache --------------------------------------------------------------

@self_check
def check_layer_cache(LayerCache) -> None:
    """LayerCache().update(k, v) stores k, v (B, nh, T, hd) behind the earlier ones and returns all of them."""
    name = "LayerCache"
    generator = fresh_generator()
    B, nh, hd = 2, 3, 4  # distinct sizes, so that a concatenation on a wrong dimension shows in the shape
    other, cache = attempt(name, LayerCache), attempt(name, LayerCache)
    attempt(name, other.update, *torch.randn(2, B, nh, 3, hd, generator=generator))  # tokens of another cache
    keys_so_far, values_so_far = [], []
    for step, T in enumerate([2, 2, 1, 1]):  # a prompt of 2 tokens, a chunk of 2, then one token at a time
        k, v = torch.randn(B, nh, T, hd, generator=generator), torch.randn(B, nh, T, hd, generator=generator)
        result = attempt(name, cache.update, k.clone(), v.clone())
        expect(isinstance(result, (tuple, list)) and len(result) == 2, name, "update returns a pair (keys, values)")
        old_k, old_v = (torch.cat(keys_so_far, dim=2), torch.cat(values_so_far, dim=2)) if step else (None, None)
        keys_so_far.append(k)
        values_so_far.append(v)
        got = result[0]
        expect(step or not (isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[2] > T), name,
               "a new cache already holds tokens: two caches share their contents. Create each cache's own "
               "store in __init__, on self")
        for got, new, old, what in [(result[0], k, old_k, "keys"), (result[1], v, old_v, "values")]:
            _check_stored(name, got, new, old, what, step)
        expect_close(result[0], torch.cat(keys_so_far, dim=2), name, mistakes={
            "update returned the values where the keys belong: return (keys, values)": torch.cat(values_so_far, 2)})
        expect_close(result[1], torch.cat(values_so_far, dim=2), name)
    passed(name, "a prompt, a chunk, then single tokens")


def _check_stored(name: str, got, new: torch.Tensor, old, what: str, step: int) -> None:
    expect(isinstance(got, torch.Tensor), name, f"the {what} must be a tensor, not {kind_of(got)}")
    want = new if old is None else torch.cat([old, new], dim=2)  # (B, nh, L, hd)
    if old is not None and got.shape != want.shape:
        for d in (0, 1, 3):
            expect(tuple(got.shape) != _cat_shape(old, new, d), name, f"the {what} grew along dimension {d} "
                   "instead of 2: they are (B, n_heads, T, head_dim); concatenate along the tokens, dim=2")
    if step and got.shape == old.shape and torch.equal(got, old):
        raise ExerciseError(f"{name}: the new tokens' {what} are missing: append them, then return everything")
    shorter = got.dim() == 4 and got.shape[2] < want.shape[2] and got.shape[:2] + got.shape[3:] == want.shape[:2] + \
        want.shape[3:]
    if step and shorter:
        raise ExerciseError(f"{name}: the cache forgets: update returned {got.shape[2]} tokens' {what} where "
                            f"{want.shape[2]} were given so far. Store the concatenation in self at every call, so "
                            "that the next call finds everything")
    expect_tensor(got, name, tuple(want.shape))
    if old is not None and torch.equal(got, torch.cat([new, old], dim=2)):
        raise ExerciseError(f"{name}: the new tokens come after the stored ones: torch.cat([old, new], dim=2)")


def _cat_shape(a: torch.Tensor, b: torch.Tensor, dim: int) -> tuple | None:
    """The shape of torch.cat([a, b], dim), or None where the two cannot be concatenated along dim."""
    if a.shape[:dim] + a.shape[dim + 1:] != b.shape[:dim] + b.shape[dim + 1:]:
        return None
    return tuple(a.shape[:dim]) + (a.shape[dim] + b.shape[dim],) + tuple(a.shape[dim + 1:])


# --- exercise 5: the mask of a chunk that follows the cache ---------------------------------------------------

def chunk_mask_reference(n_new: int, offset: int) -> torch.Tensor:
    """(n_new, offset + n_new) bool, True where new query i (at position offset + i) may see key j: j <= offset + i."""
    return torch.ones(n_new, offset + n_new, dtype=torch.bool).tril(offset)


def _chunk_mask_hint(result: torch.Tensor, n_new: int, offset: int) -> str | None:
    """The hint of the known mistake that result is, if any."""
    length = offset + n_new
    ones = torch.ones(n_new, length, dtype=torch.bool)
    mistakes = {
        "the mask is inverted: F.scaled_dot_product_attention's boolean attn_mask is True where a query MAY see "
        "a key (the opposite of the masked_fill mask of notebook 02)": ~chunk_mask_reference(n_new, offset),
        "the offset is missing: new query i sits at position offset + i, so it sees every cached key and the new "
        "keys up to its own, j <= offset + i (tril with diagonal=offset)": ones.tril(0),
        "a query must see its own key: it sits at position offset + i and sees keys j <= offset + i "
        "(diagonal=offset, not offset - 1)": ones.tril(offset - 1),
        "off by one: query i sees keys up to its own position offset + i, not offset + i + 1 "
        "(diagonal=offset, not offset + 1)": ones.tril(offset + 1),
        "the cached keys are hidden: every new query sees all of them": torch.cat(
            [torch.zeros(n_new, offset, dtype=torch.bool), torch.ones(n_new, n_new, dtype=torch.bool).tril()], 1),
    }
    return next((hint for hint, wrong in mistakes.items() if torch.equal(result, wrong)), None)


@self_check
def check_chunk_mask(chunk_mask) -> None:
    """chunk_mask(n_new, offset) -> (n_new, offset + n_new) bool: True where a new query may see a key."""
    name = "chunk_mask"
    generator = fresh_generator()
    n_new, offset = pick(generator, 3, 4), pick(generator, 5, 6, 7)  # the offset never equals the chunk's size
    for n, past in [(n_new, offset), (pick(generator, 2, 5), pick(generator, 1, 3)), (1, offset), (n_new, 0)]:
        result = attempt(name, chunk_mask, n, past)
        expect(isinstance(result, torch.Tensor), name, f"return a torch.Tensor, not {kind_of(result)}")
        shape, want = tuple(result.shape), (n, past + n)
        expect(shape != (n, n) or past == 0, name, f"that is ({n}, {n}), new keys only: the chunk's {n} queries "
               f"see the {past} cached keys too, so the mask is (n_new, offset + n_new) = {want}")
        expect(shape != (past + n, past + n) or past == 0, name, f"one row per NEW query: the mask is "
               f"(n_new, offset + n_new) = {want}, not a square over all {past + n} positions")
        expect_tensor(result, name, want)
        if result.dtype != torch.bool:
            raise ExerciseError(f"{name}: return a bool tensor (True = may see), the kind of attn_mask "
                                f"F.scaled_dot_product_attention takes, not {result.dtype}")
        if torch.equal(result, chunk_mask_reference(n, past)):
            continue
        hint = _chunk_mask_hint(result, n, past)
        raise ExerciseError(f"{name}: " + (hint or f"with n_new={n}, offset={past}: new query i must see exactly "
                                                   "the keys j <= offset + i"))
    passed(name, "chunks after caches of several lengths, one token, and an empty cache")


# --- exercise 6: the greedy loop --------------------------------------------------------------------------

def tiny_model(generator: torch.Generator, context_length: int = 8) -> GPTModel:
    """A tiny GPTModel with large random weights, so that its greedy choices depend on every earlier token."""
    cfg = GPTConfig(vocab_size=pick(generator, 50, 97), context_length=context_length, emb_dim=16, n_heads=2,
                    n_layers=2, dropout=0.0)
    with torch.random.fork_rng(devices=[]):  # GPT-2's initialization leaves the learner's seed alone
        model = GPTModel(cfg, tie_weights=False)  # a separate head: a tied one mostly predicts the input token
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:  # layer norms keep scale 1 and shift 0
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model.eval()


@torch.no_grad()
def _greedy_variant(model: GPTModel, idx: torch.Tensor, n: int, position: int = -1, window: int | None = None):
    for _ in range(n):
        logits = model(idx[:, -(window or model.cfg.context_length):])[:, position]  # (B, V)
        idx = torch.cat([idx, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return idx


@self_check
def check_greedy_generate(greedy_generate) -> None:
    """greedy_generate(model, idx (B, T), n) -> (B, T + n): n times, append the most likely next token."""
    name = "greedy_generate"
    generator = fresh_generator()
    model = tiny_model(generator)
    for T, n in [(3, 4), (5, 7)]:  # the second run grows past the context of 8 tokens
        idx = torch.randint(0, model.cfg.vocab_size, (3, T), generator=generator)
        reference = generate_simple(model, idx, n)
        try:
            result = attempt(name, greedy_generate, model, idx.clone(), n)
        except ExerciseError as error:
            if T + n <= model.cfg.context_length or "your code raised" not in str(error):
                raise
            raise ExerciseError(f"{error} (It failed once the text grew past context_length = "
                                f"{model.cfg.context_length} tokens: give the model only the last context_length "
                                "tokens, idx[:, -context_length:].)") from None
        expect(not (isinstance(result, torch.Tensor) and tuple(result.shape) == (3, n)), name,
               "that is the new tokens alone: return the prompt followed by the new tokens, (B, T + n)")
        expect_tensor(result, name, (3, T + n))
        expect(torch.equal(result[:, :T], idx), name, "the output must start with the prompt, unchanged")
        result = result.long()
        if torch.equal(result, reference):
            continue
        mistakes = {  # on a tiny model both can give the same tokens: then both hints are shown
            "the next token comes from the logits of the last position, [:, -1, :]":
                _greedy_variant(model, idx, n, position=0),
            "the model should read the whole text so far (up to context_length tokens), not only the last token":
                _greedy_variant(model, idx, n, window=1),
        }
        hints = [hint for hint, wrong in mistakes.items() if torch.equal(result, wrong)]
        raise ExerciseError(f"{name}: " + (" Or: ".join(hints) if hints else
                                           "these are not the most likely tokens: at each step append the argmax "
                                           "of the last position's logits"))
    passed(name, "on a tiny random model, within and past its context length")


# --- question: the memory of a KV cache -------------------------------------------------------------------

@self_check
def check_kv_cache_megabytes(kv_cache_megabytes) -> None:
    """kv_cache_megabytes(cfg, n_tokens, dtype) -> MB (10^6 bytes) of one sequence's cache of n_tokens tokens."""
    name = "kv_cache_megabytes"
    generator = fresh_generator()
    small = GPTConfig()
    configs = [(small, 1024, torch.float32), (GPTConfig.from_preset("gpt2-xl"), 1024, torch.bfloat16),
               (small, int(torch.randint(1, 1024, (), generator=generator)), torch.float16)]
    for cfg, n_tokens, dtype in configs:
        result = expect_number(attempt(name, kv_cache_megabytes, cfg, n_tokens, dtype), name)
        numbers = 2 * cfg.n_layers * n_tokens * cfg.emb_dim  # a key and a value of emb_dim numbers, per layer
        size = dtype.itemsize
        if _near(result, numbers * size / 1e6):
            continue
        hints = {
            "store the values as well as the keys": numbers / 2 * size / 1e6,
            "every layer (block) has its own cache: multiply by n_layers": numbers / cfg.n_layers * size / 1e6,
            "emb_dim already covers all heads (n_heads x head_dim = emb_dim): do not multiply by n_heads":
                numbers * cfg.n_heads * size / 1e6,
            "queries are used once and not cached: only keys and values": numbers * 1.5 * size / 1e6,
            "that is MiB (2^20 bytes); the question asks for MB, 10^6 bytes": numbers * size / 2**20,
        }
        if size != 4:
            hints["every dtype costs 4 bytes in your answer; use dtype.itemsize"] = numbers * 4 / 1e6
        for hint, wrong in hints.items():
            if _near(result, wrong):
                raise ExerciseError(f"{name}: {hint}")
        raise ExerciseError(f"{name}: {n_tokens} tokens of a model with {cfg.n_layers} layers of width {cfg.emb_dim} "
                            f"in {dtype} should not take {result} MB")
    passed(name, f"GPT-2 small's cache for 1024 tokens takes {2 * 12 * 1024 * 768 * 4 / 1e6:.1f} MB "
                 "per sequence in float32")


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))
