"""Self-checks for the exercises of notebook 05 (the transformer block and the full model), written by hand."""

import math

import torch
from torch import nn

from gpt2lib import GPTConfig, GPTModel, TransformerBlock
from gpt2lib_exercises.core import (
    ExerciseError, Mutable, attempt, expect, expect_close, expect_int, expect_number, expect_tensor, fresh_generator,
    passed, seed_from, self_check,
)

TOLERANCE = {"atol": 1e-6, "rtol": 1e-5}  # the block check runs in float64


class DropoutStandIn(nn.Module):
    """Takes block.drop's place during the check: it scales by a fixed factor, so that where dropout is applied
    shows in the output, while the output stays deterministic."""

    factor = 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x

    def extra_repr(self) -> str:
        return f"stand-in for dropout used by the check: multiplies by {self.factor}"


def _random_block(generator: torch.Generator) -> TransformerBlock:
    """A small float64 block with random layer-norm scales and shifts, so that norm1 and norm2 differ."""
    heads = (2, 4)[int(torch.randint(2, (), generator=generator))]
    cfg = GPTConfig(vocab_size=50, context_length=16, emb_dim=8 * heads, n_heads=heads, n_layers=1, dropout=0.0)
    seed_from(generator)
    block = TransformerBlock(cfg).double().eval()
    with torch.no_grad():
        for norm in (block.norm1, block.norm2):
            norm.weight.copy_(1.0 + 0.5 * torch.randn(cfg.emb_dim, generator=generator, dtype=torch.float64))
            norm.bias.copy_(0.5 * torch.randn(cfg.emb_dim, generator=generator, dtype=torch.float64))
    block.drop = DropoutStandIn()
    return block


def _block_variants(b: TransformerBlock, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The pre-LN block's output on x, and what each typical mistake gives instead."""
    n1, attn, n2, mlp, d = b.norm1, b.attn, b.norm2, b.mlp, b.drop
    h = x + d(attn(n1(x)))  # after the first sub-block
    reference = h + d(mlp(n2(h)))
    post_ln = n1(x + d(attn(x)))
    shortcut = "the shortcut carries x itself, not norm1(x): x + attn(norm1(x)); the norm is only on the branch"
    stream = n1(x)
    stream = stream + d(attn(stream))
    stream = n2(stream)
    return reference, {
        "that is post-LN, the original Transformer's order (norm after the addition). GPT-2 is pre-LN: "
        "x + attn(norm1(x)), then x + mlp(norm2(x))": n2(post_ln + d(mlp(post_ln))),
        shortcut: stream + d(mlp(stream)),
        "normalize the input of each sub-block, not its output: attn(norm1(x)), not norm1(attn(x))":
            (lambda g: g + d(n2(mlp(g))))(x + d(n1(attn(x)))),
        "the shortcut around attention is missing: x = x + drop(attn(norm1(x)))":
            (lambda g: g + d(mlp(n2(g))))(d(attn(n1(x)))),
        "the shortcut around the MLP is missing: x = x + drop(mlp(norm2(x)))": d(mlp(n2(h))),
        "both shortcuts are missing: add each sub-block's output back onto x": d(mlp(n2(d(attn(n1(x)))))),
        "block.drop is missing: apply it to each branch's output, before adding it back onto x":
            (lambda g: g + mlp(n2(g)))(x + attn(n1(x))),
        "apply block.drop to the branch alone, before the addition, not to the sum":
            (lambda g: d(g + mlp(n2(g))))(d(x + attn(n1(x)))),
        "norm1 belongs in front of attention and norm2 in front of the MLP; yours are swapped":
            (lambda g: g + d(mlp(n1(g))))(x + d(attn(n2(x)))),
        "attention comes first, then the MLP": (lambda g: g + d(attn(n1(g))))(x + d(mlp(n2(x)))),
        "the MLP branch reads the updated x, the one that already includes attention's output":
            x + d(attn(n1(x))) + d(mlp(n2(x))),
    }


@self_check
def check_block_forward(block_forward) -> None:
    """block_forward(block, x) -> GPT-2's pre-LN block on x, from the block's parts."""
    name = "block_forward"
    generator = fresh_generator()
    for B, T in [(2, 5), (1, 9)]:
        block = _random_block(generator)
        x = torch.randn(B, T, block.norm1.weight.shape[0], generator=generator, dtype=torch.float64)  # (B, T, C)
        with torch.no_grad():
            reference, mistakes = _block_variants(block, x)
        result = attempt(name, block_forward, block, x.clone())
        expect_tensor(result, name, x.shape)
        expect_close(result, reference, name, mistakes=mistakes, **TOLERANCE)
    passed(name, "on random small blocks, with a stand-in for dropout")


# --- parameter counts ------------------------------------------------------------------------------------

def gpt2_parameters_reference(cfg: GPTConfig) -> int:
    """What count_parameters(GPTModel(cfg)) gives (tests/test_exercises_05.py checks it), without building one."""
    V, T, C, L = cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_layers
    attention = 3 * C * C + (3 * C if cfg.qkv_bias else 0) + C * C + C  # fused q/k/v, then the output projection
    mlp = (C * 4 * C + 4 * C) + (4 * C * C + C)  # fc, proj
    block = 2 * 2 * C + attention + mlp  # two layer norms with a scale and a shift each
    return V * C + T * C + L * block + 2 * C  # embeddings, blocks, final norm; the head is the token embedding


def _parameter_count_mistakes(cfg: GPTConfig, reference: int) -> dict[int, str]:
    """Wrong counts a learner may get, each with its hint; the first hint wins when two counts coincide."""
    V, T, C, L = cfg.vocab_size, cfg.context_length, cfg.emb_dim, cfg.n_layers
    hints = [
        (reference + V * C, "the output head shares the token embedding's weight (weight tying): count that matrix "
                            "once"),
        (reference - (4 * L + 2) * C, "the layer norms are missing: two per block and one after the last block, "
                                      "each with a scale and a shift of emb_dim numbers"),
        (reference - 4 * L * C, "count the two layer norms of every block too (a scale and a shift each)"),
        (reference - 2 * C, "count the final layer norm too, after the last block"),
        (reference - (2 * L + 1) * C, "a layer norm has two vectors of emb_dim numbers: the scale and the shift"),
        (reference - T * C, "count the position embedding too: one vector per position"),
        (reference + V, "the output head has no bias"),
        (reference - L * C, "the attention's output projection has a bias (emb_dim numbers)"),
        (reference - 5 * L * C, "both layers of the MLP have biases: 4 * emb_dim and emb_dim numbers"),
        (reference - L * (C * C + C), "count the attention's output projection too (emb_dim -> emb_dim, with bias)"),
    ]
    if cfg.qkv_bias:
        hints.insert(1, (reference - 3 * L * C, "cfg.qkv_bias is True: count the q/k/v projection's bias too, "
                                                "3 * emb_dim numbers per block"))
    else:
        hints.insert(1, (reference + 3 * L * C, "cfg.qkv_bias is False: then the q/k/v projection has no bias"))
    table: dict[int, str] = {}
    for count, hint in hints:
        table.setdefault(count, hint)
    return table


def _test_configs(generator: torch.Generator) -> list[GPTConfig]:
    heads = (2, 4)[int(torch.randint(2, (), generator=generator))]
    small = GPTConfig(vocab_size=int(torch.randint(50, 500, (), generator=generator)), context_length=32,
                      emb_dim=heads * 8, n_heads=heads, n_layers=int(torch.randint(3, 5, (), generator=generator)),
                      qkv_bias=bool(torch.randint(2, (), generator=generator)))
    return [GPTConfig.from_preset("gpt2-medium", qkv_bias=True), GPTConfig(), small]


@self_check
def check_gpt2_parameters(gpt2_parameters) -> None:
    """gpt2_parameters(cfg) -> the number of parameters of GPT-2 with cfg's sizes (tied head), from cfg alone."""
    name = "gpt2_parameters"
    configs = _test_configs(fresh_generator())
    for cfg in configs:
        reference = gpt2_parameters_reference(cfg)
        result = expect_int(attempt(name, gpt2_parameters, cfg), name)
        if result != reference:
            hint = _parameter_count_mistakes(cfg, reference).get(result, f"for {cfg} the count is off by "
                                                                         f"{result - reference:+,}")
            raise ExerciseError(f"{name}: {hint}")
    passed(name, f"gpt2-medium with q/k/v bias has {gpt2_parameters_reference(configs[0]):,} parameters")


# --- initialization --------------------------------------------------------------------------------------

def _residual_std_mistakes(n_layers: int) -> dict[str, float]:
    """Standard deviations a learner may end up with, each with its hint."""
    return {
        "the weights still have std 0.02: change them in place (under torch.no_grad()), e.g. with "
        "nn.init.normal_(weight, 0.0, std) or weight.mul_(factor)": 0.02,
        "N counts the residual branches, two per block (attention and MLP): divide by sqrt(2 * n_layers), "
        "not sqrt(n_layers)": 0.02 / math.sqrt(n_layers),
        "take the square root: the factor is 1 / sqrt(2 * n_layers), not 1 / (2 * n_layers)": 0.02 / (2 * n_layers),
        "the factor is 1 / sqrt(2 * n_layers), not 1 / n_layers": 0.02 / n_layers,
        "divide by sqrt(2 * n_layers), do not multiply": 0.02 * math.sqrt(2 * n_layers),
        "the standard deviation is 0.02 / sqrt(2 * n_layers): keep the 0.02": 1 / math.sqrt(2 * n_layers),
    }


def _residual_weights(model: GPTModel) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if name.endswith(("attn.out_proj.weight",
                                                                                "mlp.proj.weight"))}


@self_check
def check_scale_residual_init(scale_residual_init) -> None:
    """scale_residual_init(model) -> None; afterwards every attn.out_proj and mlp.proj weight has std
    0.02 / sqrt(2 * n_layers), and no other parameter has changed."""
    name = "scale_residual_init"
    generator = fresh_generator()
    for n_layers in (3, 4, 6):  # 2 would make 1/n_layers and 1/sqrt(2 n_layers) agree
        cfg = GPTConfig(vocab_size=64, context_length=16, emb_dim=64, n_heads=4, n_layers=n_layers, dropout=0.0)
        seed_from(generator)
        model = GPTModel(cfg)
        with torch.no_grad():
            for weight in _residual_weights(model).values():
                nn.init.normal_(weight, mean=0.0, std=0.02)  # as OpenAI's code draws them, before the scaling
        before = {key: p.detach().clone() for key, p in model.named_parameters()}
        attempt(name, scale_residual_init, Mutable(model))  # it changes the model: that is the exercise
        residual = _residual_weights(model)
        for key, p in model.named_parameters():
            expect(key in residual or torch.equal(p, before[key]), name,
                   f"{key} changed too; change only the last layer of each residual branch, attn.out_proj and "
                   "mlp.proj, and only their weights")
        target = 0.02 / math.sqrt(2 * n_layers)
        for key, weight in residual.items():
            std, mean = weight.std().item(), weight.mean().item()
            if abs(std / target - 1) > 0.06:
                hint = next((h for h, s in _residual_std_mistakes(n_layers).items() if abs(std / s - 1) < 0.06),
                            f"with n_layers={n_layers}, {key} should have std {target:.4f}, not {std:.4f}")
                raise ExerciseError(f"{name}: {key}: {hint}")
            expect(abs(mean) < 0.1 * target, name, f"{key} should have mean 0, not {mean:.4f}")
    passed(name, f"GPT-2 small's residual projections start with std 0.02 / sqrt(24) = {0.02 / math.sqrt(24):.4f}")


# --- memory ----------------------------------------------------------------------------------------------

@self_check
def check_weights_memory_gb(weights_memory_gb) -> None:
    """weights_memory_gb(cfg, dtype) -> memory of GPT-2's weights with cfg's sizes (tied head), in GB (10^9 bytes)."""
    name = "weights_memory_gb"
    xl = GPTConfig.from_preset("gpt2-xl", qkv_bias=True)
    cases = [(xl, torch.bfloat16), (GPTConfig(), torch.float32), (GPTConfig.from_preset("gpt2-medium"), torch.float16)]
    for cfg, dtype in cases:
        n_params = gpt2_parameters_reference(cfg)
        result = expect_number(attempt(name, weights_memory_gb, cfg, dtype), name)
        close = lambda value: abs(result - value) <= 1e-9 * max(1.0, value)  # noqa: E731
        if close(n_params * dtype.itemsize / 1e9):
            continue
        if close(n_params * dtype.itemsize / 2**30):
            raise ExerciseError(f"{name}: that is GiB (2^30 bytes); the question asks for GB, 10^9 bytes")
        if close(n_params / 1e9):
            raise ExerciseError(f"{name}: that is the number of parameters in billions; multiply by the bytes "
                                "each one takes, dtype.itemsize")
        bytes_each = result * 1e9 / n_params
        if any(abs(bytes_each - size) < 1e-6 for size in (2, 4, 8)):
            raise ExerciseError(f"{name}: your answer counts {round(bytes_each)} bytes per number, but {dtype} "
                                f"takes {dtype.itemsize}; use dtype.itemsize")
        for count, hint in _parameter_count_mistakes(cfg, n_params).items():
            if close(count * dtype.itemsize / 1e9):
                raise ExerciseError(f"{name}: the parameter count is off: {hint}")
        raise ExerciseError(f"{name}: {cfg} in {dtype} should not take {result} GB")
    n_xl = gpt2_parameters_reference(xl)
    passed(name, f"GPT-2 XL has {n_xl:,} parameters: {n_xl * 2 / 1e9:.2f} GB in bfloat16, "
                 f"{n_xl * 4 / 1e9:.2f} GB in float32")
