"""What `make smoke` runs inside a fresh virtual environment, against the installed wheel.

    python -I tools/wheel_smoke_check.py          # the wheel alone: tokenize, build, generate
    python -I tools/wheel_smoke_check.py --hf     # with the hf extra: convert Hugging Face models too

Run with -I from outside the repository, so that `import gpt2lib` finds the installed wheel. Each
check prints one line; the first failure raises.
"""

import sys
import tempfile
from pathlib import Path

import torch

import gpt2lib
from gpt2lib import GPTConfig, GPTModel, from_pretrained, generate, get_tokenizer, model_from_hf


def check_installed_wheel() -> None:
    """gpt2lib comes from site-packages, not from the repository."""
    where = Path(gpt2lib.__file__).resolve()
    assert "site-packages" in where.parts, f"gpt2lib was imported from {where}, not from the installed wheel"
    print(f"ok  gpt2lib from {where.parent}, Python {sys.version.split()[0]}, torch {torch.__version__}")


def check_tokenizer() -> None:
    """GPT-2's ids for a known text, from the vocabulary shipped in the wheel."""
    tokenizer = get_tokenizer()
    ids = tokenizer.encode("Hello, I am")
    assert ids == [15496, 11, 314, 716], ids
    assert tokenizer.decode(ids) == "Hello, I am"
    print(f"ok  tokenize: 'Hello, I am' -> {ids}")


def check_build_and_generate() -> None:
    """GPT-2 (124M) builds, and cached generation equals uncached."""
    model = GPTModel(GPTConfig()).eval()  # GPT-2 (124M), random weights, tied, without q/k/v bias
    count = sum(p.numel() for p in model.parameters())
    assert count == 124_412_160, count
    ids = torch.tensor([get_tokenizer().encode("Hello, I am")])
    cached = generate(model, ids, max_new_tokens=8)
    uncached = generate(model, ids, max_new_tokens=8, use_cache=False)
    assert cached.shape == (1, 12) and torch.equal(cached, uncached)
    print(f"ok  GPTModel(GPTConfig()): {count:,} parameters; generate 8 tokens, cached == uncached")


def check_without_hf() -> None:
    """Without transformers, from_pretrained names the hf extra."""
    try:
        from_pretrained("gpt2")
    except ImportError as error:
        assert "gpt2lib[hf]" in str(error), error
        print(f"ok  without the hf extra, from_pretrained says: {error}")
        return
    raise AssertionError("from_pretrained worked without transformers installed")


def check_exercises() -> None:
    """The exercises' self-checks come with the wheel and import without the hf extra too."""
    import importlib

    modules = ["scaffold", "attention", "layernorm", "mlp", "block", "loading", "generation", "training"]
    for module in modules:
        importlib.import_module(f"gpt2lib_exercises.{module}")
    print(f"ok  gpt2lib_exercises: {len(modules)} modules of self-checks import")


def check_hf_conversion() -> None:
    """A random Hugging Face GPT-2 converts with equal logits, directly and from a saved folder."""
    import transformers

    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(n_positions=64, n_embd=64, n_layer=2, n_head=4)
    hf_model = transformers.GPT2LMHeadModel(hf_config).eval()  # random weights: nothing is downloaded
    ids = torch.randint(0, hf_config.vocab_size, (2, 16))
    with torch.no_grad():
        expected = hf_model(ids).logits
        converted = model_from_hf(hf_model)(ids)
        with tempfile.TemporaryDirectory() as directory:
            hf_model.save_pretrained(directory)  # config.json + model.safetensors
            from_directory = from_pretrained(directory)(ids)
    torch.testing.assert_close(converted, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(from_directory, expected, atol=1e-4, rtol=1e-4)
    print(f"ok  transformers {transformers.__version__}: a random GPT-2 converts (model_from_hf, "
          "from_pretrained of a saved directory) with equal logits")


if __name__ == "__main__":
    check_installed_wheel()
    check_tokenizer()
    check_build_and_generate()
    check_exercises()
    if "--hf" in sys.argv[1:]:
        check_hf_conversion()
    else:
        check_without_hf()
