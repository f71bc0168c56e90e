"""Self-checks for the exercises of notebook 02 (causal self-attention), written by hand."""

import copy
import math

import torch
import torch.nn.functional as F

from gpt2lib import CausalSelfAttention, GPTConfig, reference_attention
from gpt2lib_exercises.core import (
    ExerciseError, Forbidden, attempt, attempt_without, expect, expect_close, expect_int, expect_tensor,
    fresh_generator, kind_of, passed, pick, seed_from, self_check,
)

SDPA = "F.scaled_dot_product_attention"
# Exercise 2 writes one head by hand: no fused kernel, by any path (F., torch._C._nn, torch.ops.aten, the kernels
# it dispatches to, nn.MultiheadAttention), and not gpt2lib's own written-out version either.
ONE_HEAD_BY_HAND = Forbidden(
    {"scaled_dot_product_attention": SDPA, "_safe_softmax": SDPA,  # the softmax of its math kernel, and only its
     "multi_head_attention_forward": "nn.MultiheadAttention (F.multi_head_attention_forward)"},
    prefixes={"_scaled_dot_product": SDPA}, functions={reference_attention: "reference_attention from gpt2lib"})
# Exercise 5 writes the fused forward: the library's module would be the answer itself.
FORWARD_BY_HAND = Forbidden({}, functions={
    CausalSelfAttention.forward: "CausalSelfAttention.forward from gpt2lib",
    CausalSelfAttention.split_heads: "CausalSelfAttention.split_heads from gpt2lib",
    CausalSelfAttention.merge_heads: "CausalSelfAttention.merge_heads from gpt2lib"})


def _future(T: int) -> torch.Tensor:
    """(T, T) bool: True where the key comes after the query."""
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def _attend(q, k, v, scale_dim: int | None = None, causal: bool = True, softmax_dim: int = -1,
            fill: float = float("-inf"), mask_after_softmax: bool = False) -> torch.Tensor:
    """Causal attention on (..., T, d) inputs, with switches that reproduce the usual mistakes."""
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1)  # (..., T, T)
    if scale_dim is not None:
        scores = scores / math.sqrt(scale_dim)
    if causal and not mask_after_softmax:
        scores = scores.masked_fill(_future(T), fill)
    weights = torch.softmax(scores, dim=softmax_dim)
    if causal and mask_after_softmax:
        weights = weights.masked_fill(_future(T), 0.0)
    return weights @ v  # (..., T, d)


# --- exercise 1: the causal mask ---------------------------------------------------------------------------

@self_check
def check_causal_mask(causal_mask) -> None:
    """causal_mask(T) -> (T, T) bool, True where key j comes after query i (hidden), False elsewhere."""
    name = "causal_mask"
    generator = fresh_generator()
    for T in [pick(generator, 4, 5, 6), pick(generator, 7, 9, 11), 1]:  # T = 1 last: it hides no mistake
        result = attempt(name, causal_mask, T)
        expect(isinstance(result, torch.Tensor), name, f"return a torch.Tensor, not {kind_of(result)}")
        expect_tensor(result, name, (T, T))
        future = _future(T)
        if result.dtype != torch.bool:
            additive = torch.zeros(T, T).masked_fill(future, float("-inf"))
            if T > 1 and result.is_floating_point() and torch.equal(result.float(), additive):
                raise ExerciseError(f"{name}: that is an additive mask of 0 and -inf; this exercise asks for a "
                                    "bool mask (True = hidden), the kind masked_fill takes")
            raise ExerciseError(f"{name}: return a bool tensor (dtype torch.bool), not {result.dtype}")
        if torch.equal(result, future):
            continue
        if torch.equal(result, future | torch.eye(T, dtype=torch.bool)):
            raise ExerciseError(f"{name}: the diagonal must be visible: a token may attend to itself "
                                "(torch.triu with diagonal=1, not 0)")
        if torch.equal(result, ~future):
            raise ExerciseError(f"{name}: the mask is inverted: True must mark the hidden (future) keys, "
                                "False the keys a query may see")
        if torch.equal(result, future.T):
            raise ExerciseError(f"{name}: that hides the past, not the future: the hidden keys lie above "
                                "the diagonal (key index j > query index i)")
        if result.diagonal().any():
            raise ExerciseError(f"{name}: the diagonal must be visible: a token may attend to itself "
                                "(torch.triu with diagonal=1, not 0)")
        if not result[future].all():
            raise ExerciseError(f"{name}: not causal: some query can see a later key (j > i); hide every "
                                "entry above the diagonal")
        raise ExerciseError(f"{name}: a query must see every key at or before its own position (j <= i); "
                            "only the entries above the diagonal are True")
    passed(name, "for two random lengths and T = 1")


# --- exercise 2: one head by hand ----------------------------------------------------------------------------

@self_check
def check_causal_attention(causal_attention) -> None:
    """causal_attention(q, k, v) -> (T, d): causal scaled dot-product attention for one head."""
    name = "causal_attention"
    generator = fresh_generator()
    for _ in range(3):
        T, d = pick(generator, 5, 6, 7), pick(generator, 4, 8, 16)
        q, k, v = (torch.randn(T, d, generator=generator) for _ in range(3))  # each (T, d)
        reference = _attend(q, k, v, scale_dim=d)
        result = attempt_without(name, ONE_HEAD_BY_HAND, causal_attention, q.clone(), k.clone(), v.clone())
        expect_tensor(result, name, (T, d))
        expect_close(result, reference, name, mistakes={
            "the scale is missing: divide the scores by sqrt(d), d = the width of q and k": _attend(q, k, v),
            "divide the scores by sqrt(d), not by d": _attend(q, k, v, scale_dim=d * d),
            "the mask is not applied: hide the future scores before the softmax, or each token sees later ones":
                _attend(q, k, v, scale_dim=d, causal=False),
            "softmax over the wrong dimension: each row (one query) must sum to 1, so use dim=-1":
                _attend(q, k, v, scale_dim=d, softmax_dim=0),
            "fill the hidden scores with -inf, not 0: exp(0) = 1 still gives them weight":
                _attend(q, k, v, scale_dim=d, fill=0.0),
            "mask before the softmax: zeroing weights afterwards leaves rows that no longer sum to 1":
                _attend(q, k, v, scale_dim=d, mask_after_softmax=True),
            "the scores are transposed: entry (i, j) is q_i . k_j, so compute q @ k.T, not k @ q.T":
                _attend(k, q, v, scale_dim=d),
        })
    passed(name, "on three random heads, written by hand")


# --- exercise 3: split into heads ---------------------------------------------------------------------------

@self_check
def check_split_heads(split_heads) -> None:
    """split_heads(x, n_heads) -> (B, n_heads, T, head_dim): head h gets features h*hd .. (h+1)*hd - 1."""
    name = "split_heads"
    generator = fresh_generator()
    for _ in range(3):
        n_heads, head_dim = pick(generator, 2, 3, 4), pick(generator, 5, 8)
        B, T, C = 2, pick(generator, 6, 7), n_heads * head_dim  # T never equals n_heads
        x = torch.randn(B, T, C, generator=generator)
        result = attempt(name, split_heads, x.clone(), n_heads)
        expect(isinstance(result, torch.Tensor), name, f"return a torch.Tensor, not {kind_of(result)}")
        expect(tuple(result.shape) != (B, T, n_heads, head_dim), name,
               "that is (B, T, n_heads, head_dim): the view is right, now swap dims 1 and 2 with transpose(1, 2)")
        expect_tensor(result, name, (B, n_heads, T, head_dim))
        reference = x.view(B, T, n_heads, head_dim).transpose(1, 2)
        expect_close(result, reference, name, mistakes={
            "a view straight to (B, n_heads, T, head_dim) mixes tokens into heads: view as "
            "(B, T, n_heads, head_dim) first, then transpose(1, 2)": x.reshape(B, n_heads, T, head_dim),
            "each head takes a consecutive slice of head_dim features: view as (B, T, n_heads, head_dim), "
            "not (B, T, head_dim, n_heads)": x.view(B, T, head_dim, n_heads).permute(0, 3, 1, 2),
        })
    passed(name, "on three random batches")


# --- exercise 4: many heads as a loop -----------------------------------------------------------------------

def _loop(x, W_q, W_k, W_v, out_proj, n_heads, columns=False, scale_dim=None, causal=True, reverse=False,
          project=True):
    """The loop over heads, with switches that reproduce the usual mistakes."""
    C = x.shape[-1]
    hd = C // n_heads
    outputs = []
    for h in range(n_heads):
        rows = slice(h * hd, (h + 1) * hd)
        part = (lambda W: x @ W[:, rows]) if columns else (lambda W: x @ W[rows].T)  # (B, T, hd)
        outputs.append(_attend(part(W_q), part(W_k), part(W_v), scale_dim=scale_dim or hd, causal=causal))
    y = torch.cat(outputs[::-1] if reverse else outputs, dim=-1)  # (B, T, C)
    return out_proj(y) if project else y


@self_check
def check_multi_head_loop(multi_head_loop) -> None:
    """multi_head_loop(x, W_q, W_k, W_v, out_proj, n_heads) -> (B, T, C), the output of CausalSelfAttention."""
    name = "multi_head_loop"
    generator = fresh_generator()
    seed_from(generator)
    for n_heads in [2, pick(generator, 3, 4)]:
        C = n_heads * pick(generator, 4, 8)
        cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=C, n_heads=n_heads, n_layers=1, dropout=0.0)
        attn = CausalSelfAttention(cfg).eval()
        B, T = 2, pick(generator, 5, 6, 7)
        x = torch.randn(B, T, C, generator=generator)
        with torch.no_grad():
            W_q, W_k, W_v = (w.clone() for w in attn.qkv.weight.chunk(3, dim=0))  # each (C, C), (out, in)
            args = (x, W_q, W_k, W_v, attn.out_proj, n_heads)
            reference, mistakes = attn(x), {
                "the output projection is missing: pass the concatenated heads through out_proj":
                    _loop(*args, project=False),
                "the heads are concatenated in the wrong order: head 0 first, then head 1, ...":
                    _loop(*args, reverse=True),
                "nn.Linear stores a weight as (out, in): head h uses ROWS h*head_dim:(h+1)*head_dim of W_q, "
                "and q = x @ W_q[rows].T": _loop(*args, columns=True),
                "scale each head's scores by sqrt(head_dim), the width of one head, not sqrt(emb_dim)":
                    _loop(*args, scale_dim=C),
                "the mask is missing: every head must be causal": _loop(*args, causal=False),
                "that is one head as wide as emb_dim: split q, k and v into n_heads slices and attend in each":
                    attn.out_proj(_attend(x @ W_q.T, x @ W_k.T, x @ W_v.T, scale_dim=C)),
            }
        weights = (W_q.clone(), W_k.clone(), W_v.clone(), attn.out_proj)
        result = attempt(name, multi_head_loop, x.clone(), *weights, n_heads)
        expect_tensor(result, name, (B, T, C))
        expect_close(result, reference, name, mistakes=mistakes)
    passed(name, "equal to CausalSelfAttention to within rounding, on two random modules")


# --- exercise 5: the fused forward, end to end --------------------------------------------------------------

def _fused(x, qkv, out_proj, n_heads, order=(0, 1, 2), split_view=False, causal=True, merge_view=False,
           project=True, scale_dim=None, heads=True):
    """CausalSelfAttention's forward, with switches that reproduce the usual mistakes."""
    B, T, C = x.shape
    hd = C // n_heads
    parts = qkv(x).chunk(3, dim=-1)  # 3 x (B, T, C)
    q, k, v = (parts[i] for i in order)
    if heads:
        if split_view:
            q, k, v = (t.reshape(B, n_heads, T, hd) for t in (q, k, v))
        else:
            q, k, v = (t.view(B, T, n_heads, hd).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
    scale = 1 / math.sqrt(scale_dim) if scale_dim else None
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)  # (B, nh, T, hd) or (B, T, C)
    if heads:
        y = y.reshape(B, T, C) if merge_view else y.transpose(1, 2).reshape(B, T, C)
    return out_proj(y) if project else y


def _fused_mistakes(x, qkv, out_proj, n_heads) -> dict[str, torch.Tensor]:
    args, C = (x, qkv, out_proj, n_heads), x.shape[-1]
    return {
        "the output projection is missing: pass the merged heads through out_proj": _fused(*args, project=False),
        "not causal: pass is_causal=True to F.scaled_dot_product_attention, so that no token sees a later one":
            _fused(*args, causal=False),
        "split each of q, k, v into heads with view(B, T, n_heads, head_dim) and then transpose(1, 2); a view "
        "straight to (B, n_heads, T, head_dim) mixes tokens into heads": _fused(*args, split_view=True),
        "merge the heads back with transpose(1, 2) before the reshape to (B, T, C); reshaping (B, n_heads, T, "
        "head_dim) directly mixes the heads into the tokens": _fused(*args, merge_view=True),
        "the split is right, the merge is not: both need transpose(1, 2)":
            _fused(*args, split_view=True, merge_view=True),
        "qkv(x) holds [q | k | v] in that order along the last dimension: q is the first chunk":
            _fused(*args, order=(1, 0, 2)),
        "q, k, v are the three chunks of qkv(x) in the order q, k, v": _fused(*args, order=(0, 2, 1)),
        "scale by sqrt(head_dim), the width of one head, not sqrt(emb_dim) (F.scaled_dot_product_attention "
        "already does it when you pass no scale)": _fused(*args, scale_dim=C),
        "that is one head as wide as emb_dim: split q, k and v into n_heads heads first": _fused(*args, heads=False),
    }


@self_check
def check_fused_attention(fused_attention) -> None:
    """fused_attention(x, qkv, out_proj, n_heads) -> (B, T, C): CausalSelfAttention's forward, all heads at once."""
    name = "fused_attention"
    generator = fresh_generator()
    seed_from(generator)
    for n_heads in (2, pick(generator, 3, 4)):
        C = n_heads * pick(generator, 4, 8)
        cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=C, n_heads=n_heads, n_layers=1, dropout=0.0,
                        qkv_bias=True)
        attn = CausalSelfAttention(cfg).eval()
        B, T = 2, pick(generator, 5, 6, 7)  # T differs from n_heads and head_dim, so mixed-up dimensions show
        x = torch.randn(B, T, C, generator=generator)
        with torch.no_grad():
            reference, mistakes = attn(x), _fused_mistakes(x, attn.qkv, attn.out_proj, n_heads)
        qkv, out_proj = copy.deepcopy(attn.qkv), copy.deepcopy(attn.out_proj)  # the learner's own copies
        result = attempt_without(name, FORWARD_BY_HAND, fused_attention, x.clone(), qkv, out_proj, n_heads)
        expect_tensor(result, name, (B, T, C))
        expect_close(result, reference, name, mistakes=mistakes)
    passed(name, "equal to CausalSelfAttention on two random modules with q/k/v biases")


# --- questions ---------------------------------------------------------------------------------------------

def attention_scores_reference(cfg: GPTConfig) -> int:
    T = cfg.context_length
    return cfg.n_layers * cfg.n_heads * T * T


@self_check
def check_attention_scores(attention_scores) -> None:
    """attention_scores(cfg) -> entries of all score matrices for one sequence of cfg.context_length tokens."""
    name = "attention_scores"
    generator = fresh_generator()
    small = GPTConfig(context_length=pick(generator, 32, 64), emb_dim=96, n_heads=pick(generator, 3, 4, 6),
                      n_layers=pick(generator, 2, 5))
    for cfg in [GPTConfig.from_preset("gpt2-medium"), small, GPTConfig()]:  # n_heads != n_layers first
        reference = attention_scores_reference(cfg)
        result = expect_int(attempt(name, attention_scores, cfg), name)
        T, L, H = cfg.context_length, cfg.n_layers, cfg.n_heads
        hints = {
            H * T * T: "that is one layer: every one of the n_layers blocks has its own attention",
            L * T * T: "that is one head per layer: each of the n_heads heads computes its own (T, T) scores",
            L * H * T: "each head scores every query against every key: T x T scores, not T",
            L * H * T * (T + 1) // 2: "count the full T x T matrix: the masked entries are computed too, "
                                      "then set to -inf",
            L * H * T * cfg.emb_dim: "a score matrix is (T, T), whatever the width of the embeddings",
        }
        if result != reference:
            raise ExerciseError(f"{name}: " + hints.get(result, f"for {cfg} the count is off by "
                                                                f"{result - reference:+,}"))
    passed(name, f"GPT-2 small computes {attention_scores_reference(GPTConfig()):,} scores for one sequence "
                 "of 1,024 tokens")


def score_tensor_bytes_reference(batch_size: int, cfg: GPTConfig, dtype: torch.dtype) -> int:
    T = cfg.context_length
    return batch_size * cfg.n_heads * T * T * dtype.itemsize


@self_check
def check_score_tensor_bytes(score_tensor_bytes) -> None:
    """score_tensor_bytes(batch_size, cfg, dtype) -> bytes of one layer's (B, n_heads, T, T) score tensor."""
    name = "score_tensor_bytes"
    generator = fresh_generator()
    small = GPTConfig(context_length=pick(generator, 32, 64), emb_dim=96, n_heads=pick(generator, 3, 4, 6))
    for batch_size, cfg, dtype in [(8, GPTConfig(), torch.float32), (3, small, torch.bfloat16),
                                   (5, GPTConfig.from_preset("gpt2-xl"), torch.float16)]:
        reference = score_tensor_bytes_reference(batch_size, cfg, dtype)
        result = expect_int(attempt(name, score_tensor_bytes, batch_size, cfg, dtype), name)
        B, H, T, size = batch_size, cfg.n_heads, cfg.context_length, dtype.itemsize
        hints = {
            B * H * T * T * 4: "every dtype costs 4 bytes in your answer; use dtype.itemsize",
            B * H * T * T: "that is a number of entries: multiply by the bytes per entry, dtype.itemsize",
            H * T * T * size: "the tensor holds a (n_heads, T, T) block for each of the batch_size sequences",
            B * T * T * size: "there is one (T, T) matrix per head: multiply by n_heads",
            B * H * T * size: "each head holds T x T scores, not T",
            B * H * T * T * size * cfg.n_layers: "that is all layers at once; the question asks for one layer",
        }
        if result != reference:
            raise ExerciseError(f"{name}: " + hints.get(result, f"for batch {batch_size}, {dtype} and {cfg} "
                                                                f"the size is off by {result - reference:+,} bytes"))
    one = score_tensor_bytes_reference(8, GPTConfig(), torch.float32)
    passed(name, f"batch 8 of 1,024 tokens in float32: {one / 1e9:.2f} GB per layer, "
                 f"{12 * one / 1e9:.2f} GB for GPT-2 small's 12 layers")
