"""Self-checks for the exercises of notebook 03 (layer normalization), written by hand."""

import torch
from torch import nn

from gpt2lib import GPTConfig, LayerNorm, layer_norm_reference
from gpt2lib_exercises.core import (
    ExerciseError, Forbidden, attempt, attempt_without, expect, expect_close, expect_int, expect_module, expect_tensor,
    fresh_generator, kind_of, passed, pick, seed_from, self_check,
)

# Exercises 2 and 3 write layer norm themselves: no built-in normalization, by any path (F., torch., torch._C,
# torch.ops.aten, nn.LayerNorm), and not gpt2lib's own (its LayerNorm calls F.layer_norm).
_LAYER_NORM = "F.layer_norm (nn.LayerNorm calls it too)"
NORM_BY_HAND = Forbidden(
    {"layer_norm": _LAYER_NORM, "native_layer_norm": _LAYER_NORM, "group_norm": "F.group_norm",
     "native_group_norm": "F.group_norm", "batch_norm": "F.batch_norm", "instance_norm": "F.instance_norm"},
    prefixes={"_native_batch_norm": "F.batch_norm", "native_batch_norm": "F.batch_norm",
              "_batch_norm": "F.batch_norm"},
    functions={layer_norm_reference: "layer_norm_reference from gpt2lib"})


def _activations(generator: torch.Generator, scale: float = 5.0, offset: float = 3.0) -> torch.Tensor:
    """(B, T, C) random activations with B, T and C all different, so that a wrong dimension shows."""
    B, T, C = 2, pick(generator, 3, 4, 5), pick(generator, 6, 8, 10)
    return offset + scale * torch.randn(B, T, C, generator=generator)


def _normalize(x, eps, dim=-1, unbiased=False, eps_outside=False, centred_var=True) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over dim, with switches that reproduce the usual mistakes."""
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, keepdim=True, unbiased=unbiased) if centred_var else (x * x).mean(dim=dim, keepdim=True)
    return (x - mean) / (var.sqrt() + eps if eps_outside else torch.sqrt(var + eps))


def _mistakes(x, weight, bias, eps) -> dict[str, torch.Tensor]:
    """What the usual mistakes of a layer norm give on these inputs: hint -> wrong output."""
    scaled = lambda x_norm: weight * x_norm + bias  # noqa: E731
    return {
        "use the biased variance (divide by C, unbiased=False), as GPT-2 and nn.LayerNorm do":
            scaled(_normalize(x, eps, unbiased=True)),
        "eps belongs inside the square root: divide by sqrt(var + eps), not sqrt(var) + eps":
            scaled(_normalize(x, eps, eps_outside=True)),
        "eps is missing: divide by sqrt(var + eps)": scaled(_normalize(x, 0.0)),
        "the variance is the mean of (x - mean)^2, not of x^2": scaled(_normalize(x, eps, centred_var=False)),
        "normalized over the wrong dimension: the statistics run over the features of one token, the last "
        "dimension (dim=-1), not over the tokens": scaled(_normalize(x, eps, dim=-2)),
        "normalized over the wrong dimension: the statistics run over the features of one token, the last "
        "dimension (dim=-1), not over the batch": scaled(_normalize(x, eps, dim=0)),
        "the scale and shift are missing: return weight * x_norm + bias": _normalize(x, eps),
        "the shift is missing: add bias after scaling": weight * _normalize(x, eps),
        "the scale is missing: multiply by weight before adding bias": _normalize(x, eps) + bias,
        "weight and bias are swapped: weight scales, bias shifts": bias * _normalize(x, eps) + weight,
    }


# --- exercise 1: statistics per token -----------------------------------------------------------------------

@self_check
def check_token_stats(token_stats) -> None:
    """token_stats(x) -> (mean, var), each (B, T, 1): the mean and biased variance of each token's features."""
    name = "token_stats"
    generator = fresh_generator()
    for _ in range(3):
        x = _activations(generator)
        B, T, C = x.shape
        result = attempt(name, token_stats, x.clone())
        expect(isinstance(result, (tuple, list)) and len(result) == 2, name,
               "return two tensors, (mean, var), as a tuple")
        for label, value in zip(["mean", "var"], result):
            expect(isinstance(value, torch.Tensor), name, f"{label}: return a torch.Tensor, not {kind_of(value)}")
            shape = tuple(value.shape)
            expect(shape != (B, 1, C), name, f"{label}: that is over the tokens (dim 1); a token's statistics run "
                                             "over its own features, the last dimension")
            expect(shape != (B, T), name, f"{label}: keep the last dimension (keepdim=True), shape (B, T, 1), "
                                          "so that x - mean broadcasts")
            expect_tensor(value, name, (B, T, 1))
        mean, var = x.mean(dim=-1, keepdim=True), x.var(dim=-1, keepdim=True, unbiased=False)
        expect_close(result[0], mean, name, mistakes={"mean and var are swapped: return (mean, var)": var})
        expect_close(result[1], var, name, mistakes={
            "use the biased variance: divide by C (unbiased=False), not C - 1":
                x.var(dim=-1, keepdim=True, unbiased=True),
            "that is the standard deviation; return the variance, its square": var.sqrt(),
            "the variance is the mean of (x - mean)^2, not of x^2": (x * x).mean(dim=-1, keepdim=True),
        })
    passed(name, "on three random batches")


# --- exercise 2: layer norm as a function -------------------------------------------------------------------

@self_check
def check_layer_norm(layer_norm) -> None:
    """layer_norm(x, weight, bias, eps) -> same shape as x: normalized over the last dimension, scaled, shifted."""
    name = "layer_norm"
    generator = fresh_generator()
    for eps, scale in [(1e-5, 5.0), (pick(generator, 0.2, 0.3), 0.5), (pick(generator, 0.5, 1.0), 1.0)]:
        x = _activations(generator, scale)  # a large eps with small variances makes a misplaced eps show
        C = x.shape[-1]
        weight, bias = torch.randn(C, generator=generator), torch.randn(C, generator=generator)
        reference = weight * _normalize(x, eps) + bias
        result = attempt_without(name, NORM_BY_HAND, layer_norm, x.clone(), weight.clone(), bias.clone(), eps)
        expect_tensor(result, name, tuple(x.shape))
        expect_close(result, reference, name, mistakes=_mistakes(x, weight, bias, eps))
    passed(name, "on three random batches, with eps = 1e-5 and with larger eps")


# --- exercise 3: layer norm as a module ---------------------------------------------------------------------

def _parameters(module: nn.Module, name: str, C: int) -> tuple[nn.Parameter, nn.Parameter]:
    """The module's weight and bias, checked: registered parameters of shape (C,), and nothing else."""
    params = dict(module.named_parameters())
    for label in ["weight", "bias"]:
        if label not in params:
            if isinstance(getattr(module, label, None), torch.Tensor):
                raise ExerciseError(f"{name}: self.{label} is a plain tensor, not a parameter: wrap it in "
                                    "nn.Parameter so that training (and state_dict) sees it")
            raise ExerciseError(f"{name}: call the learnable scale self.weight and the shift self.bias, as "
                                "nn.LayerNorm does (notebook 06 loads GPT-2's weights by these names)")
    expect(sorted(params) == ["bias", "weight"], name,
           f"a layer norm learns two vectors, weight and bias; yours has {sorted(params)}")
    for label in ["weight", "bias"]:
        expect(tuple(params[label].shape) == (C,), name,
               f"{label} holds one number per feature: shape ({C},) for emb_dim={C}, not {tuple(params[label].shape)}")
    return params["weight"], params["bias"]


def _check_initial_values(weight: torch.Tensor, bias: torch.Tensor, name: str) -> None:
    if torch.all(weight == 0) and torch.all(bias == 1):
        raise ExerciseError(f"{name}: the initial values are swapped: weight starts at 1, bias at 0")
    expect(torch.all(weight == 1).item(), name, "weight (the scale) starts at 1, torch.ones: a fresh layer "
                                                "norm only normalizes")
    expect(torch.all(bias == 0).item(), name, "bias (the shift) starts at 0, torch.zeros: a fresh layer "
                                              "norm only normalizes")


def _expect_no_builtin_norm(module: nn.Module, name: str) -> None:
    """The learner's module is not, and does not hold, a built-in layer norm."""
    for part in module.modules():
        if isinstance(part, (nn.LayerNorm, LayerNorm)):
            where = "your class is" if part is module else "your module holds"
            what = "an nn.LayerNorm" if isinstance(part, nn.LayerNorm) else "gpt2lib's LayerNorm"
            raise ExerciseError(f"{name}: write the steps yourself: {where} {what}, which this exercise does not "
                                "allow; own a weight and a bias and compute the normalization in forward")


@self_check
def check_layer_norm_module(layer_norm_class) -> None:
    """layer_norm_class(emb_dim, eps=1e-5): an nn.Module with parameters weight (ones) and bias (zeros)."""
    name = "LayerNorm"
    generator = fresh_generator()
    x = _activations(generator, scale=0.003, offset=0.0)  # variances near eps = 1e-5, so that eps shows
    C = x.shape[-1]
    module = attempt(name, layer_norm_class, C)
    expect_module(module, name, "LayerNorm")
    _expect_no_builtin_norm(module, name)
    weight, bias = _parameters(module, name, C)
    _check_initial_values(weight, bias, name)
    result = attempt_without(name, NORM_BY_HAND, module, x.clone())
    expect_tensor(result, name, tuple(x.shape))
    expect_close(result, _normalize(x, 1e-5), name, mistakes=_mistakes(x, weight.detach(), bias.detach(), 1e-5))

    x, eps = _activations(generator, scale=0.5), pick(generator, 0.2, 0.3)
    C = x.shape[-1]
    module = attempt(name, layer_norm_class, C, eps=eps)
    expect_module(module, name, "LayerNorm")
    weight, bias = _parameters(module, name, C)
    w, b = torch.randn(C, generator=generator), torch.randn(C, generator=generator)  # trained values, not 1 and 0
    with torch.no_grad():
        weight.copy_(w)
        bias.copy_(b)
    reference, mistakes = w * _normalize(x, eps) + b, {
        "use the eps given to __init__ (store it, e.g. self.eps), not a fixed 1e-5": w * _normalize(x, 1e-5) + b,
        **_mistakes(x, w, b, eps)}
    result = attempt_without(name, NORM_BY_HAND, module, x.clone())
    expect_tensor(result, name, tuple(x.shape))
    expect_close(result, reference, name, mistakes=mistakes)
    expect(result.requires_grad, name, "no gradient can reach weight and bias: use them in forward as they are")
    attempt(name, result.sum().backward)  # through the learner's forward
    expect(weight.grad is not None and bias.grad is not None, name,
           "no gradient reaches weight and bias: use the parameters themselves in forward")
    passed(name, "parameters, initial values and output on random inputs")


# --- exercise 4: pre-LN -------------------------------------------------------------------------------------

@self_check
def check_pre_ln(pre_ln) -> None:
    """pre_ln(x, norm, sublayer) -> x + sublayer(norm(x)), GPT-2's pre-LN sub-block with its shortcut."""
    name = "pre_ln"
    generator = fresh_generator()
    seed_from(generator)
    for _ in range(2):
        x = _activations(generator)
        C = x.shape[-1]
        norm, sublayer = LayerNorm(C), nn.Linear(C, C)
        with torch.no_grad():
            norm.weight.copy_(torch.randn(C, generator=generator))
            norm.bias.copy_(torch.randn(C, generator=generator))
            reference, mistakes = x + sublayer(norm(x)), {
                "that is post-LN, the original Transformer's order; GPT-2 normalizes the input of the sub-layer: "
                "x + sublayer(norm(x))": norm(x + sublayer(x)),
                "the shortcut is missing: add the input x to the sub-layer's output": sublayer(norm(x)),
                "the shortcut carries x itself, not norm(x)": norm(x) + sublayer(norm(x)),
                "normalize the sub-layer's input, not its output": x + norm(sublayer(x)),
                "the layer norm is missing: the sub-layer gets norm(x)": x + sublayer(x),
            }
        result = attempt(name, pre_ln, x.clone(), norm, sublayer)
        expect_tensor(result, name, tuple(x.shape))
        expect_close(result, reference, name, mistakes=mistakes)
    passed(name, "on random inputs, with a random norm and a linear sub-layer")


# --- question -----------------------------------------------------------------------------------------------

def layer_norm_parameters_reference(cfg: GPTConfig) -> int:
    return (2 * cfg.n_layers + 1) * 2 * cfg.emb_dim


@self_check
def check_layer_norm_parameters(layer_norm_parameters) -> None:
    """layer_norm_parameters(cfg) -> parameters of all layer norms of a GPT-2 model: 2 per block plus the final."""
    name = "layer_norm_parameters"
    generator = fresh_generator()
    small = GPTConfig(emb_dim=pick(generator, 32, 48, 64), n_heads=4, n_layers=pick(generator, 2, 3, 5))
    for cfg in [GPTConfig(), GPTConfig.from_preset("gpt2-large"), small]:
        reference = layer_norm_parameters_reference(cfg)
        result = expect_int(attempt(name, layer_norm_parameters, cfg), name)
        L, C = cfg.n_layers, cfg.emb_dim
        hints = {
            2 * L * 2 * C: "count the final norm too: one more layer norm after the last block",
            (L + 1) * 2 * C: "every block has two layer norms, norm1 and norm2",
            (2 * L + 1) * C: "each layer norm learns two vectors of emb_dim numbers, weight and bias",
            2 * C: "that is one layer norm; count all of them",
            (2 * L + 1) * 2 * C * C: "weight and bias hold one number per feature, emb_dim each, not emb_dim^2",
        }
        if result != reference:
            raise ExerciseError(f"{name}: " + hints.get(result, f"for {cfg} the count is off by "
                                                                f"{result - reference:+,}"))
    passed(name, f"GPT-2 small's 25 layer norms hold {layer_norm_parameters_reference(GPTConfig()):,} parameters")
