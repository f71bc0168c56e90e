"""Bad input gets a clear error raised by gpt2lib itself, before any work, and a refused call changes nothing."""

import json
import math
import sys
import traceback
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from gpt2lib import (
    GPTConfig, GPTModel, GPTScaffold, KVCache, WeightsMismatchError, config_from_hf, forward_with_cache,
    from_pretrained, generate, get_tokenizer, load_hf_weights, model_from_hf, pick_next_token,
)
from gpt2lib.hf.files import WeightFileError, load_weight_file

GPT2LIB = Path(__file__).resolve().parent.parent / "gpt2lib"
TINY = GPTConfig(vocab_size=61, context_length=10, emb_dim=16, n_heads=2, n_layers=2, dropout=0.0)
HF_SMALL = dict(n_embd=16, n_layer=2, n_head=2, n_positions=10, vocab_size=61)


def raised_by_gpt2lib(error_info) -> bool:
    """The innermost frame that raised is in gpt2lib's own code."""
    frames = traceback.extract_tb(error_info.tb)
    return Path(frames[-1].filename).resolve().is_relative_to(GPT2LIB)


def refused(call, error=(TypeError, ValueError), match=None):
    with pytest.raises(error, match=match) as info:
        call()
    assert raised_by_gpt2lib(info), f"raised outside gpt2lib: {info.value!r}"
    return str(info.value)


def snapshot(model):
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def unchanged(model, before) -> bool:
    return all(torch.equal(model.state_dict()[name], tensor) for name, tensor in before.items())


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return GPTModel(TINY).eval()


def random_hf(**changes):
    torch.manual_seed(1)
    return GPT2LMHeadModel(GPT2Config(**{**HF_SMALL, **changes})).eval()


# --- configuration and ids ---------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("vocab_size", True), ("n_layers", 0), ("emb_dim", 2.0), ("n_heads", "12"), ("context_length", -1),
    ("dropout", 1.0), ("dropout", float("nan")), ("dropout", "0.1"), ("dropout", True), ("qkv_bias", 1), ("qkv_bias", None),
])
def test_impossible_configs_are_refused_naming_the_field(field, value):
    message = refused(lambda: GPTConfig(**{field: value}), ValueError)
    assert f"GPTConfig.{field}" in message and repr(value) in message


@pytest.mark.parametrize("ids, error, match", [
    ([[1, 2]], TypeError, "torch.Tensor"),
    (torch.tensor([1, 2]), ValueError, r"shape \(batch, seq_len\)"),
    (torch.tensor([[1.0, 2.0]]), TypeError, "use ids.long()"),
    (torch.tensor([[1, 2]], dtype=torch.uint8), TypeError, "torch.long"),
    (torch.tensor([[1, 2]], dtype=torch.int16), TypeError, "torch.long"),
    (torch.tensor([[True, False]]), TypeError, "torch.long"),
    (torch.zeros(1, 0, dtype=torch.long), ValueError, "must not be empty"),
    (torch.tensor([[1, 61]]), ValueError, r"token id 61 is out of range.*0\.\.60"),
    (torch.tensor([[-1, 3]]), ValueError, "token id -1 is out of range"),
    (torch.zeros(1, 11, dtype=torch.long), ValueError, "longer than the context length"),
])
def test_bad_token_ids_are_refused_by_the_model(tiny, ids, error, match):
    refused(lambda: tiny(ids), error, match)


def test_int32_ids_give_the_same_logits_as_long(tiny):
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    assert torch.equal(tiny(ids), tiny(ids.int()))


# --- generation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options, match", [
    (dict(max_new_tokens=-1), "max_new_tokens"), (dict(max_new_tokens=2.0), "max_new_tokens"),
    (dict(max_new_tokens=True), "max_new_tokens"),
    (dict(temperature=None), "temperature"), (dict(temperature=float("nan")), "temperature"),
    (dict(temperature=math.inf), "temperature"), (dict(temperature=-0.5), "temperature"),
    (dict(temperature=1e-30), "too small"),
    (dict(temperature=1.0, top_k=0), "top_k"), (dict(temperature=1.0, top_k=2.5), "top_k"),
    (dict(temperature=1.0, top_p=0.0), "top_p"), (dict(temperature=1.0, top_p=1.5), "top_p"),
    (dict(eos_id=61), "eos_id"), (dict(eos_id=-1), "eos_id"), (dict(eos_id="50256"), "eos_id"),
    (dict(generator=123), "generator"),
])
def test_bad_generate_options_are_refused_and_the_mode_is_kept(tiny, options, match):
    tiny.train()
    call = dict(max_new_tokens=3) | options
    refused(lambda: generate(tiny, torch.tensor([[1, 2, 3]]), **call), match=match)
    assert tiny.training, "a refused generate() must leave the model's mode as it was"


@pytest.mark.parametrize("prompt", [[[1, 2, 3]], torch.tensor([1, 2, 3]), torch.tensor([[1, 99]]), torch.tensor([[1.0]])])
def test_bad_prompts_are_refused_before_the_model_is_touched(tiny, prompt):
    tiny.train()
    refused(lambda: generate(tiny, prompt, 3))
    refused(lambda: generate(tiny, prompt, 0))  # checked even when nothing is generated
    assert tiny.training


def test_a_prompt_longer_than_the_context_is_read_through_its_window(tiny):
    prompt = torch.randint(0, TINY.vocab_size, (1, 25))
    out = generate(tiny, prompt, 4)
    assert out.shape == (1, 29) and torch.equal(out, generate(tiny, prompt, 4, use_cache=False))
    refused(lambda: generate(tiny, torch.cat([torch.tensor([[61]]), prompt], dim=1), 4), match="out of range")


def test_a_model_that_is_not_a_gpt2lib_model_is_refused():
    refused(lambda: generate(GPT2LMHeadModel(GPT2Config(**HF_SMALL)), torch.tensor([[1, 2]]), 2), TypeError, "GPTModel")
    refused(lambda: generate(GPTScaffold(TINY), torch.tensor([[1, 2]]), 2), TypeError, "GPTModel")


def test_non_finite_logits_raise_instead_of_picking_token_zero(tiny):
    with torch.no_grad():
        tiny.blocks[0].mlp.fc.weight[0, 0] = float("nan")
    for options in (dict(), dict(temperature=1.0, top_k=5)):
        refused(lambda: generate(tiny, torch.tensor([[1, 2]]), 3, **options), ValueError, r"NaN or \+inf")


@pytest.mark.parametrize("logits, match", [
    (torch.zeros(61), r"shape \(batch, vocab_size\)"), (torch.zeros(1, 2, 61), r"logits\[:, -1, :\]"),
    ([[0.0, 1.0]], "torch.Tensor"), (torch.zeros(1, 5, dtype=torch.long), "floating point"),
    (torch.tensor([[0.0, float("inf")]]), r"NaN or \+inf"), (torch.full((1, 3), float("-inf")), "without any finite value"),
])
def test_pick_next_token_requires_finite_2d_logits(logits, match):
    refused(lambda: pick_next_token(logits), match=match)
    refused(lambda: pick_next_token(logits, temperature=1.0, top_p=0.9), match=match)


def test_pick_next_token_checks_its_options_like_generate():
    refused(lambda: pick_next_token(torch.zeros(1, 5), temperature=-1.0), match="temperature")
    refused(lambda: pick_next_token(torch.zeros(1, 5), temperature=1.0, top_k=0), match="top_k")


def test_a_temperature_that_overflows_the_logits_is_refused():
    logits = torch.tensor([[0.0, 3e38]], dtype=torch.float32)
    refused(lambda: pick_next_token(logits, temperature=0.5), ValueError, "temperature")


# --- the KV cache -------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_size, max_len", [(0, 4), (1, 0), (1, 11), (2.0, 4), (True, 4), (1, "4")])
def test_bad_cache_sizes_are_refused_when_the_cache_is_built(batch_size, max_len):
    refused(lambda: KVCache(TINY, batch_size, max_len), ValueError)


@pytest.mark.parametrize("cache_cfg, batch, dtype, match", [
    (TINY, 2, None, "batch size 2"),
    (GPTConfig(vocab_size=61, context_length=10, emb_dim=16, n_heads=2, n_layers=3), 1, None, "layers 3"),
    (GPTConfig(vocab_size=61, context_length=10, emb_dim=16, n_heads=4, n_layers=2), 1, None, "heads 4"),
    (GPTConfig(vocab_size=61, context_length=10, emb_dim=32, n_heads=2, n_layers=2), 1, None, "head size 16"),
    (TINY, 1, torch.bfloat16, "dtype torch.bfloat16"),
])
def test_a_cache_that_does_not_fit_is_refused_before_use(tiny, cache_cfg, batch, dtype, match):
    cache = KVCache(cache_cfg, batch, 8, dtype=dtype)
    refused(lambda: forward_with_cache(tiny, torch.tensor([[1, 2, 3]]), cache), ValueError, match)
    assert cache.length == 0
    refused(lambda: forward_with_cache(tiny, torch.tensor([[1, 2, 3]]), "cache"), TypeError, "KVCache")


def test_a_cache_that_would_overflow_is_refused_and_keeps_its_tokens(tiny):
    cache = KVCache(TINY, 1, 4)
    forward_with_cache(tiny, torch.tensor([[1, 2, 3]]), cache)
    refused(lambda: forward_with_cache(tiny, torch.tensor([[1, 2]]), cache), ValueError, "holds 4 tokens")
    assert cache.length == 3


# --- loading ------------------------------------------------------------------------------------

def test_load_hf_weights_refuses_wrong_source_types(tiny):
    for source in (None, 42, [1, 2]):
        refused(lambda: load_hf_weights(tiny, source), TypeError, "transformers GPT-2 model, a state dict")


@pytest.mark.parametrize("spoil, match", [
    (lambda t: t.to("meta"), "meta device"),
    (lambda t: t.clone().fill_(float("nan")), "NaN or infinite"),
    (lambda t: torch.full_like(t, float("inf")), "NaN or infinite"),
    (lambda t: t.long(), "dtype torch.int64"),
    (lambda t: t.to(torch.complex64), "dtype torch.complex64"),
    (lambda t: "not a tensor", "is a str"),
])
def test_unusable_tensors_are_refused_by_name_and_nothing_is_loaded(spoil, match):
    hf = random_hf()
    model = GPTModel(config_from_hf(hf.config))
    before = snapshot(model)
    state = dict(hf.state_dict())
    state["transformer.h.1.mlp.c_proj.weight"] = spoil(state["transformer.h.1.mlp.c_proj.weight"])
    message = refused(lambda: load_hf_weights(model, state), WeightsMismatchError, match)
    assert "transformer.h.1.mlp.c_proj.weight" in message
    assert unchanged(model, before)


def write_weights(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_unreadable_weight_files_are_named_with_what_is_wrong(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in random_hf().state_dict().items() if k != "lm_head.weight"}
    save_file(state, tmp_path / "good.safetensors")
    torch.save(state, tmp_path / "good.bin")
    good_st, good_bin = (tmp_path / "good.safetensors").read_bytes(), (tmp_path / "good.bin").read_bytes()
    cases = {
        "empty.safetensors": (b"", "empty"),
        "truncated.safetensors": (good_st[: len(good_st) // 2], "not a valid safetensors file"),
        "garbage.safetensors": (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", "not a valid safetensors file"),
        "truncated.bin": (good_bin[: len(good_bin) // 2], "not a readable PyTorch weight file"),
        "empty.bin": (b"", "empty"),
        "pickle_named.safetensors": (good_bin, "holds a torch.save file"),
        "safetensors_named.bin": (good_st, "holds a safetensors file"),
    }
    for name, (content, match) in cases.items():
        path = write_weights(tmp_path, name, content)
        message = refused(lambda: load_weight_file(path), WeightFileError, match)
        assert name in message
    refused(lambda: load_weight_file(tmp_path / "absent.safetensors"), WeightFileError, "does not exist")
    model = GPTModel(config_from_hf(random_hf().config))
    before = snapshot(model)
    refused(lambda: load_hf_weights(model, tmp_path / "truncated.safetensors"), WeightFileError)
    assert unchanged(model, before)


@pytest.mark.parametrize("change", [
    {"scale_attn_weights": False}, {"scale_attn_by_inverse_layer_idx": True}, {"reorder_and_upcast_attn": True},
    {"activation_function": "relu"}, {"layer_norm_epsilon": 1e-6}, {"n_inner": 20},
])
def test_gpt2_variants_gpt2lib_does_not_compute_are_refused(change):
    key = next(iter(change))
    refused(lambda: config_from_hf(GPT2Config(**HF_SMALL, **change)), ValueError, f"unsupported GPT-2 variant: {key}")
    refused(lambda: model_from_hf(random_hf(**change)), ValueError, key)


@pytest.mark.parametrize("missing", ["n_embd", "n_layer", "n_head", "n_positions", "vocab_size"])
def test_config_from_hf_names_a_missing_key(missing):
    config = {k: v for k, v in GPT2Config(**HF_SMALL).to_dict().items() if k != missing}
    refused(lambda: config_from_hf(config), ValueError, f"no '{missing}'")


def test_from_pretrained_refuses_a_directory_without_config(tmp_path):
    random_hf().save_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    refused(lambda: from_pretrained(str(tmp_path)), WeightFileError, "has no config.json")


def test_from_pretrained_refuses_a_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(GPT2Config(**HF_SMALL).to_dict()))
    refused(lambda: from_pretrained(str(tmp_path)), WeightFileError, "has no weights")


def test_from_pretrained_refuses_bad_arguments(tmp_path):
    refused(lambda: from_pretrained(None), TypeError, "name_or_path")
    refused(lambda: from_pretrained("gpt5"), ValueError, "neither a local directory")
    random_hf().save_pretrained(tmp_path)
    refused(lambda: from_pretrained(str(tmp_path), device="gpu0"), ValueError, "device")


@pytest.mark.parametrize("route", ["model_from_hf", "from_pretrained"])
def test_untied_weights_load_into_an_untied_model_with_equal_logits(route, tmp_path):
    hf = random_hf(tie_word_embeddings=False)
    with torch.no_grad():
        hf.lm_head.weight.add_(0.5)  # now really different from wte
    if route == "model_from_hf":
        model = model_from_hf(hf)
    else:
        hf.save_pretrained(tmp_path)
        model = from_pretrained(str(tmp_path))
    assert not model.weights_tied
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(model(ids), hf(ids).logits, atol=1e-5)


def test_untied_weights_into_a_tied_model_says_how_to_fix_it():
    hf = random_hf(tie_word_embeddings=False)
    with torch.no_grad():
        hf.lm_head.weight.add_(0.5)
    model = GPTModel(config_from_hf(hf.config))
    message = refused(lambda: load_hf_weights(model, hf), WeightsMismatchError, "ties them")
    assert "tie_weights=False" in message and "model_from_hf" in message


# --- tokenizer ----------------------------------------------------------------------------------

def test_decode_accepts_a_1d_tensor_so_generate_output_decodes():
    tokenizer, model = get_tokenizer(), GPTModel(GPTConfig(n_layers=1, emb_dim=8, n_heads=2, context_length=16)).eval()
    out = generate(model, torch.tensor([tokenizer.encode("Hello, I am")]), 2)
    assert tokenizer.decode(out[0]).startswith("Hello, I am")
    assert tokenizer.decode(out[0]) == tokenizer.decode(out[0].tolist())


@pytest.mark.parametrize("ids, error, match", [
    ([50257], ValueError, "50257"), ([-1], ValueError, "-1"), ([1.5], ValueError, "1.5"),
    (torch.zeros(2, 3, dtype=torch.long), ValueError, "1-D"), ("hello", TypeError, "list of token ids"), (None, TypeError, "NoneType"),
])
def test_decode_refuses_ids_out_of_range_or_of_the_wrong_kind(ids, error, match):
    refused(lambda: get_tokenizer().decode(ids), error, match)


def test_encode_refuses_bytes_and_explains_end_of_text():
    tokenizer = get_tokenizer()
    refused(lambda: tokenizer.encode(b"Hello"), TypeError, "decode bytes first")
    message = refused(lambda: tokenizer.encode("The end.<|endoftext|>"), ValueError, "allowed_special")
    assert "disallowed_special=()" in message
    assert tokenizer.encode("a<|endoftext|>", allowed_special={"<|endoftext|>"}) == [64, 50256]
    assert 50256 not in tokenizer.encode("a<|endoftext|>", disallowed_special=())


def test_huge_but_finite_weights_are_not_mistaken_for_infinite():
    from gpt2lib.hf.files import tensor_problem

    assert tensor_problem(torch.tensor([3e38, 3e38])) is None  # their sum overflows, the values do not
    assert "NaN" in tensor_problem(torch.tensor([1.0, float("nan")]))


# --- cases found by an adversarial probe -------------------------------------------------------

def test_a_sparse_tensor_is_refused_before_any_weight_is_copied():
    hf = random_hf()
    model = GPTModel(config_from_hf(hf.config))
    before = snapshot(model)
    state = dict(hf.state_dict())
    state["transformer.ln_f.weight"] = state["transformer.ln_f.weight"].to_sparse()
    refused(lambda: load_hf_weights(model, state), WeightsMismatchError, "layout")
    assert unchanged(model, before)


def test_values_that_overflow_a_float16_model_are_refused():
    hf = random_hf()
    model = GPTModel(config_from_hf(hf.config)).half()
    before = snapshot(model)
    state = dict(hf.state_dict())
    state["transformer.h.0.mlp.c_fc.weight"] = state["transformer.h.0.mlp.c_fc.weight"].clone().fill_(1e6)
    refused(lambda: load_hf_weights(model, state), WeightsMismatchError, "more than torch.float16 can store")
    assert unchanged(model, before)


def test_duplicate_and_missing_names_are_refused():
    hf = random_hf()
    state = dict(hf.state_dict())
    twice = {**state, "wte.weight": state["transformer.wte.weight"].clone()}
    refused(lambda: load_hf_weights(GPTModel(config_from_hf(hf.config)), twice), WeightsMismatchError, "twice")
    untied = GPTModel(config_from_hf(hf.config), tie_weights=False)
    no_head = {k: v for k, v in state.items() if k != "lm_head.weight"}
    refused(lambda: load_hf_weights(untied, no_head), WeightsMismatchError, "missing lm_head.weight")


def test_loading_into_a_meta_model_or_onto_a_bad_device_is_refused():
    hf = random_hf()
    with torch.device("meta"):
        meta_model = GPTModel(config_from_hf(hf.config))
    refused(lambda: load_hf_weights(meta_model, hf), ValueError, "meta device")
    for device in (None, "meta", "nonsense"):
        refused(lambda: model_from_hf(hf, device=device), ValueError, "device")
    if not torch.cuda.is_available():
        refused(lambda: model_from_hf(hf, device="cuda"), ValueError, "no CUDA GPU")


def test_sharded_index_may_not_point_outside_its_directory(tmp_path):
    random_hf().save_pretrained(tmp_path / "good")
    target = tmp_path / "sharded"
    target.mkdir()
    (target / "config.json").write_text((tmp_path / "good" / "config.json").read_text())
    index = {"weight_map": {"transformer.wte.weight": "../good/model.safetensors"}}
    (target / "model.safetensors.index.json").write_text(json.dumps(index))
    refused(lambda: from_pretrained(str(target)), WeightFileError, "outside its directory")


def test_a_text_file_named_bin_is_a_file_error(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_text("101 this is not a weight file\n")
    refused(lambda: load_weight_file(path), WeightFileError, "pytorch_model.bin")
    refused(lambda: load_weight_file(None), TypeError, "path")


def test_sampling_edge_cases():
    logits = torch.tensor([[0.0, 2.0, float("-inf")]])  # -inf marks a banned token: allowed
    assert pick_next_token(logits).item() == 1
    draws = {pick_next_token(logits, 1.0, generator=torch.Generator().manual_seed(s)).item() for s in range(30)}
    assert 2 not in draws
    tiny_p = pick_next_token(torch.tensor([[1.0, 3.0, 2.0]]), 1.0, top_p=1e-30, generator=torch.Generator().manual_seed(0))
    assert tiny_p.item() == 1  # the top token always stays
    refused(lambda: pick_next_token(logits, temperature=0.0, top_k=2), ValueError, "only apply when sampling")
    from fractions import Fraction

    refused(lambda: pick_next_token(logits, temperature=Fraction(1, 2)), ValueError, "temperature")


def test_generate_refuses_a_use_cache_that_is_not_a_bool(tiny):
    refused(lambda: generate(tiny, torch.tensor([[1, 2]]), 2, use_cache="no"), TypeError, "use_cache")


def test_presets_and_helpers_refuse_wrong_arguments():
    refused(lambda: GPTConfig.from_preset(["gpt2"]), ValueError, "unknown GPT-2 preset")
    refused(lambda: GPTConfig.from_preset("gpt2", foo=1), ValueError, "unknown GPTConfig fields")
    refused(lambda: GPTConfig(emb_dim=16, n_heads=3), ValueError, "divisible")
    from gpt2lib import count_parameters, find_placeholders

    for bad in (None, "model", GPTModel):
        refused(lambda: count_parameters(bad), TypeError, "nn.Module")
        refused(lambda: find_placeholders(bad), TypeError, "nn.Module")


def test_layers_carry_no_checks_and_leave_bad_input_to_pytorch():
    """Layers are the taught math: bad input fails inside PyTorch, not silently, and not in a gpt2lib check."""
    from gpt2lib import FeedForward, LayerNorm

    with pytest.raises(RuntimeError):
        LayerNorm(16)(torch.randn(2, 8))
    with pytest.raises(RuntimeError):
        FeedForward(TINY)(torch.randn(2, 3, 16, dtype=torch.float64))


def test_tokenizer_options_and_unicode():
    tokenizer = get_tokenizer()
    assert tokenizer.encode("a<|endoftext|>", allowed_special="all") == [64, 50256]
    refused(lambda: tokenizer.encode("a", allowed_special=None), TypeError, "allowed_special")
    refused(lambda: tokenizer.encode("a\ud800b"), ValueError, "not valid Unicode")
    refused(lambda: tokenizer.decode([5, None]), ValueError, "None")


def pretend_missing(monkeypatch, package: str) -> None:
    """Make `import package` (and importlib's find_spec) fail as if it were not installed."""
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)


def test_from_pretrained_without_transformers_says_how_to_install_it(monkeypatch):
    pretend_missing(monkeypatch, "transformers")
    refused(lambda: from_pretrained("gpt2"), ImportError, r"pip install 'gpt2lib\[hf\]'")


def test_safetensors_files_without_safetensors_say_how_to_install_it(monkeypatch, tmp_path):
    from gpt2lib import train
    from gpt2lib.hf.export import export_hf

    pretend_missing(monkeypatch, "safetensors")
    refused(lambda: export_hf(GPTModel(TINY), tmp_path / "model"), ImportError, r"pip install 'gpt2lib\[hf\]'")
    assert not (tmp_path / "model" / "model.safetensors").exists()
    (tmp_path / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    refused(lambda: load_weight_file(tmp_path / "weights.safetensors"), ImportError, r"pip install 'gpt2lib\[hf\]'")
    with pytest.raises(SystemExit, match=r"gpt2lib\[hf\]"):  # before training, not after it
        train.main(["--steps", "1", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_the_model_and_the_loaders_refuse_a_config_that_is_not_a_valid_gptconfig():
    """GPTConfig checks itself; the doors that take a config from elsewhere check it again (a dict, or a
    config-like object of a notebook's own class with impossible sizes)."""
    from types import SimpleNamespace

    from gpt2lib import check_token_ids, empty_model

    duck = SimpleNamespace(vocab_size=61, context_length=10, emb_dim=15, n_heads=2, n_layers=2, dropout=0.0,
                           qkv_bias=False)
    for bad, error, match in [(None, TypeError, "GPTConfig"), ({"vocab_size": 61}, TypeError, "GPTConfig"),
                              (duck, ValueError, "divisible")]:
        state = torch.get_rng_state()
        refused(lambda: GPTModel(bad), error, match)
        refused(lambda: empty_model(bad), error, match)
        refused(lambda: check_token_ids(torch.tensor([[1, 2]]), bad), error, match)
        assert torch.equal(torch.get_rng_state(), state)  # refused before any weight was drawn


@pytest.mark.parametrize("spoil, match", [
    (lambda model: model.blocks[1].mlp.fc.weight.data.__setitem__((0, 0), float("nan")), "NaN or infinite.*blocks.1"),
    (lambda model: model.final_norm.weight.data.fill_(float("inf")), "NaN or infinite.*final_norm"),
    (lambda model: model.to_empty(device="meta"), "on the meta device"),
])
def test_export_hf_refuses_non_finite_or_meta_weights_and_writes_nothing(tiny, tmp_path, spoil, match):
    from gpt2lib.hf.export import export_hf
    spoil(tiny)
    message = refused(lambda: export_hf(tiny, tmp_path / "export"), ValueError, match)
    assert "cannot write the export" in message
    assert not (tmp_path / "export").exists()
