"""Notebook 02's exercise checks: right answers pass, blank stubs say "not done yet", and deliberately wrong
answers (mutations) fail with the hint meant for that mistake."""

import math

import pytest
import torch

from gpt2lib import reference_attention
from gpt2lib.checks import attention as checks

from exercise_helpers import fails_with, stub


# --- right answers ------------------------------------------------------------------------------------------

def causal_mask(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def attend(q, k, v, scale=True, mask=True, dim=-1, fill=float("-inf")):
    """One head's causal attention, with switches for the mutations below."""
    scores = q @ k.T / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if mask:
        scores = scores.masked_fill(causal_mask(q.shape[0]), fill)
    return torch.softmax(scores, dim=dim) @ v


def causal_attention(q, k, v):
    return attend(q, k, v)


def split_heads(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


def loop(x, W_q, W_k, W_v, out_proj, n_heads, order=1, rows=True, project=True, attention=None):
    """The loop over heads, with switches for the mutations below."""
    hd = x.shape[-1] // n_heads
    attention = attention or (lambda q, k, v: reference_attention(q, k, v)[0])
    outs = []
    for h in range(n_heads):
        s = slice(h * hd, (h + 1) * hd)
        proj = (lambda W: x @ W[s].T) if rows else (lambda W: x @ W[:, s])
        outs.append(attention(proj(W_q), proj(W_k), proj(W_v)))
    y = torch.cat(outs[::order], dim=-1)
    return out_proj(y) if project else y


def multi_head_loop(x, W_q, W_k, W_v, out_proj, n_heads):
    return loop(x, W_q, W_k, W_v, out_proj, n_heads)


def scaled_by_emb_dim(x, W_q, W_k, W_v, out_proj, n_heads):
    C = x.shape[-1]

    def attention(q, k, v):  # (B, T, hd), scaled by sqrt(C) instead of sqrt(hd)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(C)).masked_fill(causal_mask(q.shape[-2]), float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    return loop(x, W_q, W_k, W_v, out_proj, n_heads, attention=attention)


def not_causal(x, W_q, W_k, W_v, out_proj, n_heads):
    def attention(q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v

    return loop(x, W_q, W_k, W_v, out_proj, n_heads, attention=attention)


def attention_scores(cfg):
    return cfg.n_layers * cfg.n_heads * cfg.context_length**2


def score_tensor_bytes(batch_size, cfg, dtype):
    return batch_size * cfg.n_heads * cfg.context_length**2 * dtype.itemsize


# --- every check, its right answer, and mutations with the hint each must get ----------------------------

CHECKS_02 = [
    (checks.check_causal_mask, causal_mask, [
        (lambda T: ~causal_mask(T), "inverted"),
        (lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool)), "diagonal must be visible"),
        (lambda T: causal_mask(T).T, "hides the past"),
        (lambda T: torch.zeros(T, T).masked_fill(causal_mask(T), float("-inf")), "additive mask"),
        (lambda T: causal_mask(T).float(), "bool tensor"),
        (lambda T: torch.zeros(T, T, dtype=torch.bool), "not causal"),
        (lambda T: causal_mask(T)[0], "wrong shape"),
    ]),
    (checks.check_causal_attention, causal_attention, [
        (lambda q, k, v: attend(q, k, v, scale=False), "scale is missing"),
        (lambda q, k, v: attend(q / math.sqrt(q.shape[-1]), k, v), "not by d"),
        (lambda q, k, v: attend(q, k, v, mask=False), "mask is not applied"),
        (lambda q, k, v: attend(q, k, v, dim=0), "softmax over the wrong dimension"),
        (lambda q, k, v: attend(q, k, v, fill=0.0), "not 0"),
        (lambda q, k, v: torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), -1).masked_fill(
            causal_mask(q.shape[0]), 0.0) @ v, "mask before the softmax"),
        (lambda q, k, v: attend(k, q, v), "scores are transposed"),
        (lambda q, k, v: attend(q, k, v).T, "wrong shape"),
    ]),
    (checks.check_split_heads, split_heads, [
        (lambda x, nh: x.view(*x.shape[:2], nh, x.shape[-1] // nh), "transpose\\(1, 2\\)"),
        (lambda x, nh: x.view(x.shape[0], nh, x.shape[1], x.shape[-1] // nh), "mixes tokens into heads"),
        (lambda x, nh: x.view(*x.shape[:2], x.shape[-1] // nh, nh).permute(0, 3, 1, 2), "consecutive slice"),
    ]),
    (checks.check_multi_head_loop, multi_head_loop, [
        (lambda *a: loop(*a, project=False), "output projection is missing"),
        (lambda *a: loop(*a, order=-1), "wrong order"),
        (lambda *a: 1.1 * loop(*a), "values are not"),
        (lambda *a: loop(*a, rows=False), "ROWS"),
        (scaled_by_emb_dim, "sqrt\\(head_dim\\)"),
        (not_causal, "mask is missing"),
        (lambda x, W_q, W_k, W_v, out_proj, n_heads: out_proj(reference_attention(x @ W_q.T, x @ W_k.T, x @ W_v.T)[0]),
         "one head as wide as emb_dim"),
    ]),
    (checks.check_attention_scores, attention_scores, [
        (lambda cfg: cfg.n_heads * cfg.context_length**2, "one layer"),
        (lambda cfg: cfg.n_layers * cfg.context_length**2, "one head per layer"),
        (lambda cfg: cfg.n_layers * cfg.n_heads * cfg.context_length, "not T"),
        (lambda cfg: cfg.n_layers * cfg.n_heads * cfg.context_length * (cfg.context_length + 1) // 2,
         "full T x T matrix"),
        (lambda cfg: float(attention_scores(cfg)), "Python int"),
    ]),
    (checks.check_score_tensor_bytes, score_tensor_bytes, [
        (lambda b, cfg, dtype: b * cfg.n_heads * cfg.context_length**2 * 4, "4 bytes"),
        (lambda b, cfg, dtype: b * cfg.n_heads * cfg.context_length**2, "number of entries"),
        (lambda b, cfg, dtype: cfg.n_heads * cfg.context_length**2 * dtype.itemsize, "batch_size sequences"),
        (lambda b, cfg, dtype: b * cfg.context_length**2 * dtype.itemsize, "multiply by n_heads"),
        (lambda b, cfg, dtype: cfg.n_layers * score_tensor_bytes(b, cfg, dtype), "one layer"),
        (lambda b, cfg, dtype: score_tensor_bytes(b, cfg, dtype) / 1e9, "Python int"),
    ]),
]


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_02], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_02], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_02 for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(checks.check_split_heads, lambda x, nh: x.view(nh), "your code raised")


def test_the_passed_lines_do_not_depend_on_the_random_inputs(capsys):
    lines = set()
    for _ in range(3):
        checks.check_multi_head_loop(multi_head_loop)
        checks.check_score_tensor_bytes(score_tensor_bytes)
        lines.add(capsys.readouterr().out)
    assert len(lines) == 1
