"""Self-checks for the exercises of notebook 01 (the GPT-2 scaffold)."""

import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel
from gpt2lib_exercises.core import (
    ExerciseError, attempt, expect, expect_close, expect_int, expect_number, expect_tensor, fresh_generator, kind_of,
    passed, pick, seed_from, self_check,
)


def small_config(generator: torch.Generator) -> GPTConfig:
    """A random small configuration, so that a check runs in milliseconds."""
    heads = pick(generator, 2, 4)
    return GPTConfig(vocab_size=pick(generator, 97, 211, 500), context_length=pick(generator, 16, 24),
                     emb_dim=heads * pick(generator, 4, 8), n_heads=heads, n_layers=pick(generator, 1, 2), dropout=0.0)


@self_check
def check_embed(embed) -> None:
    """embed(tok_emb, pos_emb, idx) -> the token embedding of idx plus the position embedding of 0..T-1."""
    name = "embed"
    generator = fresh_generator()
    cfg = small_config(generator)
    tok_emb, pos_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim), nn.Embedding(cfg.context_length, cfg.emb_dim)
    B, T = 3, cfg.context_length - 5
    idx = torch.randint(0, cfg.vocab_size, (B, T), generator=generator)
    with torch.no_grad():
        tokens, positions = tok_emb(idx), pos_emb(torch.arange(T))
        mistakes = {
            "only the token embedding: add the position embedding of each position": tokens,
            "only the position embedding: add the token embedding of each id": positions.expand(B, T, -1),
            "positions start at 0: use torch.arange(T), not 1..T": tokens + pos_emb(torch.arange(1, T + 1)),
        }
    result = attempt(name, embed, tok_emb, pos_emb, idx.clone())
    expect_tensor(result, name, (B, T, cfg.emb_dim))
    expect_close(result, tokens + positions, name, mistakes=mistakes)
    passed(name, "on a random batch and random embeddings")


class _DropoutStandIn(nn.Module):
    """The model's dropout, made checkable: it drops the same entries at every call (x * a fixed mask of 0 and
    1 / (1 - p)), in train and eval mode alike, and counts its calls."""

    def __init__(self, exercise: str, shape: tuple, generator: torch.Generator, p: float = 0.5):
        super().__init__()
        self.exercise, self.p, self.calls = exercise, p, 0
        self.register_buffer("mask", (torch.rand(shape, generator=generator) >= p).float() / (1 - p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        expect(tuple(x.shape) == tuple(self.mask.shape), self.exercise,
               f"model.drop got a tensor of shape {tuple(x.shape)}: apply it to the embeddings (token plus position), "
               f"shape (B, T, emb_dim) = {tuple(self.mask.shape)}")
        return x * self.mask


def _forward(model: GPTModel, idx: torch.Tensor, mask: torch.Tensor, drop: str | None = "embeddings",
             positions: bool = True, blocks: bool = True, final_norm: bool = True) -> torch.Tensor:
    """The scaffold's forward with the stand-in's mask, with switches that reproduce the usual mistakes."""
    tokens = model.tok_emb(idx) * (mask if drop == "tokens" else 1)  # (B, T, C)
    x = tokens + model.pos_emb(torch.arange(idx.shape[1])) if positions else tokens
    x = x * mask if drop == "embeddings" else x
    for block in model.blocks if blocks else []:
        x = block(x)
    x = x * mask if drop == "after blocks" else x
    return model.out_head(model.final_norm(x) if final_norm else x)


@self_check
def check_scaffold_forward(scaffold_forward) -> None:
    """scaffold_forward(model, idx) -> logits, through the model's parts in GPT-2's order."""
    name = "scaffold_forward"
    generator = fresh_generator()
    cfg = small_config(generator)
    seed_from(generator)
    model = GPTModel(cfg).eval()  # real blocks and final norm, so that skipping one shows
    B, T = 2, cfg.context_length - 3
    model.drop = drop = _DropoutStandIn(name, (B, T, cfg.emb_dim), generator)  # so that skipping dropout shows
    idx = torch.randint(0, cfg.vocab_size, (B, T), generator=generator)
    with torch.no_grad():
        reference, mask = _forward(model, idx, drop.mask), drop.mask
        mistakes = {
            "dropout goes on the embeddings, before the blocks, not after them":
                _forward(model, idx, mask, "after blocks"),
            "apply model.drop to the sum of the two embeddings, not to the token embedding alone":
                _forward(model, idx, mask, "tokens"),
            "the final layer norm is missing: apply model.final_norm before the output head":
                _forward(model, idx, mask, final_norm=False),
            "the transformer blocks are missing: run x through each block of model.blocks, in order":
                _forward(model, idx, mask, blocks=False),
            "the position embedding is missing: add model.pos_emb of positions 0..T-1":
                _forward(model, idx, mask, positions=False),
        }
    result = attempt(name, scaffold_forward, model, idx.clone())
    expect(drop.calls > 0, name, "dropout is missing: apply model.drop to the embeddings (token plus position) "
                                 "before the blocks. The check's model.drop drops entries even in eval mode")
    expect(drop.calls == 1, name, f"model.drop ran {drop.calls} times: apply it once, to the embeddings")
    expect_tensor(result, name, (B, T, cfg.vocab_size))
    expect_close(result, reference, name, mistakes=mistakes)
    passed(name, "on a random small model with real blocks and a dropout that always drops")


def scaffold_parameters_reference(cfg: GPTConfig) -> int:
    return cfg.vocab_size * cfg.emb_dim + cfg.context_length * cfg.emb_dim + cfg.emb_dim * cfg.vocab_size


@self_check
def check_scaffold_parameters(scaffold_parameters) -> None:
    """scaffold_parameters(cfg) -> the number of parameters of notebook 01's GPTScaffold, from cfg alone."""
    name = "scaffold_parameters"
    generator = fresh_generator()
    configs = [GPTConfig(), small_config(generator), small_config(generator)]
    for cfg in configs:
        reference = scaffold_parameters_reference(cfg)
        result = expect_int(attempt(name, scaffold_parameters, cfg), name)
        V, T, C = cfg.vocab_size, cfg.context_length, cfg.emb_dim
        hints = {
            reference - V * C: "count the output head too: a (emb_dim -> vocab_size) linear layer without bias",
            reference - T * C: "count the position embedding too: one vector of emb_dim numbers per position",
            reference + V: "the output head has no bias (bias=False)",
            reference - V * C + T * C: "the head maps emb_dim to vocab_size, not to context_length",
        }
        if result != reference:
            off = f"for {cfg} the count is off by {result - reference:+,}"
            raise ExerciseError(f"{name}: " + hints.get(result, off))
    passed(name, f"GPT-2 small's scaffold has {scaffold_parameters_reference(configs[0]):,} parameters")


@self_check
def check_next_token_ids(next_token_ids) -> None:
    """next_token_ids(logits) -> for each sequence, the id with the largest logit at the last position."""
    name = "next_token_ids"
    generator = fresh_generator()
    B, T, V = 4, 6, 50
    logits = torch.randn(B, T, V, generator=generator)
    result = attempt(name, next_token_ids, logits.clone())
    expect(isinstance(result, torch.Tensor), name, f"return a torch.Tensor, not {kind_of(result)}")
    expect(tuple(result.shape) != (B, T), name,
           "that is one id per position: keep only the last position, logits[:, -1]")
    expect_tensor(result, name, (B,))
    reference = logits[:, -1].argmax(dim=-1)
    if not torch.equal(result.long(), reference):
        if torch.equal(result.long(), logits[:, 0].argmax(dim=-1)):
            raise ExerciseError(f"{name}: that is the first position; the next token follows the last one")
        raise ExerciseError(f"{name}: take the argmax over the vocabulary (the last dimension) of logits[:, -1]")
    passed(name, "on random logits")


@self_check
def check_logits_megabytes(logits_megabytes) -> None:
    """logits_megabytes(batch_size, n_tokens, vocab_size, dtype) -> memory of (B, T, vocab_size) logits, in MB."""
    name = "logits_megabytes"
    generator = fresh_generator()
    cases = [(16, 128, 50257, torch.float32), (8, 1024, 50257, torch.bfloat16)]
    cases.append((int(torch.randint(1, 9, (), generator=generator)), int(torch.randint(1, 65, (), generator=generator)),
                  int(torch.randint(2, 1000, (), generator=generator)), torch.float16))
    for B, T, V, dtype in cases:
        reference = B * T * V * dtype.itemsize / 1e6
        result = expect_number(attempt(name, logits_megabytes, B, T, V, dtype), name)
        if abs(result - reference) <= 1e-9 * max(1.0, reference):
            continue
        hints = {
            B * T * V * dtype.itemsize / 2**20: "that is MiB (2^20 bytes); the exercise asks for MB, 10^6 bytes",
            B * T * V / 1e6: "that counts numbers, not bytes: multiply by the size of one number, dtype.itemsize",
            B * T * V * 4 / 1e6: "every dtype costs 4 bytes in your answer; use dtype.itemsize",
            B * V * dtype.itemsize / 1e6: "the model outputs logits at every position, not only the last: B * T rows",
        }
        hint = next((text for value, text in hints.items() if abs(result - value) <= 1e-9 * max(1.0, value)), None)
        raise ExerciseError(f"{name}: " + (hint or f"({B}, {T}, {V}) logits in {dtype} do not take {result} MB"))
    passed(name, f"one batch of 16 windows of 128 tokens: {16 * 128 * 50257 * 4 / 1e6:,.0f} MB of float32 logits")
