"""Self-checks for the exercises of notebook 10 (fine-tuning), written by hand.

The references are written here, independently of gpt2lib.finetune (tests/test_exercises_10.py checks that the two
agree): the vector of each row's last real token, the loss on the response tokens only, the LoRA layer, and the
number of numbers LoRA trains.
"""

import copy
import math

import torch
from torch import nn

from gpt2lib import GPTConfig
from gpt2lib_exercises.core import (
    ExerciseError, Mutable, attempt, expect, expect_close, expect_int, expect_module, expect_tensor, fresh_generator,
    passed, pick, same, self_check,
)

__all__ = ["check_last_token_vectors", "check_response_loss", "check_lora_linear", "check_lora_parameters"]


# --- exercise 1: the vector of each row's last real token ----------------------------------------------------

def _right_padded_lengths(generator: torch.Generator, B: int, T: int, longest: bool) -> torch.Tensor:
    """(B,) lengths between 1 and T, all different where B allows, one equal to T when longest (as pad_right pads
    to the longest row), none when not (a batch padded to a fixed size)."""
    top = T if longest else T - int(torch.randint(1, 3, (), generator=generator))
    lengths = torch.randperm(top, generator=generator)[:B] + 1  # distinct, in 1 .. top
    if longest:
        lengths[int(torch.randint(B, (), generator=generator))] = T
    return lengths


@self_check
def check_last_token_vectors(last_token_vectors) -> None:
    """last_token_vectors(h (B, T, C), lengths (B,)) -> (B, C): row i's vector at position lengths[i] - 1."""
    name = "last_token_vectors"
    generator = fresh_generator()
    for longest in (False, True, True):  # first a batch padded past its longest row, so that lengths[i] is a position
        B, C = pick(generator, 4, 5), pick(generator, 10, 12)  # C > T: an index on the wrong axis stays in range
        T = int(torch.randint(7, 10, (), generator=generator))
        lengths = _right_padded_lengths(generator, B, T, longest)
        h = torch.randn(B, T, C, generator=generator)
        rows, real = torch.arange(B), torch.arange(T) < lengths[:, None]  # (B,), (B, T): True on the real tokens
        reference, mistakes = h[rows, lengths - 1], {
            "that is the last position of every row, which is padding in the shorter rows: each row's last real "
            "token sits at its own position, set by its length": h[:, -1],
            "you took the same position for every row (the longest row's last): each row has its own length":
                h[:, int(lengths.max()) - 1],
            "off by one: lengths[i] counts the real tokens of row i, and positions start at 0, so its last real "
            "token sits at position lengths[i] - 1": h[rows, lengths.clamp(max=T - 1)],
            "that is each row's first token: take its last real one, the only position that has seen the whole "
            "passage under the causal mask": h[:, 0],
            "you averaged the real tokens: take only the last one, the only position that has seen the whole "
            "passage (the earlier ones saw a prefix)": (h * real[..., None]).sum(1) / lengths[:, None],
            "you averaged every position, the padding's too: take each row's last real token": h.mean(1),
            "the rows are padded on the RIGHT: the real tokens of row i sit at positions 0 .. lengths[i] - 1, "
            "the padding after them": h[rows, T - lengths],
        }
        result = attempt(name, last_token_vectors, h.clone().requires_grad_(), lengths.clone())
        if isinstance(result, torch.Tensor) and tuple(result.shape) == (B, B, C):
            raise ExerciseError(f"{name}: your result has shape {(B, B, C)}: it picks every row's position from "
                                "every row. Pair each row with its own position, so that the result holds B vectors")
        if isinstance(result, torch.Tensor) and tuple(result.shape) == (B, T):
            raise ExerciseError(f"{name}: your result has shape {(B, T)}: you indexed the last axis of h, the "
                                "features. The position is the middle axis of h (B, T, C)")
        expect_tensor(result, name, (B, C))
        expect(result.requires_grad, name, "the vectors are cut off from h, so the classifier's loss could not reach "
                                           "the model: keep them tensors computed from h (no .item(), .detach() or "
                                           "torch.tensor(...))")
        expect_close(result, reference, name, mistakes=mistakes, atol=1e-6, rtol=1e-6)
    passed(name, "each row's last real token, in batches padded on the right")


# --- exercise 2: the loss on the response only ----------------------------------------------------------------

def _instruction_batch(generator: torch.Generator, B: int, T: int, V: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B, T) and response_mask (B, T): each row a prompt, a response ending in the end token V - 1, then
    padding (the end token again, with mask 0). Row 0 has at least 2 padding tokens; rows 0 and 1 have responses of
    different lengths."""
    idx = torch.randint(0, V - 1, (B, T), generator=generator)  # the end token appears only where it is put
    mask = torch.zeros(B, T, dtype=torch.long)
    for row in range(B):
        room = T - 2 if row == 0 else T  # how many tokens the prompt and the response may take
        response = 1 + row if row < 2 else int(torch.randint(1, 4, (), generator=generator))  # with the end token
        prompt = int(torch.randint(1, room - response + 1, (), generator=generator))
        mask[row, prompt:prompt + response] = 1
        idx[row, prompt + response - 1:] = V - 1  # the end token, then the padding
    return idx, mask


def _response_loss_mistakes(logits: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The right loss, and what each usual mistake gives on the same inputs, keyed by its hint."""
    log_probs = torch.log_softmax(logits.double(), dim=-1)  # (B, T, V)
    nll = -log_probs[:, :-1].gather(-1, idx[:, 1:, None]).squeeze(-1)  # (B, T-1): position t, target t + 1
    same = -log_probs.gather(-1, idx[..., None]).squeeze(-1)  # (B, T): position t scored on token t itself
    back = -log_probs[:, 1:].gather(-1, idx[:, :-1, None]).squeeze(-1)  # (B, T-1): position t + 1 on token t
    counted, unshifted = mask[:, 1:].bool(), mask[:, :-1].bool()  # (B, T-1) each
    after_prompt = mask.cummax(dim=1).values[:, 1:].bool()  # everything from the first response token on
    not_padding = idx[:, 1:] != idx.max()  # the end token is the largest id: every target but the end and the pads
    reference = nll[counted].mean()
    shift = ("the logits at position t predict the NEXT token, t + 1: compare them with the token one place later "
             "(so the last position has no target and the first token is never predicted)")
    return reference, {
        "the mask is not shifted with the targets: position t counts when the token it predicts, t + 1, is a "
        "response token. Unshifted, you miss the prediction of the first response token and count the end token's "
        "prediction of the padding": nll[unshifted].mean(),
        shift: same[mask.bool()].mean(),
        f"{shift}; and so the mask must be shifted like the targets": same[:, :-1][counted].mean(),
        "shifted the wrong way: the logits at position t predict token t + 1, not token t - 1": back[unshifted].mean(),
        "shifted the wrong way (the mask with it): the logits at position t predict token t + 1, not token t - 1":
            back[counted].mean(),
        "you averaged over every position, the prompt's and the padding's too: average only over the positions "
        "whose target is a response token": nll.mean(),
        "you counted the prompt too: only the predictions of response tokens (response_mask 1) count":
            nll[not_padding].mean(),
        "you counted the padding after the end token too: response_mask is 0 there, and only its 1s count":
            nll[after_prompt].mean(),
        "you summed the counted positions' losses: take their mean, divided by how many positions count":
            nll[counted].sum(),
        "you divided by every position, B * (T - 1): divide by the number of positions that count":
            nll[counted].sum() / nll.numel(),
        "you divided by every position, B * T: divide by the number of positions that count":
            nll[counted].sum() / idx.numel(),
        "you averaged each row, then the rows: average over all the counted positions of the batch together, so that "
        "every response token weighs the same": ((nll * counted).sum(1) / counted.sum(1)).mean(),
        "response_mask holds the integers 0 and 1: used as an index, it picks rows 0 and 1 instead of selecting "
        "positions. Turn it into booleans first (compare it with 1, or .bool())": nll[mask[:, 1:]].mean(),
    }


@self_check
def check_response_loss(response_loss) -> None:
    """response_loss(logits (B, T, V), idx (B, T), response_mask (B, T)) -> the mean next-token loss over the
    positions whose target is a response token, a 0-d tensor."""
    name = "response_loss"
    generator = fresh_generator()
    for B, V in [(3, 11), (4, 17), (pick(generator, 3, 5), 23)]:
        T = int(torch.randint(8, 12, (), generator=generator))
        idx, mask = _instruction_batch(generator, B, T, V)
        logits = 3 * torch.randn(B, T, V, generator=generator)  # spread out, so that every mistake shows
        reference, mistakes = _response_loss_mistakes(logits, idx, mask)
        result = attempt(name, response_loss, logits.clone().requires_grad_(), idx.clone(), mask.clone())
        expect_tensor(result, name, ())
        expect(result.requires_grad, name, "the loss is cut off from the logits, so backward() cannot reach the "
                                           "model: keep it a tensor (no .item(), no torch.tensor(...))")
        mistakes = {hint: wrong.float() for hint, wrong in mistakes.items()}  # float32, as the logits
        expect_close(result, reference.float(), name, mistakes=mistakes, atol=1e-5, rtol=1e-5)
    passed(name, "the mean next-token loss over the response tokens, prompt and padding left out")


# --- exercise 3: the LoRA layer -------------------------------------------------------------------------------

def _lora_configs(generator: torch.Generator) -> list[tuple[int, int, int, float, bool]]:
    """(in_features, out_features, rank, alpha, bias): never square (a transpose shows), alpha never equal to rank
    (a missing or inverted scale shows), one layer without a bias, as attn.qkv under gpt2lib's default config."""
    return [(pick(generator, 12, 16), pick(generator, 20, 6), pick(generator, 2, 4), pick(generator, 8.0, 16.0), True),
            (pick(generator, 10, 14), pick(generator, 18, 7), 3, pick(generator, 1.5, 12.0), False),
            (pick(generator, 9, 11), 5, pick(generator, 1, 4), 2.0, True)]


def _base_layer(generator: torch.Generator, n_in: int, n_out: int, bias: bool) -> nn.Linear:
    """A "pretrained" nn.Linear whose weight and bias come from generator."""
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=generator) / n_in**0.5)
        if bias:
            layer.bias.copy_(torch.randn(n_out, generator=generator))
    return layer


def _expect_lora_parts(module: nn.Module, base: nn.Linear, frozen: nn.Linear, rank: int, name: str) -> None:
    """The layer keeps base, frozen and unchanged; A (rank, in) random and B (out, rank) zero are its only trainable
    parameters."""
    n_in, n_out = base.in_features, base.out_features
    expect(getattr(module, "base", None) is base, name, "keep the layer you were given as self.base (that very "
                                                        "object, not a copy: it is the pretrained model's layer)")
    expect(all(torch.equal(a, b) for a, b in zip(base.parameters(), frozen.parameters())), name,
           "your __init__ changed the base layer's weights: leave them as they are (freezing only stops training)")
    params = dict(module.named_parameters())
    for part, shape, sides in (("A", (rank, n_in), ("in_features", "rank")),
                               ("B", (n_out, rank), ("rank", "out_features"))):
        value = params.get(part)
        if value is None:
            hint = (f"self.{part} must be an nn.Parameter, so that the optimizer finds and trains it"
                    if isinstance(getattr(module, part, None), torch.Tensor) else
                    f"store the {'first' if part == 'A' else 'second'} low-rank matrix as self.{part} = "
                    "nn.Parameter(...)")
            raise ExerciseError(f"{name}: {hint}")
        got = tuple(value.shape)
        expect(got == shape, name, f"self.{part} should have shape {shape} (rank={rank}, in_features={n_in}, "
               f"out_features={n_out}), not {got}" + (f": transposed. {part} maps {sides[0]} to {sides[1]} and, like "
               f"nn.Linear's weight, is stored (out, in) = ({sides[1]}, {sides[0]})" if got == shape[::-1] else ""))
    expect(not any(p.requires_grad for p in base.parameters()), name,
           "the base layer still trains: freeze it in __init__ (requires_grad=False on its weight and bias), so that "
           "only A and B train")
    trainable = sorted(n for n, p in params.items() if p.requires_grad)
    expect(trainable == ["A", "B"], name, f"A and B, and only they, must be trainable; yours are {trainable}")
    expect(bool((params["B"] == 0).all()), name,
           "B must start at zero: then the update B A is zero and the wrapped layer computes exactly what the "
           "pretrained one does, so the model is unchanged at step 0")
    A = params["A"].detach().double()
    expect(bool(A.abs().sum() > 0), name, "A must start random, not zero: with A and B both zero, neither gets a "
                                          "gradient (each one's gradient goes through the other), so LoRA never learns")
    expect(bool(torch.isfinite(A).all()) and int(torch.linalg.matrix_rank(A)) == rank, name,
           "A's rows must be drawn at random (torch.randn, say): repeated rows make the update's rank lower than rank")


def _forward(module: nn.Module, x: torch.Tensor, name: str, has_bias: bool) -> torch.Tensor:
    """module(x), the learner's forward; a crash's hint says what was special about this call."""
    try:
        return attempt(name, module, x)
    except ExerciseError as error:
        if "your code raised" not in str(error):
            raise
        notes = [f"x had shape {tuple(x.shape)}"]
        if x.dim() == 1:
            notes.append("one token's vector, as cached decoding passes it: forward must work with any number of "
                         "leading dimensions, or none")
        if not has_bias:
            notes.append("this base layer has no bias (base.bias is None), as attn.qkv with qkv_bias=False, gpt2lib's "
                         "default: self.base(x) works either way")
        if "cannot be multiplied" in str(error):
            notes.append("A is (rank, in_features) and B is (out_features, rank), stored like nn.Linear's weights")
        raise ExerciseError(f"{error} ({'; '.join(notes)})") from error.__cause__


def _lora_mistakes(frozen: nn.Linear, x: torch.Tensor, A: torch.Tensor, B: torch.Tensor, rank: int,
                   alpha: float) -> tuple[torch.Tensor, dict]:
    """The right output, and what each usual mistake gives on the same inputs, keyed by its hint."""
    with torch.no_grad():
        base, update = frozen(x), x @ A.T @ B.T  # (..., out) each
        unbiased = x @ frozen.weight.T
    scale = alpha / rank
    return base + scale * update, {
        "the update is not scaled: multiply it by alpha / rank": base + update,
        "the scale is upside down: alpha / rank, not rank / alpha": base + update / scale,
        "the scale is alpha / rank: divide alpha by the rank": base + alpha * update,
        "that is alpha / sqrt(rank), the scale of rsLoRA; this exercise, like the LoRA paper, uses alpha / rank":
            base + alpha / math.sqrt(rank) * update,
        "the base layer's output is missing: forward returns base(x) plus the scaled update": scale * update,
        "only the update is scaled by alpha / rank; the base layer's output is added as it is":
            scale * (base + update),
        "the base layer's bias is missing: call self.base(x), which adds it": unbiased + scale * update,
        "your output is base(x) alone: add the low-rank update, (alpha / rank) x A^T B^T, computed from self.A and "
        "self.B": base,
    }


def _expect_gradients(module: nn.Module, frozen: nn.Linear, x: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                      scale: float, generator: torch.Generator, name: str, has_bias: bool) -> None:
    """A backward pass through the learner's forward reaches A and B, with the right gradients."""
    out = _forward(module, x, name, has_bias)
    expect(out.requires_grad, name, "your output does not track gradients to A and B: leave torch.no_grad() and "
                                    ".detach() out of forward, and compute the update from self.A and self.B")
    grad_out = torch.randn(out.shape, generator=generator)
    grads = torch.autograd.grad(out, [module.A, module.B], grad_out, allow_unused=True)
    for part, grad in zip("AB", grads):
        expect(grad is not None, name, f"self.{part} gets no gradient from your forward: compute the update from the "
                                       "parameters self.A and self.B themselves")
    A_ref, B_ref = A.clone().requires_grad_(), B.clone().requires_grad_()
    reference = frozen(x) + scale * (x @ A_ref.T @ B_ref.T)
    for part, grad, wanted in zip("AB", grads, torch.autograd.grad(reference, [A_ref, B_ref], grad_out)):
        expect(same(grad, wanted, atol=1e-4, rtol=1e-4), name, f"the output is right but the gradient of self.{part} "
               "is not: compute the update from self.A and self.B with ordinary tensor operations (nothing through "
               ".data, nothing in place)")


@self_check
def check_lora_linear(LoRALinear) -> None:
    """LoRALinear(base, rank, alpha) -> a module: base frozen, A (rank, in) random, B (out, rank) zero, and
    forward(x) = base(x) + (alpha / rank) * x A^T B^T for x of shape (..., in)."""
    name = "LoRALinear"
    generator = fresh_generator()
    for n_in, n_out, rank, alpha, bias in _lora_configs(generator):
        base = _base_layer(generator, n_in, n_out, bias)
        frozen = copy.deepcopy(base).requires_grad_(False)  # the reference's copy, made before the learner's code runs
        module = attempt(name, LoRALinear, Mutable(base), rank, alpha)  # freezing base is the exercise
        expect_module(module, name, "LoRALinear")
        _expect_lora_parts(module, base, frozen, rank, name)
        x = torch.randn(2, 4, n_in, generator=generator)  # (B, T, in)
        reference, mistakes = _lora_mistakes(frozen, x, module.A.detach().clone(), module.B.detach().clone(), rank,
                                             alpha)
        expect_close(_forward(module, x, name, bias), reference, name, mistakes=mistakes, atol=1e-5, rtol=1e-4)
        A, B = torch.randn(rank, n_in, generator=generator), torch.randn(n_out, rank, generator=generator)
        with torch.no_grad():  # as if trained: the check's own values, so that the update shows
            module.A.copy_(A)
            module.B.copy_(B)
        for shape in [(2, 4, n_in), (n_in,), (3, n_in)]:  # a batch, one token's vector (cached decoding), rows
            x = torch.randn(shape, generator=generator)
            reference, mistakes = _lora_mistakes(frozen, x, A, B, rank, alpha)
            expect_close(_forward(module, x, name, bias), reference, name, mistakes=mistakes, atol=1e-5, rtol=1e-4)
        _expect_gradients(module, frozen, torch.randn(2, 3, n_in, generator=generator), A, B, alpha / rank, generator,
                          name, bias)
    passed(name, "B = 0 leaves the layer unchanged at the start; base(x) + (alpha / rank) x A^T B^T afterwards, "
                 "with gradients for A and B only")


# --- question: how many numbers does LoRA train? -----------------------------------------------------------------

def lora_parameters_reference(cfg: GPTConfig, rank: int) -> int:
    """A (rank, in) and B (out, rank) beside each of a block's four matrices: qkv (C -> 3C), out_proj (C -> C),
    fc (C -> 4C) and proj (4C -> C), in every block."""
    C = cfg.emb_dim
    shapes = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)]
    return cfg.n_layers * sum(rank * (n_in + n_out) for n_in, n_out in shapes)


def _gpt2_small_parameters() -> int:
    """GPT-2 small's parameters with q/k/v bias and the head tied to the token embedding: 124,439,808."""
    C, V, T, L = 768, 50257, 1024, 12
    block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    return V * C + T * C + L * block + 2 * C


@self_check
def check_lora_parameters(lora_parameters) -> None:
    """lora_parameters(cfg, rank) -> how many numbers LoRA trains when it wraps the four matrices of every block."""
    name = "lora_parameters"
    generator = fresh_generator()
    configs = [(GPTConfig(), 8), (GPTConfig(emb_dim=1024, n_heads=16, n_layers=24), 4),
               (GPTConfig(emb_dim=pick(generator, 64, 96, 128), n_heads=4, n_layers=pick(generator, 3, 5, 6)),
                pick(generator, 1, 2, 16))]
    for cfg, rank in configs:
        C, L = cfg.emb_dim, cfg.n_layers
        result = expect_int(attempt(name, lora_parameters, cfg, rank), name)
        reference = lora_parameters_reference(cfg, rank)
        if result == reference:
            continue
        hints = {
            reference // L: "that is one block's adapters: every one of the n_layers blocks has its own",
            12 * C * C * L: "that counts the full matrices W (in x out), what full fine-tuning trains: LoRA trains "
                            "only A (rank x in) and B (out x rank)",
            7 * rank * C * L: "count both A and B: A is rank x in, B is out x rank",
            9 * rank * C * L: "count both A and B: A is rank x in, B is out x rank",
            14 * rank * C * L: "attn.qkv maps emb_dim to 3 * emb_dim (q, k and v at once)",
            10 * rank * C * L: "the MLP's layers map emb_dim to 4 * emb_dim and back",
            13 * rank * C * L: "the MLP's fc maps emb_dim to 4 * emb_dim",
            rank * rank * 4 * L: "A is rank x in and B is out x rank, not rank x rank",
        }
        other = (f"with emb_dim={C}, n_layers={L} and rank={rank}, LoRA does not train {result:,} numbers: add up "
                 "rank * (in + out) for each wrapped matrix of a block, then count the blocks")
        raise ExerciseError(f"{name}: {hints.get(result, other)}")
    small, total = lora_parameters_reference(GPTConfig(), 8), _gpt2_small_parameters()
    passed(name, f"GPT-2 small at rank 8: {small:,} trainable numbers, {100 * small / total:.2f}% of its {total:,}")
