"""Notebook 08's exercise checks: right answers pass, blank stubs say "not done yet", and deliberately wrong answers
(mutations) fail with the hint meant for that mistake."""

import math

import pytest
import torch

from gpt2lib.checks import training
from gpt2lib.training import load_corpus, tokenize, train_val_split

from exercise_helpers import fails_with, stub


# --- right answers -----------------------------------------------------------------------------------------

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


# --- the checks, each with its right answer and its mutations ----------------------------------------------

def decay_no_embeddings(name, p):
    return p.dim() >= 2 and "emb" not in name and not name.startswith("0.")  # "0." is the stack's embedding


def summed_loss(model, micro_batches, loss_fn):
    model.zero_grad()
    losses = [loss_fn(model(x), y) for x, y in micro_batches]
    for loss in losses:
        loss.backward()
    return sum(loss.item() for loss in losses)


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
    (training.check_accumulate_gradients, accumulate_gradients, [
        (lambda m, mb, f: accumulate_gradients(m, mb, f, divide=False), "times too large"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f, zero_inside=True), "only the last micro-batch's"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f, zero_first=False), "earlier step"),
        (summed_loss, "times too large"),
        (lambda m, mb, f: accumulate_gradients(m, mb, f) * len(mb), "not their sum"),
        (lambda m, mb, f: torch.tensor(accumulate_gradients(m, mb, f)), "Python float"),
    ]),
    (training.check_step_budget, step_budget, [
        (lambda b, a, t, n: (b * t, math.ceil(n / (b * t))), "multiply by grad_accum"),
        (lambda b, a, t, n: (b * a, math.ceil(n / (b * a))), "counts windows"),
        (lambda b, a, t, n: (b * a * t, n // (b * a * t)), "round up"),
        (lambda b, a, t, n: (b * a * t, n / (b * a * t)), "Python ints"),
    ]),
    (training.check_perplexity, perplexity, [
        (lambda loss: 2 ** loss, "2\\*\\*loss"),
        (lambda loss: math.exp(-loss), "e\\*\\*\\(-loss\\)"),
        (lambda loss: 1 / loss, "not 1 / loss"),
        (lambda loss: torch.tensor(loss).exp(), "Python float"),
    ]),
]


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in CHECKS_08], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in CHECKS_08], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in CHECKS_08 for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_the_printed_line_is_the_same_every_time(capsys):
    """nbval compares the stored output, so a check's ✓ line must not depend on its random inputs."""
    for check, answer, _ in CHECKS_08:
        check(answer)
        first = capsys.readouterr().out
        check(answer)
        assert capsys.readouterr().out == first


def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(training.check_cut_windows, lambda d, s, T: d[s + T * 100], "your code raised")


def test_the_step_budget_check_knows_the_real_training_split():
    train, _ = train_val_split(tokenize(load_corpus()))
    assert len(train) == training.TRAIN_TOKENS
