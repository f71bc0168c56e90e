"""Self-checks for the exercises of notebook 04 (GELU and the MLP), written by hand."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib import GELU, GPTConfig, gelu_exact, gelu_tanh
from gpt2lib_exercises.core import (
    ExerciseError, Forbidden, attempt, attempt_without, expect, expect_close, expect_int, expect_module, expect_tensor,
    fresh_generator, passed, self_check,
)

# Exercises 1 and 2 write the formulas: no built-in GELU, by any path (F.gelu, nn.GELU, torch._C._nn.gelu,
# torch.ops.aten.gelu), and not gpt2lib's own functions either. Exercises 3 and 4 may use F.gelu.
GELU_BY_HAND = Forbidden({"gelu": "F.gelu (nn.GELU calls it too)"}, functions={
    gelu_exact: "gelu_exact from gpt2lib", gelu_tanh: "gelu_tanh from gpt2lib", GELU.forward: "GELU from gpt2lib"})

# The checks run in float64, so that the tiny gap between exact GELU and its tanh form (< 5e-4) stands out
# clearly from rounding. Their tolerances are tighter than core's defaults for the same reason.
TOLERANCE = {"atol": 1e-6, "rtol": 1e-5}


def _erf_gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _tanh_gelu(x: torch.Tensor, constant: float = math.sqrt(2.0 / math.pi), cubic: float = 0.044715) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(constant * (x + cubic * x**3)))


def _random_inputs(generator: torch.Generator) -> list[torch.Tensor]:
    """Two float64 tensors of different shapes, spread over [-6, 6] where GELU's curve is interesting."""
    shapes = [(int(torch.randint(2, 5, (), generator=generator)), 7, 16), (5, 33)]
    return [3.0 * torch.randn(shape, generator=generator, dtype=torch.float64) for shape in shapes]


@self_check
def check_gelu_exact(gelu_exact) -> None:
    """gelu_exact(x) -> x * Phi(x), elementwise, with Phi the standard normal CDF written through erf."""
    name = "gelu_exact"
    for x in _random_inputs(fresh_generator()):
        result = attempt_without(name, GELU_BY_HAND, gelu_exact, x.clone())
        expect_tensor(result, name, x.shape)
        expect_close(result, _erf_gelu(x), name, **TOLERANCE, mistakes={
            "that is the tanh approximation; this exercise asks for the exact form with torch.erf": _tanh_gelu(x),
            "divide x by sqrt(2) inside erf: Phi(x) = (1 + erf(x / sqrt(2))) / 2":
                0.5 * x * (1.0 + torch.erf(x)),
            "the factor 1/2 is missing: Phi(x) = (1 + erf(x / sqrt(2))) / 2": x * (1.0 + torch.erf(x / math.sqrt(2.0))),
            "that is Phi(x) alone; GELU multiplies it by x": 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))),
            "that is ReLU; GELU weights x by Phi(x) instead of cutting it off at 0": torch.relu(x),
        })
    passed(name, "on random inputs of two shapes")


@self_check
def check_gelu_tanh(gelu_tanh) -> None:
    """gelu_tanh(x) -> GPT-2's tanh approximation of GELU, elementwise."""
    name = "gelu_tanh"
    for x in _random_inputs(fresh_generator()):
        result = attempt_without(name, GELU_BY_HAND, gelu_tanh, x.clone())
        expect_tensor(result, name, x.shape)
        constant_hint = "the constant in front of (x + 0.044715 x^3) is sqrt(2 / pi), about 0.798"
        expect_close(result, _tanh_gelu(x), name, **TOLERANCE, mistakes={
            "that is the exact GELU with erf; this exercise asks for GPT-2's tanh approximation": _erf_gelu(x),
            "the cubic term is missing: tanh's argument is sqrt(2/pi) * (x + 0.044715 * x**3)":
                _tanh_gelu(x, cubic=0.0),
            "the cubic term is x**3, not x**2":
                0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**2))),
            constant_hint + ", not sqrt(2 * pi)": _tanh_gelu(x, constant=math.sqrt(2.0 * math.pi)),
            constant_hint + ", not 2 / pi (take the square root)": _tanh_gelu(x, constant=2.0 / math.pi),
            constant_hint + ", not sqrt(2) / pi": _tanh_gelu(x, constant=math.sqrt(2.0) / math.pi),
            constant_hint + "; it is missing": _tanh_gelu(x, constant=1.0),
            "the factor 1/2 in front is missing": 2.0 * _tanh_gelu(x),
        })
    passed(name, "on random inputs of two shapes")


def _mlp_reference(x, w1, b1, w2, b2, activation=_tanh_gelu) -> torch.Tensor:
    return F.linear(activation(F.linear(x, w1, b1)), w2, b2)  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


def _attempt_with_shape_hint(name: str, function, *args):
    """attempt(), with a hint about nn.Linear's (out, in) weight layout when shapes do not fit."""
    try:
        return attempt(name, function, *args)
    except ExerciseError as error:
        cause = error.__cause__
        if isinstance(cause, RuntimeError) and any(word in str(cause) for word in ("shape", "size")):
            raise ExerciseError(f"{name}: the shapes do not fit ({cause}). The weights are stored as nn.Linear "
                                "stores them, (out_features, in_features): w1 is (4*emb_dim, emb_dim), so the first "
                                "layer is x @ w1.T + b1 (or F.linear(x, w1, b1)).") from None
        raise


@self_check
def check_feed_forward(feed_forward) -> None:
    """feed_forward(x, w1, b1, w2, b2) -> GPT-2's MLP on x: linear, tanh GELU, linear."""
    name = "feed_forward"
    generator = fresh_generator()
    for C in (8, 12):
        B, T = int(torch.randint(1, 4, (), generator=generator)), 5
        x = torch.randn(B, T, C, generator=generator, dtype=torch.float64)
        w1, b1 = torch.randn(4 * C, C, generator=generator, dtype=torch.float64) / math.sqrt(C), \
            torch.randn(4 * C, generator=generator, dtype=torch.float64)
        w2, b2 = torch.randn(C, 4 * C, generator=generator, dtype=torch.float64) / math.sqrt(4 * C), \
            torch.randn(C, generator=generator, dtype=torch.float64)
        zero1, zero2 = torch.zeros_like(b1), torch.zeros_like(b2)
        reference, mistakes = _mlp_reference(x, w1, b1, w2, b2), {
            "GELU is missing: apply it between the two linear layers": _mlp_reference(x, w1, b1, w2, b2, lambda h: h),
            "GPT-2 uses the tanh approximation of GELU, not the exact erf form":
                _mlp_reference(x, w1, b1, w2, b2, _erf_gelu),
            "that is ReLU; GPT-2's MLP uses GELU (the tanh approximation)":
                _mlp_reference(x, w1, b1, w2, b2, torch.relu),
            "both biases are missing: add b1 after the first layer and b2 after the second":
                _mlp_reference(x, w1, zero1, w2, zero2),
            "the first layer's bias b1 is missing": _mlp_reference(x, w1, zero1, w2, b2),
            "the second layer's bias b2 is missing": _mlp_reference(x, w1, b1, w2, zero2),
            "add b1 before GELU, not after it": _mlp_reference(x, w1, zero1, w2, b2) + F.linear(b1, w2, None),
        }
        result = _attempt_with_shape_hint(name, feed_forward, *(t.clone() for t in (x, w1, b1, w2, b2)))
        expect_tensor(result, name, (B, T, C))
        expect_close(result, reference, name, **TOLERANCE, mistakes=mistakes)
    passed(name, "on random weights and inputs of two widths")


@self_check
def check_feed_forward_class(FeedForward) -> None:
    """FeedForward(cfg) -> a module with layers fc (emb_dim -> 4 emb_dim) and proj (back), GELU (tanh) between."""
    name = "FeedForward"
    generator = fresh_generator()
    for C in (8, 16):
        cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=C, n_heads=2, n_layers=1, dropout=0.0)
        module = attempt(name, FeedForward, cfg)
        expect_module(module, name, "FeedForward")
        _expect_linear(module, "fc", (C, 4 * C), name)
        _expect_linear(module, "proj", (4 * C, C), name)
        n_params = sum(p.numel() for p in module.parameters())
        expect(n_params == 8 * C * C + 5 * C, name, f"with emb_dim={C} the module should hold {8 * C * C + 5 * C:,} "
               f"parameters (those of fc and proj), not {n_params:,}")
        module = module.double().eval()
        x = torch.randn(3, 5, C, generator=generator, dtype=torch.float64)  # (B, T, C)
        with torch.no_grad():
            weights = tuple(t.detach().clone() for t in (module.fc.weight, module.fc.bias, module.proj.weight,
                                                         module.proj.bias))
            reference, mistakes = _mlp_reference(x, *weights), {
                "forward skips GELU: apply it between self.fc and self.proj": _mlp_reference(x, *weights, lambda h: h),
                "GPT-2 uses the tanh approximation of GELU (approximate='tanh'), not the exact form":
                    _mlp_reference(x, *weights, _erf_gelu),
                "that is ReLU; use GELU with approximate='tanh'": _mlp_reference(x, *weights, torch.relu),
            }
        result = attempt(name, module, x.clone())
        expect_tensor(result, name, (3, 5, C))
        expect_close(result, reference, name, **TOLERANCE, mistakes=mistakes)
    passed(name, "its layers, its parameter count and its output, at two widths")


def _expect_linear(module: nn.Module, attribute: str, in_out: tuple[int, int], name: str) -> None:
    """module.<attribute> is an nn.Linear from in_out[0] to in_out[1] features, with a bias."""
    layer = getattr(module, attribute, None)
    which = "first" if attribute == "fc" else "second"
    expect(isinstance(layer, nn.Linear), name, f"store the {which} layer as self.{attribute} = nn.Linear(...)")
    expect((layer.in_features, layer.out_features) == in_out, name,
           f"self.{attribute} should map {in_out[0]} to {in_out[1]} features (for emb_dim={min(in_out)}): "
           "the hidden layer is 4 * emb_dim wide")
    expect(layer.bias is not None, name, f"self.{attribute} needs its bias: GPT-2's MLP layers have biases")


def mlp_flops_reference(cfg: GPTConfig) -> int:
    """FLOPs of all the model's MLPs for one token: 2 per multiply-add, two matrices of C x 4C per block."""
    return 2 * (2 * cfg.emb_dim * 4 * cfg.emb_dim) * cfg.n_layers


@self_check
def check_mlp_flops_per_token(mlp_flops_per_token) -> None:
    """mlp_flops_per_token(cfg) -> the FLOPs the MLPs of all blocks spend on one token (matrix products only)."""
    name = "mlp_flops_per_token"
    generator = fresh_generator()
    n_layers = (3, 5, 6)[int(torch.randint(3, (), generator=generator))]  # 2 or 4 would make two hints collide
    configs = [GPTConfig(), GPTConfig(emb_dim=1024, n_heads=16, n_layers=24),
               GPTConfig(emb_dim=int(torch.randint(2, 9, (), generator=generator)) * 16, n_heads=4, n_layers=n_layers)]
    for cfg in configs:
        reference, C, L = mlp_flops_reference(cfg), cfg.emb_dim, cfg.n_layers
        result = expect_int(attempt(name, mlp_flops_per_token, cfg), name)
        hints = {
            reference // 2: "that is half: count both layers (emb_dim -> 4*emb_dim and back) and 2 FLOPs, a multiply "
                            "and an add, for every weight",
            reference // L: "that is one block's MLP; every one of the n_layers blocks has its own",
            reference // 4: "the hidden layer is 4 * emb_dim wide",
            reference + 2 * 5 * C * L: "leave out the biases (and GELU): count only the two matrix products",
            reference + 5 * C * L: "leave out the biases (and GELU): count only the two matrix products",
        }
        if result != reference:
            raise ExerciseError(f"{name}: " + hints.get(result, f"for emb_dim={C}, n_layers={L} the count is off by "
                                                                f"{result - reference:+,}"))
    small, weights = mlp_flops_reference(configs[0]), 2 * 4 * GPTConfig().emb_dim ** 2 * GPTConfig().n_layers
    passed(name, f"GPT-2 small's MLPs spend {small:,} FLOPs on each token: {small // weights} for each of "
                 f"their {weights:,} weights")
