# GENERATED FILE, edit the notebook instead.
# Source: notebooks/05_transformer_block_and_model.ipynb. Regenerate with `make export`.

__all__ = ["TransformerBlock", "init_gpt2_weights", "GPTModel", "generate_simple"]


# %% notebooks/05_transformer_block_and_model.ipynb, cell 7
import math

import torch
from torch import nn

from gpt2lib.attention import CausalSelfAttention
from gpt2lib.feedforward import FeedForward
from gpt2lib.layernorm import LayerNorm
from gpt2lib.scaffold import GPTConfig, GPTScaffold
from gpt2lib.validation import check_config, check_eval_mode, check_flag, check_generate_call, check_model_input


# %% notebooks/05_transformer_block_and_model.ipynb, cell 8
class TransformerBlock(nn.Module):
    """GPT-2's pre-LN block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.mlp = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)  # on each residual branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        x = x + self.drop(self.attn(self.norm1(x)))  # tokens exchange information
        x = x + self.drop(self.mlp(self.norm2(x)))  # each token is processed alone
        return x


# %% notebooks/05_transformer_block_and_model.ipynb, cell 17
def init_gpt2_weights(model: GPTScaffold) -> None:
    """GPT-2's initialization, in place.

    From OpenAI's released code: weights ~ N(0, 0.02), position embedding ~ N(0, 0.01), biases 0.
    From the paper (section 2.3): the last layer of each residual branch scaled by 1/sqrt(2 * n_layers).
    Layer norms keep the scale 1 and shift 0 they were built with.
    """
    if model.tok_emb.weight.is_meta:
        return  # a model on the meta device has no values to draw (notebook 06 builds one there, then loads weights)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            std = 0.01 if module is model.pos_emb else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    residual_std = 0.02 / math.sqrt(2 * model.cfg.n_layers)  # N = 2 residual branches per block
    for block in model.blocks:
        nn.init.normal_(block.attn.out_proj.weight, mean=0.0, std=residual_std)
        nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=residual_std)


# %% notebooks/05_transformer_block_and_model.ipynb, cell 19
class GPTModel(GPTScaffold):
    """GPT-2: ids (B, T) -> logits (B, T, vocab_size); tie_weights=True (GPT-2's choice) shares the head's weight."""

    def __init__(self, cfg: GPTConfig, tie_weights: bool = True):
        check_config(cfg)  # the model is a door: a clear error for anything but a valid GPTConfig
        check_flag(tie_weights, "tie_weights")  # both checks: gpt2lib/validation.py
        super().__init__(cfg)
        if tie_weights:
            self.out_head.weight = self.tok_emb.weight  # one tensor, used twice
        init_gpt2_weights(self)

    def make_block(self, cfg: GPTConfig) -> nn.Module:
        return TransformerBlock(cfg)

    def make_final_norm(self, cfg: GPTConfig) -> nn.Module:
        return LayerNorm(cfg.emb_dim)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """The scaffold's forward after a cheap check of the ids; on CUDA their range is left to PyTorch's assert."""
        check_model_input(idx, self.cfg, self.tok_emb.weight.device)  # gpt2lib/validation.py
        positions = torch.arange(idx.shape[1], device=idx.device)  # 0, 1, ..., T-1
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))  # (B, T, C) + (T, C) -> (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        return self.out_head(self.final_norm(x))  # (B, T, vocab_size)

    @property
    def weights_tied(self) -> bool:
        return getattr(self.out_head, "weight", None) is self.tok_emb.weight  # a wrapped head has no .weight


# %% notebooks/05_transformer_block_and_model.ipynb, cell 33
@torch.no_grad()
def generate_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
                    top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Extend token ids (B, T) by max_new_tokens tokens -> (B, T + max_new_tokens). Call model.eval() first.

    temperature 0 picks the most likely token (greedy); otherwise sample from softmax(logits / temperature),
    among the top_k most likely tokens when top_k is given. gpt2lib.generate (notebook 07) is the fast version.
    """
    check_generate_call(model, idx, max_new_tokens, temperature, top_k, top_p=None, eos_id=None, generator=generator)
    check_eval_mode(model)  # these checks live in gpt2lib/validation.py
    for _ in range(max_new_tokens):
        window = idx[:, -model.cfg.context_length:]  # crop to the context the model can read
        logits = model(window)[:, -1, :]  # (B, vocab_size): the prediction for the next token
        if temperature == 0:
            next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
                logits = logits.masked_fill(logits < kth_largest, float("-inf"))
            next_id = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
    return idx
