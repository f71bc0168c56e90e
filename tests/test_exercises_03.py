"""Notebook 03's exercise checks: right answers pass, blank stubs say "not done yet", and deliberately wrong
answers (mutations) fail with the hint meant for that mistake."""

import pytest
import torch
from torch import nn

from gpt2lib.checks import layernorm as checks

from exercise_helpers import fails_with, stub


# --- right answers, with switches for the mutations below ---------------------------------------------------

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


def pre_ln(x, norm, sublayer):
    return x + sublayer(norm(x))


def layer_norm_parameters(cfg):
    return (2 * cfg.n_layers + 1) * 2 * cfg.emb_dim


# --- every check, its right answer, and mutations with the hint each must get ----------------------------

CHECKS_03 = [
    (checks.check_token_stats, token_stats, [
        (lambda x: (x.mean(-1, keepdim=True), x.var(-1, keepdim=True)), "biased variance"),
        (lambda x: (x.mean(-1), x.var(-1, unbiased=False)), "keepdim=True"),
        (lambda x: (x.mean(1, keepdim=True), x.var(1, keepdim=True, unbiased=False)), "over the tokens"),
        (lambda x: token_stats(x)[::-1], "swapped"),
        (lambda x: (x.mean(-1, keepdim=True), x.std(-1, keepdim=True, unbiased=False)), "standard deviation"),
        (lambda x: (x.mean(-1, keepdim=True), (x * x).mean(-1, keepdim=True)), "not of x\\^2"),
        (lambda x: torch.cat(token_stats(x), dim=-1), "two tensors"),
    ]),
    (checks.check_layer_norm, layer_norm, [
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
    ]),
    (checks.check_layer_norm_module, LayerNorm, [
        (PlainTensors, "plain tensor, not a parameter"),
        (StartsAtZero, "starts at 1"),
        (StartsRandom, "starts at 1"),
        (FixedEps, "eps given to __init__"),
        (Unbiased, "biased variance"),
        (NoAffine, "scale and shift are missing"),
        (OtherNames, "self.weight and the shift self.bias"),
        (Detached, "gradient"),
    ]),
    (checks.check_pre_ln, pre_ln, [
        (lambda x, norm, sub: norm(x + sub(x)), "post-LN"),
        (lambda x, norm, sub: sub(norm(x)), "shortcut is missing"),
        (lambda x, norm, sub: norm(x) + sub(norm(x)), "not norm\\(x\\)"),
        (lambda x, norm, sub: x + norm(sub(x)), "not its output"),
        (lambda x, norm, sub: x + sub(x), "layer norm is missing"),
    ]),
    (checks.check_layer_norm_parameters, layer_norm_parameters, [
        (lambda cfg: 2 * cfg.n_layers * 2 * cfg.emb_dim, "final norm"),
        (lambda cfg: (cfg.n_layers + 1) * 2 * cfg.emb_dim, "two layer norms"),
        (lambda cfg: (2 * cfg.n_layers + 1) * cfg.emb_dim, "weight and bias"),
        (lambda cfg: 2 * cfg.emb_dim, "one layer norm"),
        (lambda cfg: float(layer_norm_parameters(cfg)), "Python int"),
    ]),
]


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_03], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_03], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


class StubModule(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        raise NotImplementedError()  # the student copy's __init__


def test_a_blank_module_stub_says_not_done_yet():
    fails_with(checks.check_layer_norm_module, StubModule, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_03 for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(checks.check_layer_norm, lambda x, w, b, eps: x.mean(dim=3), "your code raised")


def test_the_passed_lines_do_not_depend_on_the_random_inputs(capsys):
    lines = set()
    for _ in range(3):
        checks.check_layer_norm_module(LayerNorm)
        checks.check_layer_norm_parameters(layer_norm_parameters)
        lines.add(capsys.readouterr().out)
    assert len(lines) == 1
