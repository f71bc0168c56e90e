"""The exercises' self-checks (gpt2lib_exercises), one notebook per section: right answers pass, blank stubs say
"not done yet", and deliberately wrong answers (mutations) fail with the hint meant for that mistake.

Each section holds a table of (check, right answer, [(mutation, hint the mutation must get), ...]); the tests at the
end run every table. Tests that belong to one notebook only sit in its section."""

import ast
import contextlib
import importlib
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nbclient import NotebookClient
from torch import nn
from torch.overrides import TorchFunctionMode

import gpt2lib
import gpt2lib_exercises
from gpt2lib import GPTConfig, GPTModel, count_parameters, pick_next_token, reference_attention
from gpt2lib.training import load_corpus, tokenize, train_val_split
from gpt2lib_exercises import (
    ExerciseError, attention, block, finetune, generation, guard, layernorm, loading, mlp, scaffold, tokens, training,
    training_for_real,
)

from exercise_helpers import fails_with, stub
from test_exercises_00 import CHECKS as CHECKS_00, CRASHING_ANSWERS as CRASHING_00, MORE_RIGHT_ANSWERS as MORE_RIGHT_00
from test_exercises_10 import CHECKS as CHECKS_10, CRASHING_ANSWERS as CRASHING_10, MORE_RIGHT_ANSWERS as MORE_RIGHT_10


# --- notebook 01: the scaffold ------------------------------------------------------------------------------

def embed(tok_emb, pos_emb, idx):
    return tok_emb(idx) + pos_emb(torch.arange(idx.shape[1]))


def scaffold_forward(model, idx):
    x = model.drop(model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1])))
    for b in model.blocks:
        x = b(x)
    return model.out_head(model.final_norm(x))


def scaffold_forward_with(model, idx, drop="embeddings", final_norm=True, blocks=True, positions=True):
    """The forward pass, with switches for the mutations below."""
    tokens = model.tok_emb(idx)
    x = (model.drop(tokens) if drop == "tokens" else tokens) + model.pos_emb(torch.arange(idx.shape[1])) * positions
    x = model.drop(x) if drop in ("embeddings", "twice") else x
    x = model.drop(x) if drop == "twice" else x
    for b in model.blocks if blocks else []:
        x = b(x)
    x = model.drop(x) if drop == "after blocks" else x
    return model.out_head(model.final_norm(x) if final_norm else x)


def scaffold_forward_functional_dropout(model, idx):  # F.dropout in eval mode drops nothing: model.drop is the part
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1]))
    x = F.dropout(x, p=0.1, training=model.training)
    for b in model.blocks:
        x = b(x)
    return model.out_head(model.final_norm(x))


def scaffold_parameters(cfg):
    return 2 * cfg.vocab_size * cfg.emb_dim + cfg.context_length * cfg.emb_dim


def next_token_ids(logits):
    return logits[:, -1].argmax(-1)


def logits_megabytes(B, T, V, dtype):
    return B * T * V * dtype.itemsize / 1e6


CHECKS_01 = [
    (scaffold.check_embed, embed, [
        (lambda t, p, idx: t(idx), "only the token embedding"),
        (lambda t, p, idx: t(idx) + p(torch.arange(1, idx.shape[1] + 1)), "positions start at 0"),
        (lambda t, p, idx: t(idx) + p(torch.arange(idx.shape[1])).sum(0), "wrong shape|values are not"),
        (lambda t, p, idx: t(idx).sum(-1), "wrong shape"),
    ]),
    (scaffold.check_scaffold_forward, scaffold_forward, [
        (lambda m, idx: scaffold_forward_with(m, idx, blocks=False), "blocks are missing"),
        (lambda m, idx: scaffold_forward_with(m, idx, final_norm=False), "final layer norm is missing"),
        (lambda m, idx: scaffold_forward(m, idx)[:, :-1], "wrong shape"),
        (lambda m, idx: scaffold_forward_with(m, idx, drop=None), "dropout is missing"),
        (scaffold_forward_functional_dropout, "dropout is missing"),
        (lambda m, idx: scaffold_forward_with(m, idx, drop="after blocks"), "not after them"),
        (lambda m, idx: scaffold_forward_with(m, idx, drop="tokens"), "not to the token embedding alone"),
        (lambda m, idx: scaffold_forward_with(m, idx, drop="twice"), "ran 2 times"),
        (lambda m, idx: scaffold_forward_with(m, idx, positions=False), "position embedding is missing"),
        (lambda m, idx: m.drop(idx.float()), "apply it to the embeddings"),
    ]),
    (scaffold.check_scaffold_parameters, scaffold_parameters, [
        (lambda cfg: cfg.vocab_size * cfg.emb_dim + cfg.context_length * cfg.emb_dim, "count the output head"),
        (lambda cfg: scaffold_parameters(cfg) + cfg.vocab_size, "no bias"),
        (lambda cfg: float(scaffold_parameters(cfg)), "Python int"),
    ]),
    (scaffold.check_next_token_ids, next_token_ids, [
        (lambda logits: logits.argmax(-1), "keep only the last position"),
        (lambda logits: logits[:, 0].argmax(-1), "first position"),
        (lambda logits: logits[:, -1].argmin(-1), "argmax over the vocabulary"),
    ]),
    (scaffold.check_logits_megabytes, logits_megabytes, [
        (lambda B, T, V, dtype: B * T * V * dtype.itemsize / 2**20, "MiB"),
        (lambda B, T, V, dtype: B * T * V / 1e6, "not bytes"),
        (lambda B, T, V, dtype: B * T * V * 4 / 1e6, "4 bytes"),
        (lambda B, T, V, dtype: B * V * dtype.itemsize / 1e6, "every position"),
    ]),
]


# --- notebook 02: causal self-attention ---------------------------------------------------------------------

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


def loop(x, W_q, W_k, W_v, out_proj, n_heads, order=1, rows=True, project=True, one_head=None):
    """The loop over heads, with switches for the mutations below."""
    hd = x.shape[-1] // n_heads
    one_head = one_head or (lambda q, k, v: reference_attention(q, k, v)[0])
    outs = []
    for h in range(n_heads):
        s = slice(h * hd, (h + 1) * hd)
        proj = (lambda W: x @ W[s].T) if rows else (lambda W: x @ W[:, s])
        outs.append(one_head(proj(W_q), proj(W_k), proj(W_v)))
    y = torch.cat(outs[::order], dim=-1)
    return out_proj(y) if project else y


def multi_head_loop(x, W_q, W_k, W_v, out_proj, n_heads):
    return loop(x, W_q, W_k, W_v, out_proj, n_heads)


def scaled_by_emb_dim(x, W_q, W_k, W_v, out_proj, n_heads):
    C = x.shape[-1]

    def one_head(q, k, v):  # (B, T, hd), scaled by sqrt(C) instead of sqrt(hd)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(C)).masked_fill(causal_mask(q.shape[-2]), float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    return loop(x, W_q, W_k, W_v, out_proj, n_heads, one_head=one_head)


def not_causal(x, W_q, W_k, W_v, out_proj, n_heads):
    def one_head(q, k, v):
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v

    return loop(x, W_q, W_k, W_v, out_proj, n_heads, one_head=one_head)


def sdpa_then_by_hand(q, k, v):  # a hidden call: the fused kernel's result is thrown away, the answer is right
    F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return attend(q, k, v)


def sdpa_unseen_by_torch_function(q, k, v):  # hides from __torch_function__; the dispatcher still sees the kernel
    with torch._C.DisableTorchFunction():
        return torch.ops.aten._scaled_dot_product_attention_math(q, k, v, is_causal=True)[0]


def sdpa_inside_try(q, k, v):  # a call whose error is caught, then the answer written out
    try:
        return torch.ops.aten.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0] / 0
    except ZeroDivisionError:
        return attend(q, k, v)


def fused_attention(x, qkv, out_proj, n_heads, order=(0, 1, 2), split=True, merge=True, causal=True, project=True,
                    scale=None, heads=True):
    """The fused forward, with switches for the mutations below."""
    B, T, C = x.shape
    q, k, v = (qkv(x).chunk(3, dim=-1)[i] for i in order)
    if heads:
        split_one = (lambda t: t.view(B, T, n_heads, C // n_heads).transpose(1, 2)) if split else \
            (lambda t: t.reshape(B, n_heads, T, C // n_heads))
        q, k, v = split_one(q), split_one(k), split_one(v)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    if heads:
        y = y.transpose(1, 2).reshape(B, T, C) if merge else y.reshape(B, T, C)
    return out_proj(y) if project else y


def fused_by_hand(x, qkv, out_proj, n_heads):  # all heads at once without the fused kernel: right too
    B, T, C = x.shape
    q, k, v = (t.view(B, T, n_heads, C // n_heads).transpose(1, 2) for t in qkv(x).chunk(3, dim=-1))
    return out_proj(reference_attention(q, k, v)[0].transpose(1, 2).reshape(B, T, C))


def fused_through_the_library(x, qkv, out_proj, n_heads):  # the library's module with the given weights
    from gpt2lib import CausalSelfAttention

    C = x.shape[-1]
    attn = CausalSelfAttention(GPTConfig(emb_dim=C, n_heads=n_heads, n_layers=1, dropout=0.0, qkv_bias=True))
    attn.qkv, attn.out_proj = qkv, out_proj
    return attn(x)


def attention_scores(cfg):
    return cfg.n_layers * cfg.n_heads * cfg.context_length**2


def score_tensor_bytes(batch_size, cfg, dtype):
    return batch_size * cfg.n_heads * cfg.context_length**2 * dtype.itemsize


CHECKS_02 = [
    (attention.check_causal_mask, causal_mask, [
        (lambda T: ~causal_mask(T), "inverted"),
        (lambda T: torch.triu(torch.ones(T, T, dtype=torch.bool)), "diagonal must be visible"),
        (lambda T: causal_mask(T).T, "hides the past"),
        (lambda T: torch.zeros(T, T).masked_fill(causal_mask(T), float("-inf")), "additive mask"),
        (lambda T: causal_mask(T).float(), "bool tensor"),
        (lambda T: torch.zeros(T, T, dtype=torch.bool), "not causal"),
        (lambda T: causal_mask(T)[0], "wrong shape"),
    ]),
    (attention.check_causal_attention, causal_attention, [
        (lambda q, k, v: attend(q, k, v, scale=False), "scale is missing"),
        (lambda q, k, v: attend(q / math.sqrt(q.shape[-1]), k, v), "not by d"),
        (lambda q, k, v: attend(q, k, v, mask=False), "mask is not applied"),
        (lambda q, k, v: attend(q, k, v, dim=0), "softmax over the wrong dimension"),
        (lambda q, k, v: attend(q, k, v, fill=0.0), "not 0"),
        (lambda q, k, v: torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), -1).masked_fill(
            causal_mask(q.shape[0]), 0.0) @ v, "mask before the softmax"),
        (lambda q, k, v: attend(k, q, v), "scores are transposed"),
        (lambda q, k, v: attend(q, k, v).T, "wrong shape"),
        (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), "F.scaled_dot_product_attention"),
        (lambda q, k, v: torch._C._nn.scaled_dot_product_attention(q, k, v, is_causal=True),
         "F.scaled_dot_product_attention"),
        (lambda q, k, v: torch.ops.aten._scaled_dot_product_attention_math(q, k, v, is_causal=True)[0],
         "F.scaled_dot_product_attention"),
        (lambda q, k, v: reference_attention(q, k, v)[0], "reference_attention from gpt2lib"),
        (sdpa_then_by_hand, "write the steps yourself: your code calls F.scaled_dot_product_attention"),
        (sdpa_inside_try, "write the steps yourself: your code calls F.scaled_dot_product_attention"),
        (sdpa_unseen_by_torch_function, "your code calls F.scaled_dot_product_attention"),
    ]),
    (attention.check_split_heads, split_heads, [
        (lambda x, nh: x.view(*x.shape[:2], nh, x.shape[-1] // nh), "transpose\\(1, 2\\)"),
        (lambda x, nh: x.view(x.shape[0], nh, x.shape[1], x.shape[-1] // nh), "mixes tokens into heads"),
        (lambda x, nh: x.view(*x.shape[:2], x.shape[-1] // nh, nh).permute(0, 3, 1, 2), "consecutive slice"),
    ]),
    (attention.check_multi_head_loop, multi_head_loop, [
        (lambda *a: loop(*a, project=False), "output projection is missing"),
        (lambda *a: loop(*a, order=-1), "wrong order"),
        (lambda *a: 1.1 * loop(*a), "values are not"),
        (lambda *a: loop(*a, rows=False), "ROWS"),
        (scaled_by_emb_dim, "sqrt\\(head_dim\\)"),
        (not_causal, "mask is missing"),
        (lambda x, W_q, W_k, W_v, out_proj, n_heads: out_proj(reference_attention(x @ W_q.T, x @ W_k.T, x @ W_v.T)[0]),
         "one head as wide as emb_dim"),
    ]),
    (attention.check_fused_attention, fused_attention, [
        (lambda *a: fused_attention(*a, project=False), "output projection is missing"),
        (lambda *a: fused_attention(*a, causal=False), "not causal"),
        (lambda *a: fused_attention(*a, split=False), "mixes tokens into heads"),
        (lambda *a: fused_attention(*a, merge=False), "transpose\\(1, 2\\) before the reshape"),
        (lambda *a: fused_attention(*a, split=False, merge=False), "both need transpose"),
        (lambda *a: fused_attention(*a, order=(1, 0, 2)), "q is the first chunk"),
        (lambda *a: fused_attention(*a, order=(0, 2, 1)), "in the order q, k, v"),
        (lambda *a: fused_attention(*a, scale=1.0 / math.sqrt(a[0].shape[-1])), "not sqrt\\(emb_dim\\)"),
        (lambda *a: fused_attention(*a, heads=False), "one head as wide as emb_dim"),
        (lambda *a: fused_attention(*a)[:, :-1], "wrong shape"),
        (fused_through_the_library, "CausalSelfAttention.forward from gpt2lib"),
    ]),
    (attention.check_attention_scores, attention_scores, [
        (lambda cfg: cfg.n_heads * cfg.context_length**2, "one layer"),
        (lambda cfg: cfg.n_layers * cfg.context_length**2, "one head per layer"),
        (lambda cfg: cfg.n_layers * cfg.n_heads * cfg.context_length, "not T"),
        (lambda cfg: cfg.n_layers * cfg.n_heads * cfg.context_length * (cfg.context_length + 1) // 2,
         "full T x T matrix"),
        (lambda cfg: float(attention_scores(cfg)), "Python int"),
    ]),
    (attention.check_score_tensor_bytes, score_tensor_bytes, [
        (lambda b, cfg, dtype: b * cfg.n_heads * cfg.context_length**2 * 4, "4 bytes"),
        (lambda b, cfg, dtype: b * cfg.n_heads * cfg.context_length**2, "number of entries"),
        (lambda b, cfg, dtype: cfg.n_heads * cfg.context_length**2 * dtype.itemsize, "batch_size sequences"),
        (lambda b, cfg, dtype: b * cfg.context_length**2 * dtype.itemsize, "multiply by n_heads"),
        (lambda b, cfg, dtype: cfg.n_layers * score_tensor_bytes(b, cfg, dtype), "one layer"),
        (lambda b, cfg, dtype: score_tensor_bytes(b, cfg, dtype) / 1e9, "Python int"),
    ]),
]


# --- notebook 03: layer normalization -----------------------------------------------------------------------

def token_stats(x):
    return x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)


def layer_norm(x, weight, bias, eps=1e-5, dim=-1, unbiased=False, eps_outside=False, affine=True):
    mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=unbiased)
    x_norm = (x - mean) / (var.sqrt() + eps if eps_outside else torch.sqrt(var + eps))
    return weight * x_norm + bias if affine else x_norm


class LayerNorm(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))
        self.bias = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)


class PlainTensors(LayerNorm):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__(emb_dim, eps)
        del self.weight, self.bias
        self.weight, self.bias = torch.ones(emb_dim), torch.zeros(emb_dim)  # not registered


class StartsAtZero(LayerNorm):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__(emb_dim, eps)
        nn.init.zeros_(self.weight)


class StartsRandom(LayerNorm):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__(emb_dim, eps)
        nn.init.normal_(self.weight)


class FixedEps(LayerNorm):
    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, 1e-5)


class Unbiased(LayerNorm):
    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps, unbiased=True)


class NoAffine(LayerNorm):
    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps, affine=False)


class OtherNames(LayerNorm):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__(emb_dim, eps)
        self.gamma, self.beta = self.weight, self.bias
        del self.weight, self.bias

    def forward(self, x):
        return layer_norm(x, self.gamma, self.beta, self.eps)


class Detached(LayerNorm):
    def forward(self, x):
        return layer_norm(x, self.weight.detach(), self.bias.detach(), self.eps)


class SubclassesTorchs(nn.LayerNorm):  # nn.LayerNorm's own weight, bias and forward
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__(emb_dim, eps=eps)


class HoldsTorchs(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(emb_dim, eps=eps)

    def forward(self, x):
        return self.norm(x)


class CallsFunctional(LayerNorm):  # its own parameters, torch's function
    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class SubclassesGpt2libs(gpt2lib.LayerNorm):
    pass


def layer_norm_after_a_peek(x, w, b, eps):  # a hidden call: the built-in result is thrown away
    torch.layer_norm(x, x.shape[-1:], w, b, eps)
    return layer_norm(x, w, b, eps)


def layer_norm_as_group_norm(x, w, b, eps):  # one group over each token's features is a layer norm too
    return F.group_norm(x.reshape(-1, x.shape[-1]), 1, w, b, eps).view(x.shape)


def pre_ln(x, norm, sublayer):
    return x + sublayer(norm(x))


def layer_norm_parameters(cfg):
    return (2 * cfg.n_layers + 1) * 2 * cfg.emb_dim


CHECKS_03 = [
    (layernorm.check_token_stats, token_stats, [
        (lambda x: (x.mean(-1, keepdim=True), x.var(-1, keepdim=True)), "biased variance"),
        (lambda x: (x.mean(-1), x.var(-1, unbiased=False)), "keepdim=True"),
        (lambda x: (x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)), "over the tokens"),
        (lambda x: token_stats(x)[::-1], "swapped"),
        (lambda x: (x.mean(-1, keepdim=True), x.std(-1, keepdim=True, unbiased=False)), "standard deviation"),
        (lambda x: (x.mean(-1, keepdim=True), (x * x).mean(-1, keepdim=True)), "not of x\\^2"),
        (lambda x: torch.cat(token_stats(x), dim=-1), "two tensors"),
    ]),
    (layernorm.check_layer_norm, layer_norm, [
        (lambda x, w, b, eps: layer_norm(x, w, b, eps, unbiased=True), "biased variance"),
        (lambda x, w, b, eps: layer_norm(x, w, b, eps, eps_outside=True), "inside the square root"),
        (lambda x, w, b, eps: layer_norm(x, w, b, 0.0), "eps is missing"),
        (lambda x, w, b, eps: layer_norm(x, w, b, eps, dim=-2), "not over the tokens"),
        (lambda x, w, b, eps: layer_norm(x, w, b, eps, dim=0), "not over the batch"),
        (lambda x, w, b, eps: layer_norm(x, w, b, eps, affine=False), "scale and shift are missing"),
        (lambda x, w, b, eps: layer_norm(x, w, 0.0, eps), "shift is missing"),
        (lambda x, w, b, eps: layer_norm(x, 1.0, b, eps), "scale is missing"),
        (lambda x, w, b, eps: layer_norm(x, b, w, eps), "swapped"),
        (lambda x, w, b, eps: layer_norm(x, w, b, eps)[..., :-1], "wrong shape"),
        (lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps), "your code calls F.layer_norm"),
        (lambda x, w, b, eps: torch.ops.aten.native_layer_norm(x, x.shape[-1:], w, b, eps)[0], "calls F.layer_norm"),
        (layer_norm_after_a_peek, "write the steps yourself: your code calls F.layer_norm"),
        (lambda x, w, b, eps: gpt2lib.layer_norm_reference(x, w, b, eps), "layer_norm_reference from gpt2lib"),
        (layer_norm_as_group_norm, "F.group_norm"),
    ]),
    (layernorm.check_layer_norm_module, LayerNorm, [
        (PlainTensors, "plain tensor, not a parameter"),
        (StartsAtZero, "starts at 1"),
        (StartsRandom, "starts at 1"),
        (FixedEps, "eps given to __init__"),
        (Unbiased, "biased variance"),
        (NoAffine, "scale and shift are missing"),
        (OtherNames, "self.weight and the shift self.bias"),
        (Detached, "gradient"),
        (SubclassesTorchs, "your class is an nn.LayerNorm"),
        (HoldsTorchs, "your module holds an nn.LayerNorm"),
        (SubclassesGpt2libs, "your class is gpt2lib's LayerNorm"),
        (CallsFunctional, "your code calls F.layer_norm"),
    ]),
    (layernorm.check_pre_ln, pre_ln, [
        (lambda x, norm, sub: norm(x + sub(x)), "post-LN"),
        (lambda x, norm, sub: sub(norm(x)), "shortcut is missing"),
        (lambda x, norm, sub: norm(x) + sub(norm(x)), "not norm\\(x\\)"),
        (lambda x, norm, sub: x + norm(sub(x)), "not its output"),
        (lambda x, norm, sub: x + sub(x), "layer norm is missing"),
    ]),
    (layernorm.check_layer_norm_parameters, layer_norm_parameters, [
        (lambda cfg: 2 * cfg.n_layers * 2 * cfg.emb_dim, "final norm"),
        (lambda cfg: (cfg.n_layers + 1) * 2 * cfg.emb_dim, "two layer norms"),
        (lambda cfg: (2 * cfg.n_layers + 1) * cfg.emb_dim, "weight and bias"),
        (lambda cfg: 2 * cfg.emb_dim, "one layer norm"),
        (lambda cfg: float(layer_norm_parameters(cfg)), "Python int"),
    ]),
]


class StubModule(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        raise NotImplementedError()  # the student copy's __init__


def test_a_blank_module_stub_says_not_done_yet():
    fails_with(layernorm.check_layer_norm_module, StubModule, "not done yet")


# --- notebook 04: the MLP -----------------------------------------------------------------------------------

def gelu_exact(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_tanh(x, constant=math.sqrt(2 / math.pi), cubic=0.044715):
    return 0.5 * x * (1 + torch.tanh(constant * (x + cubic * x**3)))


def feed_forward(x, w1, b1, w2, b2, act=gelu_tanh):
    return act(x @ w1.T + b1) @ w2.T + b2


def make_feed_forward(width=4, bias=True, act=gelu_tanh, fc_name="fc"):
    """A FeedForward class, right with the defaults, with one deliberate mistake otherwise."""

    class FeedForward(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            setattr(self, fc_name, nn.Linear(cfg.emb_dim, width * cfg.emb_dim, bias=bias))
            self.proj = nn.Linear(width * cfg.emb_dim, cfg.emb_dim, bias=bias)

        def forward(self, x):
            return self.proj(act(getattr(self, fc_name)(x)))

    return FeedForward


def mlp_flops_per_token(cfg):
    return 16 * cfg.emb_dim**2 * cfg.n_layers


def gelu_after_a_peek(x):  # a hidden call: the built-in result is thrown away
    nn.GELU()(x)
    return gelu_exact(x)


def gelu_unseen_by_torch_function(x):  # hides from __torch_function__; the dispatcher still sees the kernel
    with torch._C.DisableTorchFunction():
        return F.gelu(x)


BUILTIN_GELU_ANSWERS = [  # PyTorch's own GELU is a right answer where the exercise allows it
    (mlp.check_feed_forward,
     lambda x, w1, b1, w2, b2: F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"), w2, b2)),
    (mlp.check_feed_forward_class, make_feed_forward(act=lambda h: F.gelu(h, approximate="tanh"))),
]

BUILTIN_GELU_MUTATIONS = [  # ... and wrong where it asks for the formula: every path to it is named in the hint
    (lambda x: F.gelu(x), "your code calls F.gelu"),
    (lambda x: nn.GELU()(x), "your code calls F.gelu \\(nn.GELU calls it too\\)"),
    (lambda x: torch._C._nn.gelu(x), "your code calls F.gelu"),
    (lambda x: torch.ops.aten.gelu.default(x), "your code calls F.gelu"),
    (gelu_after_a_peek, "write the steps yourself"),
    (gelu_unseen_by_torch_function, "your code calls F.gelu"),
]


CHECKS_04 = [
    (mlp.check_gelu_exact, gelu_exact, [
        *BUILTIN_GELU_MUTATIONS,
        (lambda x: gpt2lib.gelu_exact(x), "gelu_exact from gpt2lib"),
        (gelu_tanh, "tanh approximation"),
        (lambda x: 0.5 * x * (1 + torch.erf(x)), r"divide x by sqrt\(2\)"),
        (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "factor 1/2 is missing"),
        (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), r"Phi\(x\) alone"),
        (torch.relu, "that is ReLU"),
        (lambda x: gelu_exact(x)[..., :-1], "wrong shape"),
    ]),
    (mlp.check_gelu_tanh, gelu_tanh, [
        *BUILTIN_GELU_MUTATIONS,
        (lambda x: gpt2lib.GELU("tanh")(x), "your code calls GELU from gpt2lib"),
        (lambda x: gpt2lib.gelu_tanh(x), "gelu_tanh from gpt2lib"),
        (gelu_exact, "exact GELU with erf"),
        (lambda x: gelu_tanh(x, cubic=0.0), "cubic term is missing"),
        (lambda x: gelu_tanh(x, constant=math.sqrt(2 * math.pi)), r"not sqrt\(2 \* pi\)"),
        (lambda x: gelu_tanh(x, constant=2 / math.pi), "take the square root"),
        (lambda x: 2 * gelu_tanh(x), "factor 1/2 in front is missing"),
    ]),
    (mlp.check_feed_forward, feed_forward, [
        (lambda x, w1, b1, w2, b2: feed_forward(x, w1, b1, w2, b2, act=lambda h: h), "GELU is missing"),
        (lambda x, w1, b1, w2, b2: gelu_tanh(x @ w1 + b1) @ w2 + b2, r"\(out_features, in_features\)"),
        (lambda x, w1, b1, w2, b2: gelu_tanh(x @ w1.T) @ w2.T, "both biases are missing"),
        (lambda x, w1, b1, w2, b2: gelu_tanh(x @ w1.T) @ w2.T + b2, "first layer's bias b1 is missing"),
        (lambda x, w1, b1, w2, b2: feed_forward(x, w1, b1, w2, b2, act=gelu_exact), "not the exact erf form"),
        (lambda x, w1, b1, w2, b2: (gelu_tanh(x @ w1.T) + b1) @ w2.T + b2, "add b1 before GELU"),
    ]),
    (mlp.check_feed_forward_class, make_feed_forward(), [
        (make_feed_forward(act=lambda h: h), "forward skips GELU"),
        (make_feed_forward(act=torch.relu), "that is ReLU"),
        (make_feed_forward(act=gelu_exact), "not the exact form"),
        (make_feed_forward(width=1), r"4 \* emb_dim wide"),
        (make_feed_forward(bias=False), "needs its bias"),
        (make_feed_forward(fc_name="up"), r"self\.fc = nn\.Linear"),
    ]),
    (mlp.check_mlp_flops_per_token, mlp_flops_per_token, [
        (lambda cfg: 8 * cfg.emb_dim**2 * cfg.n_layers, "that is half"),
        (lambda cfg: 16 * cfg.emb_dim**2, "one block's MLP"),
        (lambda cfg: mlp_flops_per_token(cfg) + 10 * cfg.emb_dim * cfg.n_layers, "leave out the biases"),
        (lambda cfg: 4 * cfg.emb_dim**2 * cfg.n_layers, r"4 \* emb_dim wide"),
        (lambda cfg: float(mlp_flops_per_token(cfg)), "Python int"),
    ]),
]



# --- notebook 05: the transformer block and the model -------------------------------------------------------

def block_forward(b, x):
    x = x + b.drop(b.attn(b.norm1(x)))
    return x + b.drop(b.mlp(b.norm2(x)))


def post_ln(b, x):
    x = b.norm1(x + b.drop(b.attn(x)))
    return b.norm2(x + b.drop(b.mlp(x)))


def normalized_stream(b, x):
    x = b.norm1(x)
    x = x + b.drop(b.attn(x))
    x = b.norm2(x)
    return x + b.drop(b.mlp(x))


def without_attention_shortcut(b, x):
    x = b.drop(b.attn(b.norm1(x)))
    return x + b.drop(b.mlp(b.norm2(x)))


def without_mlp_shortcut(b, x):
    x = x + b.drop(b.attn(b.norm1(x)))
    return b.drop(b.mlp(b.norm2(x)))


def dropout_on_the_sum(b, x):
    x = b.drop(x + b.attn(b.norm1(x)))
    return b.drop(x + b.mlp(b.norm2(x)))


def parallel_branches(b, x):
    return x + b.drop(b.attn(b.norm1(x))) + b.drop(b.mlp(b.norm2(x)))


def gpt2_parameters(cfg, qkv_bias=None, norms=True, tied=True):
    V, T, C, L = cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_layers
    qkv_bias = cfg.qkv_bias if qkv_bias is None else qkv_bias
    per_block = (4 * C if norms else 0) + 3 * C * C + (3 * C if qkv_bias else 0) + C * C + C + 8 * C * C + 5 * C
    return V * C * (1 if tied else 2) + T * C + L * per_block + (2 * C if norms else 0)


def scale_residual_init(model, n=None, std=0.02, layers=("out_proj", "proj")):
    n = 2 * model.cfg.n_layers if n is None else n
    with torch.no_grad():
        for b in model.blocks:
            for layer in (getattr(b.attn, layers[0]), getattr(b.mlp, layers[1])):
                nn.init.normal_(layer.weight, mean=0.0, std=std / math.sqrt(n))


def rescale_residual_init(model):  # the other right reading: multiply the N(0, 0.02) weights by 1/sqrt(N)
    with torch.no_grad():
        for b in model.blocks:
            for weight in (b.attn.out_proj.weight, b.mlp.proj.weight):
                weight.mul_(1 / math.sqrt(2 * model.cfg.n_layers))


def only_attention(model):
    with torch.no_grad():
        for b in model.blocks:
            b.attn.out_proj.weight.mul_(1 / math.sqrt(2 * model.cfg.n_layers))


def weights_memory_gb(cfg, dtype):
    return gpt2_parameters(cfg) * dtype.itemsize / 1e9


CHECKS_05 = [
    (block.check_block_forward, block_forward, [
        (post_ln, "post-LN"),
        (normalized_stream, "the shortcut carries x itself"),
        (without_attention_shortcut, "shortcut around attention is missing"),
        (without_mlp_shortcut, "shortcut around the MLP is missing"),
        (lambda b, x: x + b.attn(b.norm1(x)) + b.mlp(b.norm2(x + b.attn(b.norm1(x)))), "block.drop is missing"),
        (dropout_on_the_sum, "not to the sum"),
        (lambda b, x: (lambda h: h + b.drop(b.mlp(b.norm1(h))))(x + b.drop(b.attn(b.norm2(x)))), "swapped"),
        (parallel_branches, "reads the updated x"),
        (lambda b, x: block_forward(b, x)[:, -1], "wrong shape"),
    ]),
    (block.check_gpt2_parameters, gpt2_parameters, [
        (lambda cfg: gpt2_parameters(cfg, tied=False), "weight tying"),
        (lambda cfg: gpt2_parameters(cfg, qkv_bias=False), "qkv_bias is True"),
        (lambda cfg: gpt2_parameters(cfg, qkv_bias=True), "qkv_bias is False"),
        (lambda cfg: gpt2_parameters(cfg, norms=False), "layer norms are missing"),
        (lambda cfg: gpt2_parameters(cfg) - 2 * cfg.emb_dim, "final layer norm"),
        (lambda cfg: gpt2_parameters(cfg) - cfg.context_length * cfg.emb_dim, "position embedding"),
        (lambda cfg: float(gpt2_parameters(cfg)), "Python int"),
    ]),
    (block.check_scale_residual_init, scale_residual_init, [
        (lambda m: scale_residual_init(m, n=m.cfg.n_layers), r"not sqrt\(n_layers\)"),
        (lambda m: scale_residual_init(m, n=(2 * m.cfg.n_layers) ** 2), "take the square root"),
        (lambda m: None, "still have std 0.02"),
        (only_attention, r"mlp\.proj\.weight: .*still have std 0.02"),
        (lambda m: scale_residual_init(m, layers=("qkv", "fc")), r"attn\.qkv\.weight changed too"),
        (lambda m: scale_residual_init(m, std=1.0), "keep the 0.02"),
    ]),
    (block.check_weights_memory_gb, weights_memory_gb, [
        (lambda cfg, dtype: gpt2_parameters(cfg) * dtype.itemsize / 2**30, "GiB"),
        (lambda cfg, dtype: gpt2_parameters(cfg) * 4 / 1e9, "4 bytes per number"),
        (lambda cfg, dtype: gpt2_parameters(cfg) / 1e9, "number of parameters in billions"),
        (lambda cfg, dtype: gpt2_parameters(cfg, tied=False) * dtype.itemsize / 1e9, "weight tying"),
        (lambda cfg, dtype: gpt2_parameters(cfg, qkv_bias=False) * dtype.itemsize / 1e9, "qkv_bias is True"),
    ]),
]


@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_the_reference_count_is_the_library_count(name, qkv_bias):
    cfg = GPTConfig.from_preset(name, qkv_bias=qkv_bias)
    with torch.device("meta"):
        assert block.gpt2_parameters_reference(cfg) == count_parameters(GPTModel(cfg))


# --- notebook 06: loading pretrained weights (no network: the checks build small random models) -------------

def linear_from_conv1d(conv, transpose=True, copy_bias=True, bias=True):
    n_in, n_out = conv.weight.shape
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        if transpose:
            layer.weight.copy_(conv.weight.T)
        else:
            layer.weight = nn.Parameter(conv.weight.detach().clone())  # keeps Conv1D's (in, out)
        if bias and copy_bias:
            layer.bias.copy_(conv.bias)
    return layer


def split_c_attn(weight, bias):
    C = weight.shape[0]
    return tuple((w.T, b) for w, b in zip(weight.split(C, dim=1), bias.split(C)))


PAIRS = [("norm1", "ln_1"), ("attn.qkv", "attn.c_attn"), ("attn.out_proj", "attn.c_proj"),
         ("norm2", "ln_2"), ("mlp.fc", "mlp.c_fc"), ("mlp.proj", "mlp.c_proj")]
CONV1D = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}


def block_weights(hf_state, i, transposed=CONV1D, pairs=PAIRS, prefix=True):
    out = {}
    for ours, theirs in pairs:
        for kind in ("weight", "bias"):
            t = hf_state[f"transformer.h.{i}.{theirs}.{kind}"]
            name = (f"blocks.{i}." if prefix else "") + f"{ours}.{kind}"
            out[name] = t.T if kind == "weight" and theirs in transposed else t
    return out


def hf_state_entries(n):
    return 12 * n + 5


def weights_megabytes(cfg, dtype, head_twice=False, qkv_bias=True, wpe=True, bytes_per=None, unit=1e6):
    C = cfg.n_embd
    per_block = 4 * C + 3 * C * C + (3 * C if qkv_bias else 0) + C * C + C + 8 * C * C + 5 * C
    embeddings = cfg.vocab_size * C * (2 if head_twice else 1) + (cfg.n_positions * C if wpe else 0)
    n = embeddings + cfg.n_layer * per_block + 2 * C
    return n * (bytes_per or dtype.itemsize) / unit


def split_interleaved(weight, bias):
    return tuple((weight[:, j::3].T, bias[j::3]) for j in range(3))


def split_bias_interleaved(weight, bias):
    C = weight.shape[0]
    return tuple((w.T, bias[j::3]) for j, w in enumerate(weight.split(C, dim=1)))


def split_k_q_v(weight, bias):
    q, k, v = split_c_attn(weight, bias)
    return k, q, v


def block_ln_swapped(hf_state, i):
    return block_weights(hf_state, i, pairs=[("norm1", "ln_2"), *PAIRS[1:3], ("norm2", "ln_1"), *PAIRS[4:]])


def block_ln_weight_is_bias(hf_state, i):
    out = block_weights(hf_state, i)
    out[f"blocks.{i}.norm1.weight"] = hf_state[f"transformer.h.{i}.ln_1.bias"]
    return out


def block_zero_always(hf_state, i):  # our names of block i, Hugging Face's tensors of block 0
    return {key.replace("blocks.0.", f"blocks.{i}."): t for key, t in block_weights(hf_state, 0).items()}


CHECKS_06 = [
    (loading.check_linear_from_conv1d, linear_from_conv1d, [
        (lambda conv: linear_from_conv1d(conv, transpose=False), "not transposed"),
        (lambda conv: linear_from_conv1d(conv, copy_bias=False), "copy the Conv1D's bias"),
        (lambda conv: linear_from_conv1d(conv, bias=False), "has no bias"),
        (lambda conv: conv, "return an nn.Linear"),
    ]),
    (loading.check_split_c_attn, split_c_attn, [
        (lambda w, b: tuple((x, y) for x, y in zip(w.split(w.shape[0], dim=1), b.split(w.shape[0]))),
         "Conv1D's \\(in, out\\) layout"),
        (split_interleaved, "not interleaved every third column"),
        (split_bias_interleaved, "three contiguous blocks of C numbers"),
        (split_k_q_v, "keep the order q, k, v"),
        (lambda w, b: tuple((x, y) for x, y in zip(w.chunk(3, dim=0), b.chunk(3))), "along its last dimension"),
    ]),
    (loading.check_block_weights, block_weights, [
        (lambda s, i: block_weights(s, i, transposed=set()), "Conv1D's shape \\(in, out\\)"),
        (lambda s, i: block_weights(s, i, transposed=CONV1D - {"attn.c_proj"}), "out_proj.weight is not transposed"),
        (block_ln_swapped, "holds Hugging Face's transformer.h.\\d.ln_2.weight"),
        (block_ln_weight_is_bias, "holds Hugging Face's transformer.h.\\d.ln_1.bias"),
        (lambda s, i: block_weights(s, i, prefix=False), "full names"),
        (lambda s, i: {k: v for k, v in block_weights(s, i).items() if "bias" not in k}, "missing"),
        (block_zero_always, "holds Hugging Face's transformer.h.0\\.[\\w.]+; it should hold transformer.h.[12]"),
        (lambda s, i: block_weights(s, 0), "these are the names of block 0, but the check asked for block [12]"),
        (lambda s, i: block_weights(s, (i + 1) % 3), "names of block \\d, but the check asked for block \\d"),
    ]),
    (loading.check_hf_state_entries, hf_state_entries, [
        (lambda n: 12 * n + 4, "count lm_head.weight"),
        (lambda n: 12 * n, "outside the blocks"),
        (lambda n: 14 * n + 5, "buffers"),
        (lambda n: 6 * n + 5, "has a bias"),
        (lambda n: float(12 * n + 5), "Python int"),
    ]),
    (loading.check_weights_megabytes, weights_megabytes, [
        (lambda cfg, dt: weights_megabytes(cfg, dt, head_twice=True), "stores it once"),
        (lambda cfg, dt: weights_megabytes(cfg, dt, qkv_bias=False), "q/k/v biases"),
        (lambda cfg, dt: weights_megabytes(cfg, dt, wpe=False), "position embedding"),
        (lambda cfg, dt: weights_megabytes(cfg, dt, unit=2**20), "MiB"),
        (lambda cfg, dt: weights_megabytes(cfg, dt, bytes_per=4), "4 bytes"),
    ]),
]


def test_the_reference_counts_agree_with_a_real_hugging_face_model():
    from transformers import GPT2LMHeadModel

    cfg = loading.tiny_hf_config(n_layer=3, n_embd=8, n_head=2)
    model = GPT2LMHeadModel(cfg)
    assert len(model.state_dict()) == hf_state_entries(3) == loading.hf_state_entries_reference(3)
    assert sum(p.numel() for p in model.parameters()) == loading.weight_file_parameters(cfg)  # tied head counted once


def test_the_block_mapping_loads_into_our_model_and_gives_hugging_faces_logits():
    from gpt2lib import config_from_hf

    hf_model = loading.random_hf_model(torch.Generator().manual_seed(0), n_layer=3)
    ours = GPTModel(config_from_hf(hf_model.config)).eval()
    state = hf_model.state_dict()
    weights = {"tok_emb.weight": state["transformer.wte.weight"], "pos_emb.weight": state["transformer.wpe.weight"],
               "final_norm.weight": state["transformer.ln_f.weight"], "final_norm.bias": state["transformer.ln_f.bias"]}
    for i in range(3):
        weights |= block_weights(state, i)
    ours.load_state_dict(weights, strict=False)
    idx = torch.randint(0, hf_model.config.vocab_size, (2, 5))
    with torch.no_grad():
        assert torch.allclose(ours(idx), hf_model(idx).logits, atol=1e-4)


# --- notebook 07: generating text ---------------------------------------------------------------------------

INF = float("-inf")


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


def chunk_mask(n_new, offset, diagonal=0, allowed=True):
    """(n_new, offset + n_new) bool mask for a chunk after the cache, with switches for the mutations below."""
    visible = torch.ones(n_new, offset + n_new, dtype=torch.bool).tril(offset + diagonal)
    return visible if allowed else ~visible


def chunk_mask_without_cache(n_new, offset):  # the new keys alone, causal among themselves
    return torch.ones(n_new, n_new, dtype=torch.bool).tril()


def chunk_mask_hiding_the_cache(n_new, offset):
    return torch.cat([torch.zeros(n_new, offset, dtype=torch.bool), chunk_mask_without_cache(n_new, offset)], 1)


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
    (generation.check_chunk_mask, chunk_mask, [
        (lambda n, offset: chunk_mask(n, offset, allowed=False), "inverted"),
        (lambda n, offset: torch.ones(n, offset + n, dtype=torch.bool).tril(), "the offset is missing"),
        (lambda n, offset: chunk_mask(n, offset, diagonal=-1), "must see its own key"),
        (lambda n, offset: chunk_mask(n, offset, diagonal=1), "off by one"),
        (chunk_mask_hiding_the_cache, "the cached keys are hidden"),
        (chunk_mask_without_cache, "new keys only"),
        (lambda n, offset: torch.ones(offset + n, offset + n, dtype=torch.bool).tril(), "one row per NEW query"),
        (lambda n, offset: chunk_mask(n, offset).float(), "return a bool tensor"),
        (lambda n, offset: torch.zeros(n, offset + n).masked_fill(~chunk_mask(n, offset), INF), "bool tensor"),
        (lambda n, offset: torch.ones(n, offset + n, dtype=torch.bool), "must see exactly"),
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


# --- notebook 08: pretraining -------------------------------------------------------------------------------

def log_p_targets(logits, targets, dim=-1):
    return torch.log_softmax(logits, dim=dim).gather(-1, targets[..., None]).squeeze(-1)  # (B, T)


def cross_entropy(logits, targets):
    return -log_p_targets(logits, targets).mean()


def cut_windows(data, starts, context_length, shift=1, offset=0):
    positions = starts[:, None] + torch.arange(context_length) + offset  # (B, T)
    return data[positions], data[positions + shift]


def lr_at(step, max_lr, min_lr, warmup_steps, total_steps, warm_from=1, denominator=0, cap=True, floor=None):
    if step < warmup_steps:
        return max_lr * (step + warm_from) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps - denominator)
    progress = min(1.0, progress) if cap else progress
    low = min_lr if floor is None else floor
    return low + (max_lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(model, weight_decay, decays=lambda name, p: p.dim() >= 2):
    named = list(model.named_parameters())
    return [{"params": [p for n, p in named if decays(n, p)], "weight_decay": weight_decay},
            {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]


def accumulate_gradients(model, micro_batches, loss_fn, divide=True, zero_first=True, zero_inside=False):
    if zero_first:
        model.zero_grad()
    total = 0.0
    for inputs, targets in micro_batches:
        if zero_inside:
            model.zero_grad()
        loss = loss_fn(model(inputs), targets) / (len(micro_batches) if divide else 1)
        loss.backward()
        total += loss.item()
    return total if divide else total / len(micro_batches)


def step_budget(batch_size, grad_accum, context_length, corpus_tokens):
    tokens = batch_size * grad_accum * context_length
    return tokens, math.ceil(corpus_tokens / tokens)


def perplexity(loss):
    return math.exp(loss)


def decay_no_embeddings(name, p):
    return p.dim() >= 2 and "emb" not in name and not name.startswith("0.")  # "0." is the stack's embedding


def summed_loss(model, micro_batches, loss_fn):
    model.zero_grad()
    losses = [loss_fn(model(x), y) for x, y in micro_batches]
    for loss in losses:
        loss.backward()
    return sum(loss.item() for loss in losses)


def train_step(model, optimizer, batch, max_norm, targets="shifted", clip="after backward", zero="after step",
               step=True, reduction="mean", item=True, loss_after=False):
    """One training step, with switches for the mutations below."""
    inputs, wanted = {"shifted": (batch[:, :-1], batch[:, 1:]), "inputs": (batch[:, :-1], batch[:, :-1]),
                      "whole": (batch, batch), "backwards": (batch[:, 1:], batch[:, :-1])}[targets]
    loss = F.cross_entropy(model(inputs).flatten(0, 1), wanted.flatten(), reduction=reduction)
    clip_now = lambda when: clip == when and nn.utils.clip_grad_norm_(model.parameters(), max_norm)  # noqa: E731
    clip_now("before backward")
    loss.backward()
    clip_now("after backward")
    if zero == "before step":
        optimizer.zero_grad()
    if step:
        optimizer.step()
    clip_now("after step")
    if zero == "after step":
        optimizer.zero_grad()
    if loss_after:
        loss = F.cross_entropy(model(inputs).flatten(0, 1), wanted.flatten())
    return loss.item() if item else loss


def step_with(**switches):
    return lambda model, optimizer, batch, max_norm: train_step(model, optimizer, batch, max_norm, **switches)


def train_step_zeroing_first(model, optimizer, batch, max_norm):  # clearing the gradients first is right too
    optimizer.zero_grad()
    return train_step(model, optimizer, batch, max_norm, zero=None)


CHECKS_08 = [
    (training.check_cross_entropy, cross_entropy, [
        (lambda logits, targets: -log_p_targets(logits, targets).sum(), "summed over the positions"),
        (lambda logits, targets: log_p_targets(logits, targets).mean(), "wrong sign"),
        (lambda logits, targets: -torch.log_softmax(logits, -1).mean(), "pick only each target's"),
        (lambda logits, targets: -torch.softmax(logits, -1).gather(-1, targets[..., None]).mean(),
         "mean probability of the targets"),
        (lambda logits, targets: -log_p_targets(logits, targets, dim=1).mean(), "over the vocabulary"),
        (lambda logits, targets: torch.tensor(cross_entropy(logits, targets).item()), "cut off from the logits"),
    ]),
    (training.check_cut_windows, cut_windows, [
        (lambda d, s, T: cut_windows(d, s, T, shift=0), "targets equal the inputs"),
        (lambda d, s, T: cut_windows(d, s, T, shift=-1), "shifted the wrong way"),
        (lambda d, s, T: cut_windows(d, s, T, shift=2), "shifted by two"),
        (lambda d, s, T: cut_windows(d, s, T)[::-1], "swapped"),
        (lambda d, s, T: cut_windows(d, s, T, offset=1), "start one token late"),
        (lambda d, s, T: cut_windows(d, s, T + 1), "wrong shape"),
    ]),
    (training.check_lr_at, lr_at, [
        (lambda *args: lr_at(*args, warm_from=0), "warmup starts at 0"),
        (lambda s, hi, lo, w, t: hi if s < w else lr_at(s, hi, lo, w, t), "no warmup"),
        (lambda *args: lr_at(*args, floor=0.0), "decay ends at 0"),
        (lambda *args: lr_at(*args, denominator=1), "off by one step"),
        (lambda *args: lr_at(*args, cap=False), "stay at min_lr"),
        (lambda s, hi, lo, w, t: lr_at(s, hi, lo, w, t + w), "does not reach min_lr"),
        (lambda *args: torch.tensor(lr_at(*args)), "Python float"),
    ]),
    (training.check_param_groups, param_groups, [
        (lambda m, wd: [{"params": list(m.parameters()), "weight_decay": wd}], "biases and the layer norms"),
        (lambda m, wd: param_groups(m, wd, lambda n, p: n.endswith("weight")), "layer norms' parameters"),
        (lambda m, wd: param_groups(m, wd, lambda n, p: p.dim() >= 2 or n.endswith("proj.bias")), "biases are decayed"),
        (lambda m, wd: param_groups(m, wd, decay_no_embeddings), "embeddings are not decayed"),
        (lambda m, wd: param_groups(m, wd)[:1], "is in no group"),
        (lambda m, wd: [{"params": list(m.parameters()), "weight_decay": wd},
                        {"params": list(m.parameters()), "weight_decay": 0.0}], "two groups"),
        (lambda m, wd: [{"params": param_groups(m, wd)[0]["params"]}, param_groups(m, wd)[1]],
         "its own 'weight_decay'"),
        (lambda m, wd: [{**group, "params": set(group["params"])} for group in param_groups(m, wd)], "in a list"),
    ]),
    (training.check_train_step, train_step, [
        (step_with(targets="inputs"), "targets equal the inputs"),
        (step_with(targets="whole"), "targets equal the inputs"),
        (step_with(targets="backwards"), "the wrong way"),
        (step_with(clip=None), "not clipped"),
        (step_with(clip="after step"), "not clipped"),
        (step_with(clip="before backward"), "not clipped"),
        (step_with(zero=None), "still in .grad"),
        (step_with(zero="before step"), "did not change"),
        (step_with(step=False), "did not change"),
        (step_with(reduction="sum"), "not their sum"),
        (step_with(item=False), "Python float"),
        (step_with(loss_after=True), "before the update"),
    ]),
    (training.check_perplexity, perplexity, [
        (lambda loss: 2 ** loss, "2\\*\\*loss"),
        (lambda loss: math.exp(-loss), "e\\*\\*\\(-loss\\)"),
        (lambda loss: 1 / loss, "not 1 / loss"),
        (lambda loss: torch.tensor(loss).exp(), "Python float"),
    ]),
]


# --- notebook 09: training for real -------------------------------------------------------------------------

def rank_share(n_windows, rank, world_size):
    per_rank = n_windows // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


def uneven_share(n_windows, rank, world_size):  # the last rank gets what is left
    per_rank = n_windows // world_size + 1
    return slice(rank * per_rank, n_windows if rank == world_size - 1 else (rank + 1) * per_rank)


CHECKS_09 = [
    (training_for_real.check_accumulate_gradients, accumulate_gradients, [
        (lambda m, mb, f: accumulate_gradients(m, mb, f, divide=False), "times too large"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f, zero_inside=True), "only the last micro-batch's"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f, zero_first=False), "earlier step"),
        (summed_loss, "times too large"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f) * len(mb), "not their sum"),
        (lambda m, mb, f: torch.tensor(accumulate_gradients(m, mb, f)), "Python float"),
    ]),
    (training_for_real.check_rank_share, rank_share, [
        (lambda n, rank, world: slice(0, n // world), "goes to rank 0 and to rank 1"),
        (lambda n, rank, world: slice(0, n), "takes the whole global batch"),
        (lambda n, rank, world: slice(rank * n // world, (rank + 1) * n // world + 1), "goes to rank 0 and to rank 1"),
        (lambda n, rank, world: slice(rank * n // world, (rank + 1) * n // world - 1), "goes to no rank"),
        (uneven_share, "the shares hold \\[5, 3\\] windows"),
        (lambda n, rank, world: [n + rank], "could not be used as an index"),
        (lambda n, rank, world: rank, "return a slice"),
    ]),
    (training_for_real.check_step_budget, step_budget, [
        (lambda b, a, t, n: (b * t, math.ceil(n / (b * t))), "multiply by grad_accum"),
        (lambda b, a, t, n: (b * a, math.ceil(n / (b * a))), "counts windows"),
        (lambda b, a, t, n: (b * a * t, n // (b * a * t)), "round up"),
        (lambda b, a, t, n: (b * a * t, n / (b * a * t)), "Python ints"),
    ]),
]


def test_the_step_budget_check_knows_the_real_training_split():
    train, _ = train_val_split(tokenize(load_corpus()))
    assert len(train) == training_for_real.TRAIN_TOKENS


# --- the tests every table runs -----------------------------------------------------------------------------

ALL_CHECKS = (CHECKS_00 + CHECKS_01 + CHECKS_02 + CHECKS_03 + CHECKS_04 + CHECKS_05 + CHECKS_06 + CHECKS_07 + CHECKS_08
              + CHECKS_09 + CHECKS_10)

RIGHT_ANSWERS = [(check, answer) for check, answer, _ in ALL_CHECKS] + MORE_RIGHT_00 + MORE_RIGHT_10 + [
    (block.check_scale_residual_init, rescale_residual_init),  # rescaling the weights in place is right too
    *BUILTIN_GELU_ANSWERS,
    (training.check_train_step, train_step_zeroing_first),
    (attention.check_fused_attention, fused_by_hand),  # all heads at once, written out: right too
    (training_for_real.check_rank_share, lambda n, rank, world: list(range(rank, n, world))),  # strided: right too
]

CRASHING_ANSWERS = [  # the learner's code raises: the check says so in a hint, not with a bare traceback
    (scaffold.check_embed, lambda t, p, idx: t(idx.float())),
    (attention.check_split_heads, lambda x, nh: x.view(nh)),
    (layernorm.check_layer_norm, lambda x, w, b, eps: x.mean(dim=3)),
    (mlp.check_feed_forward_class, make_feed_forward(act=lambda h: h @ h)),
    (loading.check_block_weights, lambda s, i: {k: s[k + "x"] for k in s}),
    (training.check_cut_windows, lambda d, s, T: d[s + T * 100]),
    *CRASHING_00,
    *CRASHING_10,
]


def torch_state():
    """What a check must leave as it found it: the learner's random state and torch's global settings."""
    return torch.get_rng_state(), guard.Settings().values


@pytest.mark.parametrize("check, answer", [pytest.param(c, a, id=c.__name__) for c, a in RIGHT_ANSWERS])
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    torch.manual_seed(0)
    rng_before, settings_before = torch_state()
    outputs = []
    for _ in range(3):
        check(answer)
        outputs.append(capsys.readouterr().out)
    assert outputs[0].count("✓") == 1
    assert outputs[1] == outputs[2] == outputs[0]  # nbval compares the stored ✓ line: it must not vary
    rng_after, settings_after = torch_state()
    assert torch.equal(rng_after, rng_before) and settings_after == settings_before


@pytest.mark.parametrize("check", [pytest.param(c, id=c.__name__) for c, _, _ in ALL_CHECKS])
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [pytest.param(c, w, h, id=f"{c.__name__}: {h}")
                                                for c, _, mutations in ALL_CHECKS for w, h in mutations])
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


@pytest.mark.parametrize("check, wrong", [pytest.param(c, w, id=c.__name__) for c, w in CRASHING_ANSWERS])
def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback(check, wrong):
    fails_with(check, wrong, "your code raised")


def watch_state():
    """What the watch on forbidden calls must leave as it found it: the profiler and torch's mode stacks."""
    return sys.getprofile(), torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack()


@pytest.mark.parametrize("answer", [sdpa_then_by_hand, sdpa_inside_try, causal_attention, stub,
                                    lambda q, k, v: reference_attention(q, k, v)[0].T])
def test_the_watch_on_forbidden_calls_is_removed_whatever_the_answer_does(answer):
    calls = []

    def profiler(frame, event, arg):  # a profiler already running (a debugger, coverage) keeps running
        calls.append(event)

    sys.setprofile(profiler)
    try:
        before = watch_state()
        with pytest.raises(ExerciseError) if answer is not causal_attention else contextlib.nullcontext():
            attention.check_causal_attention(answer)
        after = watch_state()
    finally:
        sys.setprofile(None)
    assert after == before and calls


def test_a_forbidden_call_is_named_even_when_the_answer_then_crashes():
    def crashes(q, k, v):
        F.scaled_dot_product_attention(q, k, v)
        raise RuntimeError("later")

    fails_with(attention.check_causal_attention, crashes, "your code calls F.scaled_dot_product_attention")


# --- the learner's session, as the check found it (gpt2lib_exercises/guard.py) -----------------------------------

CHECK_MODULES = [tokens, scaffold, attention, layernorm, mlp, block, loading, generation, training, training_for_real,
                 finetune]


def test_every_check_goes_through_the_one_wrapper_and_every_check_is_tested_here():
    package = Path(gpt2lib_exercises.__file__).parent
    modules = [importlib.import_module(f"gpt2lib_exercises.{path.stem}") for path in sorted(package.glob("*.py"))]
    checks = {f for module in modules for name, f in vars(module).items() if name.startswith("check_")}
    assert checks and all(getattr(check, "is_self_check", False) for check in checks)
    here = {f for module in CHECK_MODULES for name, f in vars(module).items() if name.startswith("check_")}
    assert here == {check for check, _, _ in ALL_CHECKS}


def session_state():
    """All a check must leave as it found it: torch's settings, random state and functions, and the alarm signal."""
    return (guard.Settings().values, bytes(torch.get_rng_state().numpy()), torch.initial_seed(),
            guard.Functions().values, signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL),
            sys.getprofile())


def leaking(leak, answer):
    """A right answer that first does leak(), a change it leaves behind."""
    def leaky(*args, **kwargs):
        leak()
        return answer(*args, **kwargs)
    return leaky


class SomeMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


KEPT = []  # context managers a learner entered and kept


def entered(context):
    context.__enter__()
    return context


LEAKS = [  # what the learner's function changes and leaves so, and the hint it gets
    (lambda: torch.set_grad_enabled(False), r"changed gradient tracking.*from on to off .*torch\.no_grad\(\)"),
    (lambda: torch.set_default_dtype(torch.float64), r"default dtype.*from torch\.float32 to torch\.float64"),
    (lambda: torch.set_default_device("meta"), r"default device.*from cpu to meta"),
    (lambda: torch.set_num_threads(torch.get_num_threads() + 1), r"number of threads.*from \d+ to \d+"),
    (lambda: torch.use_deterministic_algorithms(True), r"deterministic algorithms.*from off to on"),
    (lambda: torch.autograd.set_detect_anomaly(True), r"anomaly detection.*from off to on"),
    (lambda: torch.set_float32_matmul_precision("medium"), r"matmul precision.*from 'highest' to 'medium'"),
    (lambda: torch.set_printoptions(precision=2), r"how tensors print .* from precision=4 to precision=2"),
    (lambda: torch.autocast("cpu").__enter__(), r"autocast on cpu.*from off"),
    (lambda: torch.autocast("cpu").__enter__(), r"left 1 torch autocast mode active \(entered and never exited\)"),
    (lambda: SomeMode().__enter__(), r"left 1 torch function mode active \(entered and never exited\)"),
    (lambda: KEPT.append(entered(torch.inference_mode())), r"inference mode.*from off to on"),
    (lambda: setattr(torch, "softmax", lambda *args, **kwargs: None), r"replaced torch\.softmax"),
    # torch's methods, backend switches and hooks for every module, and Python's own settings
    (lambda: setattr(torch.Tensor, "__add__", lambda a, b: a), r"replaced torch\.Tensor\.__add__"),
    (lambda: setattr(torch.Tensor, "__repr__", lambda self: "?"), r"replaced torch\.Tensor\.__repr__"),
    (lambda: setattr(nn.Module, "train", lambda self, mode=True: self), r"replaced nn\.Module\.train"),
    (lambda: setattr(nn.Linear, "forward", lambda self, x: x), r"replaced nn\.Linear\.forward"),
    (lambda: torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o),
     r"registered a hook on every module \(torch\.nn\.modules\.module\.register_module_forward_hook\)"),
    (lambda: torch.nn.modules.module.register_module_forward_pre_hook(lambda m, i: i),
     r"register_module_forward_pre_hook"),
    (lambda: torch.nn.modules.module.register_module_full_backward_hook(lambda m, gi, go: None),
     r"register_module_full_backward_hook"),
    (lambda: torch.nn.modules.module.register_module_buffer_registration_hook(lambda m, n, b: b),
     r"register_module_buffer_registration_hook"),
    (lambda: torch.nn.modules.module.register_module_parameter_registration_hook(lambda m, n, p: p),
     r"register_module_parameter_registration_hook"),
    (lambda: setattr(torch.backends.mkldnn, "enabled", False), r"backends\.mkldnn\.enabled\) from True to False"),
    (lambda: setattr(torch.backends.cudnn, "benchmark", True), r"backends\.cudnn\.benchmark\) from False to True"),
    (lambda: torch.backends.cuda.enable_flash_sdp(False), r"flash attention kernel.*from on to off"),
    (lambda: torch.backends.cuda.enable_mem_efficient_sdp(False), r"mem_efficient attention kernel.*from on to off"),
    (lambda: torch.backends.cuda.enable_math_sdp(False), r"math attention kernel.*from on to off"),
    (lambda: os.chdir(Path(__file__).parent.parent / "gpt2lib"), r"changed the working directory \(os\.chdir\) from"),
    (lambda: sys.setrecursionlimit(sys.getrecursionlimit() + 123), r"recursion limit .* from \d+ to \d+"),
    (lambda: warnings.simplefilter("error"), r"changed which warnings Python shows or raises"),
    (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN), r"replaced the SIGINT handler"),
]


@pytest.mark.parametrize("leak, hint", [pytest.param(leak, hint, id=hint.split(".*")[0]) for leak, hint in LEAKS])
def test_a_function_that_changes_torchs_settings_fails_with_a_hint_and_the_setting_is_put_back(leak, hint):
    before = session_state()
    try:
        fails_with(generation.check_next_token_probs, leaking(leak, next_token_probs),
                   hint + r".*\. The check has put it back")
    finally:
        while KEPT:
            KEPT.pop().__exit__(None, None, None)
    assert session_state() == before


@pytest.mark.parametrize("check, answer", [pytest.param(c, a, id=c.__name__) for c, a, _ in ALL_CHECKS])
def test_every_check_catches_and_puts_back_a_changed_setting(check, answer):
    before = session_state()
    fails_with(check, leaking(lambda: torch.set_grad_enabled(False), answer), "changed gradient tracking")
    fails_with(check, leaking(lambda: torch.set_default_dtype(torch.float64), answer), "changed torch's default dtype")
    assert session_state() == before


def test_a_session_with_gradients_off_or_float64_does_not_fail_a_right_answer_and_keeps_its_settings(capsys):
    with torch.no_grad():  # the learner's own setting, made before the check
        training.check_cross_entropy(cross_entropy)
        assert not torch.is_grad_enabled()
    torch.set_default_dtype(torch.float64)
    try:
        training.check_cross_entropy(cross_entropy)
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    assert capsys.readouterr().out.count("✓") == 2


def test_drawing_or_seeding_random_numbers_is_no_mistake_and_the_random_state_is_put_back(capsys):
    def seeds_and_draws(x):  # as building a layer does; the checks draw their inputs from their own generator
        torch.manual_seed(0)
        torch.randn(5)
        return gelu_exact(x)

    before = session_state()
    mlp.check_gelu_exact(seeds_and_draws)
    assert session_state() == before and "✓" in capsys.readouterr().out


def test_pythons_and_numpys_random_states_are_put_back_too(capsys):
    def draws_everywhere(x):
        random.seed(5), random.random()
        np.random.seed(5), np.random.rand()
        return gelu_exact(x)

    random.seed(1), np.random.seed(1)
    python_before, numpy_before = random.getstate(), np.random.get_state()[1].copy()
    mlp.check_gelu_exact(draws_everywhere)
    assert random.getstate() == python_before and (np.random.get_state()[1] == numpy_before).all()
    assert "✓" in capsys.readouterr().out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_the_gpus_random_state_is_put_back_too(capsys):
    def draws_on_the_gpu(x):
        torch.randn(1000, device="cuda")
        return gelu_exact(x)

    torch.randn(1, device="cuda")  # CUDA in use before the check
    before = torch.cuda.get_rng_state_all()
    mlp.check_gelu_exact(draws_on_the_gpu)
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), before))


# Answers that change their inputs to make a wrong result "right": each would pass a check that computed its
# reference from the inputs after the call. Inputs must come back unchanged, so each fails with a hint.

def zeroes_the_embeddings(tok_emb, pos_emb, idx):
    with torch.no_grad():
        tok_emb.weight.zero_()
        pos_emb.weight.zero_()
    return tok_emb(idx) + pos_emb(torch.arange(idx.shape[1]))


def zeroes_the_projection(x, W_q, W_k, W_v, out_proj, n_heads):
    with torch.no_grad():
        out_proj.weight.zero_()
        out_proj.bias.zero_()
    return out_proj(x)


def zeroes_the_sublayer(x, norm, sublayer):
    with torch.no_grad():
        for p in sublayer.parameters():
            p.zero_()
    return x + sublayer(norm(x))


def zeroes_the_second_layer(x, w1, b1, w2, b2):
    w2.zero_()
    b2.zero_()
    return feed_forward(x, w1, b1, w2, b2)


def zeroes_the_block(b, x):
    with torch.no_grad():
        for p in b.parameters():
            p.zero_()
    return block_forward(b, x)


def steps_too(model, micro_batches, loss_fn):  # accumulating is right, the optimizer step is not its job
    loss = accumulate_gradients(model, micro_batches, loss_fn)
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    return loss


def generates_in_train_mode(model, idx, n):
    model.train()
    return greedy_generate(model, idx, n)


def shrinks_the_config(cfg, dtype):
    cfg.n_layer = 0
    return weights_megabytes(cfg, dtype)


MUTATING_ANSWERS = [
    (scaffold.check_embed, zeroes_the_embeddings, r"changed the tok_emb it was given \(weight changed\)"),
    (attention.check_multi_head_loop, zeroes_the_projection, r"changed the out_proj it was given \(weight changed\)"),
    (layernorm.check_pre_ln, zeroes_the_sublayer, "changed the sublayer it was given"),
    (mlp.check_feed_forward, zeroes_the_second_layer, r"changed the w2 it was given \(its values changed\)"),
    (block.check_block_forward, zeroes_the_block, r"changed the b it was given .*without changing them"),
    (generation.check_greedy_generate, generates_in_train_mode, "changed the model it was given .*train/eval mode"),
    (generation.check_top_k_filter, lambda logits, k: logits.zero_(), "changed the logits it was given"),
    (training.check_cross_entropy, lambda logits, targets: cross_entropy(logits.detach().zero_(), targets),
     "changed the logits it was given"),
    (training_for_real.check_accumulate_gradients, steps_too, r"changed the model it was given \(.*weight changed\)"),
    (loading.check_block_weights, lambda hf_state, i: block_weights({k: t.mul_(2) for k, t in hf_state.items()}, i),
     r"changed the hf_state it was given \(in an entry, its values changed\)"),
    (loading.check_weights_megabytes, shrinks_the_config, r"changed the cfg it was given \(its settings changed\)"),
    (training.check_param_groups, lambda model, wd: param_groups(model.requires_grad_(False), wd),
     r"changed the model it was given \(.*requires_grad"),
]


@pytest.mark.parametrize("check, wrong, hint", [pytest.param(c, w, h, id=w.__name__) for c, w, h in MUTATING_ANSWERS])
def test_an_answer_that_changes_its_inputs_fails_with_a_hint(check, wrong, hint):
    before = session_state()
    fails_with(check, wrong, hint)
    assert session_state() == before


# What used to escape as a bare traceback, and the hint it gets now.

class ForgetsSuper(nn.Module):  # assigns a layer before nn.Module is set up
    def __init__(self, cfg):
        self.fc = nn.Linear(cfg.emb_dim, 4 * cfg.emb_dim)


class ForgetsSuperQuietly(LayerNorm):  # only a plain attribute: building works, using the module does not
    def __init__(self, emb_dim, eps=1e-5):
        self.eps = eps


class Uncomparable(int):  # an answer the check's own comparison chokes on
    def __ne__(self, other):
        raise TypeError("cannot compare")


ESCAPES = [
    (mlp.check_feed_forward_class, ForgetsSuper, r"must call super\(\)\.__init__\(\) first"),
    (layernorm.check_layer_norm_module, ForgetsSuperQuietly, r"must call super\(\)\.__init__\(\) first"),
    (scaffold.check_logits_megabytes, lambda *args: float("nan"), r"your answer is nan, not a finite number"),
    (loading.check_weights_megabytes, lambda *args: float("inf"), r"your answer is inf, not a finite number"),
    (block.check_weights_memory_gb, lambda *args: -math.inf, r"your answer is -inf"),
    (training.check_lr_at, lambda *args: float("nan"), r"your answer is nan"),
    (scaffold.check_scaffold_parameters, lambda cfg: 10**5000, r"about 5001 digits: far too large"),
    (training.check_perplexity, lambda loss: 10**400, r"far too large to be right"),
    (training_for_real.check_step_budget, lambda *args: (10**5000, 1), r"far too large"),
    (scaffold.check_scaffold_parameters, lambda cfg: None, r"not None \(is a `return` missing\?\)"),
    (attention.check_split_heads, lambda x, n: split_heads(x, n).tolist(), r"return a torch\.Tensor, not list"),
    (mlp.check_gelu_exact, lambda x: gelu_exact(x).float(), r"wrong dtype: expected torch\.float64 .*got .*float32"),
    (attention.check_causal_attention, lambda q, k, v: causal_attention(q, k, v).double(), r"wrong dtype"),
    (mlp.check_gelu_exact, lambda x: gelu_exact(x) / 0, r"NaN or infinite values where the right ones are finite"),
    (mlp.check_gelu_exact, lambda x: torch.full_like(x, math.nan), r"NaN or infinite values"),
    (mlp.check_gelu_exact, lambda x: gelu_exact(x).to("meta"), r"your result is on the meta device"),
    (scaffold.check_scaffold_parameters, lambda cfg: Uncomparable(1),
     r"the check could not use your answer: TypeError: cannot compare"),
    (training.check_cross_entropy, lambda logits, targets: sys.exit(3),
     r"your code raised: SystemExit: 3 \(sys\.exit\(\) and exit\(\) end the whole program"),
    (mlp.check_gelu_exact, lambda x: (_ for _ in ()).throw(GeneratorExit()),
     r"your code raised: GeneratorExit \(it is how Python closes a generator"),
    (training.check_cross_entropy, nn.CrossEntropyLoss,
     r"you passed the class CrossEntropyLoss where this check expects a function"),
    (mlp.check_gelu_exact, nn.GELU, r"you passed the class GELU where this check expects a function"),
]


@pytest.mark.parametrize("check, wrong, hint", [pytest.param(c, w, h, id=f"{c.__name__}: {h}") for c, w, h in ESCAPES])
def test_what_used_to_escape_gets_a_hint(check, wrong, hint):
    before = session_state()
    fails_with(check, wrong, hint)
    assert session_state() == before


def test_ctrl_c_in_the_learners_function_still_interrupts():
    def interrupted(x):
        raise KeyboardInterrupt()

    before = session_state()
    with pytest.raises(KeyboardInterrupt):
        mlp.check_gelu_exact(interrupted)
    assert session_state() == before


# The time limit.

def forever(*args, **kwargs):
    while True:
        pass


def sleeps_forever(*args, **kwargs):
    time.sleep(10**6)


def swallows_the_first_stop(*args, **kwargs):
    try:
        while True:
            pass
    except BaseException:  # noqa: BLE001  (a bare except, as a learner may write one)
        pass
    while True:
        pass


def swallows_every_stop_then_answers(x):
    finish = time.monotonic() + 1.0  # far past the limit
    while time.monotonic() < finish:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: BLE001  (a bare except, in a loop)
            pass
    return gelu_exact(x)


def test_a_function_that_swallows_the_stop_and_returns_late_fails_all_the_same():
    before, started = session_state(), time.monotonic()
    fails_with(mlp.check_gelu_exact, swallows_every_stop_then_answers, r"did not return within 0\.3 s", time_limit=0.3)
    assert time.monotonic() - started < 2.5  # the first call fails the check: the others are not made
    assert session_state() == before


@pytest.mark.parametrize("check", [pytest.param(c, id=c.__name__) for c, _, _ in ALL_CHECKS])
def test_every_check_stops_a_function_that_never_returns(check):
    fails_with(check, forever, r"did not return within 0\.1 s, so the check stopped it", time_limit=0.1)


@pytest.mark.parametrize("answer", [forever, sleeps_forever, swallows_the_first_stop])
def test_a_function_that_never_returns_gets_its_hint_in_time_and_the_session_goes_on(answer, capsys):
    before, started = session_state(), time.monotonic()
    fails_with(mlp.check_gelu_exact, answer, r"did not return within 1 s", time_limit=1)
    assert time.monotonic() - started < 2.5
    assert session_state() == before
    mlp.check_gelu_exact(gelu_exact)
    assert "✓" in capsys.readouterr().out


def test_the_time_limit_covers_all_the_calls_of_one_check_together():
    def slow_lr_at(*args):  # a thousand calls of 10 ms: 10 s in all
        time.sleep(0.01)
        return lr_at(*args)

    started = time.monotonic()
    fails_with(training.check_lr_at, slow_lr_at, r"within 1 s \(the time this check allows all its calls together\)",
               time_limit=1)
    assert time.monotonic() - started < 2.5


def test_a_teacher_sets_the_time_limit_with_an_environment_variable(monkeypatch):
    monkeypatch.setenv(guard.TIME_LIMIT_VARIABLE, "0.3")
    fails_with(mlp.check_gelu_exact, forever, r"within 0\.3 s.*GPT2LIB_EXERCISE_TIME_LIMIT")
    monkeypatch.setenv(guard.TIME_LIMIT_VARIABLE, "inf")  # no limit
    assert math.isinf(guard.time_limit_seconds())
    with guard.time_limit(math.inf):
        time.sleep(0.01)
    for wrong in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv(guard.TIME_LIMIT_VARIABLE, wrong)
        with pytest.raises(ValueError, match="positive number of seconds"):
            mlp.check_gelu_exact(gelu_exact)


def test_someone_elses_alarm_keeps_running_through_a_check(capsys):
    def alarm(signum, frame):
        raise AssertionError("someone else's alarm went off during the test")

    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        mlp.check_gelu_exact(gelu_exact)
        fails_with(mlp.check_gelu_exact, forever, "did not return", time_limit=0.2)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert signal.getsignal(signal.SIGALRM) is alarm and 25.0 < remaining < 30.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_outside_the_main_thread_a_watchdog_stops_a_loop_and_a_sleep_once_it_returns():
    def naps(*args):
        time.sleep(1.0)
        return feed_forward(*args)

    hints = []

    def run():  # (not a check that watches for forbidden gpt2lib functions: see guard.time_limit)
        for answer in (forever, naps, swallows_the_first_stop):  # the watchdog stops it again
            try:
                mlp.check_feed_forward(answer, time_limit=0.3)
            except ExerciseError as error:
                hints.append(str(error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(hints) == 3
    assert all("did not return within 0.3 s" in hint for hint in hints)


NOTEBOOK_CELLS = [
    "import math, time\nimport torch\nfrom gpt2lib_exercises import mlp as checks",
    "def gelu_exact(x):\n    while True:\n        pass\n\nchecks.check_gelu_exact(gelu_exact, time_limit=1)",
    "def gelu_exact(x):\n    time.sleep(10**6)\n\nchecks.check_gelu_exact(gelu_exact, time_limit=1)",
    "def gelu_exact(x):\n    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))\n\nchecks.check_gelu_exact(gelu_exact)",
]


def test_in_a_notebook_a_function_that_never_returns_gets_its_hint_and_the_kernel_goes_on():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS])
    NotebookClient(nb, timeout=15, allow_errors=True, kernel_name="python3").execute()  # a hang would time out
    for cell in nb.cells[1:3]:
        errors = [out for out in cell.outputs if out.output_type == "error"]
        assert errors and errors[0].ename == "ExerciseError" and "did not return within 1 s" in errors[0].evalue
    assert "✓ gelu_exact: correct" in "".join(out.get("text", "") for out in nb.cells[3].outputs)


# --- the boundary between the library and the exercises ------------------------------------------------------

# Names the graders may import from gpt2lib's subpackages, because gpt2lib does not re-export them at the top.
SUBPACKAGE_NAMES = {
    "gpt2lib.hf": {"BLOCK_WEIGHT_NAMES"},
}


def gpt2lib_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every `from gpt2lib... import name` and `import gpt2lib...` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "gpt2lib":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.split(".")[0] == "gpt2lib"]
    return found


def test_the_exercises_use_only_gpt2libs_public_names():
    """The library's modules may move; the graders must keep working, so they import what gpt2lib re-exports."""
    for path in sorted(Path(gpt2lib_exercises.__file__).parent.glob("*.py")):
        for module, name in gpt2lib_imports(path):
            allowed = set(gpt2lib.__all__) if module == "gpt2lib" else SUBPACKAGE_NAMES.get(module, set())
            assert name in allowed, f"{path.name} imports {name or module!r} from {module}: use a top-level name"


def test_the_library_does_not_import_the_exercises():
    library = Path(gpt2lib.__file__).parent
    assert not [p.name for p in library.rglob("*.py") if "gpt2lib_exercises" in p.read_text(encoding="utf-8")]
