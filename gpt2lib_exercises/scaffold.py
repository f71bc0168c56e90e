"""Self-checks for the exercises of notebook 01 (the GPT-2 scaffold)."""

import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel
from gpt2lib_exercises.core import (
    ExerciseError, attempt, expect, expect_close, expect_tensor, fresh_generator, keeps_random_state, passed, pick,
    seed_from,
)


def small_config(generator: torch.Generator) -> GPTConfig:
    """A random small configuration, so that a check runs in milliseconds."""
    heads = pick(generator, 2, 4)
    return GPTConfig(vocab_size=pick(generator, 97, 211, 500), context_length=pick(generator, 16, 24),
                     emb_dim=heads * pick(generator, 4, 8), n_heads=heads, n_layers=pick(generator, 1, 2), dropout=0.0)


@keeps_random_state
def check_embed(embed) -> None:
    """embed(tok_emb, pos_emb, idx) -> the token embedding of idx plus the position embedding of 0..T-1."""
    name = "embed"
    generator = fresh_generator()
    cfg = small_config(generator)
    tok_emb, pos_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim), nn.Embedding(cfg.context_length, cfg.emb_dim)
    B, T = 3, cfg.context_length - 5
    idx = torch.randint(0, cfg.vocab_size, (B, T), generator=generator)
    with torch.no_grad():
        result = attempt(name, embed, tok_emb, pos_emb, idx)
        expect_tensor(result, name, (B, T, cfg.emb_dim))
        tokens, positions = tok_emb(idx), pos_emb(torch.arange(T))
        expect_close(result, tokens + positions, name, mistakes={
            "only the token embedding: add the position embedding of each position": tokens,
            "only the position embedding: add the token embedding of each id": positions.expand(B, T, -1),
            "positions start at 0: use torch.arange(T), not 1..T": tokens + pos_emb(torch.arange(1, T + 1)),
        })
    passed(name, "on a random batch and random embeddings")


@keeps_random_state
def check_scaffold_forward(scaffold_forward) -> None:
    """scaffold_forward(model, idx) -> logits, through the model's parts in GPT-2's order."""
    name = "scaffold_forward"
    generator = fresh_generator()
    cfg = small_config(generator)
    seed_from(generator)
    model = GPTModel(cfg).eval()  # real blocks and final norm, so that skipping one shows
    B, T = 2, cfg.context_length - 3
    idx = torch.randint(0, cfg.vocab_size, (B, T), generator=generator)
    with torch.no_grad():
        result = attempt(name, scaffold_forward, model, idx)
        expect_tensor(result, name, (B, T, cfg.vocab_size))
        x = model.tok_emb(idx) + model.pos_emb(torch.arange(T))  # (B, T, C)
        after_blocks = x
        for block in model.blocks:
            after_blocks = block(after_blocks)
        expect_close(result, model(idx), name, mistakes={
            "the final layer norm is missing: apply model.final_norm before the output head":
                model.out_head(after_blocks),
            "the transformer blocks are missing: run x through each block of model.blocks, in order":
                model.out_head(model.final_norm(x)),
            "the position embedding is missing: add model.pos_emb of positions 0..T-1": _without_positions(model, idx),
        })
    passed(name, "on a random small model with real blocks")


def _without_positions(model: GPTModel, idx: torch.Tensor) -> torch.Tensor:
    x = model.tok_emb(idx)
    for block in model.blocks:
        x = block(x)
    return model.out_head(model.final_norm(x))


def scaffold_parameters_reference(cfg: GPTConfig) -> int:
    return cfg.vocab_size * cfg.emb_dim + cfg.context_length * cfg.emb_dim + cfg.emb_dim * cfg.vocab_size


@keeps_random_state
def check_scaffold_parameters(scaffold_parameters) -> None:
    """scaffold_parameters(cfg) -> the number of parameters of notebook 01's GPTScaffold, from cfg alone."""
    name = "scaffold_parameters"
    generator = fresh_generator()
    configs = [GPTConfig(), small_config(generator), small_config(generator)]
    for cfg in configs:
        result = attempt(name, scaffold_parameters, cfg)
        expect(isinstance(result, int) and not isinstance(result, bool), name,
               f"return a Python int, not {type(result).__name__}")
        V, T, C = cfg.vocab_size, cfg.context_length, cfg.emb_dim
        reference = scaffold_parameters_reference(cfg)
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


@keeps_random_state
def check_next_token_ids(next_token_ids) -> None:
    """next_token_ids(logits) -> for each sequence, the id with the largest logit at the last position."""
    name = "next_token_ids"
    generator = fresh_generator()
    B, T, V = 4, 6, 50
    logits = torch.randn(B, T, V, generator=generator)
    result = attempt(name, next_token_ids, logits.clone())
    expect(isinstance(result, torch.Tensor), name, f"return a torch.Tensor, not {type(result).__name__}")
    expect(tuple(result.shape) != (B, T), name,
           "that is one id per position: keep only the last position, logits[:, -1]")
    expect_tensor(result, name, (B,))
    reference = logits[:, -1].argmax(dim=-1)
    if not torch.equal(result.long(), reference):
        if torch.equal(result.long(), logits[:, 0].argmax(dim=-1)):
            raise ExerciseError(f"{name}: that is the first position; the next token follows the last one")
        raise ExerciseError(f"{name}: take the argmax over the vocabulary (the last dimension) of logits[:, -1]")
    passed(name, "on random logits")


@keeps_random_state
def check_logits_megabytes(logits_megabytes) -> None:
    """logits_megabytes(batch_size, n_tokens, vocab_size, dtype) -> memory of (B, T, vocab_size) logits, in MB."""
    name = "logits_megabytes"
    generator = fresh_generator()
    cases = [(16, 128, 50257, torch.float32), (8, 1024, 50257, torch.bfloat16)]
    cases.append((int(torch.randint(1, 9, (), generator=generator)), int(torch.randint(1, 65, (), generator=generator)),
                  int(torch.randint(2, 1000, (), generator=generator)), torch.float16))
    for B, T, V, dtype in cases:
        result = attempt(name, logits_megabytes, B, T, V, dtype)
        expect(isinstance(result, (int, float)) and not isinstance(result, bool), name,
               f"return a number, not {type(result).__name__}")
        reference = B * T * V * dtype.itemsize / 1e6
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
    passed(name, f"one batch of 16 windows of 128 tokens: {logits_megabytes(16, 128, 50257, torch.float32):,.0f} MB "
                 f"of float32 logits")
