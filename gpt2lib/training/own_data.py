"""The training command's --data (your own text) and --init (a pretrained start). Written by hand.

--data PATH (without it, the run trains on tiny Shakespeare, exactly as before)
  - a UTF-8 text file, or a folder of *.txt files (sorted by name; <|endoftext|> between two files): checked,
    then tokenized when the run starts and kept in memory, 2 bytes a token. The validation split is the end of
    each file (gpt2lib/training/corpus.py says exactly where). Right for up to a few hundred megabytes of text;
    beyond that, prepare shards once: restarts skip the tokenizing, and memory stays flat.
  - a folder of token shards written by `python -m gpt2lib.prepare`: read by memory map, so a corpus larger than
    the memory trains in flat memory (gpt2lib/training/shards.py).
  A resumed run must be given the same --data: the checkpoint records the token counts of both splits and
  refuses other ones.
--init NAME_OR_DIR (without it, random weights drawn from --seed)
  - gpt2, gpt2-medium, gpt2-large or gpt2-xl: OpenAI's weights, from the local Hugging Face cache, or downloaded
    when the hub can be reached;
  - a folder in Hugging Face's format (config.json and model.safetensors or pytorch_model.bin): saved by
    transformers' save_pretrained, or by gpt2lib (export_hf; a run's model/ folder);
  - shipped: the small model shipped with the repository (gpt2lib.finetune.start.shipped_model_dir()).
  The model's sizes are the init model's. --layers, --emb-dim, --heads and --context are refused when they differ
  from them; --dropout may be given (it changes no weight; the default is the init's config, 0.0 as gpt2lib loads
  it). A resumed run continues from its checkpoint, which holds the model's config and weights: --init is not
  loaded again.

Everything is checked before any work, with the option, the value and what is allowed: a missing path, a folder
without text, an empty corpus, text that is not UTF-8 (file and byte offset), shards whose meta.json does not
match their files, a vocabulary other than the model's, shards too short for one window of the context, options
that contradict --init, OpenAI weights that are neither cached nor downloadable.
"""

from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from gpt2lib.hf.convert import config_from_hf
from gpt2lib.hf.files import read_config_file, read_hf_config, weight_files
from gpt2lib.hf.hub import OPENAI_GPT2_NAMES, from_pretrained, hub_reachable, import_transformers
from gpt2lib.hf.loading import empty_model
from gpt2lib.scaffold import GPTConfig
from gpt2lib.training.corpus import check_text_files, text_files, tokenize_files
from gpt2lib.training.shards import META_NAME, VOCAB_SIZE, DataError, TokenShards, open_shards, read_meta

SHIPPED = "shipped"
# OpenAI's GPT-2 sizes (their config.json files): name -> (n_layer, n_embd, n_head); all have 1024 positions
OPENAI_SIZES = {"gpt2": (12, 768, 12), "gpt2-medium": (24, 1024, 16), "gpt2-large": (36, 1280, 20),
                "gpt2-xl": (48, 1600, 25)}
SIZE_FLAGS = {"n_layers": "--layers", "emb_dim": "--emb-dim", "n_heads": "--heads", "context_length": "--context"}
FINAL_EVAL_WINDOWS = 256  # with --data, the final evaluation's default: windows spread over the validation split


def add_options(parser) -> None:
    """The command's --data and --init options."""
    group = parser.add_argument_group("your data and a pretrained start (gpt2lib/training/own_data.py)")
    group.add_argument("--data", default=None, metavar="PATH",
                       help="a UTF-8 text file, a folder of *.txt files, or a folder of token shards made by "
                            "python -m gpt2lib.prepare [tiny Shakespeare]")
    group.add_argument("--init", default=None, metavar="NAME_OR_DIR",
                       help=f"start from pretrained weights: {', '.join(OPENAI_GPT2_NAMES)} (OpenAI's), a folder in "
                            f"Hugging Face's format (a gpt2lib export too), or {SHIPPED} (the small shipped model); "
                            "the model's sizes are then its own [random weights]")


def _fail(message: str):
    raise SystemExit(f"error: {message}")


# --- --data ---------------------------------------------------------------------------------------

def is_shards(path) -> bool:
    """Whether --data names a folder of prepared token shards (one with a meta.json)."""
    return Path(path).is_dir() and (Path(path) / META_NAME).is_file()


def check_data(path) -> None:
    """Refuse, before any work, a --data that cannot be trained on (see the module's docstring)."""
    if path is None:
        return
    try:
        if is_shards(path):
            read_meta(path)  # the fields, and every shard's size against its token count
        else:
            check_text_files(text_files(path))  # exists, holds text, UTF-8 throughout
    except DataError as error:
        _fail(f"--data: {error}")


def check_fit(args, cfg: GPTConfig) -> None:
    """Refuse a new run whose data does not fit its model: another vocabulary, shards shorter than one window."""
    if args.data is None and args.init is None:
        return
    shards = read_meta(args.data) if args.data is not None and is_shards(args.data) else None
    vocab_size = shards["vocab_size"] if shards else VOCAB_SIZE
    made_by = f"the shards of --data {args.data} were made" if shards else "the text is tokenized by GPT-2's tokenizer"
    if vocab_size != cfg.vocab_size:
        start = f"--init {args.init}" if args.init else "the model"
        _fail(f"vocabulary mismatch: {made_by} for a vocabulary of {vocab_size:,} token ids, but {start} has "
              f"vocab_size {cfg.vocab_size:,}: the data and the model must use the same tokenizer")
    for split in ("train", "val") if shards else ():
        if shards["tokens"][split] <= cfg.context_length:
            _fail(f"--data {args.data}: the {split} split holds {shards['tokens'][split]:,} tokens; one window of "
                  f"context {cfg.context_length} needs {cfg.context_length + 1}: use more text, or a shorter --context")


def load_data(args, progress: bool) -> tuple[TokenShards, TokenShards]:
    """The training and validation tokens of --data: shards by memory map, text tokenized into memory."""
    try:
        if is_shards(args.data):
            return open_shards(args.data)
        files = text_files(args.data)
        total = sum(file.stat().st_size for file in files)
        with tqdm(total=total, unit="B", unit_scale=True, desc="tokenizing --data", disable=not progress,
                  dynamic_ncols=True) as bar:
            return tokenize_files(files, f"--data {args.data}", progress=bar.update)
    except DataError as error:  # a file changed since check_data
        _fail(f"--data: {error}")


def data_name(args) -> str:
    """What the run trains on, in words: for the loss plot's title."""
    return "tiny Shakespeare" if args.data is None else Path(args.data).name


def final_eval_windows(args) -> int | None:
    """The windows of the final validation loss: --final-eval-windows; by default the whole validation split of
    tiny Shakespeare, or FINAL_EVAL_WINDOWS spread over --data's (which may be billions of tokens)."""
    if args.final_eval_windows is not None or args.data is None:
        return args.final_eval_windows
    return FINAL_EVAL_WINDOWS


# --- --init ---------------------------------------------------------------------------------------

def _init_folder(init: str) -> Path | None:
    """The folder --init names (the shipped model's for "shipped"), or None for an OpenAI name."""
    if init == SHIPPED:
        from gpt2lib.finetune.start import shipped_model_dir  # imported here: only --init shipped needs it

        try:
            return shipped_model_dir()
        except FileNotFoundError as error:
            _fail(f"--init {SHIPPED}: {error}")
    if init in OPENAI_GPT2_NAMES:
        return None
    if not Path(init).is_dir():
        _fail(f"--init {init!r} is none of {', '.join(OPENAI_GPT2_NAMES)}, {SHIPPED} or an existing folder in "
              "Hugging Face's format (config.json and the weights)")
    return Path(init)


def check_init(init) -> None:
    """Refuse, before any work, an --init whose config or weights cannot be had (offline: not in the cache)."""
    if init is None:
        return
    folder = _init_folder(init)
    if folder is not None:
        init_config(init, {})  # config.json: present, valid, a GPT-2 that gpt2lib computes
        try:
            weight_files(folder)
        except ValueError as error:
            hint = f" (a training run keeps its model in {folder / 'model'})" if (folder / "model").is_dir() else ""
            _fail(f"--init {init}: {error}{hint}")
        return
    try:
        import_transformers()
    except ImportError as error:
        _fail(f"--init {init}: {error}")
    from gpt2lib.finetune.start import openai_gpt2_cached  # here: gpt2lib.finetune is not needed otherwise

    if not openai_gpt2_cached(init) and not hub_reachable():
        _fail(f"--init {init}: OpenAI's {init} weights are not in the local Hugging Face cache, and the hub cannot "
              f"be reached (offline, or HF_HUB_OFFLINE is set). Download them once while online (python -c "
              f"\"import gpt2lib; gpt2lib.from_pretrained('{init}')\"), or start from a local folder in Hugging "
              f"Face's format, or from the small model shipped with the repository: --init {SHIPPED}")


def init_config(init: str, given: dict) -> GPTConfig:
    """The model config of --init, with --dropout from given (a GPTConfig field -> value of the options given);
    other given sizes must equal the init model's."""
    folder = _init_folder(init)
    if folder is None:
        layers, width, heads = OPENAI_SIZES[init]
        cfg = GPTConfig(vocab_size=VOCAB_SIZE, context_length=1024, emb_dim=width, n_heads=heads, n_layers=layers,
                        dropout=0.0, qkv_bias=True)  # what gpt2lib.from_pretrained(init) builds
    else:
        try:
            cfg = config_from_hf(read_hf_config(read_config_file(folder / "config.json")))
        except ValueError as error:
            _fail(f"--init {init}: {error}")
    conflicts = [f"{flag} {given[field]} (the model has {getattr(cfg, field)})"
                 for field, flag in SIZE_FLAGS.items() if field in given and given[field] != getattr(cfg, field)]
    if conflicts:
        _fail(f"--init {init} sets the model's sizes, and these options contradict them: {', '.join(conflicts)}. "
              "Drop them (--dropout may be set)")
    return replace(cfg, dropout=given.get("dropout", cfg.dropout))


def init_model(init: str, cfg: GPTConfig, device) -> torch.nn.Module:
    """A model with config cfg (init_config's) holding --init's weights, on device. torch's random state is left as
    it was, so that the run's dropout masks follow from --seed alone."""
    rng = torch.get_rng_state()
    try:
        folder = _init_folder(init)
        pretrained = from_pretrained(init if folder is None else str(folder), device=device)  # eval mode, float32
    except (OSError, ValueError, ImportError) as error:  # weights that cannot be read, or not be downloaded
        _fail(f"--init {init}: {error}")
    finally:
        torch.set_rng_state(rng)
    if pretrained.cfg == cfg:
        return pretrained
    model = empty_model(cfg, device, tie_weights=pretrained.weights_tied)  # another dropout: the same weights
    model.load_state_dict(pretrained.state_dict())
    return model
