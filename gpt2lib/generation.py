# GENERATED FILE, edit the notebook instead.
# Source: notebooks/07_generating_text_fast.ipynb. Regenerate with `make export`.

__all__ = [
    "default_device", "pick_next_token", "LayerKVCache", "KVCache", "attention_with_cache",
    "forward_with_cache", "linear", "attend_one_token", "decode_step", "extend", "generate", "left_padding",
    "pad_left",
]


# %% notebooks/07_generating_text_fast.ipynb, cell 3
import torch
import torch.nn.functional as F
from torch import nn

from gpt2lib.attention import CausalSelfAttention
from gpt2lib.model import GPTModel
from gpt2lib.scaffold import GPTConfig
from gpt2lib.tokenizer import END_OF_TEXT_ID
from gpt2lib.validation import (
    check_attention_mask, check_cache, check_cache_size, check_generate_call, check_generator, check_logits,
    check_model_input, check_pad_left_call, check_sampling_options, check_scaled_logits,
)


def default_device() -> torch.device:
    """The fastest device available: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


# %% notebooks/07_generating_text_fast.ipynb, cell 9
def pick_next_token(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                    top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose one token per row of logits (B, vocab_size) -> (B, 1).

    temperature 0 picks the most likely token (greedy). Otherwise sample from
    softmax(logits / temperature), keeping only the top_k most likely tokens and/or the
    smallest set of most likely tokens whose probability reaches top_p.
    """
    check_logits(logits)  # a finite (B, vocab_size) tensor; these checks live in gpt2lib/validation.py
    check_sampling_options(temperature, top_k, top_p)
    check_generator(generator, logits.device)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    check_scaled_logits(logits, temperature)  # a tiny temperature can overflow
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, vocab_size) each
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above
        sorted_logits = sorted_logits.masked_fill((before >= top_p) & (before > 0), float("-inf"))  # the top one stays
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


# %% notebooks/07_generating_text_fast.ipynb, cell 17
class LayerKVCache:
    """The keys and values one attention layer has seen, in buffers allocated once for max_len tokens."""

    def __init__(self, shape: tuple[int, ...], device=None, dtype=None):
        self.keys = torch.empty(shape, device=device, dtype=dtype)  # (B, nh, max_len, hd)
        self.values = torch.empty(shape, device=device, dtype=dtype)  # (B, nh, max_len, hd)
        self.length = 0  # tokens stored so far

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new tokens' k, v (B, nh, T, hd); return all stored so far, (B, nh, length, hd) each."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError(f"the KV cache holds {self.keys.shape[2]} tokens; {end} do not fit")
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


# %% notebooks/07_generating_text_fast.ipynb, cell 19
class KVCache:
    """One LayerKVCache per block of a model with configuration cfg."""

    def __init__(self, cfg: GPTConfig, batch_size: int, max_len: int, device=None, dtype=None):
        check_cache_size(cfg, batch_size, max_len, device, dtype)  # gpt2lib/validation.py
        shape = (batch_size, cfg.n_heads, max_len, cfg.emb_dim // cfg.n_heads)
        self.layers = [LayerKVCache(shape, device, dtype) for _ in range(cfg.n_layers)]
        self.key_mask = None  # (B, length), False on padding: section "Prompts of different lengths"; None: no padding

    @property
    def length(self) -> int:
        return self.layers[0].length

    def __getitem__(self, i: int) -> LayerKVCache:
        return self.layers[i]


# %% notebooks/07_generating_text_fast.ipynb, cell 22
def attention_with_cache(attn: CausalSelfAttention, x: torch.Tensor, cache: LayerKVCache,
                         attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """attn(x) for new tokens x (B, T, C) that follow the cache.length tokens already in cache.

    attn_mask (B, 1, T, length + T), True = may attend, replaces the causal mask in a padded batch (left_padding)."""
    q, k, v = attn.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, C)
    q, k, v = attn.split_heads(q), attn.split_heads(k), attn.split_heads(v)  # (B, nh, T, hd)
    past, T = cache.length, x.shape[1]
    k, v = cache.update(k, v)  # (B, nh, past + T, hd): the cached keys and values, then the new ones
    # A new token sees every cached token; several new tokens also need the causal mask among themselves.
    if attn_mask is None and past > 0 and T > 1:
        attn_mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)  # (T, past + T)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None and past == 0)
    return attn.out_proj(attn.merge_heads(y))  # (B, T, C)


# %% notebooks/07_generating_text_fast.ipynb, cell 26
def forward_with_cache(model: GPTModel, idx: torch.Tensor, cache: KVCache,
                       attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """model(idx) for new token ids (B, T) that follow the tokens in cache -> logits (B, T, vocab_size).

    It runs the model's own modules and weights, without dropout (for inference), and appends idx's keys
    and values to cache. idx is checked as GPTModel.forward checks it (its range except on CUDA). For a
    left-padded batch, attention_mask (B, T) marks idx's tokens with 1 and the padding with 0.
    """
    check_cache(cache, model, idx)  # the cache fits this model and batch; the model is in eval mode
    check_model_input(idx, model.cfg, model.tok_emb.weight.device)  # as in GPTModel.forward (gpt2lib/validation.py)
    check_attention_mask(attention_mask, idx, cache)  # 0 and 1, padding on the left only
    past, T = cache.length, idx.shape[1]
    if past + T > model.cfg.context_length:
        raise ValueError(f"{past} cached + {T} new tokens exceed the context length ({model.cfg.context_length})")
    is_token = may_attend = None
    if attention_mask is None and cache.key_mask is None:
        positions = torch.arange(past, past + T, device=idx.device)  # the new tokens continue the cached ones
    else:  # a left-padded batch: section "Prompts of different lengths in one batch"
        is_token, positions, may_attend = left_padding(cache, idx, attention_mask)  # (B, past + T), (B, T), ...
    x = model.tok_emb(idx) + model.pos_emb(positions)  # (B, T, C)
    for block, layer_cache in zip(model.blocks, cache.layers):
        x = x + attention_with_cache(block.attn, block.norm1(x), layer_cache, may_attend)
        x = x + block.mlp(block.norm2(x))
    cache.key_mask = is_token  # which keys are tokens (None: all), set once the layers are done
    return model.out_head(model.final_norm(x))  # (B, T, vocab_size)


# %% notebooks/07_generating_text_fast.ipynb, cell 29
def linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """layer(x), with one matrix-vector product when layer is a plain nn.Linear and x a single vector (in,)."""
    if type(layer) is not nn.Linear or x.dim() != 1:
        return layer(x)  # rows (..., in), or a wrapped layer (e.g. an adapter): the module itself
    if layer.bias is None:
        return torch.mv(layer.weight, x)  # (out, in) @ (in,) -> (out,)
    return torch.addmv(layer.bias, layer.weight, x)  # bias + weight @ x, in one kernel


def attend_one_token(attn: CausalSelfAttention, x: torch.Tensor, cache: LayerKVCache,
                     attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """attention_with_cache for one new token per row: x (B, C), or (C,) when B = 1 -> the same shape."""
    qkv = linear(attn.qkv, x).view(-1, 3, attn.n_heads, 1, attn.head_dim)  # (B, 3, nh, 1, hd)
    keys, values = cache.update(qkv[:, 1], qkv[:, 2])  # (B, nh, length, hd) each, the new token's included
    y = F.scaled_dot_product_attention(qkv[:, 0], keys, values, attn_mask=attn_mask)  # (B, nh, 1, hd): sees all (tokens)
    return linear(attn.out_proj, y.view(x.shape))  # heads side by side again: (B, C) or (C,)


# %% notebooks/07_generating_text_fast.ipynb, cell 30
def decode_step(model: GPTModel, next_ids: torch.Tensor, cache: KVCache,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """forward_with_cache(model, next_ids, cache, attention_mask) for one new token per row: next_ids (B, 1) -> logits (B, 1, vocab_size)."""
    check_cache(cache, model, next_ids)  # the same checks as forward_with_cache (gpt2lib/validation.py)
    check_model_input(next_ids, model.cfg, model.tok_emb.weight.device)
    check_attention_mask(attention_mask, next_ids, cache)
    position = cache.length
    if next_ids.shape[1] != 1 or position >= model.cfg.context_length:
        raise ValueError(f"decode_step takes one new token per row within the context ({model.cfg.context_length}); "
                         f"got {next_ids.shape[1]} after {position} cached: use forward_with_cache")
    is_token = may_attend = None
    if attention_mask is None and cache.key_mask is None:
        positions = torch.full_like(next_ids[:, 0], position)  # (B,): every row's new token is at the same position
    else:  # a left-padded batch: section "Prompts of different lengths in one batch"
        is_token, positions, may_attend = left_padding(cache, next_ids, attention_mask)
        positions = positions[:, 0]  # (B,)
    x = model.tok_emb(next_ids[:, 0]) + model.pos_emb(positions)  # (B, C)
    if x.shape[0] == 1:
        x = x[0]  # (C,): a single vector, so that every linear layer is one matrix-vector product
    for block, layer_cache in zip(model.blocks, cache.layers):
        x = x + attend_one_token(block.attn, block.norm1(x), layer_cache, may_attend)
        hidden = block.mlp.act(linear(block.mlp.fc, block.norm2(x)))  # (4C,) or (B, 4C)
        x = x + linear(block.mlp.proj, hidden)  # (C,) or (B, C)
    cache.key_mask = is_token  # which keys are tokens (None: all)
    logits = linear(model.out_head, model.final_norm(x))  # (vocab_size,) or (B, vocab_size)
    return logits.view(next_ids.shape[0], 1, -1)  # (B, 1, vocab_size)


# %% notebooks/07_generating_text_fast.ipynb, cell 32
def extend(model: GPTModel, idx: torch.Tensor, max_new_tokens: int, temperature: float, top_k: int | None,
           top_p: float | None, eos_id: int | None, generator: torch.Generator | None, use_cache: bool,
           attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The loop of generate(), for a model already in eval mode."""
    window = model.cfg.context_length
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    cache, unread = None, idx  # unread: tokens whose keys and values are not cached yet
    for _ in range(max_new_tokens):
        if not use_cache and attention_mask is None:
            logits = model(idx[:, -window:])  # (B, T, vocab_size), everything recomputed
        else:  # padded and uncached: a fresh cache at every step, as GPTModel.forward takes no mask
            if not use_cache or cache is None or cache.length + unread.shape[1] > window:
                unread = idx[:, -window:]  # (re)start the cache from the last window of tokens
                max_len = min(window, idx.shape[1] + max_new_tokens)
                cache = KVCache(model.cfg, idx.shape[0], max_len, idx.device, model.tok_emb.weight.dtype)
            padding = attention_mask[:, -window:] if attention_mask is not None and cache.length == 0 else None
            step = decode_step if unread.shape[1] == 1 else forward_with_cache  # one token per row: the lean step
            logits = step(model, unread, cache, padding)  # (B, unread, vocab_size)
        next_id = pick_next_token(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
        if eos_id is not None:
            next_id = next_id.masked_fill(finished, eos_id)  # a finished sequence is padded with eos_id
            finished |= next_id == eos_id
        idx, unread = torch.cat([idx, next_id], dim=1), next_id  # (B, T + 1)
        if attention_mask is not None:
            attention_mask = F.pad(attention_mask, (0, 1), value=1)  # (B, T + 1): a new token is a token
        if finished.all():
            break
    return idx


# %% notebooks/07_generating_text_fast.ipynb, cell 33
@torch.no_grad()
def generate(model: GPTModel, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Extend token ids (B, T) by up to max_new_tokens tokens -> (B, T + new).

    temperature 0 is greedy; otherwise sample, optionally among the top_k tokens and/or the top_p
    probability mass. Only the last context_length tokens are read at each step. With eos_id, a
    sequence that produced it is padded with eos_id, and generation stops once every sequence has.
    With the key/value cache a step runs only the new token through the weights, plus attention over
    the cached keys; use_cache=False recomputes the whole sequence at every step. The result is
    always a new tensor, also when max_new_tokens is 0.
    Prompts of different lengths: pad them on the LEFT (pad_left) and pass attention_mask (B, T), 1 = token,
    0 = padding (Hugging Face's convention); each row is then generated as if alone. A padded batch needs
    its mask: without one, every id is read as a token. Right padding is refused.
    """
    check_generate_call(model, idx, max_new_tokens, temperature, top_k, top_p, eos_id, generator, use_cache,
                        attention_mask)  # gpt2lib/validation.py
    if max_new_tokens == 0:
        return idx.clone()  # nothing to add, but never the caller's own tensor
    was_training = model.training
    model.eval()
    try:
        return extend(model, idx, max_new_tokens, temperature, top_k, top_p, eos_id, generator, use_cache, attention_mask)
    finally:
        model.train(was_training)


# %% notebooks/07_generating_text_fast.ipynb, cell 50
def left_padding(cache: KVCache, idx: torch.Tensor, attention_mask: torch.Tensor | None):
    """For new tokens idx (B, T) after the cache's, in a left-padded batch: which keys are tokens (B, length + T),
    the new tokens' positions (B, T), and which keys each of them may attend to (B, 1, T, length + T).

    attention_mask (B, T) is 1 on idx's tokens and 0 on padding (None: all tokens), cache.key_mask the same for
    the cached keys (None: all tokens)."""
    (B, T), past = idx.shape, cache.length
    cached = torch.ones(B, past, dtype=torch.bool, device=idx.device) if cache.key_mask is None else cache.key_mask
    new = torch.ones_like(idx, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    is_token = torch.cat([cached, new], dim=1)  # (B, past + T): False on the padding
    positions = (is_token.cumsum(dim=1) - 1).clamp(min=0)  # (B, past + T): 0 on the padding, then 0, 1, 2, ...
    key = torch.arange(past + T, device=idx.device)  # (past + T,): the slot of each key
    query = key[past:, None]  # (T, 1): the slots of the new tokens
    may_attend = (key <= query) & (is_token[:, None, :] | (key == query))  # (B, T, past + T): causal, tokens (or itself)
    return is_token, positions[:, past:], may_attend[:, None]  # (B, past + T), (B, T), (B, 1, T, past + T)


# %% notebooks/07_generating_text_fast.ipynb, cell 52
def pad_left(sequences: list[list[int]], pad_id: int = END_OF_TEXT_ID, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists of different lengths -> (ids, attention_mask), both (B, T): the ids padded on the left with
    pad_id, and 1 on the tokens, 0 on the padding, as generate(model, ids, n, attention_mask=...) takes them."""
    check_pad_left_call(sequences, pad_id, device)  # gpt2lib/validation.py
    T = max(len(s) for s in sequences)
    ids = torch.tensor([[pad_id] * (T - len(s)) + list(s) for s in sequences], device=device)  # (B, T)
    attention_mask = torch.tensor([[0] * (T - len(s)) + [1] * len(s) for s in sequences], device=device)  # (B, T)
    return ids, attention_mask
