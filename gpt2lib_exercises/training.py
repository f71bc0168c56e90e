"""Self-checks for the exercises of notebook 08 (pretraining), written by hand."""

import copy
import math
import numbers

import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel, LayerNorm
from gpt2lib_exercises.core import (
    ExerciseError, Mutable, attempt, expect, expect_close, expect_number, expect_tensor, fresh_generator, passed, pick,
    self_check,
)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _tiny_model(generator: torch.Generator, qkv_bias: bool = False, tie_weights: bool = True) -> GPTModel:
    """A GPT-2-shaped model small enough to run in a millisecond, initialized from generator."""
    cfg = GPTConfig(vocab_size=pick(generator, 29, 41), context_length=8, emb_dim=8, n_heads=2, n_layers=1,
                    dropout=0.0, qkv_bias=qkv_bias)
    seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
    with torch.random.fork_rng(devices=[]):  # leave the learner's global random state as it was
        torch.manual_seed(seed)
        return GPTModel(cfg, tie_weights=tie_weights)


# --- exercise 1: the cross-entropy loss --------------------------------------------------------------------

@self_check
def check_cross_entropy(cross_entropy) -> None:
    """cross_entropy(logits (B, T, V), targets (B, T)) -> the mean of -log softmax(logits)[target], a 0-d tensor."""
    name = "cross_entropy"
    generator = fresh_generator()
    for B, T, V in [(2, 5, 11), (3, 4, 23), (1, 6, 50)]:
        logits = 3 * torch.randn(B, T, V, generator=generator)  # spread out, so that every mistake shows
        targets = torch.randint(0, V, (B, T), generator=generator)
        log_probs = torch.log_softmax(logits, dim=-1)  # (B, T, V)
        picked = log_probs.gather(-1, targets[..., None]).squeeze(-1)  # (B, T): log p(target)
        probs = torch.softmax(logits, dim=-1).gather(-1, targets[..., None]).squeeze(-1)  # (B, T)
        reference, mistakes = -picked.mean(), {
            "wrong sign: the loss is the NEGATIVE mean log-probability of the targets (it is never below 0)":
                picked.mean(),
            "you summed over the positions: average over all B*T predictions (.mean()), so that the loss does "
            "not grow with the batch or the context": -picked.sum(),
            "you summed over the positions of each sequence, then averaged over the batch: average over all "
            "B*T predictions": -picked.sum(dim=1).mean(),
            "you averaged the log-probabilities of the whole vocabulary: pick only each target's one, "
            "with .gather(-1, targets[..., None]) or indexing": -log_probs.mean(),
            "that is the mean probability of the targets: take the log of the softmax (torch.log_softmax)":
                -probs.mean(),
            "the softmax must run over the vocabulary, the last dimension (dim=-1)":
                -torch.log_softmax(logits, dim=1).gather(-1, targets[..., None]).mean(),
            "the raw logits are not log-probabilities: normalize them with torch.log_softmax first":
                -logits.gather(-1, targets[..., None]).mean(),
        }
        result = attempt(name, cross_entropy, logits.clone().requires_grad_(), targets.clone())
        expect_tensor(result, name, ())
        expect(result.requires_grad, name, "the loss is cut off from the logits, so backward() cannot reach the "
                                           "model: keep it a tensor (no .item(), no torch.tensor(...))")
        expect_close(result, reference, name, mistakes=mistakes, atol=1e-5, rtol=1e-5)
    passed(name, "the mean negative log-likelihood of the targets, on random logits")


# --- exercise 2: inputs and targets ------------------------------------------------------------------------

def _expect_equal(result: torch.Tensor, reference: torch.Tensor, exercise: str, what: str,
                  mistakes: dict[str, torch.Tensor]) -> None:
    """Token ids must match exactly; if not, the hint of the first mistake they match."""
    if torch.equal(result.long(), reference):
        return
    for hint, wrong in mistakes.items():
        if torch.equal(result.long(), wrong):
            raise ExerciseError(f"{exercise}: {hint}")
    raise ExerciseError(f"{exercise}: the {what} hold the wrong tokens. Window b starts at data[starts[b]] and "
                        "holds context_length consecutive tokens")


@self_check
def check_cut_windows(cut_windows) -> None:
    """cut_windows(data (N,), starts (B,), context_length) -> inputs, targets (B, T): targets shifted by one."""
    name = "cut_windows"
    generator = fresh_generator()
    for T in (4, 7):
        N = 40
        data = torch.randperm(N, generator=generator) + 100  # all ids distinct, so any shift shows
        starts = torch.randint(1, N - T - 2, (5,), generator=generator)  # (B,), room for a wrong shift either way
        result = attempt(name, cut_windows, data.clone(), starts.clone(), T)
        expect(isinstance(result, (tuple, list)) and len(result) == 2, name,
               "return two tensors: inputs, targets")
        inputs, targets = result
        B = len(starts)
        expect_tensor(inputs, name, (B, T))
        expect_tensor(targets, name, (B, T))
        positions = starts[:, None] + torch.arange(T)  # (B, 1) + (T,) -> (B, T)
        at = lambda shift: data[positions + shift]  # noqa: E731  (B, T): the tokens `shift` places later
        if torch.equal(inputs.long(), at(1)):
            expect(not torch.equal(targets.long(), at(0)), name, "you swapped them: return inputs first, then targets")
            raise ExerciseError(f"{name}: the inputs start one token late: window b is "
                                "data[starts[b] : starts[b] + context_length]")
        _expect_equal(inputs, at(0), name, "inputs", {})
        _expect_equal(targets, at(1), name, "targets", {
            "the targets equal the inputs: shift them by one token, the target at position t is the token at t + 1":
                at(0),
            "the targets are shifted the wrong way: the target at position t is the NEXT token, t + 1, "
            "not the previous one": at(-1),
            "the targets are shifted by two tokens: shift by one, the target at position t is the token at t + 1":
                at(2),
        })
    passed(name, "targets are the inputs shifted by one token, on random data")


# --- exercise 3: the learning-rate schedule ----------------------------------------------------------------

def lr_reference(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine(max_lr: float, min_lr: float, progress: float) -> float:
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _lr_mistakes(step: int, hi: float, lo: float, warm: int, total: int) -> dict[str, float]:
    """What each typical mistake gives at one step, keyed by its hint."""
    right = lr_reference(step, hi, lo, warm, total)
    decaying = step >= warm
    progress = min(1.0, (step - warm) / (total - warm))
    return {
        "the warmup starts at 0, so step 0 does not train at all: step 0 already gets max_lr / warmup_steps, "
        "use (step + 1) / warmup_steps": hi * step / warm if not decaying else right,
        "there is no warmup: during the first warmup_steps steps the rate grows linearly up to max_lr":
            hi if not decaying else right,
        "the warmup must grow linearly, the same amount at every step: max_lr * (step + 1) / warmup_steps":
            hi * ((step + 1) / warm) ** 2 if not decaying else right,
        "the decay ends at 0, not at min_lr: the cosine goes from max_lr down to min_lr":
            hi * 0.5 * (1 + math.cos(math.pi * progress)) if decaying else right,
        "after total_steps the rate must stay at min_lr: cap the progress at 1":
            _cosine(hi, lo, (step - warm) / (total - warm)) if decaying else right,
        "the decay starts one step early: at step warmup_steps the progress is 0 and the rate is still max_lr":
            _cosine(hi, lo, min(1.0, (step - warm + 1) / (total - warm))) if decaying else right,
        "off by one step: min_lr must be reached at step total_steps, not one step earlier; "
        "progress = (step - warmup_steps) / (total_steps - warmup_steps)":
            _cosine(hi, lo, min(1.0, (step - warm) / (total - warm - 1))) if decaying else right,
        "the cosine does not reach min_lr at total_steps: the decay lasts total_steps - warmup_steps steps":
            _cosine(hi, lo, min(1.0, (step - warm) / total)) if decaying else right,
        "the decay starts where the warmup ends: progress counts from step warmup_steps, (step - warmup_steps)":
            _cosine(hi, lo, min(1.0, step / total)) if decaying else right,
        "use half a cosine period, cos(pi * progress), so that the rate falls all the way from max_lr to min_lr":
            _cosine(hi, lo, 2 * progress) if decaying else right,
    }


def _schedule_configs(generator: torch.Generator) -> list[tuple[float, float, int, int]]:
    """(max_lr, min_lr, warmup_steps, total_steps): notebook 08's, then two random ones."""
    configs = [(3e-3, 3e-4, 30, 1000)]
    for _ in range(2):
        max_lr = pick(generator, 1e-3, 6e-4, 3e-3)
        warmup = int(torch.randint(2, 9, (), generator=generator))
        total = warmup + int(torch.randint(6, 30, (), generator=generator))
        configs.append((max_lr, max_lr * pick(generator, 0.1, 0.05, 0.2), warmup, total))
    return configs


@self_check
def check_lr_at(lr_at) -> None:
    """lr_at(step, max_lr, min_lr, warmup_steps, total_steps) -> the learning rate of a step, a float."""
    name = "lr_at"
    close = lambda a, b: math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)  # noqa: E731
    for hi, lo, warm, total in _schedule_configs(fresh_generator()):
        steps = range(total + 3)  # the warmup, the decay, and a few steps past the end
        result = [expect_number(attempt(name, lr_at, step, hi, lo, warm, total), name,
                                "a Python float (use math.cos, not torch.cos)") for step in steps]
        if all(close(r, lr_reference(s, hi, lo, warm, total)) for s, r in zip(steps, result)):
            continue
        mistakes = [_lr_mistakes(s, hi, lo, warm, total) for s in steps]
        for hint in mistakes[0]:
            if all(close(r, m[hint]) for r, m in zip(result, mistakes)):
                raise ExerciseError(f"{name}: {hint}")
        step = next(s for s, r in zip(steps, result) if not close(r, lr_reference(s, hi, lo, warm, total)))
        phase = "in the warmup" if step < warm else "in the cosine decay" if step <= total else "past total_steps"
        raise ExerciseError(f"{name}: with max_lr={hi:g}, min_lr={lo:g}, warmup_steps={warm}, total_steps={total}, "
                            f"step {step} ({phase}) should get {lr_reference(step, hi, lo, warm, total):.6g}, "
                            f"not {result[step]:.6g}")
    points = ", ".join(f"step {s}: {lr_reference(s, 3e-3, 3e-4, 30, 1000):.1e}" for s in (0, 29, 515, 1000))
    passed(name, f"warmup 30, peak 3e-3, cosine to 3e-4 at step 1000; {points}")


# --- exercise 4: AdamW's parameter groups ------------------------------------------------------------------

def _parameter_kinds(model: nn.Module) -> dict[int, tuple[str, str]]:
    """id(parameter) -> (its name, its kind: "embedding", "matrix", "bias" or "norm"); a tied weight once."""
    kinds = {}
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if id(param) in kinds:
                continue
            if isinstance(module, (LayerNorm, nn.LayerNorm)):
                kind = "norm"
            elif isinstance(module, nn.Embedding):
                kind = "embedding"
            else:
                kind = "matrix" if param.dim() >= 2 else "bias"
            kinds[id(param)] = (f"{module_name}.{param_name}".lstrip("."), kind)
    return kinds


def _group_decays(groups, exercise: str, kinds: dict, weight_decay: float) -> dict[int, float]:
    """id(parameter) -> the weight decay its group gives it, after checking the groups' form."""
    expect(isinstance(groups, (list, tuple)) and all(isinstance(g, dict) and "params" in g for g in groups),
           exercise, "return a list of dicts, each with the keys 'params' and 'weight_decay'")
    decays = {}
    for group in groups:
        expect("weight_decay" in group, exercise, "give every group its own 'weight_decay' (AdamW would "
                                                  "otherwise use its default, 0.01)")
        value = group["weight_decay"]
        expect(_is_number(value) and (value == weight_decay or value == 0), exercise,
               f"a group has weight_decay={value!r}: use the weight_decay argument for the decayed group and 0.0 "
               "for the other")
        expect(isinstance(group["params"], (list, tuple)), exercise,
               f"put each group's parameters in a list, not a {type(group['params']).__name__}: AdamW needs them "
               "in a fixed order")
        for param in group["params"]:
            expect(id(param) in kinds, exercise, "a group holds something that is not a parameter of the model: "
                                                 "use model.parameters() or model.named_parameters()")
            expect(id(param) not in decays, exercise,
                   f"{kinds[id(param)][0]} is in two groups (or twice in one): each parameter goes in exactly one "
                   "(a tied weight is one parameter; model.parameters() lists it once)")
            decays[id(param)] = value
    missing = [kinds[key][0] for key in kinds if key not in decays]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ExerciseError(f"{exercise}: {missing[0]}{more} is in no group: every parameter of the model goes in "
                            "one of the two groups")
    return decays


def _decay_hint(decays: dict[int, float], kinds: dict[int, tuple[str, str]]) -> str | None:
    """The hint for the parameters decayed when they should not be, or not when they should; None if all is right."""
    wrongly_decayed = {kind for key, (_, kind) in kinds.items() if kind in ("bias", "norm") and decays[key] != 0}
    if wrongly_decayed == {"bias", "norm"}:
        return ("the biases and the layer norms' scale and shift are decayed: decay only the matrices, "
                "the parameters with 2 or more dimensions (param.dim() >= 2)")
    if wrongly_decayed == {"norm"}:
        return ("the layer norms' parameters are decayed (a norm's scale is also called .weight, but it is a "
                "vector): decay by the number of dimensions, param.dim() >= 2, not by name")
    if wrongly_decayed == {"bias"}:
        return "the biases are decayed: they are vectors; decay only parameters with 2 or more dimensions"
    undecayed = {kind for key, (_, kind) in kinds.items() if kind in ("embedding", "matrix") and decays[key] == 0}
    if undecayed == {"embedding"}:
        return ("the embeddings are not decayed: they are matrices too, and this course decays every parameter "
                "with 2 or more dimensions, embeddings included")
    if undecayed:
        return "some weight matrices are not decayed: decay every parameter with 2 or more dimensions"
    return None


@self_check
def check_param_groups(param_groups) -> None:
    """param_groups(model, weight_decay) -> AdamW groups: matrices decay, vectors (biases, norms) do not."""
    name = "param_groups"
    generator = fresh_generator()
    C = 8
    models = [_tiny_model(generator, qkv_bias=True), _tiny_model(generator, tie_weights=False),
              nn.Sequential(nn.Embedding(30, C), nn.LayerNorm(C), nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, 30))]
    for model in models:
        weight_decay = pick(generator, 0.1, 0.05, 0.01)
        kinds = _parameter_kinds(model)
        groups = attempt(name, param_groups, model, weight_decay)
        decays = _group_decays(groups, name, kinds, weight_decay)
        hint = _decay_hint(decays, kinds)
        if hint is not None:
            raise ExerciseError(f"{name}: {hint}")
    passed(name, "matrices decay; biases and norms do not; on GPT models and a stack of layers")


# --- exercise 5: one training step ---------------------------------------------------------------------------

def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _reference_step(model: nn.Module, optimizer, batch: torch.Tensor, max_norm: float, targets: str = "shifted",
                    clip: bool = True, zero: bool = True) -> float:
    """One training step, with switches that reproduce the usual mistakes."""
    inputs, wanted = {"shifted": (batch[:, :-1], batch[:, 1:]), "inputs": (batch[:, :-1], batch[:, :-1]),
                      "whole": (batch, batch), "backwards": (batch[:, 1:], batch[:, :-1])}[targets]
    logits = model(inputs)  # (B, T, V)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), wanted.flatten())
    loss.backward()
    if clip:
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    if zero:
        optimizer.zero_grad()
    return loss.item()


def _run_steps(model: nn.Module, batches: list, max_norm: float, lr: float, **switches) -> list[tuple]:
    """(loss, parameters afterwards) of each step, on a copy of model with its own SGD optimizer."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return [(_reference_step(model, optimizer, batch, max_norm, **switches), _flat(model)) for batch in batches]


_STEP_MISTAKES = {
    "the targets equal the inputs: the model learns to predict the NEXT token, so inputs = batch[:, :-1] and "
    "targets = batch[:, 1:]": [{"targets": "inputs"}, {"targets": "whole"}],
    "the targets are shifted the wrong way: inputs = batch[:, :-1], targets = batch[:, 1:] (the next tokens)":
        [{"targets": "backwards"}],
    "the gradients are not clipped: call torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) after "
    "backward() and before optimizer.step()": [{"clip": False}],
    "the first step's gradients were still in .grad at the second: clear them with optimizer.zero_grad() after "
    "the step (or before backward)": [{"zero": False}],
}


def _step_hint(model, batches, max_norm, lr, k: int, state: torch.Tensor) -> str | None:
    """The hint of the first known mistake whose parameters after step k are state."""
    for hint, variants in _STEP_MISTAKES.items():
        for switches in variants:
            if _close(state, _run_steps(model, batches, max_norm, lr, **switches)[k][1]):
                return hint
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-6, rtol=1e-5)


@self_check
def check_train_step(train_step) -> None:
    """train_step(model, optimizer, batch (B, T + 1), max_norm) -> the loss of the step, a Python float."""
    name = "train_step"
    generator = fresh_generator()
    model, lr = _tiny_model(generator).train(), 0.1
    batches = [torch.randint(0, model.cfg.vocab_size, (3, 6), generator=generator) for _ in range(2)]
    probe = copy.deepcopy(model)  # the first gradient's norm, so that max_norm surely clips it
    nn.functional.cross_entropy(probe(batches[0][:, :-1]).flatten(0, 1), batches[0][:, 1:].flatten()).backward()
    max_norm = round(0.5 * float(torch.cat([p.grad.flatten() for p in probe.parameters()]).norm()), 4)
    reference = _run_steps(model, batches, max_norm, lr)
    learner_model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(learner_model.parameters(), lr=lr)  # plain SGD: every step's size shows
    for k, batch in enumerate(batches):
        before = _flat(learner_model)
        loss = attempt(name, train_step, Mutable(learner_model), Mutable(optimizer), batch.clone(), max_norm)
        state = _flat(learner_model)
        expect(not torch.equal(state, before), name, "the parameters did not change: call optimizer.step() after "
                                                     "backward() (and clear the gradients only after the step)")
        if not _close(state, reference[k][1]):
            hint = _step_hint(model, batches, max_norm, lr, k, state)
            raise ExerciseError(f"{name}: " + (hint or f"after step {k + 1} the parameters are not those of "
                                                        "forward, loss, backward, clip, step, zero_grad"))
        loss = expect_number(loss, name, "the loss as a Python float (loss.item())")
        if not math.isclose(loss, reference[k][0], rel_tol=1e-5):
            sums = math.isclose(loss, reference[k][0] * batch[:, 1:].numel(), rel_tol=1e-5)
            raise ExerciseError(f"{name}: " + ("return the mean loss over all positions, not their sum" if sums else
                                               "return this step's loss, computed before the update"))
    passed(name, "two steps of a tiny model: shifted targets, clipped gradients, cleared between steps")


# --- question: perplexity --------------------------------------------------------------------------------

@self_check
def check_perplexity(perplexity) -> None:
    """perplexity(loss) -> e**loss: the number of equally likely tokens the model hesitates between."""
    name = "perplexity"
    for loss in (math.log(50257), 4.94, 0.0, 2.5):
        result = expect_number(attempt(name, perplexity, loss), name, "a Python float")
        if not math.isclose(result, math.exp(loss), rel_tol=1e-9):
            hints = {2 ** loss: "that is 2**loss: the loss is in nats (natural logarithm), so take e**loss",
                     10 ** loss: "that is 10**loss: the loss is in nats (natural logarithm), so take e**loss",
                     math.exp(-loss): "e**(-loss) is the targets' geometric mean probability; the perplexity "
                                      "is e**(+loss)",
                     1 / loss if loss else math.inf: "the perplexity is e**loss (math.exp), not 1 / loss"}
            hint = next((h for wrong, h in hints.items() if math.isclose(result, wrong, rel_tol=1e-9)),
                        f"a loss of {loss:.3g} should not give a perplexity of {result:.4g}")
            raise ExerciseError(f"{name}: {hint}")
    passed(name, f"a loss of ln(50257) = 10.82 is a perplexity of {50257:,}, a uniform "
                 f"guess; the command's 4.94 is {math.exp(4.94):.0f}")
