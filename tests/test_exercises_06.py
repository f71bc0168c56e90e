"""Notebook 06's exercise checks: right answers pass, blank stubs say "not done yet", and deliberately wrong
answers (mutations) fail with the hint meant for that mistake. No network: the checks build small random models."""

import pytest
import torch
from torch import nn
from transformers import GPT2LMHeadModel

from gpt2lib.checks import loading

from exercise_helpers import fails_with, stub


# --- reference answers -----------------------------------------------------------------------------------

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


def checkpoint_megabytes(cfg, dtype, head_twice=False, qkv_bias=True, wpe=True, bytes_per=None, unit=1e6):
    C = cfg.n_embd
    block = 4 * C + 3 * C * C + (3 * C if qkv_bias else 0) + C * C + C + 8 * C * C + 5 * C
    embeddings = cfg.vocab_size * C * (2 if head_twice else 1) + (cfg.n_positions * C if wpe else 0)
    n = embeddings + cfg.n_layer * block + 2 * C
    return n * (bytes_per or dtype.itemsize) / unit


# --- mutations -------------------------------------------------------------------------------------------

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
    ]),
    (loading.check_hf_state_entries, hf_state_entries, [
        (lambda n: 12 * n + 4, "count lm_head.weight"),
        (lambda n: 12 * n, "outside the blocks"),
        (lambda n: 14 * n + 5, "buffers"),
        (lambda n: 6 * n + 5, "has a bias"),
        (lambda n: float(12 * n + 5), "Python int"),
    ]),
    (loading.check_checkpoint_megabytes, checkpoint_megabytes, [
        (lambda cfg, dt: checkpoint_megabytes(cfg, dt, head_twice=True), "stores it once"),
        (lambda cfg, dt: checkpoint_megabytes(cfg, dt, qkv_bias=False), "q/k/v biases"),
        (lambda cfg, dt: checkpoint_megabytes(cfg, dt, wpe=False), "position embedding"),
        (lambda cfg, dt: checkpoint_megabytes(cfg, dt, unit=2**20), "MiB"),
        (lambda cfg, dt: checkpoint_megabytes(cfg, dt, bytes_per=4), "4 bytes"),
    ]),
]


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_06], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_06], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_06 for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_the_reference_counts_agree_with_a_real_hugging_face_model():
    cfg = loading.tiny_hf_config(n_layer=3, n_embd=8, n_head=2)
    model = GPT2LMHeadModel(cfg)
    assert len(model.state_dict()) == hf_state_entries(3) == loading.hf_state_entries_reference(3)
    assert sum(p.numel() for p in model.parameters()) == loading.checkpoint_parameters(cfg)  # tied head counted once


def test_the_block_mapping_loads_into_our_model_and_gives_hugging_faces_logits():
    from gpt2lib import GPTModel, config_from_hf
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


def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(loading.check_block_weights, lambda s, i: {k: s[k + "x"] for k in s}, "your code raised")
