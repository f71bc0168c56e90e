"""Notebook 04's exercise checks (gpt2lib/checks/mlp.py): right answers pass, blank stubs say "not done yet", and
deliberately wrong answers (mutations) fail with the hint meant for that mistake."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib.checks import mlp

from exercise_helpers import fails_with, stub


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


CHECKS_04 = [
    (mlp.check_gelu_exact, gelu_exact, [
        (gelu_tanh, "tanh approximation"),
        (lambda x: 0.5 * x * (1 + torch.erf(x)), r"divide x by sqrt\(2\)"),
        (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), "factor 1/2 is missing"),
        (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), r"Phi\(x\) alone"),
        (torch.relu, "that is ReLU"),
        (lambda x: gelu_exact(x)[..., :-1], "wrong shape"),
    ]),
    (mlp.check_gelu_tanh, gelu_tanh, [
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


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_04], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


def test_the_builtin_gelu_is_accepted_too(capsys):
    mlp.check_gelu_exact(lambda x: F.gelu(x, approximate="none"))
    mlp.check_gelu_tanh(lambda x: F.gelu(x, approximate="tanh"))
    mlp.check_feed_forward(lambda x, w1, b1, w2, b2: F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"), w2, b2))
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_04], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_04 for w, h in mutations],
                         ids=lambda x: x if isinstance(x, str) else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_a_module_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(mlp.check_feed_forward_class, make_feed_forward(act=lambda h: h @ h), "your code raised")
