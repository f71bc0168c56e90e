# GENERATED FILE, edit the notebook instead.
# Source: notebooks/05_transformer_block_and_model.ipynb. Regenerate with `make export`.

import math

import torch
from torch import nn

from gpt2lib.attention import CausalSelfAttention
from gpt2lib.feedforward import FeedForward
from gpt2lib.layernorm import LayerNorm
from gpt2lib.scaffold import GPTConfig, GPTScaffold


class TransformerBlock(nn.Module):
    """GPT-2's pre-LN block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.mlp = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)  # on each residual branch

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        x = x + self.drop(self.attn(self.norm1(x), cache))  # tokens exchange information
        x = x + self.drop(self.mlp(self.norm2(x)))  # each token is processed alone
        return x


class GPTModel(GPTScaffold):
    """GPT-2: token ids (B, T) -> next-token logits (B, T, vocab_size).

    With tie_weights=True (GPT-2's choice) the output head shares the token embedding's weight.
    """

    def __init__(self, cfg: GPTConfig, tie_weights: bool = True):
        super().__init__(cfg)
        if tie_weights:
            self.out_head.weight = self.tok_emb.weight  # one tensor, used twice
        self.apply(self.init_weights)
        residual_std = 0.02 / math.sqrt(2 * cfg.n_layers)  # keeps the residual stream's scale depth-independent
        for block in self.blocks:
            nn.init.normal_(block.attn.out_proj.weight, std=residual_std)
            nn.init.normal_(block.mlp.proj.weight, std=residual_std)

    def make_block(self, cfg: GPTConfig) -> nn.Module:
        return TransformerBlock(cfg)

    def make_final_norm(self, cfg: GPTConfig) -> nn.Module:
        return LayerNorm(cfg.emb_dim)

    @property
    def weights_tied(self) -> bool:
        return self.out_head.weight is self.tok_emb.weight

    @staticmethod
    def init_weights(module: nn.Module) -> None:
        """GPT-2's initialization: normal(0, 0.02) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def pick_next_token(logits: torch.Tensor, temperature: float = 0.0, top_k: int | None = None,
                    top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Choose one token per row of logits (B, vocab_size) -> (B, 1).

    temperature 0 picks the most likely token (greedy). Otherwise sample from
    softmax(logits / temperature), keeping only the top_k most likely tokens and/or the
    smallest set of most likely tokens whose probability reaches top_p.
    """
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above
        sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))  # the top token always stays
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


def check_generation_options(max_new_tokens, temperature, top_k, top_p) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


class LayerKVCache:
    """Keys and values seen by one attention layer, in buffers preallocated for max_len tokens."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys, self.values = keys, values  # (B, nh, max_len, hd) each
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


class KVCache:
    """One LayerKVCache per block; model(idx, cache) reads the cache and appends idx's keys and values."""

    def __init__(self, cfg: GPTConfig, batch_size: int, max_len: int, device=None, dtype=None):
        shape = (batch_size, cfg.n_heads, max_len, cfg.emb_dim // cfg.n_heads)
        self.layers = [
            LayerKVCache(torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype))
            for _ in range(cfg.n_layers)
        ]

    @property
    def length(self) -> int:
        return self.layers[0].length

    def __getitem__(self, i: int) -> LayerKVCache:
        return self.layers[i]


@torch.no_grad()
def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, eos_id: int | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """Extend token ids (B, T) by up to max_new_tokens tokens -> (B, T + new).

    Only the last context_length tokens are read at each step. With eos_id, a sequence that
    produced it is padded with eos_id, and generation stops once every sequence has.
    """
    check_generation_options(max_new_tokens, temperature, top_k, top_p)
    context_length = model.cfg.context_length
    was_training = model.training
    model.eval()
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    cache, unread = None, idx  # unread: tokens whose keys and values are not cached yet
    try:
        for _ in range(max_new_tokens):
            if not use_cache:
                logits = model(idx[:, -context_length:])  # (B, T, vocab_size), everything recomputed
            else:
                if cache is None or cache.length + unread.shape[1] > context_length:
                    unread = idx[:, -context_length:]  # (re)start the cache from the window
                    max_len = min(context_length, idx.shape[1] + max_new_tokens)
                    cache = KVCache(model.cfg, idx.shape[0], max_len, idx.device, model.tok_emb.weight.dtype)
                logits = model(unread, cache)  # (B, unread, vocab_size)
            next_id = pick_next_token(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B, 1)
            if eos_id is not None:
                next_id = next_id.masked_fill(finished, eos_id)
                finished |= next_id == eos_id
            idx, unread = torch.cat([idx, next_id], dim=1), next_id  # (B, T + 1)
            if finished.all():
                break
    finally:
        model.train(was_training)
    return idx
