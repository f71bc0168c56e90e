"""Everything Hugging Face: GPT-2's weights converted both ways, weight files, the hub, and export.

- `convert.py` (generated from notebook 06): the name and config tables, and the way back, `hf_state_dict`
  and `hf_config`;
- `loading.py` (hand-written): the loader made safe, `load_hf_weights`, `model_from_hf`, `empty_model`;
- `files.py` (hand-written): reading weight files safely and checking every tensor before a model is touched;
- `hub.py` (hand-written): `from_pretrained`, which finds OpenAI's weights in the local cache or on the hub;
- `export.py` (generated from notebook 09): `export_hf`, a trained model saved in Hugging Face's format.
"""

from gpt2lib.hf.convert import BLOCK_WEIGHT_NAMES, HF_CONFIG_KEYS, config_from_hf, hf_config, hf_state_dict, hf_weight_mapping
from gpt2lib.hf.export import export_hf
from gpt2lib.hf.files import CheckpointMismatchError, WeightFileError, WeightsMismatchError, load_weight_file
from gpt2lib.hf.loading import convert_hf_state, empty_model, load_hf_weights, model_from_hf
from gpt2lib.hf.hub import WeightsUnavailableError, from_pretrained, load_hf_model

__all__ = [
    "BLOCK_WEIGHT_NAMES", "HF_CONFIG_KEYS", "CheckpointMismatchError", "WeightFileError", "WeightsMismatchError",
    "WeightsUnavailableError", "config_from_hf", "convert_hf_state", "empty_model", "export_hf", "from_pretrained",
    "hf_config", "hf_state_dict", "hf_weight_mapping", "load_hf_model", "load_hf_weights", "load_weight_file",
    "model_from_hf",
]
