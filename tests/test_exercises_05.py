"""Notebook 05's exercise checks (gpt2lib/checks/block.py): right answers pass, blank stubs say "not done yet", and
deliberately wrong answers (mutations) fail with the hint meant for that mistake."""

import math

import pytest
import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel, count_parameters
from gpt2lib.checks import block

from exercise_helpers import fails_with, stub


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


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_05], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


def test_rescaling_the_weights_in_place_is_right_too(capsys):
    for _ in range(3):
        block.check_scale_residual_init(rescale_residual_init)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"])
@pytest.mark.parametrize("qkv_bias", [False, True])
def test_the_reference_count_is_the_library_count(name, qkv_bias):
    cfg = GPTConfig.from_preset(name, qkv_bias=qkv_bias)
    with torch.device("meta"):
        assert block.gpt2_parameters_reference(cfg) == count_parameters(GPTModel(cfg))


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_05], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_05 for w, h in mutations],
                         ids=lambda x: x if isinstance(x, str) else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)
