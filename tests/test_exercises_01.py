"""The self-checks of notebook 01's exercises: right answers pass, blank stubs say "not done yet", and deliberately
wrong answers (mutations) fail with the hint meant for that mistake."""

import pytest
import torch

from gpt2lib.checks import scaffold

from exercise_helpers import fails_with, stub


# --- notebook 01 -----------------------------------------------------------------------------------------

def embed(tok_emb, pos_emb, idx):
    return tok_emb(idx) + pos_emb(torch.arange(idx.shape[1]))


def scaffold_forward(model, idx):
    x = model.drop(model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1])))
    for block in model.blocks:
        x = block(x)
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
        (lambda m, idx: m.out_head(m.final_norm(m.tok_emb(idx) + m.pos_emb(torch.arange(idx.shape[1])))),
         "blocks are missing"),
        (lambda m, idx: m.out_head(scaffold_forward_without_final_norm(m, idx)), "final layer norm is missing"),
        (lambda m, idx: scaffold_forward(m, idx)[:, :-1], "wrong shape"),
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


def scaffold_forward_without_final_norm(model, idx):
    x = model.tok_emb(idx) + model.pos_emb(torch.arange(idx.shape[1]))
    for block in model.blocks:
        x = block(x)
    return x


ALL_CHECKS = CHECKS_01


@pytest.mark.parametrize("check, answer", [(c, a) for c, a, _ in ALL_CHECKS], ids=lambda x: getattr(x, "__name__", ""))
def test_a_right_answer_passes_several_fresh_trials(check, answer, capsys):
    for _ in range(3):
        check(answer)
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("check", [c for c, _, _ in ALL_CHECKS], ids=lambda c: c.__name__)
def test_a_blank_stub_says_not_done_yet(check):
    fails_with(check, stub, "not done yet")


@pytest.mark.parametrize("check, wrong, hint", [(c, w, h) for c, _, mutations in ALL_CHECKS for w, h in mutations],
                         ids=lambda x: x.__name__ if callable(x) and x.__name__ != "<lambda>" else None)
def test_a_mutation_fails_with_its_hint(check, wrong, hint):
    for _ in range(3):  # the hint must not depend on the random inputs
        fails_with(check, wrong, hint)


def test_an_answer_that_crashes_gets_a_hint_not_a_bare_traceback():
    fails_with(scaffold.check_embed, lambda t, p, idx: t(idx.float()), "your code raised")


def test_a_check_leaves_the_learners_random_state_alone(capsys):
    torch.manual_seed(0)
    before = torch.get_rng_state()
    scaffold.check_scaffold_forward(scaffold_forward)  # builds a model with random weights, and seeds
    scaffold.check_embed(embed)
    assert torch.equal(torch.get_rng_state(), before)
