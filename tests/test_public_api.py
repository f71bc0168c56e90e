"""The public API: yesterday's names still import, every package re-exports what its modules define, and the
entry points keep their signatures."""

import importlib
import inspect
import pkgutil

import pytest

import gpt2lib

# gpt2lib.__all__ before the library was grouped by concept (gpt2lib 0.1): every name must still import.
NAMES_IN_0_1 = [
    "END_OF_TEXT_ID", "GELU", "GPT2_PRESETS", "CausalSelfAttention", "CheckpointMismatchError", "FeedForward",
    "GPTConfig", "GPTModel", "GPTScaffold", "KVCache", "LayerNorm", "ScaffoldBlock", "TrainConfig", "Trainer",
    "TrainingCheckpointError", "TransformerBlock", "WeightsUnavailableError", "check_token_ids", "config_from_hf",
    "count_parameters", "decode_step", "default_device", "empty_model", "export_hf", "find_placeholders",
    "forward_with_cache", "from_pretrained", "gelu_exact", "gelu_tanh", "generate", "generate_simple",
    "get_tokenizer", "hf_weight_mapping", "layer_norm_reference", "load_hf_model", "load_hf_weights",
    "model_from_hf", "pick_next_token", "placeholder_report", "reference_attention",
]


# gpt2lib.training.__all__ before notebook 08 was split into 08 (pretraining) and 09 (training for real), which moved
# some functions into new modules: every name must still import from gpt2lib.training.
TRAINING_NAMES = [
    "TrainConfig", "Trainer", "TrainingCheckpointError", "atomic_write", "autocast", "autocast_dtype",
    "batches_for_step", "chunked_cross_entropy", "cpu_computes_bfloat16", "cross_entropy_loss", "evaluate",
    "load_checkpoint", "load_corpus", "lr_at", "make_optimizer", "param_groups", "plot_history", "random_windows",
    "sample", "step_generator", "tokenize", "train_step", "train_val_split", "windows_at",
]


@pytest.mark.parametrize("name", TRAINING_NAMES)
def test_every_training_name_still_imports_from_gpt2lib_training(name):
    training = importlib.import_module("gpt2lib.training")
    assert name in training.__all__ and getattr(training, name) is not None


@pytest.mark.parametrize("name", NAMES_IN_0_1)
def test_every_name_of_gpt2lib_0_1_still_imports_from_gpt2lib(name):
    assert name in gpt2lib.__all__
    assert getattr(gpt2lib, name) is not None


def test_the_old_name_of_the_weights_error_is_the_same_class():
    assert gpt2lib.CheckpointMismatchError is gpt2lib.WeightsMismatchError


def all_modules():
    return [info.name for info in pkgutil.walk_packages(gpt2lib.__path__, "gpt2lib.")
            if info.name not in ("gpt2lib.train",)]  # gpt2lib.train is the command's entry point


@pytest.mark.parametrize("module_name", all_modules())
def test_every_module_imports_and_its_all_names_exist(module_name):
    module = importlib.import_module(module_name)
    for name in getattr(module, "__all__", []):
        assert hasattr(module, name), f"{module_name}.__all__ names {name!r}, which it does not define"


@pytest.mark.parametrize("package", ["gpt2lib", "gpt2lib.hf", "gpt2lib.training"])
def test_each_package_exports_only_what_exists(package):
    module = importlib.import_module(package)
    assert sorted(set(module.__all__)) == sorted(module.__all__), "a name listed twice"
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_entry_points_keep_their_signatures():
    assert parameters(gpt2lib.from_pretrained) == ["name_or_path", "cache_dir", "device"]
    assert parameters(gpt2lib.generate) == ["model", "idx", "max_new_tokens", "temperature", "top_k", "top_p",
                                            "eos_id", "generator", "use_cache", "attention_mask"]
    assert parameters(gpt2lib.GPTModel) == ["cfg", "tie_weights"]
    assert parameters(gpt2lib.Trainer) == ["model", "tcfg", "train_data", "val_data", "ctx"]
    for method in ("fit", "evaluate", "train_one_step", "save", "state_dict", "from_checkpoint"):
        assert method in vars(gpt2lib.Trainer), f"Trainer.{method} must be defined in the class body"


def test_the_training_command_still_runs_as_gpt2lib_train():
    from gpt2lib.train import main
    from gpt2lib.training.cli import main as cli_main

    assert main is cli_main


def test_names_that_left_gpt2lib_training_say_where_they_are_now():
    with pytest.raises(ImportError, match=r"export_hf moved to gpt2lib\.hf"):
        from gpt2lib.training import export_hf  # noqa: F401
