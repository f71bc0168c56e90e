"""Self-checks for the exercises of notebook 09 (training for real), written by hand."""

import math

import torch
from torch import nn

from gpt2lib_exercises.core import (
    ExerciseError, attempt, expect, expect_close, expect_int, expect_number, fresh_generator, kind_of, passed,
    self_check,
)
from gpt2lib_exercises.training import _tiny_model

TRAIN_TOKENS = 304_222  # tokens of tiny Shakespeare's training split (the first 90% of 338,025)


# --- exercise 1: gradient accumulation ---------------------------------------------------------------------

def _mean_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss the check hands to the learner's function: mean cross-entropy of (B, T, V) logits."""
    return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def _loss_and_gradient(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[float, torch.Tensor]:
    """The mean loss on one micro-batch, and its gradient as one long vector (the model's .grad untouched)."""
    loss = _mean_loss(model(inputs), targets)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss.item(), torch.cat([g.flatten() for g in grads])


@self_check
def check_accumulate_gradients(accumulate_gradients) -> None:
    """accumulate_gradients(model, micro_batches, loss_fn) -> the mean loss; model's .grad = its gradient."""
    name = "accumulate_gradients"
    generator = fresh_generator()
    for n_micro in (2, 3):
        model = _tiny_model(generator)
        V = model.cfg.vocab_size
        micro_batches = [(torch.randint(0, V, (2, 6), generator=generator),
                          torch.randint(0, V, (2, 6), generator=generator)) for _ in range(n_micro)]
        losses, parts = zip(*(_loss_and_gradient(model, x, y) for x, y in micro_batches))  # each one's
        stale = []
        for param in model.parameters():  # gradients left over from an earlier step
            param.grad = torch.randn(param.shape, generator=generator)
            stale.append(param.grad.flatten().clone())
        result = attempt(name, accumulate_gradients, model, micro_batches, _mean_loss)  # it may change .grad only
        expect(all(p.grad is not None for p in model.parameters()), name,
               "some parameters have no gradient: call .backward() on each micro-batch's loss")
        grad = torch.cat([p.grad.flatten() for p in model.parameters()])
        mean = torch.stack(parts).mean(0)
        expect_close(grad, mean, name, mistakes={
            f"the gradient is {n_micro} times too large: divide each micro-batch's loss by the number of "
            "micro-batches before .backward(), so that the sum is the gradient of the mean": mean * n_micro,
            "only the last micro-batch's gradient is left: zero the gradients once, before the loop, not inside it":
                parts[-1],
            "only the last micro-batch's gradient is left (divided by their number): zero the gradients once, "
            "before the loop, not inside it": parts[-1] / n_micro,
            "the gradients of an earlier step are still in .grad: call model.zero_grad() before the loop":
                mean + torch.cat(stale),
        }, atol=1e-6, rtol=1e-4)
        result = expect_number(result, name, "the mean loss as a Python float")
        if not math.isclose(result, sum(losses) / n_micro, rel_tol=1e-5):
            hint = ("return the mean loss over the micro-batches, not their sum" if math.isclose(result, sum(losses),
                    rel_tol=1e-5) else "return the mean of all the micro-batches' losses, not the last one"
                    if math.isclose(result, losses[-1], rel_tol=1e-5) else
                    "the gradients are right, but the returned loss is not the mean loss over the micro-batches")
            raise ExerciseError(f"{name}: {hint}")
    passed(name, "the gradients equal those of the mean loss over all micro-batches")


# --- question: tokens per step and steps per epoch -------------------------------------------------------

def step_budget_reference(batch_size: int, grad_accum: int, context_length: int, corpus_tokens: int) -> tuple[int, int]:
    tokens = batch_size * grad_accum * context_length
    return tokens, -(-corpus_tokens // tokens)  # ceiling division


@self_check
def check_step_budget(step_budget) -> None:
    """step_budget(batch_size, grad_accum, context_length, corpus_tokens) -> (tokens per step, steps per epoch)."""
    name = "step_budget"
    cases = [(16, 1, 128, TRAIN_TOKENS), (8, 4, 64, 100_000), (4, 2, 256, 204_800), (12, 3, 1024, 9_000_000_000)]
    for B, A, T, N in cases:
        result = attempt(name, step_budget, B, A, T, N)
        expect(isinstance(result, (tuple, list)) and len(result) == 2, name,
               "return two numbers: (tokens per step, steps per epoch)")
        expect(all(isinstance(v, int) and not isinstance(v, bool) for v in result), name,
               f"return two Python ints, not {kind_of(result[0])} and {kind_of(result[1])} (use // or math.ceil)")
        result = [expect_int(v, name) for v in result]
        tokens, steps = step_budget_reference(B, A, T, N)
        hints = {B: "a step sees batch_size * grad_accum windows of context_length tokens each",
                 B * T: "a step runs grad_accum micro-batches of batch_size windows each: multiply by grad_accum too",
                 B * A: "that counts windows: each window holds context_length tokens"}
        if result[0] != tokens:
            other = (f"with batch_size={B}, grad_accum={A}, context_length={T} a step does not see {result[0]:,} "
                     "tokens: count its windows, then the tokens in each")
            raise ExerciseError(f"{name}: {hints.get(result[0], other)}")
        if result[1] != steps:
            hint = ("round up: the last, partial step still counts (math.ceil, or -(-a // b))"
                    if result[1] == N // tokens else
                    f"{result[1]:,} steps of {tokens:,} tokens do not cover the corpus of {N:,} tokens just once")
            raise ExerciseError(f"{name}: {hint}")
    tokens, steps = step_budget_reference(16, 1, 128, TRAIN_TOKENS)
    passed(name, f"the command's run: {tokens:,} tokens per step; the {TRAIN_TOKENS:,} training tokens take {steps} "
                 f"steps, so 1,000 steps read them {1000 * tokens / TRAIN_TOKENS:.1f} times")


# --- exercise 2: each rank's share of the global batch ------------------------------------------------------

def _windows_of(share, n_windows: int, exercise: str) -> list[int]:
    """The window indices a share selects, whether it is a slice, a range, a list or a tensor of indices."""
    expect(isinstance(share, (slice, range, list, tuple, torch.Tensor)), exercise,
           f"return a slice (or a list or tensor of indices), not {kind_of(share)}")
    share = list(share) if isinstance(share, (range, tuple)) else share
    try:
        return torch.arange(n_windows)[share].tolist()
    except (IndexError, RuntimeError, TypeError) as error:
        raise ExerciseError(f"{exercise}: a share must pick windows 0 .. n_windows - 1 of the global batch "
                            f"({n_windows} here); yours could not be used as an index ({error})") from None


def _mean_gradient(model: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """The gradient of the mean next-token loss over windows (n, T + 1), as one long vector."""
    loss = nn.functional.cross_entropy(model(windows[:, :-1]).flatten(0, 1), windows[:, 1:].flatten())
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))])


@self_check
def check_rank_share(rank_share) -> None:
    """rank_share(n_windows, rank, world_size) -> which of a global batch's windows this rank trains on."""
    name = "rank_share"
    generator = fresh_generator()
    for n_windows, world_size in [(8, 2), (12, 4), (6 * int(torch.randint(1, 4, (), generator=generator)), 3)]:
        shares = [_windows_of(attempt(name, rank_share, n_windows, rank, world_size), n_windows, name)
                  for rank in range(world_size)]
        expect(any(len(s) < n_windows for s in shares), name, "every rank takes the whole global batch: the "
               "processes would compute the same gradient world_size times. Give each rank its own 1/world_size")
        owner = {}
        for rank, share in enumerate(shares):
            for window in share:
                expect(window not in owner, name, f"window {window} goes to rank {owner.get(window)} and to rank "
                                                  f"{rank}: each window of the global batch goes to exactly one rank")
                owner[window] = rank
        missing = [w for w in range(n_windows) if w not in owner]
        if missing:
            raise ExerciseError(f"{name}: with {n_windows} windows and world_size={world_size}, window {missing[0]} "
                                "goes to no rank: together the shares cover the whole global batch")
        sizes = [len(s) for s in shares]
        expect(len(set(sizes)) == 1, name, f"the shares hold {sizes} windows: give every rank n_windows // "
               "world_size, so that the mean of the ranks' gradients (what DDP computes) is the gradient of the "
               "whole batch")
    model = _tiny_model(generator)
    batch = torch.randint(0, model.cfg.vocab_size, (8, 6), generator=generator)
    shares = [_windows_of(attempt(name, rank_share, 8, rank, 2), 8, name) for rank in (0, 1)]
    mean = torch.stack([_mean_gradient(model, batch[share]) for share in shares])
    expect_close(mean.mean(0), _mean_gradient(model, batch), name, atol=1e-6)
    passed(name, "the shares split the global batch evenly; the mean of 2 ranks' gradients is the whole batch's")
