"""The tables for notebook 10's self-checks (gpt2lib_exercises/finetune.py): right answers, deliberately wrong
answers (mutations) with the hint each must get, and answers that crash. tests/test_exercises.py runs them with
every other notebook's (right answers pass, stubs say "not done yet", mutations get their hint, crashes a hint,
changed settings are put back, a function that never returns is stopped). The tests at the end check that the
graders' references agree with gpt2lib.finetune."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib import GPTConfig, GPTModel
from gpt2lib.finetune import GPTClassifier, LoRALinear, add_lora, hidden_states, pad_right
from gpt2lib.finetune import response_loss as library_response_loss
from gpt2lib_exercises import finetune

from exercise_helpers import fails_with


# --- exercise 1: the last real token --------------------------------------------------------------------------

def last_token_vectors(h, lengths):
    return h[torch.arange(h.shape[0]), lengths - 1]


def last_token_loop(h, lengths):  # one row at a time: right too
    return torch.stack([h[i, int(n) - 1] for i, n in enumerate(lengths)])


def last_token_gather(h, lengths):  # gather along the positions: right too
    where = (lengths - 1)[:, None, None].expand(-1, 1, h.shape[-1])  # (B, 1, C)
    return h.gather(1, where).squeeze(1)


def mean_of_real_tokens(h, lengths):
    real = torch.arange(h.shape[1]) < lengths[:, None]  # (B, T)
    return (h * real[..., None]).sum(1) / lengths[:, None]


# --- exercise 2: the response-only loss -----------------------------------------------------------------------

def nll_of(logits, targets):
    """-log p(target) at each position: logits (B, T, V), targets (B, T) -> (B, T)."""
    return -torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1)


def shifted(logits, idx):  # position t scored on token t + 1: (B, T-1)
    return nll_of(logits[:, :-1], idx[:, 1:])


def response_loss(logits, idx, response_mask):
    return shifted(logits, idx)[response_mask[:, 1:].bool()].mean()


def response_loss_ignore_index(logits, idx, response_mask):  # cross-entropy skipping the targets marked -100: right
    targets = idx[:, 1:].masked_fill(response_mask[:, 1:] == 0, -100)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten())


def response_loss_weighted(logits, idx, response_mask):  # the mask as weights, divided by their sum: right too
    weights = response_mask[:, 1:].float()
    return (shifted(logits, idx) * weights).sum() / weights.sum()


def per_row_mean(logits, idx, response_mask):
    counted = response_mask[:, 1:].float()
    return ((shifted(logits, idx) * counted).sum(1) / counted.sum(1)).mean()


def unshifted_cross_entropy(logits, idx, response_mask):
    targets = idx.masked_fill(response_mask == 0, -100)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


# --- exercise 3: the LoRA layer -------------------------------------------------------------------------------

def make_lora(scale=lambda alpha, rank: alpha / rank, start_B="zeros", start_A="random", transposed=False,
              freeze=True, parameters=True, keep_base=True, base=True, bias=True, scale_base=False, flat=False,
              forward_order="right", detach=(), merged=False, extra=False, touch_base=False):
    """A LoRALinear class, right with the defaults, with one deliberate mistake otherwise."""

    class MyLoRALinear(nn.Module):
        def __init__(self, base_layer, rank, alpha):
            super().__init__()
            self.base = base_layer if keep_base else copy.deepcopy(base_layer)
            if touch_base:
                with torch.no_grad():
                    self.base.weight.mul_(0.5)
            if freeze:
                self.base.requires_grad_(False)
            self.scale = scale(alpha, rank)
            n_in, n_out = base_layer.in_features, base_layer.out_features
            A = {"random": torch.randn(rank, n_in) / n_in**0.5, "zeros": torch.zeros(rank, n_in),
                 "ones": torch.ones(rank, n_in)}[start_A]
            B = torch.zeros(n_out, rank) if start_B == "zeros" else torch.randn(n_out, rank)
            A, B = (A.T.contiguous(), B.T.contiguous()) if transposed else (A, B)
            wrap = nn.Parameter if parameters else (lambda t: t)
            self.A, self.B = wrap(A), wrap(B)
            if extra:
                self.gate = nn.Parameter(torch.ones(()))

        def forward(self, x):
            if flat:
                batch, length, width = x.shape  # only (B, T, in)
            A = self.A.detach() if "A" in detach else self.A
            B = self.B.detach() if "B" in detach else self.B
            if merged:
                return F.linear(x, self.base.weight + self.scale * B @ A, self.base.bias)
            update = x @ A.T @ B.T if forward_order == "right" else x @ A @ B
            out = self.base(x) if bias else x @ self.base.weight.T
            if scale_base:
                return self.scale * (out + update)
            return (out if base else 0) + self.scale * update

    return MyLoRALinear


class LibraryLoRA(LoRALinear):
    """gpt2lib's LoRALinear, which leaves freezing to add_lora, frozen here as the exercise asks: right."""

    def __init__(self, base, rank, alpha):
        super().__init__(base, rank, alpha)
        base.requires_grad_(False)


def biased_by_hand(base, rank, alpha):  # x W^T + b written out: fails on a layer without a bias
    layer = make_lora()(base, rank, alpha)
    layer.forward = lambda x: x @ layer.base.weight.T + layer.base.bias + layer.scale * (x @ layer.A.T @ layer.B.T)
    return layer


# --- question: LoRA's trainable numbers ------------------------------------------------------------------------

def lora_parameters(cfg, rank):
    C = cfg.emb_dim
    per_block = sum(rank * (n_in + n_out) for n_in, n_out in [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)])
    return cfg.n_layers * per_block


def per_matrix(cfg, rank, shapes):
    return cfg.n_layers * sum(shapes(cfg.emb_dim, rank))


CHECKS = [
    (finetune.check_last_token_vectors, last_token_vectors, [
        (lambda h, lengths: h[:, -1], "the last position of every row, which is padding"),
        (lambda h, lengths: h[torch.arange(h.shape[0]), lengths], "off by one"),
        (lambda h, lengths: h[:, int(lengths.max()) - 1], "the same position for every row"),
        (lambda h, lengths: h[:, lengths - 1], "picks every row's position from every row"),
        (lambda h, lengths: h[torch.arange(h.shape[0]), :, lengths - 1], "you indexed the last axis of h"),
        (lambda h, lengths: h[:, 0], "each row's first token"),
        (mean_of_real_tokens, "you averaged the real tokens"),
        (lambda h, lengths: h.mean(1), "you averaged every position, the padding's too"),
        (lambda h, lengths: h[torch.arange(h.shape[0]), h.shape[1] - lengths], "padded on the RIGHT"),
        (lambda h, lengths: last_token_vectors(h, lengths).detach(), "cut off from h"),
        (lambda h, lengths: last_token_vectors(h, lengths)[:, None], "wrong shape"),
    ]),
    (finetune.check_response_loss, response_loss, [
        (lambda lo, idx, m: nll_of(lo, idx)[m.bool()].mean(), "predict the NEXT token"),
        (unshifted_cross_entropy, "predict the NEXT token"),
        (lambda lo, idx, m: nll_of(lo[:, :-1], idx[:, :-1])[m[:, 1:].bool()].mean(), "predict the NEXT token"),
        (lambda lo, idx, m: shifted(lo, idx)[m[:, :-1].bool()].mean(), "the mask is not shifted"),
        (lambda lo, idx, m: nll_of(lo[:, 1:], idx[:, :-1])[m[:, :-1].bool()].mean(), "shifted the wrong way"),
        (lambda lo, idx, m: nll_of(lo[:, 1:], idx[:, :-1])[m[:, 1:].bool()].mean(), "shifted the wrong way"),
        (lambda lo, idx, m: shifted(lo, idx).mean(), "averaged over every position"),
        (lambda lo, idx, m: (shifted(lo, idx) * m[:, 1:]).sum(), "you summed"),
        (lambda lo, idx, m: (shifted(lo, idx) * m[:, 1:]).mean(), r"divided by every position, B \* \(T - 1\)"),
        (lambda lo, idx, m: (shifted(lo, idx) * m[:, 1:]).sum() / idx.numel(), r"every position, B \* T:"),
        (per_row_mean, "averaged each row, then the rows"),
        (lambda lo, idx, m: shifted(lo, idx)[m.cummax(1).values[:, 1:].bool()].mean(), "the padding after the end"),
        (lambda lo, idx, m: shifted(lo, idx)[idx[:, 1:] != idx.max()].mean(), "you counted the prompt too"),
        (lambda lo, idx, m: shifted(lo, idx)[m[:, 1:]].mean(), "picks rows 0 and 1"),
        (lambda lo, idx, m: torch.tensor(response_loss(lo, idx, m).item()), "cut off from the logits"),
        (lambda lo, idx, m: shifted(lo, idx) * m[:, 1:], "wrong shape"),
    ]),
    (finetune.check_lora_linear, make_lora(), [
        (make_lora(scale=lambda alpha, rank: 1.0), "the update is not scaled"),
        (make_lora(scale=lambda alpha, rank: rank / alpha), "upside down"),
        (make_lora(scale=lambda alpha, rank: alpha), "divide alpha by the rank"),
        (make_lora(scale=lambda alpha, rank: alpha / rank**0.5), "rsLoRA"),
        (make_lora(start_B="random"), "B must start at zero"),
        (make_lora(start_A="zeros"), "A must start random, not zero"),
        (make_lora(start_A="ones"), "A's rows must be drawn at random"),
        (make_lora(transposed=True), r"self\.A should have shape .*: transposed"),
        (make_lora(forward_order="wrong"), "stored like nn.Linear's weights"),
        (make_lora(base=False), "the base layer's output is missing"),
        (make_lora(scale_base=True), "only the update is scaled"),
        (make_lora(bias=False), "the base layer's bias is missing"),
        (make_lora(scale=lambda alpha, rank: 0.0), r"your output is base\(x\) alone"),
        (biased_by_hand, r"base\.bias is None"),
        (make_lora(flat=True), "one token's vector, as cached decoding passes it"),
        (make_lora(freeze=False), "the base layer still trains"),
        (make_lora(parameters=False), "must be an nn.Parameter"),
        (make_lora(keep_base=False), r"keep the layer you were given as self\.base"),
        (make_lora(touch_base=True), "changed the base layer's weights"),
        (make_lora(extra=True), r"only they, must be trainable; yours are \['A', 'B', 'gate'\]"),
        (make_lora(detach="AB"), "does not track gradients"),
        (make_lora(detach="A"), r"self\.A gets no gradient"),
        (lambda base, rank, alpha: nn.Linear(base.in_features, base.out_features), "keep the layer you were given"),
        (lambda base, rank, alpha: base, "keep the layer you were given"),
    ]),
    (finetune.check_lora_parameters, lora_parameters, [
        (lambda cfg, rank: lora_parameters(cfg, rank) // cfg.n_layers, "one block's adapters"),
        (lambda cfg, rank: 12 * cfg.emb_dim**2 * cfg.n_layers, "the full matrices W"),
        (lambda cfg, rank: per_matrix(cfg, rank, lambda C, r: [r * C, r * C, r * C, r * 4 * C]), "count both A and B"),
        (lambda cfg, rank: per_matrix(cfg, rank, lambda C, r: [3 * r * C, r * C, 4 * r * C, r * C]),
         "count both A and B"),
        (lambda cfg, rank: per_matrix(cfg, rank, lambda C, r: [2 * r * C, 2 * r * C, 5 * r * C, 5 * r * C]),
         r"3 \* emb_dim"),
        (lambda cfg, rank: per_matrix(cfg, rank, lambda C, r: [4 * r * C, 2 * r * C, 2 * r * C, 2 * r * C]),
         r"4 \* emb_dim and back"),
        (lambda cfg, rank: per_matrix(cfg, rank, lambda C, r: [4 * r * C, 2 * r * C, 2 * r * C, 5 * r * C]),
         r"fc maps emb_dim to 4 \* emb_dim"),
        (lambda cfg, rank: 4 * rank * rank * cfg.n_layers, "not rank x rank"),
        (lambda cfg, rank: float(lora_parameters(cfg, rank)), "Python int"),
        (lambda cfg, rank: lora_parameters(cfg, rank) + 1, "LoRA does not train"),
    ]),
]

MORE_RIGHT_ANSWERS = [
    (finetune.check_last_token_vectors, last_token_loop),
    (finetune.check_last_token_vectors, last_token_gather),
    (finetune.check_response_loss, response_loss_ignore_index),
    (finetune.check_response_loss, response_loss_weighted),
    (finetune.check_lora_linear, make_lora(merged=True)),  # W + scale B A in one matrix: the same function
    (finetune.check_lora_linear, LibraryLoRA),
]

CRASHING_ANSWERS = [
    (finetune.check_last_token_vectors, lambda h, lengths: h[lengths * 100]),
    (finetune.check_response_loss, lambda lo, idx, m: lo[:, :-1] @ idx),
    (finetune.check_lora_linear, make_lora(forward_order="wrong")),
    (finetune.check_lora_parameters, lambda cfg, rank: cfg.emb_dim / 0),
]


def test_every_check_of_notebook_10_is_in_the_tables_and_public():
    checks = {f for name, f in vars(finetune).items() if name.startswith("check_")}
    assert checks == {check for check, _, _ in CHECKS} and set(finetune.__all__) == {c.__name__ for c in checks}


# --- the graders' references against gpt2lib.finetune -------------------------------------------------------------

def tiny_model(seed=0):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=8, n_heads=2, n_layers=2, dropout=0.0)
    return GPTModel(cfg).eval()


def test_the_last_token_answer_is_what_gpt2libs_classifier_reads():
    model = tiny_model()
    classifier = GPTClassifier(model, 3).eval()
    idx, lengths = pad_right([[5, 6, 7], [8, 9, 10, 11, 12], [13]], pad_id=49)
    with torch.no_grad():
        expected = classifier.head(last_token_vectors(hidden_states(model, idx), lengths))
        assert torch.allclose(classifier(idx, lengths), expected, atol=1e-6)


def test_the_response_loss_answer_is_gpt2libs_response_loss():
    model = tiny_model()
    idx = torch.randint(0, 49, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[0, 0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 1, 1]])
    with torch.no_grad():
        assert torch.allclose(response_loss(model(idx), idx, mask), library_response_loss(model, idx, mask), atol=1e-5)


@pytest.mark.parametrize("rank", [1, 2, 4])
def test_the_lora_count_is_what_add_lora_trains(rank):
    model = add_lora(tiny_model(), rank=rank, alpha=8.0)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == finetune.lora_parameters_reference(model.cfg, rank) == lora_parameters(model.cfg, rank)


def test_the_gpt2_small_count_in_the_confirmation():
    assert finetune._gpt2_small_parameters() == 124_439_808  # GUIDE.md: equal to Hugging Face's GPT-2
    assert finetune.lora_parameters_reference(GPTConfig(), 8) == 1_179_648


def test_a_base_layer_without_bias_gets_its_own_note():
    error = fails_with(finetune.check_lora_linear, biased_by_hand, "your code raised")
    assert "no bias" in str(error) and "self.base(x) works either way" in str(error)
