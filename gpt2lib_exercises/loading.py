"""Self-checks for the exercises of notebook 06 (loading Hugging Face's GPT-2 weights).

The checks build small Hugging Face GPT-2 models from a GPT2Config with random weights, so they never need
the network or OpenAI's weights. They import Hugging Face `transformers` (the hf extra) only when they run.
"""

import torch
from torch import nn

from gpt2lib.hf import BLOCK_WEIGHT_NAMES
from gpt2lib_exercises.core import (
    ExerciseError, attempt, expect, expect_close, expect_int, expect_number, fresh_generator, kind_of, passed, pick,
    self_check,
)


def _fill_randomly(tensors, generator: torch.Generator) -> None:
    """Overwrite each tensor in place with N(0, 1) numbers, so that no two tensors are equal."""
    with torch.no_grad():
        for t in tensors:
            t.copy_(torch.randn(t.shape, generator=generator))


def random_conv1d(n_in: int, n_out: int, generator: torch.Generator) -> nn.Module:
    """A Hugging Face Conv1D layer n_in -> n_out (weight stored as (n_in, n_out)) with random weight and bias."""
    from transformers.pytorch_utils import Conv1D

    conv = Conv1D(n_out, n_in)  # Conv1D(nf=out_features, nx=in_features)
    _fill_randomly([conv.weight, conv.bias], generator)
    return conv


def tiny_hf_config(n_layer: int, n_embd: int = 4, n_head: int = 1, vocab_size: int = 11, n_positions: int = 8):
    """A GPT2Config of the given sizes; the special tokens are set inside the small vocabulary (no warning)."""
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                      n_head=n_head, bos_token_id=0, eos_token_id=0)


def random_hf_model(generator: torch.Generator, n_layer: int = 3) -> nn.Module:
    """A small Hugging Face GPT-2 (a GPT2LMHeadModel) whose every weight is random (layer norms too), in eval mode."""
    from transformers import GPT2LMHeadModel

    heads = pick(generator, 2, 4)
    cfg = tiny_hf_config(n_layer, n_embd=heads * pick(generator, 3, 4), n_head=heads,
                         vocab_size=pick(generator, 50, 97), n_positions=16)
    with torch.random.fork_rng(devices=[]):  # Hugging Face's own initialization leaves the learner's seed alone
        model = GPT2LMHeadModel(cfg).eval()
    _fill_randomly(model.parameters(), generator)
    return model


# --- exercise 1: one Conv1D as an nn.Linear -------------------------------------------------------------

@self_check
def check_linear_from_conv1d(linear_from_conv1d) -> None:
    """linear_from_conv1d(conv) -> an nn.Linear that computes the same as the Hugging Face Conv1D conv."""
    name = "linear_from_conv1d"
    generator = fresh_generator()
    C = pick(generator, 6, 8, 12)
    for n_in, n_out in [(C, C), (C, 3 * C), (4 * C, C)]:  # square first: there a missing transpose keeps the shape
        conv = random_conv1d(n_in, n_out, generator)
        stored = conv.weight.detach().clone()  # (n_in, n_out)
        x = torch.randn(2, 3, n_in, generator=generator)  # (B, T, in)
        with torch.no_grad():
            reference = conv(x)
        result = attempt(name, linear_from_conv1d, conv)  # the check fails if it changes conv
        expect(isinstance(result, nn.Linear), name, f"return an nn.Linear, not {kind_of(result)}")
        shape = tuple(result.weight.shape)
        expect(shape != (n_in, n_out) or n_in == n_out, name,
               f"the weight has Conv1D's shape (in, out) = {shape}; nn.Linear stores (out, in): transpose it")
        expect(shape == (n_out, n_in), name, f"a {n_in} -> {n_out} layer has an nn.Linear weight of shape "
                                             f"(out, in) = {(n_out, n_in)}, yours is {shape}")
        expect((result.in_features, result.out_features) == (n_in, n_out), name,
               "build the layer as nn.Linear(in_features, out_features), in that order")
        expect(not torch.equal(result.weight.detach(), stored), name,
               "the weight is not transposed: Conv1D stores (in, out), nn.Linear (out, in); copy conv.weight.T")
        expect_close(result.weight.detach(), stored.T, name)
        expect(result.bias is not None, name, "the layer has no bias: keep nn.Linear's bias and copy conv.bias into it")
        expect(torch.allclose(result.bias.detach(), conv.bias.detach()), name,
               "copy the Conv1D's bias into the layer's bias (a vector: nothing to transpose)")
        expect_close(attempt(name, result, x.clone()), reference, name)
    passed(name, "square and rectangular layers compute what the Conv1D computes")


# --- exercise 2: splitting the fused c_attn -------------------------------------------------------------

@self_check
def check_split_c_attn(split_c_attn) -> None:
    """split_c_attn(weight (C, 3C), bias (3C,)) -> ((W_q, b_q), (W_k, b_k), (W_v, b_v)), nn.Linear layout."""
    name = "split_c_attn"
    generator = fresh_generator()
    for C in (pick(generator, 6, 12), pick(generator, 8, 16)):
        weight = torch.randn(C, 3 * C, generator=generator)  # Conv1D layout: (in, out) = (C, 3C)
        bias = torch.randn(3 * C, generator=generator)
        result = attempt(name, split_c_attn, weight.clone(), bias.clone())
        expect(isinstance(result, (tuple, list)) and len(result) == 3, name,
               "return three (weight, bias) pairs: one for q, one for k, one for v, in that order")
        _check_qkv_parts(name, result, weight, bias)
    passed(name, "q, k and v on two random c_attn layers")


def _check_qkv_parts(name: str, result, weight: torch.Tensor, bias: torch.Tensor) -> None:
    C = weight.shape[0]
    weights = [w.T for w in weight.split(C, dim=1)]  # nn.Linear layout, (C, C) each
    biases = list(bias.split(C))
    for j, part in enumerate("qkv"):
        pair = result[j]
        expect(isinstance(pair, (tuple, list)) and len(pair) == 2, name,
               f"the {part} entry must be a pair (weight, bias), got {kind_of(pair)}")
        w, b = pair
        expect(isinstance(w, torch.Tensor) and isinstance(b, torch.Tensor), name, "weights and biases are tensors")
        expect(tuple(w.shape) == (C, C), name,
               f"the {part} weight should be (C, C) = {(C, C)}, got {tuple(w.shape)}: split the (C, 3C) weight along "
               "its last dimension, the output features, into three blocks of C columns")
        expect(tuple(b.shape) == (C,), name, f"the {part} bias should have C = {C} numbers, got {tuple(b.shape)}")
        others = {f"that is the {'qkv'[i]} part: keep the order q, k, v (q is the first block of C columns)": weights[i]
                  for i in range(3) if i != j}
        expect_close(w, weights[j], name, mistakes={
            f"the {part} weight is still in Conv1D's (in, out) layout: transpose each part to nn.Linear's (out, in)":
                weights[j].T,
            "q, k and v sit side by side as three contiguous blocks of C columns, [q | k | v], "
            "not interleaved every third column": weight[:, j::3].T,
            "q, k and v sit side by side as three contiguous blocks of C columns, [q | k | v], not interleaved "
            "every third column (and each part needs a transpose)": weight[:, j::3],
            **others,
        })
        expect_close(b, biases[j], name, mistakes={
            **{f"the {part} bias is the {'qkv'[i]} part: keep the order q, k, v": biases[i]
               for i in range(3) if i != j},
            "the bias holds [q | k | v] as three contiguous blocks of C numbers, not interleaved": bias[j::3],
        })


# --- exercise 3: one block's weights ---------------------------------------------------------------------

@self_check
def check_block_weights(block_weights) -> None:
    """block_weights(hf_state, i) -> {our name in block i: tensor}, for the 12 weights of block i."""
    name = "block_weights"
    generator = fresh_generator()
    hf_state = random_hf_model(generator, n_layer=3).state_dict()
    for i in torch.randperm(3, generator=generator).tolist():  # every block, so that reading one block always shows
        result = attempt(name, block_weights, dict(hf_state), i)  # the check fails if it changes a tensor
        expect(isinstance(result, dict), name, f"return a dict of our names -> tensors, not {kind_of(result)}")
        _check_block_keys(name, set(result), i)
        for ours, theirs, transposed in BLOCK_WEIGHT_NAMES:
            key, hf_key = f"blocks.{i}.{ours}", f"transformer.h.{i}.{theirs}"
            _check_block_tensor(name, key, result[key], hf_key, transposed, hf_state)
    passed(name, "the 12 weights of each block of a random 3-block model")


def _check_block_keys(name: str, keys: set, i: int) -> None:
    bare = {ours for ours, _, _ in BLOCK_WEIGHT_NAMES}
    expect(keys != bare, name, f"use our full names, with the block's prefix: 'blocks.{i}.norm1.weight', ...")
    for j in range(3):
        expect(j == i or keys != {f"blocks.{j}.{ours}" for ours in bare}, name,
               f"these are the names of block {j}, but the check asked for block {i}: use the argument i")
    expected = {f"blocks.{i}.{ours}" for ours in bare}
    missing, unexpected = sorted(expected - keys), sorted(keys - expected)
    expect(not missing and not unexpected, name,
           f"the keys are not our 12 names of block {i}: missing {missing[:3]}, unexpected {unexpected[:3]}")


def _check_block_tensor(name: str, key: str, tensor, hf_key: str, transposed: bool, hf_state: dict) -> None:
    expect(isinstance(tensor, torch.Tensor), name, f"{key} must be a tensor, not {kind_of(tensor)}")
    stored = hf_state[hf_key]
    want = stored.T if transposed else stored
    shape = tuple(tensor.shape)
    if shape != tuple(want.shape):
        if transposed and shape == tuple(stored.shape):
            raise ExerciseError(f"{name}: {key} has Conv1D's shape (in, out) = {shape}: transpose {hf_key} "
                                f"to nn.Linear's (out, in) = {tuple(want.shape)}")
        raise ExerciseError(f"{name}: {key} should have shape {tuple(want.shape)}, got {shape}")
    if torch.equal(tensor, want):
        return
    if transposed and torch.equal(tensor, stored):
        raise ExerciseError(f"{name}: {key} is not transposed: {hf_key} is a Conv1D weight, stored (in, out); "
                            "nn.Linear needs (out, in)")
    for other, t in hf_state.items():
        flipped = t.T if t.dim() == 2 else t
        if any(tensor.shape == u.shape and torch.equal(tensor, u) for u in (t, flipped)):
            raise ExerciseError(f"{name}: {key} holds Hugging Face's {other}; it should hold {hf_key}"
                                + (" (transposed)" if transposed else ""))
    expect_close(tensor, want, name)


# --- question 1: entries of a state dict ----------------------------------------------------------------

def hf_state_entries_reference(n_layers: int) -> int:
    """Counted on a real (tiny) Hugging Face GPT-2 with n_layers blocks."""
    from transformers import GPT2LMHeadModel

    with torch.device("meta"):  # shapes only: no memory, no initialization
        return len(GPT2LMHeadModel(tiny_hf_config(n_layers)).state_dict())


@self_check
def check_hf_state_entries(hf_state_entries) -> None:
    """hf_state_entries(n_layers) -> len(GPT2LMHeadModel(...).state_dict()) for a GPT-2 with n_layers blocks."""
    name = "hf_state_entries"
    generator = fresh_generator()
    for n in (12, 48, int(torch.randint(1, 8, (), generator=generator))):
        reference = hf_state_entries_reference(n)
        result = expect_int(attempt(name, hf_state_entries, n), name)
        hints = {
            reference - 1: "count lm_head.weight too: state_dict() lists the tied head, although it is wte's tensor",
            reference - 5: "count the entries outside the blocks too: wte, wpe, ln_f's weight and bias, and lm_head",
            reference - 6 * n: "every layer norm and every Conv1D has a bias as well as a weight: 12 entries per block",
            reference + 2 * n: "attn.bias and attn.masked_bias were buffers of older versions; today's state dict "
                               "holds learned weights only",
        }
        if result != reference:
            raise ExerciseError(f"{name}: " + hints.get(result, f"for {n} blocks the count is off by "
                                                                f"{result - reference:+}"))
    passed(name, f"GPT-2 small's state dict has {hf_state_entries_reference(12)} entries, "
                 f"{hf_state_entries_reference(2) - hf_state_entries_reference(1)} per block")


# --- question 2: the size of a weight file ---------------------------------------------------------------

def weight_file_parameters(cfg) -> int:
    """Learned numbers in a GPT-2 weight file (cfg: a Hugging Face GPT2Config): the tied head stored once, q/k/v
    biases included."""
    C, n = cfg.n_embd, cfg.n_layer
    per_block = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C)
    return cfg.vocab_size * C + cfg.n_positions * C + n * per_block + 2 * C


@self_check
def check_weights_megabytes(weights_megabytes) -> None:
    """weights_megabytes(hf_config, dtype) -> size in MB (10^6 bytes) of the model's weights in dtype."""
    from transformers import GPT2Config

    name = "weights_megabytes"
    small = GPT2Config()
    configs = [(small, torch.float32), (small, torch.bfloat16),
               (GPT2Config(n_embd=1024, n_layer=24, n_head=16), torch.float16), (tiny_hf_config(2), torch.float32)]
    for cfg, dtype in configs:
        n, size, C = weight_file_parameters(cfg), dtype.itemsize, cfg.n_embd
        result = expect_number(attempt(name, weights_megabytes, cfg, dtype), name)
        hints = {
            "lm_head is wte's tensor (the weights are tied): a weight file stores it once": n + cfg.vocab_size * C,
            "GPT-2 has q/k/v biases: count c_attn's bias, 3 * n_embd numbers per block": n - 3 * C * cfg.n_layer,
            "count the position embedding wpe too: n_positions x n_embd": n - cfg.n_positions * C,
            "count the final layer norm ln_f too: a weight and a bias": n - 2 * C,
        }
        reference = n * size / 1e6
        if _near(result, reference):
            continue
        if _near(result, n * size / 2**20):
            raise ExerciseError(f"{name}: that is MiB (2^20 bytes); the question asks for MB, 10^6 bytes")
        if size != 4 and _near(result, n * 4 / 1e6):
            raise ExerciseError(f"{name}: every dtype costs 4 bytes in your answer; use dtype.itemsize")
        for hint, wrong in hints.items():
            if _near(result, wrong * size / 1e6):
                raise ExerciseError(f"{name}: {hint}")
        off = round((result - reference) * 1e6 / size)
        raise ExerciseError(f"{name}: for {cfg.n_layer} blocks of width {C} in {dtype}, your answer is off by "
                            f"about {off:+,} parameters' worth of bytes")
    passed(name, f"GPT-2 small's {weight_file_parameters(small):,} parameters take "
                 f"{weight_file_parameters(small) * 4 / 1e6:.1f} MB in float32, "
                 f"{weight_file_parameters(small) * 2 / 1e6:.1f} MB in bfloat16")


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))
